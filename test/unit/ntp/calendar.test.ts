import { describe, expect, it } from 'vitest';
import { civilDays, civilFromDays } from '../../../src/ntp/calendar.js';

describe('civilFromDays', () => {
  it('inverts civilDays across eras, leap days and the epoch', () => {
    expect(civilFromDays(0)).toEqual({ year: 1970, month: 1, day: 1 });
    expect(civilFromDays(-1)).toEqual({ year: 1969, month: 12, day: 31 });
    expect(civilFromDays(civilDays(2016, 2, 29)!)).toEqual({ year: 2016, month: 2, day: 29 });
    expect(civilFromDays(civilDays(2000, 3, 1)!)).toEqual({ year: 2000, month: 3, day: 1 });
    for (let d = civilDays(1899, 1, 1)!; d <= civilDays(2137, 1, 1)!; d += 17) {
      const { year, month, day } = civilFromDays(d);
      expect(civilDays(year, month, day)).toBe(d);
    }
  });
});
