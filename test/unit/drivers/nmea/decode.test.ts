import { describe, expect, it } from 'vitest';
import { NmeaDecoder, civilDays, parseDdMmYy, parseTimeOfDay, type NmeaEpoch } from '../../../../drivers/nmea/decode.js';
import { NmeaFramer } from '../../../../drivers/nmea/framing.js';
import { GPS_ROLLOVER_NS } from '../../../../drivers/nmea/rollover.js';
import { bytes, sentence } from './sentences.js';

const NS = 1_000_000_000n;
const unixNs = (iso: string): bigint => BigInt(Date.parse(iso)) * 1_000_000n;
const PIVOT_2010 = unixNs('2010-01-01T00:00:00Z');

/** Feed lines (one per "arrival", stamped 1, 2, 3 ... s) and flush. */
function decode(lines: string[], pivotUnixNs = PIVOT_2010): { epochs: NmeaEpoch[]; decoder: NmeaDecoder } {
  const framer = new NmeaFramer();
  const decoder = new NmeaDecoder({ pivotUnixNs });
  const epochs: NmeaEpoch[] = [];
  lines.forEach((line, i) => {
    for (const s of framer.push(bytes(line), BigInt(i + 1) * NS)) epochs.push(...decoder.push(s));
  });
  epochs.push(...decoder.end());
  return { epochs, decoder };
}

// Captured sentences (../shared/nmea-corpus: mt3339.log, beidou-bd.log, nmea-fuzzy-cases.log, ublox-neo-m9n-nmea.log).
const MT3339 = [
  '$GPGGA,202640.000,4404.1306,N,12118.8515,W,2,10,0.98,1127.7,M,-19.6,M,0000,0000*6C',
  '$GPGSA,A,3,20,16,09,03,07,10,23,19,27,30,,,1.64,0.98,1.31*05',
  '$GPRMC,202640.000,A,4404.1306,N,12118.8515,W,0.03,225.97,130415,,,D*73',
  '$GPZDA,202640.000,13,04,2015,,*54',
  '$GPGGA,202641.000,4404.1305,N,12118.8515,W,2,11,0.83,1127.7,M,-19.6,M,0000,0000*65',
];

