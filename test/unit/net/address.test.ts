import { isIP } from 'node:net';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ParsedAddress, formatAddress, parseAddress } from '../../../src/net/address.js';

function words(a: string): string | undefined {
  const p = new ParsedAddress();
  return parseAddress(a, p) ? `${p.family}:${[...p.words].map((w) => w.toString(16)).join(',')}` : undefined;
}

describe('address parsing for the hot path', () => {
  it('parses IPv4, IPv6 and mapped forms', () => {
    expect(words('10.1.2.3')).toBe('4:0,0,0,a010203');
    expect(words('::1')).toBe('6:0,0,0,1');
    expect(words('::')).toBe('6:0,0,0,0');
    expect(words('2001:db8::1')).toBe('6:20010db8,0,0,1');
    expect(words('fe80::1%eth0')).toBe('6:fe800000,0,0,1');
    expect(words('::ffff:10.1.2.3')).toBe('4:0,0,0,a010203');
    expect(words('1:2:3:4:5:6:7:8')).toBe('6:10002,30004,50006,70008');
  });

  it('rejects what is not an address', () => {
    for (const bad of ['', '1.2.3', '1.2.3.4.5', '256.1.1.1', 'a.b.c.d', ':::', '1::2::3', '1:2:3:4:5:6:7:8:9', '12345::', 'localhost', '1:']) {
      expect(words(bad), bad).toBeUndefined();
    }
  });

  it('agrees with node:net on random addresses', () => {
    fc.assert(fc.property(fc.oneof(fc.ipV4(), fc.ipV6()), (a) => {
      expect(words(a) !== undefined).toBe(isIP(a) !== 0);
    }), { numRuns: 2000 });
  });
});

describe('address text from words (mrulist, the fast path\'s rare paths)', () => {
  const format = (a: string): string => {
    const p = new ParsedAddress();
    expect(parseAddress(a, p), a).toBe(true);
    return formatAddress(p.family, p.words);
  };

  it('writes dotted quads, RFC 5952 IPv6, and mapped clients as IPv4', () => {
    expect(format('10.1.2.3')).toBe('10.1.2.3');
    expect(format('::ffff:10.1.2.3')).toBe('10.1.2.3');
    expect(format('2001:0db8:0:0:1:0:0:1')).toBe('2001:db8::1:0:0:1'); // first of two equal runs
    expect(format('2001:db8:0:1:1:1:1:1')).toBe('2001:db8:0:1:1:1:1:1'); // one zero group stays
    expect(format('::')).toBe('::');
    expect(format('FE80::ABCD')).toBe('fe80::abcd');
    expect(formatAddress(0, new Uint32Array(4))).toBe('');
  });

  it('agrees with the WHATWG serialiser (node\'s URL) on random IPv6 and round-trips', () => {
    fc.assert(fc.property(fc.ipV6(), (a) => {
      const p = new ParsedAddress();
      expect(parseAddress(a, p)).toBe(true);
      const text = formatAddress(p.family, p.words);
      const again = new ParsedAddress();
      expect(parseAddress(text, again)).toBe(true);
      expect([again.family, ...again.words]).toEqual([p.family, ...p.words]);
      if (p.family === 6) expect(text).toBe(new URL(`http://[${a}]/`).hostname.slice(1, -1));
    }), { numRuns: 2000 });
  });
});
