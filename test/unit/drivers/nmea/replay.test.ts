import { describe, expect, it } from 'vitest';
import { pivotFromHeader, replayGpsdLog, splitGpsdLog } from '../../../../drivers/nmea/replay.js';
import { NO_CORRECTION_PIVOT_UNIX_NS } from '../../../../drivers/nmea/rollover.js';
import { nmeaCommand } from '../../../../src/cli/nmea.js';
import { SHARED_DIR } from '../../../support/pcap.js';
import { bytes, sentence } from './sentences.js';

const unixNs = (iso: string): bigint => BigInt(Date.parse(iso)) * 1_000_000n;
const RMC = '$GPRMC,202640.000,A,4404.1306,N,12118.8515,W,0.03,225.97,130415,,,D*73';

describe('gpsd log replay', () => {
  it('splits the # header from the raw bytes', () => {
    const file = Buffer.concat([Buffer.from('# Name: x\r\n# Date: 2015-04-13\n'), bytes(RMC)]);
    const { header, body } = splitGpsdLog(file);
    expect(header).toEqual(['# Name: x', '# Date: 2015-04-13']);
    expect(Buffer.from(body).toString('latin1')).toBe(RMC + '\r\n');
  });

  it('takes the rollover pivot a year before the header date, in the spellings the corpus uses', () => {
    expect(pivotFromHeader(['# Date: 2015-04-13'])).toBe(unixNs('2014-04-13T00:00:00Z'));
    expect(pivotFromHeader(['# Date = 2015-03-18'])).toBe(unixNs('2014-03-18T00:00:00Z'));
    expect(pivotFromHeader(['# Date: 2019-2-4'])).toBe(unixNs('2018-02-04T00:00:00Z'));
    expect(pivotFromHeader(['# Date: 2021-12-18T'])).toBe(unixNs('2020-12-18T00:00:00Z'));
    expect(pivotFromHeader(['# Name: no date'])).toBeNull();
  });

  it('replays with the header pivot, an explicit one, or none', () => {
    const dated = Buffer.concat([Buffer.from('# Date: 2015-04-13\n'), bytes(RMC)]);
    expect(replayGpsdLog(dated)).toMatchObject({ pivotSource: 'log-date', epochs: [{ utcNs: unixNs('2015-04-13T20:26:40Z') }] });
    expect(replayGpsdLog(bytes(RMC))).toMatchObject({ pivotSource: 'none', pivotUnixNs: NO_CORRECTION_PIVOT_UNIX_NS });
    const forced = replayGpsdLog(dated, { pivotUnixNs: unixNs('2020-01-01T00:00:00Z') });
    expect(forced.pivotSource).toBe('option');
    expect(forced.epochs[0]!.rolloverPeriods).toBe(1);
  });
});

describe('gnomon nmea decode', () => {
  async function run(argv: string[]): Promise<{ code: number; out: string; err: string }> {
    let out = '';
    let err = '';
    const code = await nmeaCommand(argv, { stdout: (t) => void (out += t), stderr: (t) => void (err += t) });
    return { code, out, err };
  }
  const corpus = (name: string) => new URL(`nmea-corpus/${name}`, SHARED_DIR).pathname;

  it('prints one line per epoch: ISO time with milliseconds, fix mode, satellites used', async () => {
    const { code, out, err } = await run(['decode', corpus('mt3339.log')]);
    expect(err).toBe('');
    expect(code).toBe(0);
    expect(out.split('\n').slice(0, 2)).toEqual([
      '2015-04-13T20:26:40.000Z  3d    sats 10',
      '2015-04-13T20:26:41.000Z  3d    sats 11',
    ]);
  });

  it('--json prints an array of objects; --fix-only leaves out epochs without a fix', async () => {
    const all = JSON.parse((await run(['decode', corpus('beidou-bd.log'), '--json'])).out) as { time: string; fix: string }[];
    const fixed = JSON.parse((await run(['decode', corpus('beidou-bd.log'), '--json', '--fix-only'])).out) as { fix: string }[];
    expect(all[0]).toEqual({ time: '2015-02-25T07:41:50.799Z', fix: 'none', satellitesUsed: 0, satellitesVisible: 32, hdop: null, rolloverPeriods: 0 });
    expect(fixed.length).toBeGreaterThan(0);
    expect(fixed.length).toBeLessThan(all.length);
    expect(fixed.every((e) => e.fix !== 'none')).toBe(true);
  });

  it('--pivot moves earlier dates by 1024 weeks and says so', async () => {
    const { out } = await run(['decode', corpus('mt3339.log'), '--pivot', '2020-01-01']);
    expect(out.split('\n')[0]).toBe('2034-11-27T20:26:40.000Z  3d    sats 10  (week rollover +1024 weeks)');
  });

  it('usage errors exit 2, an unreadable file exits 1 with its errno code', async () => {
    expect((await run([])).code).toBe(2);
    expect((await run(['encode'])).code).toBe(2);
    expect((await run(['decode'])).code).toBe(2);
    expect((await run(['decode', 'x', '--pivot', '2020-13-01'])).code).toBe(2);
    const missing = await run(['decode', '/nonexistent/gps.log']);
    expect(missing).toMatchObject({ code: 1, err: 'gnomon nmea decode: /nonexistent/gps.log: cannot read (ENOENT)\n' });
    expect(sentence('GPZDA,1')).toMatch(/^\$GPZDA,1\*[0-9A-F]{2}$/);
  });
});
