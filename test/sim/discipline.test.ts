// The discipline on a simulated oscillator, in virtual time: the core's real wiring (RefclockSource for
// NMEA and PPS with pairing, jitter filter and regression; Discipline for selection, the followed line
// and holdover) fed by a SimulatedClock with frequency error, wander and a temperature swing. Numeric
// pass/fail limits in one table (chrony's test/simulation style); the figures are printed so
// regressions show. Served time = raw − the discipline's line, compared with true time.
import { describe, expect, it } from 'vitest';
import { SimulatedClock, gaussian, mulberry32, type OscillatorModel } from '../../src/clock/simulated.js';
import { RefclockSource, type RefclockSourceConfig } from '../../src/refclock/source.js';
import { Discipline, snapshotForState } from '../../src/discipline/discipline.js';
import { LeapKeeper, type LeapUpdate } from '../../src/discipline/leap-keeper.js';
import { leapCorrectionNs } from '../../src/discipline/leap.js';
import { LeapIndicator } from '../../src/ntp/constants.js';
import type { FixState } from '../../drivers/driver.js';

const T0_S = 1_800_000_000;
const S = 1_000_000_000n;
const FIX: FixState = { mode: '3d', satellitesUsed: 9, satellitesVisible: 12, hdop: 0.8 };
const PRECISION = -20;

/** The limits, in one place. */
const LIMITS = {
  coldStartLockS: 60, // from the first paired pulse to tracking on PPS
  kernelPpsRmsNs: 1_000, // 1 µs PPS jitter → < 1 µs RMS over an hour
  gpioPpsRmsNs: 10_000, // 30 µs (JS-timestamped GPIO) → < 10 µs RMS
};

interface Scenario {
  readonly name: string;
  readonly oscillator: OscillatorModel;
  readonly ppsJitterNs: number;
  readonly nmeaDelayMs: number;
  readonly durationS: number;
  /** GPS silent (no pulses, no NMEA) from this second for lossS seconds. */
  readonly lossFromS?: number;
  readonly lossS?: number;
  readonly seed: number;
  /** Start here (Unix s) instead of T0_S. */
  readonly startS?: number;
  /** An inserted leap second at this Unix second (00:00:00 after it); the receiver warns 'insert' until then. */
  readonly leapAtS?: number;
  /** Smear the leap over this many seconds (`leapsmearinterval`) instead of stepping it. */
  readonly smearS?: number;
}

interface Result {
  /** True seconds from start to the first update tracking PPS. */
  lockS: number | null;
  /** Served − true at each measurement after settleS, while tracking. */
  trackingErrorsNs: number[];
  /** During the loss: |error| and the advertised root dispersion, ns. */
  holdover: { errorNs: number; dispersionNs: number; state: string }[];
  /** Around a leap: [true s since start, served − UTC ns, LI published]. */
  leap: [number, number, LeapIndicator][];
  /** Served − expected (smeared) time at every measurement, ns, when a leap is simulated. */
  leapErrorsNs: number[];
}

const sourceConfig = (name: string, pulses: boolean, timecodes: boolean): RefclockSourceConfig => ({
  name, time1Ns: 0, time2Ns: 0, timecodes, pulses, prefer: false, noselect: false, stratum: 0,
});

function ts(ns: bigint): { sec: number; nsec: number } {
  return { sec: Number(ns / S), nsec: Number(ns % S) };
}