describe('NmeaDecoder', () => {
  it('antenna supervision: u-blox TXT ANTSTATUS and MTK PGTOP, kept until the receiver reports a change', () => {
    const rmc = (t: string) => sentence(`GPRMC,${t},A,4807.038,N,01131.000,E,0.0,0.0,130415,,,A`);
    const { epochs } = decode([
      rmc('100000.00'),
      sentence('GPTXT,01,01,01,ANTSTATUS=OPEN'), rmc('100001.00'), rmc('100002.00'),
      sentence('GPTXT,01,01,01,ANTSTATUS=SHORT'), rmc('100003.00'),
      sentence('PGTOP,11,3'), rmc('100004.00'),
      sentence('PGTOP,11,2'), rmc('100005.00'),
      sentence('GNTXT,01,01,02,ANTSTATUS=OK'), rmc('100006.00'),
    ]);
    // An epoch is reported when the next one's time arrives: it carries the latest status known then.
    expect(epochs.map((e) => e.fix.antenna)).toEqual(['open', 'open', 'short', 'ok', 'open', 'ok', 'ok']);
    expect(decode([rmc('100000.00'), rmc('100001.00')]).epochs.map((e) => e.fix.antenna)).toEqual([undefined, undefined]);
  });

  it('one epoch per time of day, with the system time of its first sentence and the fix state', () => {
    const { epochs } = decode(MT3339);
    expect(epochs.map((e) => e.utcNs)).toEqual([unixNs('2015-04-13T20:26:40Z'), unixNs('2015-04-13T20:26:41Z')]);
    expect(epochs[0]).toMatchObject({
      systemTimeNs: 1n * NS,
      fix: { mode: '3d', satellitesUsed: 10, hdop: 0.98, satellitesVisible: null },
      timeSources: ['GGA', 'RMC', 'ZDA'],
      rolloverPeriods: 0,
    });
    // The second epoch is GGA only: its date is carried from the first.
    expect(epochs[1]!.systemTimeNs).toBe(5n * NS);
  });

  it('GGA alone never makes a time: it needs a date from RMC or ZDA first', () => {
    const { epochs, decoder } = decode([MT3339[0]!, MT3339[4]!]);
    expect(epochs).toEqual([]);
    expect(decoder.counters.epochsWithoutDate).toBe(2);
  });

  it('a carried date stops at a time of day that goes backwards (midnight, restart)', () => {
    const { epochs } = decode([
      sentence('GPRMC,235959.00,A,4404.1306,N,12118.8515,W,0.0,0.0,130415,,,A'),
      sentence('GPGGA,000000.00,4404.1306,N,12118.8515,W,1,08,1.0,10.0,M,0.0,M,,'),
      sentence('GPRMC,000001.00,A,4404.1306,N,12118.8515,W,0.0,0.0,140415,,,A'),
    ]);
    expect(epochs.map((e) => e.utcNs)).toEqual([unixNs('2015-04-13T23:59:59Z'), unixNs('2015-04-14T00:00:01Z')]);
  });

  it('fractional seconds of any length, exact to the nanosecond (no float drift)', () => {
    expect(parseTimeOfDay('132820.6')).toBe(48_500n * NS + 600_000_000n);
    expect(parseTimeOfDay('132820.60')).toBe(48_500n * NS + 600_000_000n);
    expect(parseTimeOfDay('000000.123456789')).toBe(123_456_789n);
    expect(parseTimeOfDay('000000.1234567899')).toBe(123_456_789n);
    expect(parseTimeOfDay('235960')).toBe(86_400n * NS); // a leap second
    expect(parseTimeOfDay('000000.')).toBe(0n);
    for (const bad of ['', '2400000', '240000', '236000', '235961', '12345', '12a456', '120000.1x']) expect(parseTimeOfDay(bad)).toBeNull();
    const { epochs } = decode([
      '$GPRMC,132820.60,A,4134.49821229,N,09345.03351845,W,3.252,92.308,180320,11.5985,E,D*1A',
      sentence('GPRMC,132820.7,A,4134.49821229,N,09345.03351845,W,3.252,92.308,180320,11.5985,E,D'),
      sentence('GPRMC,132820.799999999,A,4134.4982,N,09345.0335,W,3.252,92.308,180320,,,D'),
    ]);
    expect(epochs.map((e) => e.utcNs - unixNs('2020-03-18T13:28:20Z'))).toEqual([600_000_000n, 700_000_000n, 799_999_999n]);
  });

  it('all talkers are alike (GN, GL, GA, GB, BD, QZ)', () => {
    for (const talker of ['GP', 'GN', 'GL', 'GA', 'GB', 'BD', 'QZ']) {
      const { epochs } = decode([sentence(`${talker}RMC,074156.799,A,3114.8950,N,12135.2442,E,0.26,4.94,250215,,,A`)]);
      expect(epochs.map((e) => e.utcNs)).toEqual([unixNs('2015-02-25T07:41:56.799Z')]);
    }
  });

  it('RMC status V or FAA mode N/E marks the epoch as without a fix, whatever GSA says', () => {
    const cold = decode([
      '$GNGGA,074150.799,,,,,0,00,,,M,0.0,M,,0000,*64',
      '$GPGSA,A,1,,,,,,,,,,,,,,,,*32',
      '$GNRMC,074150.799,V,,,,,,,250215,,,N*52',
    ]).epochs;
    expect(cold).toHaveLength(1);
    expect(cold[0]!.fix).toEqual({ mode: 'none', satellitesUsed: 0, satellitesVisible: null, hdop: null });
    const deadReckoning = decode([
      sentence('GPGSA,A,3,20,16,09,03,,,,,,,,,1.64,0.98,1.31'),
      sentence('GPRMC,202640.000,A,4404.1306,N,12118.8515,W,0.03,225.97,130415,,,E'),
    ]).epochs;
    expect(deadReckoning[0]!.fix.mode).toBe('none');
  });

  it('ZDA gives a 4-digit-year date; ZDA without a fix keeps its own date, not 1970', () => {
    const { epochs } = decode([sentence('GPZDA,120000.00,01,01,2021,,')]);
    expect(epochs.map((e) => e.utcNs)).toEqual([unixNs('2021-01-01T12:00:00Z')]);
    expect(epochs[0]!.fix.mode).toBe('none');
    // An RTC-only ZDA with empty date fields has no date: no epoch.
    expect(decode([sentence('GPZDA,120000.00,,,,,')]).epochs).toEqual([]);
  });

  it('satellites visible are summed over talkers, counting each GSV total once', () => {
    const { epochs } = decode([
      sentence('GNRMC,223745.00,A,4404.14,N,12118.85,W,0.0,,110720,,,A'),
      sentence('GPGSV,2,1,05,01,30,046,22,05,10,000,27,07,20,000,24,08,40,000,27'),
      sentence('GPGSV,2,2,05,09,27,171,25'),
      sentence('GLGSV,1,1,03,66,37,078,27,67,62,349,26,68,20,296,25'),
    ]);
    expect(epochs[0]!.fix.satellitesVisible).toBe(8);
  });

  it('sentences after a flush that repeat the emitted epoch are counted, not emitted again', () => {
    const framer = new NmeaFramer();
    const decoder = new NmeaDecoder({ pivotUnixNs: PIVOT_2010 });
    const push = (line: string) => framer.push(bytes(line), 0n).flatMap((s) => decoder.push(s));
    expect(push(MT3339[2]!)).toEqual([]);
    expect(decoder.flush()).toHaveLength(1);
    expect(push(MT3339[3]!)).toEqual([]);
    expect(decoder.flush()).toEqual([]);
    expect(decoder.counters.lateSentences).toBe(1);
  });

  it('flush keeps an epoch without a date open, so its RMC arriving after a quiet gap still counts', () => {
    const framer = new NmeaFramer();
    const decoder = new NmeaDecoder({ pivotUnixNs: PIVOT_2010 });
    const push = (line: string) => framer.push(bytes(line), 0n).flatMap((s) => decoder.push(s));
    push(MT3339[0]!); // GGA, no date yet
    expect(decoder.flush()).toEqual([]);
    push(MT3339[2]!); // RMC of the same epoch
    expect(decoder.flush().map((e) => e.timeSources)).toEqual([['GGA', 'RMC']]);
  });

  it('moves dates before the pivot forward by 1024 weeks (firmware past its week-rollover)', () => {
    // gp-320fw-2019-03-28.log's RMC, as the same firmware reports it after its rollover: 1024 weeks earlier.
    const trueNs = unixNs('2019-03-28T16:45:17.990Z');
    const wrong = new Date(Number((trueNs - GPS_ROLLOVER_NS) / 1_000_000n));
    expect(wrong.toISOString()).toBe('1999-08-12T16:45:17.990Z');
    const { epochs, decoder } = decode([sentence('GPRMC,164517.99,A,4808.9985,N,01135.0867,E,000.0,000.0,120899,003.0,E,A')]);
    expect(epochs.map((e) => e.utcNs)).toEqual([trueNs]);
    expect(epochs[0]!.rolloverPeriods).toBe(1);
    expect(decoder.counters.rolloverCorrections).toBe(1);
  });

  it('ignores proprietary and unrelated sentences, and survives malformed fields', () => {
    const { epochs, decoder } = decode([
      '$PMTK010,002*2D',
      sentence('PUBX,00,081350.00,4717.113210,N,00833.915187,E'),
      sentence('GPVTG,000.0,T,357.0,M,000.0,N,0000.0,K,A'),
      sentence('GPRMC,99999,A,,,,,,,130415,,,A'),
      sentence('GPRMC,120000,A,,,,,,,320415,,,A'),
      sentence('GPGSA,A,x,,'),
    ]);
    expect(epochs).toEqual([]);
    expect(decoder.counters.badTimeFields).toBe(2);
  });
});

describe('calendar', () => {
  it('civilDays matches the proleptic Gregorian calendar and refuses impossible dates', () => {
    for (const iso of ['1980-01-06', '2000-02-29', '2015-04-13', '2038-01-19', '2100-03-01']) {
      const [y, m, d] = iso.split('-').map(Number) as [number, number, number];
      expect(civilDays(y, m, d)).toBe(Date.parse(iso + 'T00:00:00Z') / 86_400_000);
    }
    expect(civilDays(2100, 2, 29)).toBeNull();
    expect(civilDays(2015, 4, 31)).toBeNull();
    expect(civilDays(1970, 1, 1)).toBeNull(); // before GPS: an unset receiver clock, not a date
  });

  it('two-digit years: 80-99 are 19xx, 00-79 are 20xx', () => {
    expect(parseDdMmYy('060180')).toBe(civilDays(1980, 1, 6));
    expect(parseDdMmYy('130415')).toBe(civilDays(2015, 4, 13));
    expect(parseDdMmYy('1304155')).toBeNull();
  });
});
