import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { civilDays, civilFromDays, imfFixdateFromUnixMs, isoUtcFromUnixMs } from '../../../src/ntp/calendar.js';

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

describe('UTC text without Date', () => {
  // Date is the reference here (tests may use it); the daemon may not, for memory (docs/server.md).
  const instants = fc.integer({ min: -62_167_219_200_000, max: 253_402_300_799_999 }); // 0000-01-01 .. 9999-12-31, ms
  it('isoUtcFromUnixMs writes what toISOString writes, years 0-9999', () => {
    for (const ms of [0, -1, 1, 999, 1000, 951_782_400_000, 1_795_371_635_820, 253_402_300_799_999, -62_167_219_200_000]) {
      expect(isoUtcFromUnixMs(ms)).toBe(new Date(ms).toISOString());
    }
    fc.assert(fc.property(instants, (ms) => isoUtcFromUnixMs(ms) === new Date(ms).toISOString()), { numRuns: 20_000 });
  });

  it('imfFixdateFromUnixMs writes what toUTCString writes (HTTP Date), years 1970-9999', () => {
    expect(imfFixdateFromUnixMs(784_111_777_000)).toBe('Sun, 06 Nov 1994 08:49:37 GMT'); // RFC 9110's example
    expect(imfFixdateFromUnixMs(0)).toBe('Thu, 01 Jan 1970 00:00:00 GMT');
    fc.assert(fc.property(fc.integer({ min: 0, max: 253_402_300_799_999 }), (ms) => imfFixdateFromUnixMs(ms) === new Date(ms).toUTCString()), { numRuns: 20_000 });
  });
});
