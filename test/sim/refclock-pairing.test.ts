// Simulation: hours of virtual PPS pulses and NMEA samples through the pairing and the jitter
// filter, with numeric pass/fail limits (docs/refclock.md quotes them).
//
// The virtual receiver: true UTC seconds T0 + k; the local clock starts CLOCK_AHEAD_NS ahead and
// drifts DRIFT_PPM; each edge is stamped with Gaussian PPS jitter; each second's sample arrives
// delayNs after the edge (measured on the true timescale) with Gaussian NMEA jitter. Events are
// delivered in local-time order, as the daemon would deliver them.
import { timeSpecFromUnixNs } from '../../src/clock/clock.js';
import { describe, expect, it } from 'vitest';
import { gaussian as normalDeviate, mulberry32 as prng } from '../../src/clock/simulated.js';
import type { RefclockPulse, RefclockSample } from '../../drivers/driver.js';
import { JitterFilter } from '../../src/refclock/filter.js';
import { PpsNmeaPairing, type PairingCounter } from '../../src/refclock/pairing.js';

const T0 = 1_800_000_000;
const MS = 1_000_000;
const HOURS = 3;
const SECONDS = HOURS * 3600;
const CLOCK_AHEAD_NS = 37_000_000;
const DRIFT_PPM = -12;
const PPS_JITTER_NS = 3_000;
const NMEA_JITTER_NS = 20 * MS;

/** Local clock error (+ = ahead) at true time tNs after T0. */
function clockErrorNs(tNs: number): number {
  return CLOCK_AHEAD_NS + (DRIFT_PPM * tNs) / 1e6;
}

type Event = { atNs: bigint; pulse?: RefclockPulse; sample?: RefclockSample };

const toTimeSpec = (ns: bigint) => timeSpecFromUnixNs(ns);

interface RunResult {
  counters: Readonly<Record<PairingCounter, number>>;
  labelled: number;
  mislabelled: number;
  firstLabelledPulse: number;
  unlabelledAfterFirst: number;
  maxOffsetErrorNs: number;
  jitterOutliers: number;
}

/**
 * `laterDelayNs`: the delay from the middle of the run on (the receiver or gpsd restarted).
 * `slip`: with probability `fraction` a second's sentence comes `extraNs` later than the delay.
 */
function run(seed: number, delayNs: number, nmeaJitterNs = NMEA_JITTER_NS, laterDelayNs = delayNs, slip = { fraction: 0, extraNs: 0 }): RunResult {
  const rand = prng(seed);
  const normal = () => normalDeviate(rand);
  const events: Event[] = [];
  const pulseOfEdge = new Map<bigint, number>();
  for (let k = 0; k < SECONDS; k++) {
    const trueEdgeNs = k * 1e9;
    const edgeNs = BigInt(T0) * 1_000_000_000n + BigInt(Math.round(trueEdgeNs + clockErrorNs(trueEdgeNs) + normal() * PPS_JITTER_NS));
    pulseOfEdge.set(edgeNs, k);
    events.push({ atNs: edgeNs, pulse: { systemTime: toTimeSpec(edgeNs), edge: 'assert', sequence: k + 1 } });
    const slipNs = slip.fraction > 0 && rand() < slip.fraction ? slip.extraNs : 0;
    const trueArrivalNs = trueEdgeNs + (k < SECONDS / 2 ? delayNs : laterDelayNs) + slipNs + normal() * nmeaJitterNs;
    const arrivalNs = BigInt(T0) * 1_000_000_000n + BigInt(Math.round(trueArrivalNs + clockErrorNs(trueArrivalNs)));
    events.push({
      atNs: arrivalNs,
      sample: {
        systemTime: toTimeSpec(arrivalNs), referenceTime: { sec: T0 + k, nsec: 0 }, leap: 'none',
        fix: { mode: '3d', satellitesUsed: 9, satellitesVisible: 14, hdop: 0.8 },
      },
    });
  }
  events.sort((a, b) => (a.atNs < b.atNs ? -1 : a.atNs > b.atNs ? 1 : 0));

  const pairing = new PpsNmeaPairing();
  const filter = new JitterFilter();
  const labelledPulses = new Set<number>();
  let mislabelled = 0;
  let maxOffsetErrorNs = 0;
  for (const e of events) {
    const outcomes = e.pulse ? pairing.addPulse(e.pulse) : e.sample ? pairing.addSample(e.sample) : [];
    for (const o of outcomes) {
      if (o.kind !== 'labelled') continue;
      const k = pulseOfEdge.get(o.edgeNs) ?? -1;
      if (o.referenceSec !== T0 + k) mislabelled++;
      labelledPulses.add(k);
      maxOffsetErrorNs = Math.max(maxOffsetErrorNs, Math.abs(o.offsetNs - clockErrorNs(k * 1e9)));
      filter.add(o.edgeNs, o.offsetNs);
    }
  }
  const firstLabelledPulse = Math.min(...labelledPulses, SECONDS);
  let unlabelledAfterFirst = 0;
  // The last pulse's sample may be the last event: it is labelled; nothing is left pending.
  for (let k = firstLabelledPulse; k < SECONDS; k++) if (!labelledPulses.has(k)) unlabelledAfterFirst++;
  return {
    counters: pairing.counters, labelled: labelledPulses.size, mislabelled, firstLabelledPulse,
    unlabelledAfterFirst, maxOffsetErrorNs, jitterOutliers: filter.counters.jitterOutlier,
  };
}

