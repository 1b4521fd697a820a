import { createRequire } from 'node:module';
import { describe, expect, test } from 'vitest';
import {
  ADJ_ESTERROR, ADJ_FREQUENCY, ADJ_MAXERROR, ADJ_MICRO, ADJ_NANO, ADJ_OFFSET, ADJ_SETOFFSET, ADJ_STATUS, ADJ_TAI, ADJ_TICK, ADJ_TIMECONST,
  STA_DEL, STA_FLL, STA_FREQHOLD, STA_INS, STA_NANO, STA_PLL, STA_PPSFREQ, STA_PPSTIME, STA_RONLY, STA_UNSYNC,
  TIME_DEL, TIME_ERROR, TIME_INS, TIME_OK, TIME_OOP, TIME_WAIT, TIMEX_LAYOUTS,
  decodeTimex, encodeTimex, newTimex, ppmToScaled, scaledToPpm, splitStepNs, timexAbiFor, type Timex, type TimexAbi, type TimexField,
} from '../../../src/clock/timex.js';

/*
 * Expected offsets: include/uapi/linux/timex.h (struct timex, struct __kernel_timex) and glibc's
 * bits/timex.h. The LP64 row was printed by gcc's offsetof() on x86_64 (glibc 2.36):
 *   size 208 modes 0 offset 8 freq 16 maxerror 24 esterror 32 status 40 constant 48 precision 56
 *   tolerance 64 time 72 tick 88 ppsfreq 96 jitter 104 shift 112 stabil 120 jitcnt 128 calcnt 136
 *   errcnt 144 stbcnt 152 tai 160
 * ilp32-time64 (glibc ≥ 2.34 struct __timex64 = kernel __kernel_timex) has explicit padding that makes
 * it the same bytes; ilp32 is the legacy armhf struct with 4-byte long and time_t (128 bytes).
 */
const LP64: Record<TimexField, number> = {
  modes: 0, offset: 8, freq: 16, maxerror: 24, esterror: 32, status: 40, constant: 48, precision: 56, tolerance: 64,
  timeSec: 72, timeUsec: 80, tick: 88, ppsfreq: 96, jitter: 104, shift: 112, stabil: 120, jitcnt: 128, calcnt: 136, errcnt: 144,
  stbcnt: 152, tai: 160,
};
const ILP32: Record<TimexField, number> = {
  modes: 0, offset: 4, freq: 8, maxerror: 12, esterror: 16, status: 20, constant: 24, precision: 28, tolerance: 32,
  timeSec: 36, timeUsec: 40, tick: 44, ppsfreq: 48, jitter: 52, shift: 56, stabil: 60, jitcnt: 64, calcnt: 68, errcnt: 72,
  stbcnt: 76, tai: 80,
};
const ABIS: TimexAbi[] = ['lp64', 'ilp32-time64', 'ilp32'];

function sample(): Timex {
  // Distinct values per field, all within 32 bits so every ABI can carry them; some negative.
  const tx = newTimex();
  const fields = Object.keys(tx) as TimexField[];
  fields.forEach((f, i) => { tx[f] = (i + 1) * 1_000_003 * (i % 3 === 0 ? -1 : 1); });
  tx.modes = 0xa001;
  return tx;
}

