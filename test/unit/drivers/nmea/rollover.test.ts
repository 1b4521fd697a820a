import { describe, expect, it } from 'vitest';
import { BUILD_PIVOT_UNIX_NS, GPS_ROLLOVER_NS, NO_CORRECTION_PIVOT_UNIX_NS, correctWeekRollover } from '../../../../drivers/nmea/rollover.js';

const unixNs = (iso: string): bigint => BigInt(Date.parse(iso)) * 1_000_000n;

describe('correctWeekRollover', () => {
  it('1024 weeks is 19.6 years', () => {
    expect(GPS_ROLLOVER_NS).toBe(619_315_200n * 1_000_000_000n);
  });

  it('leaves dates at or after the pivot alone', () => {
    const pivot = unixNs('2019-01-01T00:00:00Z');
    expect(correctWeekRollover(pivot, pivot)).toEqual({ unixNs: pivot, periods: 0 });
    expect(correctWeekRollover(unixNs('2025-01-01T00:00:00Z'), pivot).periods).toBe(0);
  });

  it('moves dates before the pivot forward by whole periods until they are not', () => {
    const pivot = unixNs('2026-11-01T00:00:00Z');
    const t = unixNs('2026-11-22T09:00:00Z');
    expect(correctWeekRollover(t - GPS_ROLLOVER_NS, pivot)).toEqual({ unixNs: t, periods: 1 });
    expect(correctWeekRollover(t - 2n * GPS_ROLLOVER_NS, pivot)).toEqual({ unixNs: t, periods: 2 });
  });

  it('defaults to the build pivot, and the no-correction pivot is the 1999 rollover', () => {
    expect(BUILD_PIVOT_UNIX_NS).toBe(unixNs('2026-11-01T00:00:00Z'));
    expect(NO_CORRECTION_PIVOT_UNIX_NS).toBe(unixNs('1999-08-22T00:00:00Z'));
    const old = unixNs('2015-04-13T20:26:40Z');
    expect(correctWeekRollover(old).periods).toBe(1);
    expect(correctWeekRollover(old, NO_CORRECTION_PIVOT_UNIX_NS).periods).toBe(0);
  });
});
