import { describe, expect, it } from 'vitest';
import { NmeaFramer } from '../../../../drivers/nmea/framing.js';
import { GPS_ROLLOVER_NS, NO_CORRECTION_PIVOT_UNIX_NS } from '../../../../drivers/nmea/rollover.js';
import { parseFault, type FaultSpec } from '../../../../drivers/sim/faults.js';
import { Scenario } from '../../../../drivers/sim/scenario.js';
import { decode, NS, options, START_GPS_SEC, texts } from './helpers.js';

const fault = (text: string): FaultSpec => {
  const r = parseFault(text);
  if (!r.ok) throw new Error(r.message);
  return r.fault;
};

describe('Scenario: truthful receivers through the NMEA driver\'s framer and decoder', () => {
  for (const receiver of ['ublox', 'mtk'] as const) {
    it(`${receiver}: every sentence frames and decodes; one epoch per second with its UTC time and a 3D fix`, () => {
      const { epochs, framer, decoder, seconds, sentences } = decode(options({ receiver }), 30);
      expect(framer.counters).toMatchObject({ checksumBad: 0, checksumMissing: 0, overlong: 0, truncated: 0, skippedBytes: 0 });
      expect(decoder.counters).toMatchObject({ parseErrors: 0, badTimeFields: 0, epochsWithoutDate: 0, lateSentences: 0 });
      expect(sentences.length).toBe(seconds.reduce((n, s) => n + s.chunks.length, 0));
      expect(epochs.map((e) => e.utcNs)).toEqual(seconds.map((s) => BigInt(s.gpsSec) * NS));
      for (const e of epochs) {
        expect(e.fix.mode).toBe('3d');
        expect(e.fix.satellitesUsed).toBe(receiver === 'ublox' ? 14 : 9);
        expect(e.rolloverPeriods).toBe(0);
      }
      // The framer, stamping arrival minus the 9600-baud transmission time, recovers the burst's start.
      epochs.forEach((e, i) => expect(Math.abs(Number(e.systemTimeNs - seconds[i]!.nmeaStartNs))).toBeLessThan(1000));
    });
  }

  it('u-blox style: GN talker, ZDA, hhmmss.00, about 110 ms after the edge', () => {
    const { seconds } = decode(options({ receiver: 'ublox' }), 20);
    const first = texts(seconds[0]!);
    expect(first[0]).toMatch(/^\$GNRMC,100000\.00,A,/);
    expect(first.some((t) => /^\$GNZDA,100000\.00,22,11,2026,00,00\*/.test(t))).toBe(true);
    expect(first.some((t) => t.startsWith('$GPGSV')) && first.some((t) => t.startsWith('$GLGSV'))).toBe(true);
    for (const s of seconds) {
      const delayMs = Number(s.nmeaStartNs - s.edge!.hostNs) / 1e6;
      expect(delayMs).toBeGreaterThanOrEqual(106);
      expect(delayMs).toBeLessThanOrEqual(114);
      // The whole burst fits in the second at 9600 baud.
      expect(Number(s.chunks.at(-1)!.hostNs - s.edge!.hostNs) / 1e6).toBeLessThan(900);
    }
  });

  it('MTK style: GP talker, GGA first, no ZDA, GSV every 5th second, hhmmss.000, about 500 ms after the edge', () => {
    const { seconds } = decode(options({ receiver: 'mtk' }), 10);
    const first = texts(seconds[0]!);
    expect(first[0]).toMatch(/^\$GPGGA,100000\.000,/);
    expect(first.map((t) => t.slice(1, 6))).toEqual(['GPGGA', 'GPGSA', 'GPGSV', 'GPGSV', 'GPGSV', 'GPRMC', 'GPVTG']);
    expect(texts(seconds[1]!).map((t) => t.slice(1, 6))).toEqual(['GPGGA', 'GPGSA', 'GPRMC', 'GPVTG']);
    expect(seconds.flatMap(texts).some((t) => t.includes('ZDA'))).toBe(false);
    for (const s of seconds) {
      const delayMs = Number(s.nmeaStartNs - s.edge!.hostNs) / 1e6;
      expect(Math.abs(delayMs - 500)).toBeLessThanOrEqual(4);
      expect(Number(s.chunks.at(-1)!.hostNs - s.edge!.hostNs) / 1e6).toBeLessThan(1000);
    }
  });

  it('--nmea-delay-ms replaces the receiver default', () => {
    const { seconds } = decode(options({ receiver: 'mtk', nmeaDelayMs: 250 }), 5);
    for (const s of seconds) expect(Math.abs(Number(s.nmeaStartNs - s.edge!.hostNs) / 1e6 - 250)).toBeLessThanOrEqual(4);
  });
});

