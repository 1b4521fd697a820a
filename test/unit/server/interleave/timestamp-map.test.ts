// The interleaved-mode timestamp map (src/server/interleave/timestamp-map.ts): chrony's clientlog.c
// rules on constructed keys, and a fast-check property that no sequence of calls throws or grows it.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { TimestampMap, ntpDiff, type TransmitFound } from '../../../../src/server/interleave/timestamp-map.js';

const TWO32 = 4_294_967_296;
const found = (): TransmitFound => ({ seconds: 0, fraction: 0, kernel: false });
/** A key `ms` milliseconds after a base second (fraction units). */
const at = (ms: number): [number, number] => {
  const frac = Math.floor((ms / 1000) * TWO32);
  return [0xeead0000 + Math.floor(frac / TWO32), (frac % TWO32) | 1];
};

describe('TimestampMap', () => {
  it('ntpDiff: signed 64-bit difference, across a seconds carry and the era wrap', () => {
    expect(ntpDiff(10, 0, 9, 0xffffffff)).toBe(1);
    expect(ntpDiff(9, 0xffffffff, 10, 0)).toBe(-1);
    expect(ntpDiff(0, 5, 0xffffffff, 5)).toBe(TWO32); // era 1 second 0 is one second after era 0's last
    expect(ntpDiff(7, 7, 7, 7)).toBe(0);
  });

  it('saves, finds once with the transmit time (daemon, then kernel), and answers a repeat with nothing', () => {
    const m = new TimestampMap(8);
    const [s, f] = at(0);
    const [ts, tf] = at(0.2);
    m.save(s, f, ts, tf, false);
    const [ks, kf] = at(0.25);
    expect(m.updateTx(s, f, ks, kf)).toBe(true);
    const out = found();
    expect(m.take(s, f, out)).toBe(2);
    expect(out).toEqual({ seconds: ks, fraction: kf, kernel: true });
    expect(m.take(s, f, out)).toBe(0); // answered once: a replayed request gets basic mode
    expect(m.updateTx(s, f, ks, kf)).toBe(false);
  });

  it('keeps the daemon time when no kernel stamp came; refuses a kernel stamp before it or over 1 s after', () => {
    const m = new TimestampMap(8);
    const [s, f] = at(0);
    const [ts, tf] = at(0.2);
    m.save(s, f, ts, tf, false);
    expect(m.updateTx(s, f, ...at(0.1))).toBe(false);
    expect(m.updateTx(s, f, ...at(1300))).toBe(false);
    const out = found();
    expect(m.take(s, f, out)).toBe(2);
    expect(out).toEqual({ seconds: ts, fraction: tf, kernel: false });
  });

  it('a key saved twice is disabled; a zero key is ignored; unknown keys are not found', () => {
    const m = new TimestampMap(8);
    const [s, f] = at(5);
    m.save(s, f, ...at(5.1), false);
    m.save(s, f, ...at(5.2), false);
    expect(m.take(s, f, found())).toBe(0);
    m.save(0, 0, 1, 1, false);
    expect(m.size).toBe(1);
    expect(m.take(...at(4), found())).toBe(0);
    expect(m.take(...at(6), found())).toBe(0);
  });

  it('a transmit time more than 2 s from the receive time is not kept: the entry answers 1 (basic reply)', () => {
    const m = new TimestampMap(8);
    const [s, f] = at(0);
    m.save(s, f, ...at(3000), false);
    expect(m.take(s, f, found())).toBe(1);
  });

  it('drops the oldest when full; finds every key still held among out-of-order inserts', () => {
    const m = new TimestampMap(16);
    const keys: [number, number][] = [];
    for (let i = 0; i < 40; i++) {
      // mostly increasing, every fifth a little late (inserted in order near the newest)
      const k = at(i % 5 === 4 ? i * 10 - 15 : i * 10);
      keys.push(k);
      m.save(k[0], k[1], ...at(i * 10 + 1), false);
    }
    expect(m.size).toBe(16);
    for (const k of keys.slice(0, 20)) expect(m.take(k[0], k[1], found())).toBe(0);
    let held = 0;
    for (const k of keys.slice(-10)) held += m.take(k[0], k[1], found()) === 2 ? 1 : 0;
    expect(held).toBeGreaterThanOrEqual(9);
  });

  it('after the served time steps back, entries more than a second ahead are trimmed', () => {
    const m = new TimestampMap(64);
    for (let i = 0; i < 10; i++) m.save(...at(10_000 + i), ...at(10_000 + i + 0.1), false);
    m.save(...at(5_000), ...at(5_000.1), false);
    expect(m.size).toBe(1);
    expect(m.take(...at(5_000), found())).toBe(2);
  });

  it('never throws and never grows, whatever it is given (fast-check)', () => {
    const u32 = fc.integer({ min: -1, max: 2 ** 32 });
    const op = fc.oneof(
      fc.record({ k: fc.constant('save' as const), a: u32, b: u32, c: u32, d: u32, kernel: fc.boolean() }),
      fc.record({ k: fc.constant('update' as const), a: u32, b: u32, c: u32, d: u32 }),
      fc.record({ k: fc.constant('take' as const), a: u32, b: u32 }),
      // near-monotonic keys, as a socket gives them
      fc.record({ k: fc.constant('near' as const), a: fc.integer({ min: 0, max: 5000 }), kernel: fc.boolean() }),
    );
    fc.assert(fc.property(fc.integer({ min: 1, max: 40 }), fc.array(op, { maxLength: 300 }), (cap, ops) => {
      const m = new TimestampMap(cap);
      const capacity = m.capacity;
      const out = found();
      for (const o of ops) {
        if (o.k === 'save') m.save(o.a, o.b, o.c, o.d, o.kernel);
        else if (o.k === 'update') m.updateTx(o.a, o.b, o.c, o.d);
        else if (o.k === 'take') m.take(o.a, o.b, out);
        else m.save(...at(o.a), ...at(o.a + 0.3), o.kernel);
        expect(m.size).toBeLessThanOrEqual(capacity);
        expect(m.capacity).toBe(capacity);
      }
      // Its arrays are the ones it was built with (no reallocation).
      const arrays = Object.values(m).filter((v) => ArrayBuffer.isView(v)) as Uint32Array[];
      expect(arrays.every((a) => a.length === capacity)).toBe(true);
    }), { numRuns: 300 });
  });
});