describe('struct timex layouts', () => {
  test('sizes: 208 bytes on LP64 and armhf time64, 128 on legacy armhf', () => {
    expect(TIMEX_LAYOUTS.lp64.size).toBe(208);
    expect(TIMEX_LAYOUTS['ilp32-time64'].size).toBe(208);
    expect(TIMEX_LAYOUTS.ilp32.size).toBe(128);
  });

  test('offsets match the kernel header table', () => {
    expect(TIMEX_LAYOUTS.lp64.offsets).toEqual(LP64);
    expect(TIMEX_LAYOUTS['ilp32-time64'].offsets).toEqual(LP64);
    expect(TIMEX_LAYOUTS.ilp32.offsets).toEqual(ILP32);
  });

  test('koffi lays out the same C structs the same way (natural alignment, host `long` on LP64)', () => {
    const koffi = createRequire(import.meta.url)('koffi') as typeof import('koffi');
    const members = (long: string, time: string): Record<string, string> => ({
      modes: 'uint32', offset: long, freq: long, maxerror: long, esterror: long, status: 'int32', constant: long, precision: long,
      tolerance: long, timeSec: time, timeUsec: time, tick: long, ppsfreq: long, jitter: long, shift: 'int32', stabil: long, jitcnt: long,
      calcnt: long, errcnt: long, stbcnt: long, tai: 'int32', reserved: 'int32[11]',
    });
    const cases: [TimexAbi, Record<string, string>][] = [
      ['lp64', members('long', 'long')],
      ['ilp32-time64', members('int64', 'int64')],
      ['ilp32', { ...members('int32', 'int32') }],
    ];
    for (const [abi, m] of cases) {
      const T = koffi.struct(`timex_${abi.replace('-', '_')}`, m);
      // koffi aligns int64 to 8 on this host, as ARM EABI does; i386 (4) is not a Gnomon target.
      expect(koffi.sizeof(T), abi).toBe(TIMEX_LAYOUTS[abi].size);
      for (const field of Object.keys(LP64) as TimexField[]) expect(koffi.offsetof(T, field), `${abi} ${field}`).toBe(TIMEX_LAYOUTS[abi].offsets[field]);
    }
  });

  test('constants are the uapi values', () => {
    expect([ADJ_OFFSET, ADJ_FREQUENCY, ADJ_MAXERROR, ADJ_ESTERROR, ADJ_STATUS, ADJ_TIMECONST, ADJ_TAI, ADJ_SETOFFSET, ADJ_MICRO, ADJ_NANO, ADJ_TICK])
      .toEqual([0x1, 0x2, 0x4, 0x8, 0x10, 0x20, 0x80, 0x100, 0x1000, 0x2000, 0x4000]);
    expect([STA_PLL, STA_PPSFREQ, STA_PPSTIME, STA_FLL, STA_INS, STA_DEL, STA_UNSYNC, STA_FREQHOLD, STA_NANO])
      .toEqual([0x1, 0x2, 0x4, 0x8, 0x10, 0x20, 0x40, 0x80, 0x2000]);
    expect(STA_RONLY).toBe(0xff00);
    expect([TIME_OK, TIME_INS, TIME_DEL, TIME_OOP, TIME_WAIT, TIME_ERROR]).toEqual([0, 1, 2, 3, 4, 5]);
  });

  test.each(ABIS)('%s: encode → decode round-trips every field', (abi) => {
    const tx = sample();
    const buf = encodeTimex(tx, abi, Buffer.alloc(TIMEX_LAYOUTS[abi].size, 0xee));
    expect(decodeTimex(buf, abi)).toEqual(tx);
  });

  test.each(ABIS)('%s: each field lands at its offset, little-endian, padding zero', (abi) => {
    const l = TIMEX_LAYOUTS[abi];
    const tx = sample();
    const buf = encodeTimex(tx, abi, Buffer.alloc(l.size + 8, 0xee));
    const covered = new Set<number>();
    for (const field of Object.keys(LP64) as TimexField[]) {
      const at = l.offsets[field];
      const width = l.widths[field];
      const value = width === 8 ? Number(buf.readBigInt64LE(at)) : field === 'modes' ? buf.readUInt32LE(at) : buf.readInt32LE(at);
      expect(value, field).toBe(tx[field]);
      for (let i = 0; i < width; i++) covered.add(at + i);
    }
    for (let i = 0; i < l.size; i++) if (!covered.has(i)) expect(buf[i], `byte ${i}`).toBe(0);
    expect(buf[l.size]).toBe(0xee); // nothing written past the struct
  });

  test('64-bit fields carry values beyond 32 bits; the 32-bit layout refuses them', () => {
    const tx = newTimex();
    tx.timeSec = 4_102_444_800; // 2100-01-01
    tx.offset = -5_000_000_000;
    expect(decodeTimex(encodeTimex(tx, 'lp64', Buffer.alloc(208)), 'lp64')).toMatchObject({ timeSec: 4_102_444_800, offset: -5_000_000_000 });
    expect(decodeTimex(encodeTimex(tx, 'ilp32-time64', Buffer.alloc(208)), 'ilp32-time64').timeSec).toBe(4_102_444_800);
    expect(() => encodeTimex(tx, 'ilp32', Buffer.alloc(128))).toThrow(RangeError);
    expect(() => encodeTimex(newTimex(), 'lp64', Buffer.alloc(100))).toThrow(RangeError);
    expect(() => encodeTimex({ ...newTimex(), freq: 1.5 }, 'lp64', Buffer.alloc(208))).toThrow(RangeError);
  });

  test('which layout and symbol on which machine', () => {
    expect(timexAbiFor('x64', false)).toEqual({ abi: 'lp64', symbol: 'clock_adjtime' });
    expect(timexAbiFor('arm64', false)).toEqual({ abi: 'lp64', symbol: 'clock_adjtime' });
    expect(timexAbiFor('arm', true)).toEqual({ abi: 'ilp32-time64', symbol: '__clock_adjtime64' });
    expect(timexAbiFor('arm', false)).toEqual({ abi: 'ilp32', symbol: 'clock_adjtime' });
    expect(timexAbiFor('ia32', false)).toBeUndefined();
  });

  test('frequency scaling: ppm × 2^16', () => {
    expect(ppmToScaled(1)).toBe(65_536);
    expect(ppmToScaled(-500)).toBe(-32_768_000);
    expect(scaledToPpm(32_768_000)).toBe(500);
    expect(ppmToScaled(12.3456)).toBe(Math.round(12.3456 * 65_536));
  });

  test('steps split into seconds and non-negative nanoseconds, as ADJ_SETOFFSET|ADJ_NANO requires', () => {
    expect(splitStepNs(1_500_000_000n)).toEqual({ sec: 1, nsec: 500_000_000 });
    expect(splitStepNs(-300_000_000n)).toEqual({ sec: -1, nsec: 700_000_000 });
    expect(splitStepNs(-2_000_000_000n)).toEqual({ sec: -2, nsec: 0 });
    expect(splitStepNs(-1n)).toEqual({ sec: -1, nsec: 999_999_999 });
    expect(splitStepNs(0n)).toEqual({ sec: 0, nsec: 0 });
  });
});