describe('Scenario: host offset, drift and PPS jitter', () => {
  it('the edge is at GPS second + offset (+ = host ahead); 1000 s at 10 ppm adds 10 ms', () => {
    const scenario = new Scenario(options({ offsetMs: 37.5, driftPpm: 10 }), START_GPS_SEC);
    const seconds = Array.from({ length: 1001 }, () => scenario.next());
    expect(seconds[0]!.edge!.hostNs).toBe(BigInt(START_GPS_SEC) * NS + 37_500_000n);
    expect(seconds[1000]!.edge!.hostNs - BigInt(START_GPS_SEC + 1000) * NS).toBe(47_500_000n);
    expect(scenario.offsetNsAt(1000) - scenario.offsetNsAt(0)).toBe(10_000_000);
    expect(seconds.map((s) => s.edge!.sequence)).toEqual(seconds.map((_, i) => i + 1));
  });

  it('a negative offset puts the host behind GPS', () => {
    const s = new Scenario(options({ offsetMs: -250 }), START_GPS_SEC).next();
    expect(s.edge!.hostNs).toBe(BigInt(START_GPS_SEC) * NS - 250_000_000n);
    expect(s.gpsSec).toBe(START_GPS_SEC);
  });

  it('PPS jitter is Gaussian with the given σ (µs), bounded at 4σ', () => {
    const scenario = new Scenario(options({ ppsJitterUs: 5 }), START_GPS_SEC);
    const errorsUs = Array.from({ length: 4000 }, () => {
      const s = scenario.next();
      return Number(s.edge!.hostNs - BigInt(s.gpsSec) * NS) / 1e3;
    });
    const mean = errorsUs.reduce((a, b) => a + b, 0) / errorsUs.length;
    const sd = Math.sqrt(errorsUs.reduce((a, b) => a + (b - mean) ** 2, 0) / errorsUs.length);
    expect(Math.abs(mean)).toBeLessThan(0.5);
    expect(sd).toBeGreaterThan(4.5);
    expect(sd).toBeLessThan(5.5);
    expect(Math.max(...errorsUs.map(Math.abs))).toBeLessThanOrEqual(20);
  });

  it('a seed gives the same run, byte for byte; another seed another jitter', () => {
    const o = options({ ppsJitterUs: 3, faults: [fault('garbage')] });
    const a = decode(o, 20).seconds;
    const b = decode(o, 20).seconds;
    expect(b).toEqual(a);
    const c = decode({ ...o, seed: 8 }, 20).seconds;
    expect(c.map((s) => s.edge!.hostNs)).not.toEqual(a.map((s) => s.edge!.hostNs));
  });
});