describe(`PPS + NMEA pairing over ${HOURS} simulated hours (${SECONDS} pulses)`, () => {
  for (const [delayMs, seed] of [[100, 1], [500, 2], [900, 3]] as const) {
    it(`NMEA ${delayMs} ms ± ${NMEA_JITTER_NS / MS} ms after the edge: every pulse from the 8th on labelled, none wrong`, () => {
      const r = run(seed, delayMs * MS);
      expect(r.mislabelled).toBe(0);
      // Learning: pulse 0 has no sample before it (nmeaStale), pulses 1..6 wait for 8 phase observations.
      expect(r.firstLabelledPulse).toBe(7);
      expect(r.unlabelledAfterFirst).toBe(0);
      expect(r.labelled).toBe(SECONDS - 7);
      expect(r.counters.outsideWindow).toBe(0);
      // PPS jitter is 3 µs (σ); the label adds nothing to it.
      expect(r.maxOffsetErrorNs).toBeLessThan(20_000);
      // The filter, detrending a -12 ppm clock, sees nothing worth rejecting in Gaussian 3 µs jitter.
      expect(r.jitterOutliers).toBe(0);
    });
  }

  for (const [delayMs, seed] of [[50, 7], [950, 8]] as const) {
    it(`NMEA ${delayMs} ms ± 5 ms (a quiet receiver near the boundary): still labels every pulse from the 8th on`, () => {
      const r = run(seed, delayMs * MS, 5 * MS);
      expect(r.mislabelled).toBe(0);
      expect(r.firstLabelledPulse).toBe(7);
      expect(r.labelled).toBe(SECONDS - 7);
    });
  }

  it('NMEA delay jumps from 200 to 700 ms half-way: the phase is re-learnt, a few pulses refused, none wrong', () => {
    const r = run(9, 200 * MS, NMEA_JITTER_NS, 700 * MS);
    expect(r.mislabelled).toBe(0);
    // The median needs half of the 32 observations at the new phase: 16 pulses outsideWindow.
    expect(r.counters.outsideWindow).toBeLessThanOrEqual(17);
    expect(r.labelled).toBeGreaterThanOrEqual(SECONDS - 7 - 17);
  });

  for (const [delayMs, seed] of [[0, 4], [1000, 5]] as const) {
    it(`NMEA ${delayMs} ms ± ${NMEA_JITTER_NS / MS} ms (straddling a second boundary): refuses, phaseNearBoundary, never mislabels`, () => {
      const r = run(seed, delayMs * MS);
      expect(r.mislabelled).toBe(0);
      expect(r.labelled).toBe(0);
      // All but the learning pulses are refused for the boundary.
      expect(r.counters.phaseNearBoundary).toBeGreaterThanOrEqual(SECONDS - 8);
    });
  }

  it('NMEA 500 ms with ± 400 ms jitter (arrivals anywhere in the second): refuses, phaseSpreadWide, never mislabels', () => {
    const r = run(6, 500 * MS, 400 * MS);
    expect(r.mislabelled).toBe(0);
    // A handful (8 with this seed) are labelled, correctly, while the first observations happen
    // to agree; the window keeps even those right. Everything else is refused.
    expect(r.labelled).toBeLessThanOrEqual(20);
    expect(r.counters.phaseSpreadWide).toBeGreaterThanOrEqual(SECONDS - 30);
  });

  // A receiver that sometimes sends a second's sentence 80 ms late, 30 ms past the next edge (it
  // breaks the Assumption in docs/refclock.md). Those observations are measured against the next
  // edge, 30 ms. The median and MAD used to hide them while they were at most half of the 32; near
  // half they took the median and labelled the next edge (the rule before: 45 % → 1460 of 8371
  // labels wrong). Any such observation within reach of the phase now refuses the receiver while
  // it is in the window.
  it('NMEA 950 ms ± 3 ms, 45 % of sentences 80 ms later (past the next edge): refuses, never mislabels', () => {
    const r = run(11, 950 * MS, 3 * MS, 950 * MS, { fraction: 0.45, extraNs: 80 * MS });
    expect(r.mislabelled).toBe(0);
    expect(r.labelled).toBe(0);
    expect(r.counters.phaseNearBoundary).toBeGreaterThanOrEqual(SECONDS - 9);
  });

  it('the same with 5 % late: none wrong, and the cost of refusing: about a fifth of pulses labelled', () => {
    const r = run(10, 950 * MS, 3 * MS, 950 * MS, { fraction: 0.05, extraNs: 80 * MS });
    expect(r.mislabelled).toBe(0);
    // Each late sentence refuses the next 32 observations (2258 labelled with this seed; the rule
    // before labelled all 10 793, rightly here, because the ± 150 ms window reached 1.03 s). Bounded
    // both ways so that a change in this trade-off shows up here.
    expect(r.labelled).toBeGreaterThanOrEqual(1_800);
    expect(r.labelled).toBeLessThanOrEqual(2_800);
  });
});
