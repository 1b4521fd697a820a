import { Worker } from 'node:worker_threads';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ParsedAddress, parseAddress } from '../../../src/net/address.js';
import { RateLimiter, RateVerdict, type RateLimitedRequest } from '../../../src/server/access/ratelimit.js';

const settings = { averageLog2S: 3, minimumLog2S: 1, capacity: 64 };
const addr = (text: string): ParsedAddress => {
  const p = new ParsedAddress();
  expect(parseAddress(text, p), text).toBe(true);
  return p;
};
/** A packet from `source`:`port` at monotonic `monoS` s. */
const at = (source: ParsedAddress, port: number, monoS: number): RateLimitedRequest => ({ source, port, monoS });

describe('the rate table (words as keys, one SharedArrayBuffer for every thread)', () => {
  it('fills the bucket (8 × 2^average s) at the minimum headway, then limits, with one kiss per minimum interval', () => {
    const t = new RateLimiter(settings, 7);
    const a = addr('192.0.2.1');
    // Every 2 s (discard minimum 1): each packet adds 8 s of leak and 2 s drain → 8, 14, ... 62 ≤ 64: ten accepted.
    const verdicts = Array.from({ length: 11 }, (_, i) => t.observe(at(a, 123, 100 + 2 * i), 3, 4));
    expect(verdicts.slice(0, 10)).toEqual(Array(10).fill(RateVerdict.Accept));
    expect(verdicts[10]).toBe(RateVerdict.LimitedSendKod);
    expect(t.observe(at(a, 123, 120.5), 3, 4)).toBe(RateVerdict.Limited); // 0.5 s later: under the 2 s minimum, no new kiss
  });

  it('keeps v4, v4-mapped and v6 clients apart only where the address differs', () => {
    const t = new RateLimiter(settings, 7);
    t.observe(at(addr('10.0.0.1'), 1000, 1), 3, 4);
    t.observe(at(addr('::ffff:10.0.0.1'), 1001, 2), 3, 3); // the same client on a dual-stack socket
    t.observe(at(addr('::a00:1'), 1002, 3), 3, 4); // same low word, IPv6
    const e = t.entries();
    expect(e.map((x) => [x.address, x.port, x.version, x.count])).toEqual([['::a00:1', 1002, 4, 1], ['10.0.0.1', 1001, 3, 2]]);
  });

  it('a view attached to the memory sees and updates the same clients', () => {
    const t = new RateLimiter(settings, 99);
    const view = RateLimiter.attach(settings, t.memory);
    expect(view.capacity).toBe(t.capacity);
    const a = addr('2001:db8::7');
    for (let i = 0; i < 4; i++) t.observe(at(a, 5, 10 + 3 * i), 3, 4);
    for (let i = 4; i < 8; i++) view.observe(at(a, 5, 10 + 3 * i), 3, 4);
    expect(t.entries()).toEqual([expect.objectContaining({ address: '2001:db8::7', count: 8 })]);
    expect(view.observe(at(a, 5, 31.5), 3, 4)).toBe(RateVerdict.LimitedSendKod); // 0.5 s after the last, seen through the other view
  });

  it('another thread\'s packets land in the same table (a worker observing through attach)', async () => {
    const t = new RateLimiter(settings, 3);
    const url = new URL('../../../dist/src/server/access/ratelimit.js', import.meta.url);
    const code = `const { workerData, parentPort } = require('node:worker_threads');
      import(workerData.url).then(({ RateLimiter }) => import(workerData.addrUrl).then(({ ParsedAddress, parseAddress }) => {
        const v = RateLimiter.attach(workerData.settings, workerData.memory);
        const p = new ParsedAddress();
        for (let i = 0; i < 300; i++) { parseAddress('198.51.100.' + (i % 100), p); v.observe({ source: p, port: 4000 + i, monoS: i }, 3, 4); }
        parentPort.postMessage(v.evictions);
      }));`;
    const w = new Worker(code, { eval: true, workerData: { url: url.href, addrUrl: new URL('../../../dist/src/net/address.js', import.meta.url).href, settings, memory: t.memory } });
    await new Promise((resolve, reject) => { w.once('message', resolve); w.once('error', reject); });
    await w.terminate();
    const e = t.entries();
    expect(e.length).toBeLessThanOrEqual(t.capacity);
    expect(e.length).toBeGreaterThan(t.capacity / 2); // 100 clients into 64 slots: the table is full-ish, not empty
    expect(t.evictions).toBeGreaterThan(0);
  });

  it('never holds more than its capacity and never throws, whatever arrives (property)', () => {
    fc.assert(fc.property(fc.array(fc.tuple(fc.oneof(fc.ipV4(), fc.ipV6()), fc.integer({ min: 0, max: 65535 }), fc.double({ min: 0, max: 1e6, noNaN: true })), { maxLength: 400 }), (packets) => {
      const t = new RateLimiter({ ...settings, capacity: 16 }, 1);
      const p = new ParsedAddress();
      for (const [a, port, s] of packets) {
        parseAddress(a, p);
        t.observe(at(p, port, s), 3, 4);
      }
      const e = t.entries();
      expect(e.length).toBeLessThanOrEqual(16);
      expect(t.occupied()).toBe(e.length);
      expect(new Set(e.map((x) => x.address)).size).toBe(e.length);
    }), { numRuns: 300 });
  });
});
