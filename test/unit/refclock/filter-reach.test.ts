// The jitter filter (median of detrended offsets, k × MAD with a floor) and the reach register.
import { describe, expect, it } from 'vitest';
import { JitterFilter } from '../../../src/refclock/filter.js';
import { Reach } from '../../../src/refclock/reach.js';

const S = 1_000_000_000n;

describe('JitterFilter', () => {
  it('accepts the first offsets, then rejects one far from the median', () => {
    const f = new JitterFilter();
    const jitter = [0, 2_000, -1_500, 1_000, -500, 1_200, -2_000, 300];
    jitter.forEach((j, i) => expect(f.add(BigInt(i) * S, 50_000 + j).accepted).toBe(true));
    const v = f.add(8n * S, 50_000 + 200_000);
    expect(v).toMatchObject({ accepted: false, reason: 'jitterOutlier' });
    expect(f.counters).toEqual({ accepted: 8, jitterOutlier: 1 });
  });

  it('keeps accepting on a drifting clock (10 ppm = 10 µs per pulse)', () => {
    const f = new JitterFilter();
    for (let i = 0; i < 100; i++) expect(f.add(BigInt(i) * S, i * 10_000 + ((i * 37) % 7) * 500).accepted).toBe(true);
  });

  it('uses the floor when the source is quieter than it', () => {
    const f = new JitterFilter({ floorNs: 20_000 });
    for (let i = 0; i < 10; i++) f.add(BigInt(i) * S, 0);
    expect(f.add(10n * S, 19_000).accepted).toBe(true);
    expect(f.add(11n * S, 21_000)).toMatchObject({ accepted: false, thresholdNs: 20_000 });
  });

  it('follows a step within half a window (the detrending line leans into it, so a little sooner)', () => {
    const f = new JitterFilter({ window: 16 });
    for (let i = 0; i < 16; i++) f.add(BigInt(i) * S, 0);
    const verdicts = [];
    for (let i = 16; i < 32; i++) verdicts.push(f.add(BigInt(i) * S, 1_000_000).accepted);
    expect(verdicts.slice(0, 6)).toEqual(Array(6).fill(false));
    expect(verdicts.slice(8)).toEqual(Array(8).fill(true));
  });
});

describe('Reach', () => {
  it('shifts at each poll and shows octal as ntpq does', () => {
    const r = new Reach();
    expect(r.octal).toBe('0');
    r.sample('3d');
    r.poll();
    expect(r.octal).toBe('1');
    for (let i = 0; i < 3; i++) { r.sample('3d'); r.poll(); }
    expect(r.octal).toBe('17');
    for (let i = 0; i < 10; i++) { r.sample('2d'); r.poll(); }
    expect(r.octal).toBe('377');
    expect(r.register).toBe(255);
    r.poll();
    expect(r.octal).toBe('376');
  });

  it('a sample without fix is not a reach and makes the source unusable', () => {
    const r = new Reach();
    r.sample('3d');
    r.poll();
    expect(r.usable).toBe(true);
    r.sample('none');
    r.poll();
    expect(r.octal).toBe('2');
    expect(r.reachable).toBe(true);
    expect(r.usable).toBe(false);
    for (let i = 0; i < 7; i++) r.poll();
    expect(r.reachable).toBe(false);
  });
});
