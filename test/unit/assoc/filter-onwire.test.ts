// The clock filter (RFC 5905 section 10 with frequency-carried stages), the poll rules and the
// on-wire helpers on their own.
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ClockFilter, UNKNOWN_FREQ_SD_PPM, type FilterStage } from '../../../src/assoc/filter.js';
import { computeSample, decodeReceived, kissCode, refidForAddress } from '../../../src/assoc/onwire.js';
import { PollControl } from '../../../src/assoc/poll.js';
import { ntpFromUnixNs } from '../../../src/ntp/timestamp.js';
import { asciiRefId } from '../../../src/ntp/constants.js';
import { S, T0_NS } from './fake-server.js';

const stage = (s: number, offsetNs: number, delayNs: number, dispersionNs = 2000): FilterStage =>
  ({ atNs: T0_NS + BigInt(s) * S, offsetNs, delayNs, dispersionNs });

describe('ClockFilter', () => {
  it('outputs the minimum-delay stage, only when it is newer than the last output', () => {
    const f = new ClockFilter();
    expect(f.add(stage(0, 100, 300_000), 0, 0.01, 1)).toMatchObject({ offsetNs: 100 });
    expect(f.add(stage(64, 200, 200_000), 0, 0.01, 1)).toMatchObject({ offsetNs: 200 });
    // Larger delay: the 200 µs stage is still best, already output → nothing.
    expect(f.add(stage(128, 900, 500_000), 0, 0.01, 1)).toBeNull();
    expect(f.output!.offsetNs).toBe(200);
    expect(f.add(stage(192, 150, 150_000), 0, 0.01, 1)).toMatchObject({ offsetNs: 150 });
  });

  it('jitter: RMS of the other stages about the chosen one (n − 1), floored at the precision', () => {
    const f = new ClockFilter();
    f.add(stage(0, 0, 100_000), 0, 0.01, 1);
    expect(f.jitterNs).toBe(1);
    f.add(stage(1, 30, 200_000), 0, 0.01, 1);
    f.add(stage(2, -40, 300_000), 0, 0.01, 1);
    expect(f.jitterNs).toBeCloseTo(Math.sqrt((30 * 30 + 40 * 40) / 2), 6);
  });

  it('with a known frequency, stage offsets are carried to the chosen stage before comparing', () => {
    const f = new ClockFilter();
    // 50 ppm: 50 µs per second; each stage lies exactly on the line.
    for (let i = 0; i < 8; i++) f.add(stage(i * 64, 3_200_000 * i, 200_000 + i), 50, 0.001, 1);
    expect(f.jitterNs).toBeLessThan(1e-3 + 1);
    const naive = new ClockFilter();
    for (let i = 0; i < 8; i++) naive.add(stage(i * 64, 3_200_000 * i, 200_000 + i), 0, 0.001, 1);
    expect(naive.jitterNs).toBeGreaterThan(1_000_000);
  });

  it('without a slope the newest stage wins (start-up); with a tight one, the lowest delay', () => {
    const f = new ClockFilter();
    f.add(stage(0, 0, 100_000), 0, UNKNOWN_FREQ_SD_PPM, 1);
    expect(f.add(stage(2, 5, 180_000), 0, UNKNOWN_FREQ_SD_PPM, 1)).toMatchObject({ offsetNs: 5 });
    const g = new ClockFilter();
    g.add(stage(0, 0, 100_000), 0, 0.001, 1);
    expect(g.add(stage(2, 5, 180_000), 0, 0.001, 1)).toBeNull();
  });

  it('dispersion: Σ εᵢ / 2^(i+1), empty stages MAXDISP, ε growing by PHI per second; stages newest first', () => {
    const f = new ClockFilter();
    f.add(stage(0, 0, 100_000, 1000), 0, 0.01, 1);
    const now = T0_NS + 100n * S;
    const e0 = 1000 + 15e-6 * 100e9;
    expect(f.dispersionNs(now)).toBeCloseTo(e0 / 2 + 16e9 * (1 / 2 - 1 / 256), 0); // stages 2-8 empty: 1/4 + ... + 1/256
    const stages = f.stagesAt(now);
    expect(stages).toHaveLength(8);
    expect(stages[0]!.dispersionNs).toBeCloseTo(e0, 3);
    expect(stages[1]).toEqual({ offsetNs: 0, delayNs: 0, dispersionNs: 16e9 });
  });

  it('clockChanged re-expresses the stages: a +1 s step adds 1 s to offsets and instants', () => {
    const f = new ClockFilter();
    f.add(stage(0, 10, 100_000), 0, 0.01, 1);
    f.clockChanged({ atNs: T0_NS + 10n * S, stepNs: S, freqChangePpm: 0 });
    expect(f.output).toMatchObject({ offsetNs: 1e9 + 10, atNs: T0_NS + S });
  });
});

