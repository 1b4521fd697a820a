import { describe, expect, it } from 'vitest';
import { DEFAULT_READ_SCHEDULE, nextReadDelayMs, parsePpsSysfs } from '../../../../drivers/pps/sysfs-format.js';
import { SequenceTracker } from '../../../../drivers/pps/sequence.js';

describe('parsePpsSysfs', () => {
  it('reads the kernel format SEC.NSEC#SEQ with its trailing newline', () => {
    expect(parsePpsSysfs('1700000001.000001234#42\n')).toEqual({ kind: 'pulse', time: { sec: 1700000001, nsec: 1234 }, sequence: 42 });
  });

  it('0.000000000#0 is a device that has seen no pulse; an empty file is an edge not captured', () => {
    expect(parsePpsSysfs('0.000000000#0\n')).toEqual({ kind: 'none' });
    expect(parsePpsSysfs('')).toEqual({ kind: 'empty' });
    expect(parsePpsSysfs('\n')).toEqual({ kind: 'empty' });
  });

  it('accepts the largest u32 sequence and refuses anything not in the format', () => {
    expect(parsePpsSysfs('5.000000000#4294967295')).toMatchObject({ kind: 'pulse', sequence: 4294967295 });
    for (const bad of ['5.0#1', '5.000000000', '5.000000000#', 'x.000000000#1', '5.000000000#4294967296', '-5.000000000#1', '5.000000000#1 junk']) {
      expect(parsePpsSysfs(bad).kind, bad).toBe('bad');
    }
  });
});

describe('SequenceTracker', () => {
  it('the first observation is a baseline; unchanged = no pulse; a jump counts the missed pulses', () => {
    const t = new SequenceTracker();
    expect(t.observe(10)).toEqual({ isNew: false, missed: 0, reset: false });
    expect(t.observe(10).isNew).toBe(false);
    expect(t.observe(11)).toEqual({ isNew: true, missed: 0, reset: false });
    expect(t.observe(14)).toEqual({ isNew: true, missed: 2, reset: false });
  });

  it('wraps at 2^32 and treats a backwards counter as a reset, not billions of misses', () => {
    const t = new SequenceTracker();
    t.observe(4294967294);
    expect(t.observe(1)).toEqual({ isNew: true, missed: 2, reset: false });
    t.observe(500);
    expect(t.observe(3)).toEqual({ isNew: true, missed: 0, reset: true });
    t.clear();
    expect(t.observe(9).isNew).toBe(false);
  });
});

describe('nextReadDelayMs', () => {
  const S = 1_000_000_000n;
  it('after a new pulse, reads afterEdgeMs past the edge the pulse predicts', () => {
    expect(nextReadDelayMs(100n * S, 100n * S + 30_000_000n, true)).toBe(1000 - 30 + DEFAULT_READ_SCHEDULE.afterEdgeMs);
  });

  it('hunts at 10 Hz with no pulse, after a read that found nothing, when late, or when the clock stepped back', () => {
    expect(nextReadDelayMs(null, 0n, false)).toBe(100);
    expect(nextReadDelayMs(100n * S, 100n * S, false)).toBe(100);
    expect(nextReadDelayMs(100n * S, 102n * S, true)).toBe(100);
    expect(nextReadDelayMs(100n * S, 98n * S, true)).toBe(100);
  });
});