describe('Scenario: faults', () => {
  for (const receiver of ['ublox', 'mtk'] as const) {
    it(`${receiver} fix-loss@3+4: no fix for those seconds, time still printed and right`, () => {
      const { epochs, seconds, decoder } = decode(options({ receiver, faults: [fault('fix-loss@3+4')] }), 10);
      expect(decoder.counters.parseErrors).toBe(0);
      expect(epochs.map((e) => e.utcNs)).toEqual(seconds.map((s) => BigInt(s.gpsSec) * NS));
      expect(epochs.map((e) => e.fix.mode)).toEqual(['3d', '3d', '3d', 'none', 'none', 'none', 'none', '3d', '3d', '3d']);
      expect(epochs[4]!.fix.satellitesUsed).toBe(0);
      expect(texts(seconds[4]!).find((t) => t.slice(3, 6) === 'RMC')).toMatch(/^\$G.RMC,\d{6}\.\d+,V,/);
    });
  }

  it('antenna-unplugged (u-blox): ANTSTATUS=OPEN once at the start, no fix while it lasts, ANTSTATUS=OK after', () => {
    const { epochs, seconds } = decode(options({ faults: [fault('antenna-unplugged@2+3')] }), 7);
    const txt = seconds.map((s) => texts(s).filter((t) => t.includes('TXT')));
    expect(txt).toEqual([[], [], ['$GPTXT,01,01,01,ANTSTATUS=OPEN*28'], [], [], ['$GPTXT,01,01,02,ANTSTATUS=OK*3B'], []]);
    expect(epochs.map((e) => e.fix.mode)).toEqual(['3d', '3d', 'none', 'none', 'none', '3d', '3d']);
  });

  it('antenna-unplugged (MTK): PGTOP,11,2 every second while it lasts, no fix', () => {
    const { epochs, seconds } = decode(options({ receiver: 'mtk', faults: [fault('antenna-unplugged@1+2')] }), 4);
    expect(seconds.map((s) => texts(s).filter((t) => t.startsWith('$PGTOP')).length)).toEqual([0, 1, 1, 0]);
    expect(epochs.map((e) => e.fix.mode)).toEqual(['3d', 'none', 'none', '3d']);
  });

  it('no-pps: no edges, NMEA goes on; the kernel sequence counts only the edges that came', () => {
    const { epochs, seconds } = decode(options({ faults: [fault('no-pps@2+3')] }), 7);
    expect(seconds.map((s) => s.edge?.sequence ?? null)).toEqual([1, 2, null, null, null, 3, 4]);
    expect(epochs).toHaveLength(7);
  });

  it('no-nmea: PPS goes on, no bytes at all', () => {
    const { epochs, seconds } = decode(options({ faults: [fault('no-nmea@1+2')] }), 5);
    expect(seconds.map((s) => s.chunks.length === 0)).toEqual([false, true, true, false, false]);
    expect(seconds.every((s) => s.edge !== null)).toBe(true);
    expect(epochs.map((e) => e.utcNs)).toEqual([0, 3, 4].map((i) => BigInt(START_GPS_SEC + i) * NS));
  });

  it('garbage: binary bursts between sentences never cost a good sentence, however the bytes are chunked', () => {
    const clean = decode(options(), 50);
    const dirty = decode(options({ faults: [fault('garbage')] }), 50);
    expect(dirty.seconds.flatMap((s) => s.chunks).filter((c) => c.kind === 'garbage').length).toBeGreaterThan(50);
    expect(dirty.seconds.every((s) => s.chunks[0]!.kind === 'sentence')).toBe(true);
    expect(dirty.framer.counters.skippedBytes).toBeGreaterThan(0);
    expect(dirty.sentences.map((s) => s.text)).toEqual(clean.sentences.map((s) => s.text));
    expect(dirty.epochs.map((e) => e.utcNs)).toEqual(clean.epochs.map((e) => e.utcNs));
    // The same bytes as a serial port might hand them over: odd-sized chunks across sentence boundaries.
    const all = Buffer.concat(dirty.seconds.flatMap((s) => s.chunks.map((c) => c.bytes)));
    const framer = new NmeaFramer();
    const rechunked: string[] = [];
    for (let i = 0, k = 1; i < all.length; i += k, k = (k * 7 + 3) % 97 + 1) {
      rechunked.push(...framer.push(all.subarray(i, i + k), 0n).map((s) => s.text));
    }
    expect(rechunked).toEqual(clean.sentences.map((s) => s.text));
  });

  it('wrong-second: every label names the next second', () => {
    const { epochs, seconds } = decode(options({ faults: [fault('wrong-second')] }), 5);
    expect(epochs.map((e) => e.utcNs)).toEqual(seconds.map((s) => BigInt(s.gpsSec + 1) * NS));
  });

  it('week-rollover: dates 1024 weeks back; the decoder\'s pivot moves them forward again', () => {
    const o = options({ faults: [fault('week-rollover')] });
    const raw = decode(o, 3, START_GPS_SEC, NO_CORRECTION_PIVOT_UNIX_NS);
    expect(raw.epochs.map((e) => e.utcNs)).toEqual(raw.seconds.map((s) => BigInt(s.gpsSec) * NS - GPS_ROLLOVER_NS));
    expect(texts(raw.seconds[0]!)[0]).toMatch(/^\$GNRMC,100000\.00,A,.*,080407,/); // 2007-04-08
    const corrected = decode(o, 3);
    expect(corrected.epochs.map((e) => e.utcNs)).toEqual(raw.seconds.map((s) => BigInt(s.gpsSec) * NS));
    expect(corrected.epochs.every((e) => e.rolloverPeriods === 1)).toBe(true);
  });

  for (const receiver of ['ublox', 'mtk'] as const) {
    it(`${receiver} leap-second: 23:59:60 is printed for the inserted second, then the labels run one second behind`, () => {
      const start = 1_798_761_595; // 2026-12-31T23:59:55Z
      const midnight = 1_798_761_600;
      const { epochs, seconds, decoder } = decode(options({ receiver, faults: [fault('leap-second')] }), 8, start);
      expect(decoder.counters.badTimeFields).toBe(0);
      const rmc = seconds.map((s) => texts(s).find((t) => t.slice(3, 6) === 'RMC')!.split(',').slice(1, 10));
      const tod = receiver === 'ublox' ? (t: string): string => `${t}.00` : (t: string): string => `${t}.000`;
      expect(rmc.map((f) => `${f[0]} ${f[8]}`)).toEqual([
        `${tod('235955')} 311226`, `${tod('235956')} 311226`, `${tod('235957')} 311226`, `${tod('235958')} 311226`,
        `${tod('235959')} 311226`, `${tod('235960')} 311226`, `${tod('000000')} 010127`, `${tod('000001')} 010127`,
      ]);
      // The decoder gives 23:59:60 the Unix value of the following midnight, as the kernel's clock does.
      expect(epochs.map((e) => Number(e.utcNs / NS) - midnight)).toEqual([-5, -4, -3, -2, -1, 0, 0, 1]);
      // The host did not insert the second: from the leap on it is one second ahead of the labels.
      expect(seconds.map((s) => s.gpsSec - midnight)).toEqual([-5, -4, -3, -2, -1, 0, 1, 2]);
    });
  }

  it('leap-second starting later: announced for the end of the UTC day the fault starts in', () => {
    expect(new Scenario(options({ faults: [fault('leap-second@90000')] }), START_GPS_SEC).leapSec).toBe(1_795_478_400); // 2026-11-24
  });

  it('unplug: gone for seconds 4-6 of every 10, no NMEA then; PPS goes on', () => {
    const { seconds } = decode(options({ faults: [fault('unplug')] }), 20);
    expect(seconds.map((s) => (s.unplugged ? 1 : 0)).join('')).toBe('00001110000000111000');
    expect(seconds.filter((s) => s.unplugged).every((s) => s.chunks.length === 0 && s.edge !== null)).toBe(true);
  });
});
