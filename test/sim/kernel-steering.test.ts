// `enable kernel` in virtual time against the fake kernel (src/clock/kernel-fake.ts, the same
// adjtimex interface as the real one): the core's wiring (NMEA + PPS sources, discipline) plus
// KernelSteering, with every ClockChange broadcast to the sources and the discipline as the daemon
// does. The system clock must converge on true time, the kernel frequency must cancel the
// oscillator's error, and served time must not notice the kernel's step and slews.
import { describe, expect, it } from 'vitest';
import { SimulatedClock, gaussian, mulberry32 } from '../../src/clock/simulated.js';
import { FakeKernelClock } from '../../src/clock/kernel-fake.js';
import { RefclockSource, type RefclockSourceConfig } from '../../src/refclock/source.js';
import { Discipline, estimateDispersionS } from '../../src/discipline/discipline.js';
import { KernelSteering } from '../../src/discipline/kernel-steering.js';
import { DEFAULT_TINKER } from '../../src/discipline/steer.js';
import type { FixState } from '../../drivers/driver.js';

const S = 1_000_000_000n;
const T0_S = 1_800_000_000;
const FIX: FixState = { mode: '3d', satellitesUsed: 9, satellitesVisible: 12, hdop: 0.8 };
const LIMITS = {
  /** After 10 minutes the system clock is within this of true time, RMS (1 µs PPS jitter). */
  systemRmsNs: 2_000,
  /** The kernel frequency cancels the oscillator's error within this, ppm. */
  freqPpm: 0.05,
  /** Served time across the whole run after lock, including the boot step, RMS. */
  servedRmsNs: 1_000,
};

const cfg = (name: string, pulses: boolean, timecodes: boolean): RefclockSourceConfig => ({
  name, time1Ns: 0, time2Ns: 0, timecodes, pulses, prefer: false, noselect: false, stratum: 0,
});
const ts = (ns: bigint) => ({ sec: Number(ns / S), nsec: Number(ns % S) });
const rms = (xs: readonly number[]) => Math.sqrt(xs.reduce((a, x) => a + x * x, 0) / Math.max(1, xs.length));

interface SteeringRun {
  lockedAt: number | null;
  steps: number[];
  /** System clock − true time after the first 10 minutes, ns. */
  systemErr: number[];
  finalSystemErrNs: number;
  /** Served − true time from 30 s after lock, ns. */
  served: number[];
  kernelFreqPpm: number;
  oscillatorPpm: number;
}

