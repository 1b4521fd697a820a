import { describe, expect, it } from 'vitest';
import { civilDays } from '../../../../src/ntp/calendar.js';
import { civilFromDays, nmeaSentence, timeField, ubxFrame } from '../../../../drivers/sim/sentences.js';
import { sentence } from '../nmea/sentences.js';

describe('sentence pieces', () => {
  it('civilFromDays inverts src/ntp/calendar.ts civilDays from 1980 to 2200', () => {
    for (let days = civilDays(1980, 1, 1)!; days <= civilDays(2200, 12, 31)!; days += 17) {
      const d = civilFromDays(days);
      expect(civilDays(d.year, d.month, d.day)).toBe(days);
    }
    expect(civilFromDays(civilDays(2024, 2, 29)!)).toEqual({ year: 2024, month: 2, day: 29 });
  });

  it('checksums as the NMEA test helper computes them', () => {
    expect(nmeaSentence('GPTXT,01,01,02,ANTSTATUS=OK')).toBe('$GPTXT,01,01,02,ANTSTATUS=OK*3B');
    expect(nmeaSentence('GNZDA,101639.00,22,11,2026,00,00')).toBe(sentence('GNZDA,101639.00,22,11,2026,00,00'));
  });

  it('time fields as each receiver prints them, 23:59:60 for the leap second', () => {
    expect(timeField('ublox', 0)).toBe('000000.00');
    expect(timeField('mtk', 3723)).toBe('010203.000');
    expect(timeField('ublox', 86_399)).toBe('235959.00');
    expect(timeField('ublox', 86_400)).toBe('235960.00');
  });

  it('UBX frames carry the Fletcher checksum (UBX-CFG-PRT poll: B5 62 06 00 00 00 06 18)', () => {
    expect([...ubxFrame(0x06, 0x00, new Uint8Array(0))]).toEqual([0xb5, 0x62, 0x06, 0x00, 0x00, 0x00, 0x06, 0x18]);
  });
});
