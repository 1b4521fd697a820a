import { describe, expect, it } from 'vitest';
import {
  ntpAddNs, ntpDiffNs, ntpDiffSeconds, ntpFromUnixNs, unixNsFromNtp, shortFromSeconds, secondsFromShort, formatTimestampHex,
} from '../../../src/ntp/timestamp.js';
import { computeExchange } from '../../../src/ntp/exchange.js';

const S = 1_000_000_000n;

describe('NTP timestamps', () => {
  it('converts the Unix epoch and a captured instant', () => {
    expect(ntpFromUnixNs(0n)).toEqual({ seconds: 2_208_988_800, fraction: 0 });
    // 0xeead11a1 = 2026-11-... as captured; half a second is 0x80000000.
    expect(formatTimestampHex(ntpFromUnixNs((0xeead11a1n - 2_208_988_800n) * S + S / 2n))).toBe('eead11a1.80000000');
  });

  it('rolls over into era 1 on 2036-02-07 06:28:16 UTC and resolves it from a pivot', () => {
    const rollover = (2n ** 32n - 2_208_988_800n) * S;
    expect(ntpFromUnixNs(rollover)).toEqual({ seconds: 0, fraction: 0 });
    expect(ntpFromUnixNs(rollover - S)).toEqual({ seconds: 0xffffffff, fraction: 0 });
    const after = ntpFromUnixNs(rollover + 10n * S);
    expect(unixNsFromNtp(after, rollover - 1000n * S)).toBe(rollover + 10n * S);
    expect(unixNsFromNtp(ntpFromUnixNs(1_795_333_730n * S), 1_795_333_000n * S)).toBe(1_795_333_730n * S);
    expect(ntpDiffNs(after, ntpFromUnixNs(rollover - 10n * S))).toBe(20n * S);
    expect(ntpDiffSeconds(ntpFromUnixNs(rollover - 10n * S), after)).toBe(-20);
  });

  it('adds nanoseconds across second and era boundaries', () => {
    const t = { seconds: 0xffffffff, fraction: 0xf0000000 };
    const u = ntpAddNs(t, 500_000_000);
    expect(u.seconds).toBe(0);
    expect(ntpDiffNs(u, t)).toBeGreaterThanOrEqual(499_999_999n);
    expect(ntpDiffNs(ntpAddNs(u, -500_000_000), t)).toBe(0n);
  });

  it('short format clamps instead of wrapping', () => {
    expect(shortFromSeconds(1.5)).toBe(0x00018000);
    expect(shortFromSeconds(-1)).toBe(0);
    expect(shortFromSeconds(70000)).toBe(0xffffffff);
    expect(secondsFromShort(0x00018000)).toBe(1.5);
  });
});

describe('on-wire exchange', () => {
  it('offset + means the server is ahead; delay excludes server time', () => {
    const t1 = ntpFromUnixNs(1000n * S);
    const t2 = ntpFromUnixNs(1000n * S + 1_005_000_000n); // server 1 s ahead, 5 ms one-way
    const t3 = ntpFromUnixNs(1000n * S + 1_006_000_000n);
    const t4 = ntpFromUnixNs(1000n * S + 11_000_000n);
    const r = computeExchange(t1, t2, t3, t4);
    expect(r.offsetS).toBeCloseTo(1.0, 6);
    expect(r.delayS).toBeCloseTo(0.010, 6);
  });
});
