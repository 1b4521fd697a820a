// Property tests for the PPS + NMEA pairing: any interleaving of pulses and samples (valid or not)
// never throws and never labels a pulse with a second that no sample carried; a receiver delivered
// out of order, with pulses and samples dropped or repeated, is never labelled wrong, even when
// some of its arrivals cross a second boundary; a truthful one clear of the boundary is labelled.
import { timeSpecFromUnixNs } from '../../src/clock/clock.js';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { FixMode, RefclockPulse, RefclockSample } from '../../drivers/driver.js';
import { PpsNmeaPairing } from '../../src/refclock/pairing.js';

const T0 = 1_800_000_000;
const FIX: { mode: FixMode; satellitesUsed: null; satellitesVisible: null; hdop: null } = { mode: '3d', satellitesUsed: null, satellitesVisible: null, hdop: null };

type Ev = { pulse: RefclockPulse } | { sample: RefclockSample };

const anyInt = fc.oneof(fc.integer({ min: -2, max: 1_000_000_001 }), fc.constantFrom(Number.NaN, 1.5, -0, Number.MAX_SAFE_INTEGER + 2));
const time = fc.record({ sec: fc.oneof(fc.integer({ min: T0, max: T0 + 30 }), anyInt), nsec: fc.oneof(fc.integer({ min: 0, max: 999_999_999 }), anyInt) });
const pulseEv: fc.Arbitrary<Ev> = fc.record({
  systemTime: time,
  edge: fc.constantFrom('assert' as const, 'clear' as const),
  sequence: fc.option(fc.integer({ min: 0, max: 5 }), { nil: undefined }),
}).map((p) => ({ pulse: p }));
const sampleEv: fc.Arbitrary<Ev> = fc.record({
  systemTime: time,
  referenceTime: fc.record({ sec: fc.integer({ min: T0 - 5, max: T0 + 35 }), nsec: fc.oneof(fc.constant(0), anyInt) }),
  mode: fc.constantFrom<FixMode>('none', '2d', '3d'),
}).map(({ systemTime, referenceTime, mode }) => ({
  sample: { systemTime, referenceTime, leap: 'none' as const, fix: { ...FIX, mode } },
}));

function deliver(p: PpsNmeaPairing, e: Ev) {
  return 'pulse' in e ? p.addPulse(e.pulse) : p.addSample(e.sample);
}