describe('PollControl', () => {
  it('adaptive: raises the poll after > 30 counts of agreement, lowers it after < −30 of disagreement', () => {
    const p = new PollControl(6, 10);
    for (let i = 0; i < 5; i++) p.adapt(10, 100);
    expect(p.pollLog2S).toBe(6); // 30, not past it
    p.adapt(10, 100);
    expect(p.pollLog2S).toBe(7);
    for (let i = 0; i < 3; i++) p.adapt(1000, 100);
    expect(p.pollLog2S).toBe(6);
    for (let i = 0; i < 10; i++) p.adapt(1000, 100);
    expect(p.pollLog2S).toBe(6); // never below minpoll
  });

  it('KoD RATE never exceeds maxpoll', () => {
    const p = new PollControl(6, 7);
    p.kodRate();
    p.kodRate();
    expect(p.pollLog2S).toBe(7);
  });
});

describe('on-wire helpers', () => {
  it('kiss codes: ASCII at stratum 0 only', () => {
    const h = (stratum: number, refid: number) => decodeReceived(Object.assign(new Uint8Array(48), { 0: 0x24, 1: stratum, 12: refid >>> 24, 13: (refid >>> 16) & 255, 14: (refid >>> 8) & 255, 15: refid & 255 }), 48)!.header;
    expect(kissCode(h(0, asciiRefId('RATE')))).toBe('RATE');
    expect(kissCode(h(0, asciiRefId('ACST')))).toBe('ACST');
    expect(kissCode(h(0, 0))).toBeNull();
    expect(kissCode(h(0, 0x01020304))).toBeNull();
    expect(kissCode(h(1, asciiRefId('RATE')))).toBeNull();
  });

  it('refid: IPv4 as a u32; IPv6 as the first 4 bytes of MD5 of the 16 address bytes', () => {
    expect(refidForAddress('10.250.0.1')).toBe(0x0afa0001);
    expect(refidForAddress('::ffff:10.250.0.1')).toBe(0x0afa0001);
    const bytes = Buffer.from('20010db8000000000000000000000001', 'hex');
    expect(refidForAddress('2001:db8::1')).toBe(createHash('md5').update(bytes).digest().readUInt32BE(0));
  });

  it('decodeReceived refuses what is not an NTP packet', () => {
    const ok = new Uint8Array(48);
    ok[0] = 0x24;
    expect(decodeReceived(ok, 48)).not.toBeNull();
    expect(decodeReceived(ok, 47)).toBeNull();
    expect(decodeReceived(ok, 49)).toBeNull();
    expect(decodeReceived(ok, Number.NaN)).toBeNull();
    const v5 = ok.slice();
    v5[0] = 0x2c;
    expect(decodeReceived(v5, 48)).toBeNull();
  });

  it('computeSample: midpoint instant; the delay converted with our frequency', () => {
    const t1 = T0_NS;
    const t4 = T0_NS + 64n * S; // a peer that held our packet for 64 s
    const x = { t1Ns: t1, t2: ntpFromUnixNs(T0_NS + 100_000n), t3: ntpFromUnixNs(T0_NS + 64n * S - 100_000n - 3_200_000n), t4Ns: t4 };
    const plain = computeSample(x, -20, -20);
    const corrected = computeSample(x, -20, -20, 50);
    expect(plain.atNs).toBe(T0_NS + 32n * S);
    expect(plain.delayNs).toBeCloseTo(3_400_000, -1); // 50 ppm × 64 s looks like delay
    expect(corrected.delayNs).toBeCloseTo(200_000, -1);
  });
});