/** 1 µs PPS jitter, NMEA 300 ms late, a 50 ppm crystal with wander and a temperature swing; the system clock starts `bootOffsetNs` ahead. */
function runSteering(bootOffsetNs: bigint, durationS: number): SteeringRun {
  const osc = new SimulatedClock({ offsetNs: 0, freqPpm: 50, wanderPpmPerSqrtS: 0.001, tempAmplitudePpm: 0.3, tempPeriodS: 3600, seed: 21 }, BigInt(T0_S) * S);
  const kernel = new FakeKernelClock({ oscillatorNs: () => osc.rawNs(), initialOffsetNs: bootOffsetNs });
  const rand = mulberry32(3);
  const nmea = new RefclockSource(cfg('GPS_NMEA(0)', false, true));
  const pps = new RefclockSource(cfg('PPS(0)', true, false));
  pps.labeller = nmea;
  const discipline = new Discipline();
  const steering = new KernelSteering(kernel, DEFAULT_TINKER, true);
  const sysNow = () => kernel.kernel.realtimeNs();
  const r: SteeringRun = { lockedAt: null, steps: [], systemErr: [], finalSystemErrNs: 0, served: [], kernelFreqPpm: 0, oscillatorPpm: 0 };
  for (let k = 1; k <= durationS; k++) {
    const edgeTrue = BigInt(T0_S + k) * S;
    osc.advanceTo(edgeTrue);
    pps.addPulse({ systemTime: ts(sysNow() + BigInt(Math.round(gaussian(rand) * 1_000))), edge: 'assert', sequence: k });
    osc.advanceTo(edgeTrue + 300_000_000n);
    nmea.addSample({ systemTime: ts(sysNow()), referenceTime: { sec: T0_S + k, nsec: 0 }, leap: 'none', fix: FIX }, [pps]);
    const updateTrue = edgeTrue + 950_000_000n;
    osc.advanceTo(updateTrue);
    const now = sysNow();
    const state = discipline.update(now, [
      { name: 'GPS_NMEA(0)', estimate: nmea.estimate(now), prefer: false, noselect: false, stratum: 0 },
      { name: 'PPS(0)', estimate: pps.estimate(now), prefer: false, noselect: false, stratum: 0 },
    ], undefined, -20);
    const est = state.kind === 'tracking' ? state.estimate : null;
    const { change } = steering.update(state, discipline.correctionModel, est?.jitterNs ?? 0, est ? estimateDispersionS(est, -20, now) * 1e9 : 16e9, now);
    // The daemon's broadcast (src/daemon/reference.ts).
    if (change) {
      nmea.clockChanged(change);
      pps.clockChanged(change);
      discipline.clockChanged(change);
    }
    if (r.lockedAt === null && state.kind === 'tracking' && state.estimate.basis === 'pulse') r.lockedAt = k;
    // Served = system − the followed line, right after the update (the system clock may just have changed).
    const line = discipline.correctionModel;
    const after = sysNow();
    if (line && r.lockedAt !== null && k > r.lockedAt + 30) {
      r.served.push(Number(after - updateTrue) - (line.offsetNs + line.freqPpm * 1e-6 * Number(after - line.t0Ns)));
    }
    r.finalSystemErrNs = Number(after - updateTrue);
    if (k > 600) r.systemErr.push(r.finalSystemErrNs);
  }
  r.steps = kernel.stepHistory.map(Number);
  r.kernelFreqPpm = kernel.appliedFreqPpm;
  r.oscillatorPpm = osc.freqPpmAt(osc.trueNs);
  return r;
}

describe('kernel steering (fake kernel, virtual time)', () => {
  it('boot 0.5 s off (above tinker step 0.128 s) on a 50 ppm crystal: one step, then the system clock follows GPS and served time never jumps', () => {
    const r = runSteering(500_000_000n, 2400);
    console.log(`kernel steering: lock ${r.lockedAt} s; steps ${r.steps.map((x) => `${x / 1e6} ms`).join(', ')}; ` +
      `system clock RMS ${(rms(r.systemErr) / 1000).toFixed(3)} µs after 10 min; kernel freq ${r.kernelFreqPpm.toFixed(4)} ppm ` +
      `(oscillator ${r.oscillatorPpm.toFixed(4)}); served RMS ${(rms(r.served) / 1000).toFixed(3)} µs`);
    expect(r.lockedAt).not.toBeNull();
    // The boot offset is removed by one step (ntpd -g), nothing after.
    expect(r.steps.length).toBe(1);
    expect(Math.abs(r.steps[0]! + 500_000_000)).toBeLessThan(1_000_000);
    expect(rms(r.systemErr)).toBeLessThan(LIMITS.systemRmsNs);
    expect(Math.abs(r.kernelFreqPpm + r.oscillatorPpm)).toBeLessThan(LIMITS.freqPpm);
    expect(rms(r.served)).toBeLessThan(LIMITS.servedRmsNs);
  });

  it('boot 0.1 s off (under tinker step): no step, slewed out at the kernel\'s 500 ppm limit; served time unaffected', () => {
    const r = runSteering(100_000_000n, 900);
    console.log(`kernel steering (slew): system clock ${(r.finalSystemErrNs / 1000).toFixed(3)} µs after 900 s; served RMS ${(rms(r.served) / 1000).toFixed(3)} µs`);
    expect(r.steps).toEqual([]);
    expect(Math.abs(r.finalSystemErrNs)).toBeLessThan(10_000);
    expect(rms(r.served)).toBeLessThan(LIMITS.servedRmsNs);
  });
});
