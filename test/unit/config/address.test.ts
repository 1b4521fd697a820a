import { describe, expect, test } from 'vitest';
import { formatIp, networkOf, parseIp, prefixFromMask, sameAddress } from '../../../src/config/address.js';

const roundTrip = (text: string): string | undefined => {
  const a = parseIp(text);
  return a && formatIp(a);
};

describe('parseIp', () => {
  test('IPv4 dotted quads, no leading zeros, octets up to 255', () => {
    expect(parseIp('192.168.163.131')).toEqual({ family: 4, bytes: [192, 168, 163, 131] });
    expect(parseIp('0.0.0.0')?.bytes).toEqual([0, 0, 0, 0]);
    for (const bad of ['256.0.0.1', '010.0.0.1', '1.2.3', '1.2.3.4.5', '1..2.3', 'a.b.c.d', '', ' 1.2.3.4', '1.2.3.4/24']) {
      expect(parseIp(bad), bad).toBeUndefined();
    }
  });

  test('IPv6 with ::, embedded IPv4 and mixed case', () => {
    expect(parseIp('::1')?.bytes).toEqual([...new Array<number>(15).fill(0), 1]);
    expect(parseIp('::')?.bytes).toEqual(new Array<number>(16).fill(0));
    expect(roundTrip('2001:DB8:0:0:0:0:0:1')).toBe('2001:db8::1');
    expect(roundTrip('::ffff:1.2.3.4')).toBe('::ffff:1.2.3.4');
    expect(roundTrip('::FFFF:0102:0304')).toBe('::ffff:1.2.3.4');
    expect(roundTrip('fe80::')).toBe('fe80::');
    expect(roundTrip('1:2:3:4:5:6:7:8')).toBe('1:2:3:4:5:6:7:8');
    expect(roundTrip('1:2:3:4:5:6:1.2.3.4')).toBe('1:2:3:4:5:6:102:304');
  });

  test('IPv6 rejects malformed text and zone ids', () => {
    for (const bad of [':::', '1::2::3', ':1:2:3:4:5:6:7', '1:2:3:4:5:6:7', '1:2:3:4:5:6:7:8:9', '12345::', 'g::1',
      'fe80::1%eth0', '::1.2.3.4:5', '1::2:3:4:5:6:7:8', '::ffff:256.1.1.1', ':']) {
      expect(parseIp(bad), bad).toBeUndefined();
    }
  });
});

describe('formatIp (RFC 5952)', () => {
  test('compresses the longest zero run, the first on a tie, never a single group', () => {
    expect(roundTrip('1:0:0:2:0:0:0:3')).toBe('1:0:0:2::3');
    expect(roundTrip('1:0:0:2:0:0:3:4')).toBe('1::2:0:0:3:4');
    expect(roundTrip('1:0:2:3:4:5:6:7')).toBe('1:0:2:3:4:5:6:7');
  });
});

describe('masks and networks', () => {
  test('prefixFromMask accepts contiguous masks only', () => {
    expect(prefixFromMask(parseIp('255.255.255.0')!)).toBe(24);
    expect(prefixFromMask(parseIp('0.0.0.0')!)).toBe(0);
    expect(prefixFromMask(parseIp('255.255.255.255')!)).toBe(32);
    expect(prefixFromMask(parseIp('255.255.128.0')!)).toBe(17);
    expect(prefixFromMask(parseIp('ffff:ffff:ffff:ffff::')!)).toBe(64);
    expect(prefixFromMask(parseIp('255.0.255.0')!)).toBeUndefined();
    expect(prefixFromMask(parseIp('255.255.255.1')!)).toBeUndefined();
  });

  test('networkOf clears host bits', () => {
    expect(formatIp(networkOf(parseIp('192.168.163.131')!, 24))).toBe('192.168.163.0');
    expect(formatIp(networkOf(parseIp('10.255.255.255')!, 9))).toBe('10.128.0.0');
    expect(formatIp(networkOf(parseIp('2001:db8::1')!, 64))).toBe('2001:db8::');
    expect(sameAddress(networkOf(parseIp('10.0.0.0')!, 8), parseIp('10.0.0.0')!)).toBe(true);
  });
});