describe('PpsNmeaPairing (fast-check)', () => {
  it('never throws and labels only with a second some on-the-second sample with a fix carried', () => {
    fc.assert(fc.property(fc.array(fc.oneof(pulseEv, sampleEv), { maxLength: 200 }), (events) => {
      const p = new PpsNmeaPairing();
      const carried = new Set<number>();
      for (const e of events) {
        if ('sample' in e && e.sample.referenceTime.nsec === 0 && e.sample.fix.mode !== 'none') carried.add(e.sample.referenceTime.sec);
        for (const o of deliver(p, e)) {
          if (o.kind !== 'labelled') continue;
          expect(carried.has(o.referenceSec)).toBe(true);
          expect(Number.isFinite(o.offsetNs)).toBe(true);
        }
      }
    }), { numRuns: 3000 });
  });

  // A receiver: nominal delay, jitter bound, clock offset, per-second noise in [-1, 1], and per
  // event 0 keep, 1 drop, 2 repeat, 3 swap with the previous (4..12 keep). The arbitrary is the one
  // that found the mislabels, unchanged, so its seeds and paths replay them below.
  const receiver = fc.record({
    delayNs: fc.integer({ min: 0, max: 999_999_999 }),
    jitterNs: fc.integer({ min: 0, max: 150_000_000 }),
    clockAheadNs: fc.integer({ min: -2_000_000_000, max: 2_000_000_000 }),
    noise: fc.array(fc.double({ min: -1, max: 1, noNaN: true }), { minLength: 60, maxLength: 60 }),
    fate: fc.array(fc.integer({ min: 0, max: 12 }), { minLength: 120, maxLength: 120 }),
  });
  type Receiver = typeof receiver extends fc.Arbitrary<infer R> ? R : never;

  /**
   * Runs one receiver for 60 s; returns the pulses labelled with the wrong second and those labelled
   * at all. Arrivals are delay + noise × jitter after the edge, NOT clamped into (0, 1 s): up to
   * `maxCrossings` of them may fall before their edge or after the next one (a receiver that breaks
   * the assumption now and then), the rest are clamped. The cap is what makes the property
   * provable: 8 consecutive observations all past the boundary are exactly what a receiver whose
   * delay is 1.0x s produces, which nothing can tell from a 0.0x s one (docs/refclock.md).
   */
  function runReceiver(r: Receiver, maxCrossings: number, reorder = true): { wrong: number; labelled: Set<number> } {
    const base = BigInt(T0) * 1_000_000_000n + BigInt(r.clockAheadNs);
    const timed: { at: bigint; ev: Ev }[] = [];
    const secondOfEdge = new Map<bigint, number>();
    let crossings = 0;
    for (let k = 0; k < 60; k++) {
      const edge = base + BigInt(k) * 1_000_000_000n;
      secondOfEdge.set(edge, T0 + k);
      timed.push({ at: edge, ev: { pulse: { systemTime: timeSpecFromUnixNs(edge), edge: 'assert', sequence: k } } });
      let offsetNs = Math.round(r.delayNs + (r.noise[k] ?? 0) * r.jitterNs);
      if (offsetNs < 0 || offsetNs >= 1_000_000_000) {
        if (crossings < maxCrossings) crossings++;
        else offsetNs = Math.min(999_999_999, Math.max(0, offsetNs));
      }
      const arrival = edge + BigInt(offsetNs);
      timed.push({ at: arrival, ev: { sample: { systemTime: timeSpecFromUnixNs(arrival), referenceTime: { sec: T0 + k, nsec: 0 }, leap: 'none', fix: FIX } } });
    }
    timed.sort((a, b) => (a.at < b.at ? -1 : a.at > b.at ? 1 : 0));
    const events: Ev[] = [];
    timed.forEach((t, i) => {
      const f = reorder ? (r.fate[i] ?? 0) : 0;
      if (f === 1) return;
      events.push(t.ev);
      if (f === 2) events.push(t.ev);
      if (f === 3 && events.length >= 2) events.splice(-2, 2, events.at(-1) as Ev, events.at(-2) as Ev);
    });
    const p = new PpsNmeaPairing();
    let wrong = 0;
    const labelled = new Set<number>();
    for (const e of events) {
      for (const o of deliver(p, e)) {
        if (o.kind !== 'labelled') continue;
        const second = secondOfEdge.get(o.edgeNs) ?? Number.NaN;
        if (o.referenceSec !== second) wrong++;
        labelled.add(second - T0);
      }
    }
    return { wrong, labelled };
  }

  // One fewer than the 8 observations the pairing needs before it labels anything.
  const MAX_CROSSINGS = 7;

  it('a receiver whose arrivals sometimes cross a second boundary, reordered, thinned and repeated, is never labelled with the wrong second', () => {
    fc.assert(fc.property(receiver, (r) => runReceiver(r, MAX_CROSSINGS).wrong === 0), { numRuns: 1500 });
  });

  it('the same, with the delay within 60 ms of a second boundary and jitter of 20-150 ms (where crossings happen)', () => {
    // The old rule's mislabels needed about as many crossing observations as on-time ones; this
    // found them in 7 of 20 seeds at 1500 runs (the wider arbitrary above: 5 of 20).
    const nearBoundary = fc.record({
      delayNs: fc.oneof(fc.integer({ min: 0, max: 60_000_000 }), fc.integer({ min: 940_000_000, max: 999_999_999 })),
      jitterNs: fc.integer({ min: 20_000_000, max: 150_000_000 }),
      clockAheadNs: fc.integer({ min: -2_000_000_000, max: 2_000_000_000 }),
      noise: fc.array(fc.double({ min: -1, max: 1, noNaN: true }), { minLength: 60, maxLength: 60 }),
      fate: fc.array(fc.integer({ min: 0, max: 12 }), { minLength: 120, maxLength: 120 }),
    });
    fc.assert(fc.property(nearBoundary, (r) => runReceiver(r, MAX_CROSSINGS).wrong === 0), { numRuns: 3000 });
  });

  it('a truthful receiver, reordered, thinned and repeated, is never labelled with the wrong second', () => {
    fc.assert(fc.property(receiver, (r) => runReceiver(r, 0).wrong === 0), { numRuns: 500 });
  });

  it('a truthful receiver clear of the boundary, delivered in order, is labelled from the 8th pulse on', () => {
    // Jitter up to ±70 ms and a delay at least 3 × jitter + 20 ms (the guard) from 0 and 1 s: the
    // median, the 2 × MAD spread and every arrival stay clear of the boundary and within ±150 ms.
    const clear = fc.integer({ min: 0, max: 70_000_000 }).chain((jitterNs) => fc.record({
      delayNs: fc.integer({ min: 20_000_001 + 3 * jitterNs, max: 979_999_999 - 3 * jitterNs }),
      jitterNs: fc.constant(jitterNs),
      clockAheadNs: fc.integer({ min: -2_000_000_000, max: 2_000_000_000 }),
      noise: fc.array(fc.double({ min: -1, max: 1, noNaN: true }), { minLength: 60, maxLength: 60 }),
      fate: fc.constant([] as number[]),
    }));
    fc.assert(fc.property(clear, (r) => {
      const { wrong, labelled } = runReceiver(r, 0, false);
      // Pulse 0 has no sample before it; pulses 1..6 go while fewer than 8 phases are known.
      return wrong === 0 && labelled.size === 53 && [...labelled].every((k) => k >= 7);
    }), { numRuns: 500 });
  });

  // The counterexamples fast-check found before the fix (docs/refclock.md, "Straddling receivers"),
  // as it shrank them from seeds -684203437 and 394201190 of the arbitrary above: exact values,
  // run without the crossing cap. test/unit/refclock/pairing.test.ts replays their event sequences.
  const sparse = (n: number, entries: [number, number][]) => {
    const a = new Array<number>(n).fill(0);
    for (const [i, v] of entries) a[i] = v;
    return a;
  };
  // `firstLabelled`: the first pulse labelled again, once every crossing arrival has left the
  // 32-observation window (null: the delay straddles the boundary for good).
  const regressions: [seed: number, what: string, r: Receiver, firstLabelled: number | null][] = [
    [-684203437, '951 ms ± 69 ms, 3 arrivals 20 ms past the next edge, one repeated', {
      delayNs: 951_260_721, jitterNs: 68_739_279, clockAheadNs: 0,
      noise: sparse(60, [[4, 0.9999999927261375], [5, 0.9999999927261375], [8, 0.9999999927261375]]),
      fate: sparse(120, [[2, 1], [10, 2], [14, 1]]),
    }, 40],
    [394201190, '0 ms ± 20 ms, 5 arrivals up to 20 ms before their edge, two repeated', {
      delayNs: 0, jitterNs: 20_000_000, clockAheadNs: 0,
      noise: sparse(60, [[2, -0.9999999750000002], [4, -2.5000000000000005e-8], [5, -0.9999999750000002], [10, -0.9999999750000002], [12, -0.9999999750000002]]),
      fate: sparse(120, [[1, 1], [10, 2], [15, 1], [23, 1], [24, 2]]),
    }, null],
  ];
  for (const [seed, what, r, firstLabelled] of regressions) {
    it(`regression, seed ${seed} (${what}): refused, not mislabelled`, () => {
      const { wrong, labelled } = runReceiver(r, 60);
      expect(wrong).toBe(0);
      expect(labelled.size === 0 ? null : Math.min(...labelled)).toBe(firstLabelled);
    });
  }
});