function run(sc: Scenario, settleS = 300): Result {
  const t0 = sc.startS ?? T0_S;
  const clock = new SimulatedClock(sc.oscillator, BigInt(t0) * S);
  const rand = mulberry32(sc.seed);
  const nmea = new RefclockSource(sourceConfig('GPS_NMEA(0)', false, true));
  const pps = new RefclockSource(sourceConfig('PPS(0)', true, false));
  pps.labeller = nmea;
  const discipline = new Discipline();
  const mode = sc.smearS ? 'smear' : 'step';
  const keeper = new LeapKeeper(null, mode, sc.smearS ?? 0);
  const result: Result = { lockS: null, trackingErrorsNs: [], holdover: [], leap: [], leapErrorsNs: [] };
  const leapAtNs = sc.leapAtS === undefined ? null : BigInt(sc.leapAtS) * S;
  /** UTC (POSIX labels) at true instant τ: one second behind from the inserted second on. */
  const utcOf = (trueNs: bigint) => (leapAtNs !== null && trueNs >= leapAtNs ? trueNs - S : trueNs);
  /** What should be served at true instant τ: UTC, or smeared UTC (leap.ts's correction, computed independently of the keeper's ramp). */
  const expectedAt = (trueNs: bigint) => (leapAtNs === null ? trueNs
    : trueNs + BigInt(leapCorrectionNs({ atUtcNs: leapAtNs, kind: 'insert' }, trueNs, mode, sc.smearS ?? 0)));
  /** The keeper's ramp as last given, with the raw time it was given at. */
  let smear: { termNs: number; slopeNsPerS: number; atRaw: bigint } | null = null;
  const keep = (u: LeapUpdate, raw: bigint) => {
    stepAll(u.referenceStepNs);
    smear = u.smear ? { ...u.smear, atRaw: raw } : null;
    pendingLeapAt = u.nextEventAtServedNs;
    return u;
  };
  const smearTermAt = (raw: bigint) => (smear ? smear.termNs + smear.slopeNsPerS * (Number(raw - smear.atRaw) / 1e9) : 0);
  const servedAt = (raw: bigint): bigint | null => {
    const line = discipline.correctionModel;
    return line ? raw - BigInt(Math.round(line.offsetNs + line.freqPpm * 1000 * (Number(raw - line.t0Ns) / 1e9))) : null;
  };
  const stepAll = (stepNs: number) => {
    if (stepNs === 0) return;
    nmea.referenceStepped(stepNs);
    pps.referenceStepped(stepNs);
    discipline.referenceStepped(stepNs);
  };
  let pendingLeapAt: bigint | null = null;
  /** The daemon's leap timer: an update at the instant served time reaches the leap, if that is before `untilTrue`. */
  const fireLeapTimer = (untilTrue: bigint) => {
    if (pendingLeapAt === null) return;
    const served = servedAt(clock.rawAt(untilTrue));
    if (served === null || served < pendingLeapAt) return;
    clock.advanceTo(untilTrue - (served - pendingLeapAt));
    keep(keeper.update(servedAt(clock.rawNs())!, clock.trueNs < leapAtNs! ? 'insert' : 'none'), clock.rawNs());
    fireLeapTimer(untilTrue);
  };
  let lastUpdateTrue = 0n;
  const lockedAndSettled = (k: number) => result.lockS !== null && k >= result.lockS + 60;
  for (let k = 1; k <= sc.durationS; k++) {
    const second = t0 + k;
    const edgeTrue = BigInt(second) * S;
    const lost = sc.lossFromS !== undefined && k >= sc.lossFromS && k < sc.lossFromS + (sc.lossS ?? 0);
    fireLeapTimer(edgeTrue);
    clock.advanceTo(edgeTrue);
    if (!lost) {
      const edgeRaw = clock.rawNs() + BigInt(Math.round(gaussian(rand) * sc.ppsJitterNs));
      pps.addPulse({ systemTime: ts(edgeRaw), edge: 'assert', sequence: k });
      const arrivalTrue = edgeTrue + BigInt(Math.round((sc.nmeaDelayMs + 4 * gaussian(rand)) * 1e6));
      // The inserted second is labelled 23:59:60, which decodes to the next day's first second.
      const label = leapAtNs !== null && edgeTrue === leapAtNs ? leapAtNs : utcOf(edgeTrue);
      const warning = leapAtNs !== null && edgeTrue < leapAtNs ? 'insert' : 'none';
      nmea.addSample({ systemTime: ts(clock.rawAt(arrivalTrue)), referenceTime: ts(label), leap: warning, fix: FIX }, [pps]);
    }
    // The daemon updates once a second; here just before the next edge.
    const updateTrue = edgeTrue + 950_000_000n;
    clock.advanceTo(updateTrue);
    const rawNow = clock.rawNs();
    const state = discipline.update(rawNow, [
      { name: 'GPS_NMEA(0)', estimate: nmea.estimate(rawNow), prefer: false, noselect: false, stratum: 0 },
      { name: 'PPS(0)', estimate: pps.estimate(rawNow), prefer: false, noselect: false, stratum: 0 },
    ], undefined, PRECISION);
    lastUpdateTrue = updateTrue;
    if (leapAtNs !== null) {
      const served = servedAt(rawNow);
      if (served !== null) {
        const u = keep(keeper.update(served, edgeTrue < leapAtNs ? 'insert' : 'none'), rawNow);
        const after = servedAt(rawNow)! + BigInt(Math.round(smearTermAt(rawNow)));
        if (edgeTrue >= leapAtNs - 5n * S && edgeTrue <= leapAtNs + 5n * S) {
          result.leap.push([k, Number(after - expectedAt(updateTrue)), state.kind === 'tracking' ? u.indicator : LeapIndicator.Unsynchronised]);
        }
      }
    }
    if (result.lockS === null && state.kind === 'tracking' && state.estimate.basis === 'pulse') result.lockS = k;
    // Measure half-way to the next update: served = raw − the line's offset.
    const atTrue = lastUpdateTrue + 500_000_000n;
    fireLeapTimer(atTrue);
    const raw = clock.rawAt(atTrue);
    const line = discipline.correctionModel;
    if (!line) continue;
    const predicted = line.offsetNs + line.freqPpm * 1000 * (Number(raw - line.t0Ns) / 1e9);
    const errorNs = Number(raw - expectedAt(atTrue)) - predicted + smearTermAt(raw);
    if (leapAtNs !== null && lockedAndSettled(k)) result.leapErrorsNs.push(errorNs);
    if (lost) {
      const snap = snapshotForState(state, PRECISION, { seconds: 0, fraction: 0 }, raw);
      result.holdover.push({ errorNs, dispersionNs: snap.rootDispersionS * 1e9, state: state.kind });
    } else if (k >= settleS && state.kind === 'tracking') {
      result.trackingErrorsNs.push(errorNs);
    }
  }
  return result;
}

