// writeNtpFromTimeSpec writes NTP timestamps with byte stores (no boxed number per reply): the same bytes
// as the plain big-endian encoding, across era boundaries and the whole fraction range.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ntpFractionOf, ntpSecondsOf, writeNtpFromTimeSpec } from '../../../src/clock/timescale.js';

describe('writeNtpFromTimeSpec', () => {
  it('writes what writeUInt32BE(seconds), writeUInt32BE(fraction) write', () => {
    fc.assert(fc.property(
      fc.integer({ min: 0, max: 2 ** 34 }), fc.integer({ min: 0, max: 999_999_999 }), fc.integer({ min: 0, max: 8 }),
      (sec, nsec, at) => {
        const t = { sec, nsec };
        const fast = Buffer.alloc(16, 0xaa);
        writeNtpFromTimeSpec(fast, at, t);
        const plain = Buffer.alloc(16, 0xaa);
        plain.writeUInt32BE(ntpSecondsOf(t), at);
        plain.writeUInt32BE(ntpFractionOf(t), at + 4);
        expect(fast.equals(plain)).toBe(true);
      }), { numRuns: 2000 });
  });

  it('ntpSecondsOf is the Unix seconds + 2,208,988,800 modulo 2^32 (BigInt oracle)', () => {
    fc.assert(fc.property(fc.integer({ min: -2_208_988_800, max: 2 ** 40 }), (sec) => {
      expect(ntpSecondsOf({ sec, nsec: 0 })).toBe(Number((BigInt(sec) + 2_208_988_800n) % 2n ** 32n));
    }), { numRuns: 5000 });
  });

  it('the era-0 wrap: 2036-02-07T06:28:16Z is NTP second 0', () => {
    const buf = Buffer.alloc(8);
    writeNtpFromTimeSpec(buf, 0, { sec: Date.UTC(2036, 1, 7, 6, 28, 16) / 1000, nsec: 500_000_000 });
    expect(buf.toString('hex')).toBe('0000000080000000');
  });
});