const rms = (xs: readonly number[]) => Math.sqrt(xs.reduce((a, x) => a + x * x, 0) / Math.max(1, xs.length));
const maxAbs = (xs: readonly number[]) => xs.reduce((a, x) => Math.max(a, Math.abs(x)), 0);

/** A Pi's crystal: 100 ppm off at cold start, wandering, ±0.5 ppm with the room's temperature over an hour. */
const coldPi = (seed: number): OscillatorModel => ({
  offsetNs: 100_000_000, freqPpm: 100, wanderPpmPerSqrtS: 0.001, tempAmplitudePpm: 0.5, tempPeriodS: 3600, seed,
});

describe('discipline on a simulated oscillator (virtual time)', () => {
  it.each([
    ['kernel PPS, 1 µs jitter', 1_000, LIMITS.kernelPpsRmsNs, 500],
    ['GPIO PPS stamped in JavaScript, 30 µs jitter', 30_000, LIMITS.gpioPpsRmsNs, 100],
  ])('cold start (0.1 s, 100 ppm), then an hour on %s', (label, jitterNs, limitNs, nmeaDelayMs) => {
    const r = run({ name: label, oscillator: coldPi(7), ppsJitterNs: jitterNs, nmeaDelayMs, durationS: 3600 + 300, seed: 11 });
    const e = r.trackingErrorsNs;
    console.log(`${label}: lock after ${r.lockS} s; error RMS ${(rms(e) / 1000).toFixed(3)} µs, max ${(maxAbs(e) / 1000).toFixed(3)} µs over ${e.length} s`);
    expect(r.lockS).not.toBeNull();
    expect(r.lockS!).toBeLessThanOrEqual(LIMITS.coldStartLockS);
    expect(e.length).toBeGreaterThanOrEqual(3600);
    expect(rms(e)).toBeLessThan(limitNs);
  });

  it('a leap second (2016-12-31, announced by the receiver): LI 1 on the last day, 23:59:59 served twice, UTC after', () => {
    const leapAtS = Date.UTC(2017, 0, 1) / 1000;
    const r = run({ name: 'leap', oscillator: { ...coldPi(9), offsetNs: 0, freqPpm: 20 }, ppsJitterNs: 1_000, nmeaDelayMs: 200,
      durationS: 1800, startS: leapAtS - 1200, leapAtS, seed: 4 });
    console.log(`leap: ${r.leap.map(([k, e, li]) => `${k}:${(e / 1000).toFixed(1)}µs/LI${li}`).join(' ')}`);
    expect(r.leap.length).toBeGreaterThanOrEqual(10);
    for (const [k, errorNs, li] of r.leap) {
      // Served time is UTC (with 23:59:59 repeated) to within microseconds on both sides of the leap.
      expect(Math.abs(errorNs), `second ${k}`).toBeLessThan(5_000);
      expect(li, `second ${k}`).toBe(k < 1200 ? LeapIndicator.AddSecond : LeapIndicator.NoWarning);
    }
    // And the hour after: still locked, no second off.
    expect(r.trackingErrorsNs.filter((e) => Math.abs(e) > 5_000)).toEqual([]);
  });

  it('a smeared leap second (leapsmearinterval 7200): no LI, served time follows the linear smear to within microseconds, also across the step', () => {
    const leapAtS = Date.UTC(2017, 0, 1) / 1000;
    const r = run({ name: 'smear', oscillator: { ...coldPi(9), offsetNs: 0, freqPpm: 20 }, ppsJitterNs: 1_000, nmeaDelayMs: 200,
      durationS: 9000, startS: leapAtS - 4800, leapAtS, smearS: 7200, seed: 4 });
    const errs = r.leapErrorsNs;
    console.log(`smear: ${errs.length} s measured across the 2 h window, max |served − smeared UTC| ${(Math.max(...errs.map(Math.abs)) / 1000).toFixed(2)} µs, ` +
      `RMS ${(rms(errs) / 1000).toFixed(2)} µs`);
    expect(errs.length).toBeGreaterThanOrEqual(8000);
    expect(Math.max(...errs.map(Math.abs))).toBeLessThan(5_000);
    for (const [, , li] of r.leap) expect(li).toBe(LeapIndicator.NoWarning);
  });

  it('GPS lost for an hour: holdover keeps the error inside the advertised root dispersion the whole time', () => {
    const r = run({ name: 'loss', oscillator: coldPi(3), ppsJitterNs: 1_000, nmeaDelayMs: 300, durationS: 600 + 3600 + 120, lossFromS: 600, lossS: 3600, seed: 5 });
    const worst = r.holdover.filter((h) => h.state !== 'none').reduce((a, h) => Math.max(a, Math.abs(h.errorNs) / h.dispersionNs), 0);
    const last = r.holdover.filter((h) => h.state === 'holdover').at(-1)!;
    console.log(`holdover 1 h: max |error| ${(maxAbs(r.holdover.map((h) => h.errorNs)) / 1e6).toFixed(3)} ms, ` +
      `final dispersion ${(last.dispersionNs / 1e6).toFixed(1)} ms, worst error/dispersion ${worst.toFixed(3)}`);
    const states = r.holdover.map((h) => h.state).join(' ').replace(/(\w+)( \1)*/g, (m, w: string) => `${w}×${m.split(' ').length}`);
    // Tracking for the 8 s an estimate stays fresh, holdover until an hour after the last sample, then unsynchronised.
    expect(states).toMatch(/^tracking×\d holdover×35\d\d none×\d$/);
    expect(r.holdover.length).toBe(3600);
    const claimed = r.holdover.filter((h) => h.state !== 'none');
    expect(claimed.filter((h) => Math.abs(h.errorNs) <= h.dispersionNs).length).toBe(claimed.length);
  });
});
