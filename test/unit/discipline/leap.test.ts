import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  type LeapEvent, type LeapTable, decideLeap, formatLeapFileProblem, leapCorrectionNs, leapSettledAtNs, leapState, leapTableExpiry,
  parseLeapSecondsList, receiverLeap, smearWindow,
} from '../../../src/discipline/leap.js';
import { LeapIndicator } from '../../../src/ntp/constants.js';
import { civilDays, civilFromDays } from '../../../src/ntp/calendar.js';

const REAL = '/usr/share/zoneinfo/leap-seconds.list';
const S = 1_000_000_000n;
const DAY = 86_400n * S;

function realText(): string {
  if (!existsSync(REAL)) {
    throw new Error(`${REAL} is missing: install Debian's tzdata package (apt install tzdata); these tests check Gnomon against the real file`);
  }
  return readFileSync(REAL, 'latin1');
}

function realTable(): LeapTable {
  const parsed = parseLeapSecondsList(realText(), REAL);
  if (!parsed.ok) throw new Error(formatLeapFileProblem(parsed.error));
  return parsed.table;
}

/** UTC civil time → Unix ns. */
function utc(year: number, month: number, day: number, h = 0, m = 0, s = 0): bigint {
  const days = civilDays(year, month, day);
  if (days === null) throw new Error('bad date');
  return BigInt(days * 86_400 + h * 3600 + m * 60 + s) * S;
}

const NTP_UNIX = 2_208_988_800;
const ntp = (unixNs: bigint): number => Number(unixNs / S) + NTP_UNIX;

/** A leap-seconds.list with a correct `#h`, computed as the IERS README describes (the real file checks the algorithm). */
function signedFile(entries: readonly (readonly [bigint, number])[], expiresNs: bigint, options: { stripZeros?: boolean; eol?: string } = {}): string {
  const updated = ntp(entries[entries.length - 1]![0]);
  const expires = ntp(expiresNs);
  const data = entries.map(([at, tai]) => `${ntp(at)}\t${tai}\t# ${civilFromDays(Number(at / DAY)).year}`);
  const sha1 = createHash('sha1').update(`${updated}${expires}`);
  for (const [at, tai] of entries) sha1.update(`${ntp(at)}${tai}`);
  const words = sha1.digest('hex').match(/.{8}/g)!.map((w) => (options.stripZeros ? w.replace(/^0+(?=.)/, '') : w));
  return ['#\tA test list', `#$\t${updated}`, `#@\t${expires}`, '#', ...data, '#', `#h\t${words.join(' ')}`, ''].join(options.eol ?? '\n');
}

const OLD_ENTRIES: readonly (readonly [bigint, number])[] = [
  [utc(1972, 1, 1), 10], [utc(2012, 7, 1), 11], [utc(2015, 7, 1), 12], [utc(2017, 1, 1), 13],
];

describe('parseLeapSecondsList on the real tzdata file', () => {
  it('parses, verifies its SHA-1, and starts integer-second UTC on 1972-01-01 at 10 s', () => {
    const table = realTable();
    expect(table.hash).toBe('verified');
    expect(table.warnings).toEqual([]);
    expect(table.entries.length).toBeGreaterThanOrEqual(28);
    expect(table.entries[0]).toMatchObject({ ntpS: 2_272_060_800, taiOffsetS: 10, startsUtcNs: utc(1972, 1, 1) });
    expect(table.entries.find((e) => e.ntpS === 3_692_217_600)).toMatchObject({ taiOffsetS: 37, startsUtcNs: utc(2017, 1, 1) });
    expect(table.expiresUtcNs).toBe(BigInt(table.expiresNtpS - NTP_UNIX) * S);
    expect(table.expiresUtcNs > utc(2017, 1, 1)).toBe(true);
  });

  it('gives TAI−UTC at several dates (37 s from 2017-01-01)', () => {
    const table = realTable();
    const tai = (t: bigint) => leapState(table, t).taiOffsetS;
    expect(tai(utc(1971, 12, 31, 23, 59, 59))).toBeNull();
    expect(tai(utc(1972, 1, 1))).toBe(10);
    expect(tai(utc(1972, 7, 1) - 1n)).toBe(10);
    expect(tai(utc(1972, 7, 1))).toBe(11);
    expect(tai(utc(1980, 1, 1))).toBe(19);
    expect(tai(utc(1999, 1, 1))).toBe(32);
    expect(tai(utc(2012, 6, 30, 12))).toBe(34);
    expect(tai(utc(2016, 12, 31, 23, 59, 59) + 999_999_999n)).toBe(36);
    expect(tai(utc(2017, 1, 1))).toBe(37);
    expect(tai(utc(2020, 6, 15))).toBe(37);
  });

  it('announces the 2016-12-31 insert from 00:00:00 UTC that day until the leap is over', () => {
    const table = realTable();
    const leap: LeapEvent = { atUtcNs: utc(2017, 1, 1), kind: 'insert' };
    expect(leapState(table, utc(2016, 7, 1))).toEqual({ taiOffsetS: 36, upcoming: leap, announce: false });
    expect(leapState(table, utc(2016, 12, 31) - 1n)).toEqual({ taiOffsetS: 36, upcoming: leap, announce: false });
    expect(leapState(table, utc(2016, 12, 31))).toEqual({ taiOffsetS: 36, upcoming: leap, announce: true });
    expect(leapState(table, utc(2017, 1, 1) - 1n)).toEqual({ taiOffsetS: 36, upcoming: leap, announce: true });
    const after = leapState(table, utc(2017, 1, 1));
    expect(after.announce).toBe(false);
    expect(after.taiOffsetS).toBe(37);
    expect(after.upcoming?.atUtcNs ?? 0n).not.toBe(leap.atUtcNs);
  });

  it('a copy with one digit altered fails the hash, located at the #h line', () => {
    const text = realText();
    const lines = text.split('\n');
    const hashLine = lines.findIndex((l) => l.startsWith('#h')) + 1;
    const alteredData = text.replace(/^3692217600(\s+)37/m, '3692217600$138');
    const alteredExpiry = text.replace(/^(#@\s*\d*)(\d)$/m, (_, head: string, last: string) => `${head}${(Number(last) + 1) % 10}`);
    expect(alteredData).not.toBe(text);
    expect(alteredExpiry).not.toBe(text);
    for (const altered of [alteredData, alteredExpiry]) {
      const parsed = parseLeapSecondsList(altered, 'copy.list');
      expect(parsed.ok).toBe(false);
      if (!parsed.ok) expect(parsed.error).toMatchObject({ code: 'LEAPFILE_BAD_HASH', severity: 'error', line: hashLine, file: 'copy.list' });
    }
  });

  it('expiry: a warning from 28 days before, LEAPFILE_EXPIRED from the #@ instant on; the table stays usable', () => {
    const table = realTable();
    expect(leapTableExpiry(table, table.expiresUtcNs - 29n * DAY)).toBeNull();
    expect(leapTableExpiry(table, table.expiresUtcNs - 28n * DAY)).toMatchObject({ code: 'LEAPFILE_EXPIRES_SOON', severity: 'warning' });
    expect(leapTableExpiry(table, table.expiresUtcNs - 1n)).toMatchObject({ code: 'LEAPFILE_EXPIRES_SOON' });
    const expired = leapTableExpiry(table, table.expiresUtcNs);
    expect(expired).toMatchObject({ code: 'LEAPFILE_EXPIRED', severity: 'warning', file: REAL, line: null });
    expect(expired?.hint).toContain('tzdata');
    expect(leapState(table, table.expiresUtcNs + 400n * DAY).taiOffsetS).toBeGreaterThanOrEqual(37);
  });
});

describe('parseLeapSecondsList on damaged and unusual files', () => {
  const expires = utc(2017, 6, 28);

  it('an expired (2017) list is still parsed and usable', () => {
    const parsed = parseLeapSecondsList(signedFile(OLD_ENTRIES, expires), 'old.list');
    expect(parsed.ok).toBe(true);
    if (!parsed.ok) return;
    expect(leapTableExpiry(parsed.table, utc(2025, 1, 1))?.code).toBe('LEAPFILE_EXPIRED');
    expect(leapState(parsed.table, utc(2025, 1, 1))).toEqual({ taiOffsetS: 13, upcoming: null, announce: false });
  });

  it('hash words written without leading zeros (as NIST does) and CRLF line ends are accepted', () => {
    // Find an expiry whose digest has a word starting with 0, so stripping changes the text.
    let stripped = '';
    for (let k = 0n; stripped === '' && k < 500n; k++) {
      const candidate = signedFile(OLD_ENTRIES, expires + k * DAY, { stripZeros: true });
      if (candidate !== signedFile(OLD_ENTRIES, expires + k * DAY)) stripped = candidate;
    }
    expect(stripped).toMatch(/^#h\t.*\b[1-9a-f][0-9a-f]{0,6}\b/m);
    for (const text of [stripped, signedFile(OLD_ENTRIES, expires, { eol: '\r\n' })]) {
      const parsed = parseLeapSecondsList(text, 'x.list');
      expect(parsed.ok ? parsed.table.hash : parsed.error.code).toBe('verified');
    }
  });

  it('no #h line: usable, with a LEAPFILE_NO_HASH warning (as ntpd)', () => {
    const text = signedFile(OLD_ENTRIES, expires).replace(/^#h.*$/m, '');
    const parsed = parseLeapSecondsList(text, 'x.list');
    expect(parsed.ok && parsed.table.hash).toBe('absent');
    expect(parsed.ok && parsed.table.warnings.map((w) => w.code)).toEqual(['LEAPFILE_NO_HASH']);
  });

  it('syntax errors name the line', () => {
    const text = signedFile(OLD_ENTRIES, expires).replace(/^(\d+\t11)/m, 'junk $1');
    const parsed = parseLeapSecondsList(text, 'x.list');
    expect(parsed.ok ? null : parsed.error).toMatchObject({ code: 'LEAPFILE_SYNTAX', line: 6 });
    const noExpiry = parseLeapSecondsList(signedFile(OLD_ENTRIES, expires).replace(/^#@.*$/m, '#'), 'x.list');
    expect(noExpiry.ok ? null : noExpiry.error).toMatchObject({ code: 'LEAPFILE_SYNTAX', line: null });
    const badHash = parseLeapSecondsList(signedFile(OLD_ENTRIES, expires).replace(/^#h.*$/m, '#h zz'), 'x.list');
    expect(badHash.ok ? null : badHash.error.code).toBe('LEAPFILE_SYNTAX');
    const empty = parseLeapSecondsList('#@ 3707596800\n', 'x.list');
    expect(empty.ok ? null : empty.error.code).toBe('LEAPFILE_SYNTAX');
  });

  it('entries must start a month, ascend, and change TAI−UTC by one second', () => {
    const cases: (readonly (readonly [bigint, number])[])[] = [
      [[utc(1972, 1, 1), 10], [utc(2012, 6, 30), 11]],
      [[utc(1972, 1, 1), 10], [utc(2012, 7, 1, 0, 0, 1), 11]],
      [[utc(2012, 7, 1), 10], [utc(1972, 1, 1), 11]],
      [[utc(1972, 1, 1), 10], [utc(2012, 7, 1), 12]],
    ];
    for (const entries of cases) {
      const parsed = parseLeapSecondsList(signedFile(entries, expires), 'x.list');
      expect(parsed.ok ? null : parsed.error).toMatchObject({ code: 'LEAPFILE_BAD_TRANSITION', line: 6 });
    }
  });

  it('a delete (TAI−UTC falling by one) is read as one', () => {
    const parsed = parseLeapSecondsList(signedFile([[utc(1972, 1, 1), 10], [utc(2030, 7, 1), 9]], utc(2031, 1, 1)), 'x.list');
    expect(parsed.ok && leapState(parsed.table, utc(2030, 6, 30, 12))).toEqual({
      taiOffsetS: 10, upcoming: { atUtcNs: utc(2030, 7, 1), kind: 'delete' }, announce: true,
    });
  });

  it('problems print like config diagnostics', () => {
    const parsed = parseLeapSecondsList('3692217600 37\n', 'a.list');
    expect(parsed.ok ? '' : formatLeapFileProblem(parsed.error)).toMatch(/^a\.list: error: no `#@` expiry line.* \[LEAPFILE_SYNTAX\] \(hint: .*tzdata/);
  });
});

describe('decideLeap: leapfile and receiver', () => {
  const leap2016: LeapEvent = { atUtcNs: utc(2017, 1, 1), kind: 'insert' };

  it('a current leapfile decides; the receiver is only compared with it', () => {
    const table = realTable();
    const lastDay = utc(2016, 12, 31, 12);
    expect(decideLeap(table, 'unknown', lastDay, 'step')).toEqual({
      source: 'leapfile', leap: leap2016, announce: true, indicator: LeapIndicator.AddSecond, taiOffsetS: 36, disagreement: null,
    });
    expect(decideLeap(table, 'insert', lastDay, 'step').disagreement).toBeNull();
    expect(decideLeap(table, 'none', lastDay, 'step')).toMatchObject({
      indicator: LeapIndicator.AddSecond, disagreement: { leapfile: 'insert', receiver: 'none' },
    });
    // 2016-06-30: the receiver says insert, the (current) file lists none that day: no LI.
    expect(decideLeap(table, 'insert', utc(2016, 6, 30, 12), 'step')).toMatchObject({
      source: 'leapfile', announce: false, indicator: LeapIndicator.NoWarning, disagreement: { leapfile: 'none', receiver: 'insert' },
    });
  });

  it('without a file, or with an expired one, the receiver announces a leap at the end of a month\'s last day', () => {
    const old = parseLeapSecondsList(signedFile(OLD_ENTRIES, utc(2017, 6, 28)), 'old.list');
    if (!old.ok) throw new Error('fixture');
    const june30 = utc(2020, 6, 30, 8);
    const leap: LeapEvent = { atUtcNs: utc(2020, 7, 1), kind: 'insert' };
    expect(decideLeap(old.table, 'insert', june30, 'step')).toEqual({
      source: 'receiver', leap, announce: true, indicator: LeapIndicator.AddSecond, taiOffsetS: 13, disagreement: null,
    });
    expect(decideLeap(null, 'delete', june30, 'step')).toMatchObject({ source: 'receiver', indicator: LeapIndicator.DeleteSecond, taiOffsetS: null });
    expect(decideLeap(null, 'insert', utc(2020, 6, 15), 'step')).toMatchObject({ source: 'none', leap: null, indicator: LeapIndicator.NoWarning });
    expect(decideLeap(null, 'unknown', june30, 'step')).toMatchObject({ source: 'none', indicator: LeapIndicator.NoWarning });
  });

  it('while smearing LI is never set, though the leap is known and announced', () => {
    expect(decideLeap(realTable(), 'insert', utc(2016, 12, 31, 12), 'smear')).toMatchObject({
      leap: leap2016, announce: true, indicator: LeapIndicator.NoWarning,
    });
    expect(decideLeap(null, 'insert', utc(2020, 6, 30), 'smear').indicator).toBe(LeapIndicator.NoWarning);
  });

  it('receiverLeap: end of the current UTC day, month ends only; a flag left on after midnight is dropped', () => {
    expect(receiverLeap('insert', utc(2016, 12, 31))).toEqual(leap2016);
    expect(receiverLeap('insert', utc(2017, 1, 1) - 1n)).toEqual(leap2016);
    expect(receiverLeap('insert', utc(2017, 1, 1, 0, 0, 5))).toBeNull();
    expect(receiverLeap('delete', utc(2016, 2, 29, 23))).toEqual({ atUtcNs: utc(2016, 3, 1), kind: 'delete' });
    expect(receiverLeap('none', utc(2016, 12, 31))).toBeNull();
    expect(receiverLeap('unknown', utc(2016, 12, 31))).toBeNull();
  });
});

describe('leapCorrectionNs', () => {
  const L = utc(2017, 1, 1);
  const insert: LeapEvent = { atUtcNs: L, kind: 'insert' };
  const del: LeapEvent = { atUtcNs: L, kind: 'delete' };

  it('step, insert: 23:59:59 is repeated, from the instant a non-leaping clock reads 00:00:00', () => {
    expect(leapCorrectionNs(insert, L - 1n, 'step', 0)).toBe(0);
    expect(leapCorrectionNs(insert, L, 'step', 0)).toBe(-1e9);
    // served = non-leap + correction: 23:59:59.000 again, then 00:00:00 one SI second later.
    expect(L + BigInt(leapCorrectionNs(insert, L, 'step', 0))).toBe(utc(2016, 12, 31, 23, 59, 59));
    expect(L + S + BigInt(leapCorrectionNs(insert, L + S, 'step', 0))).toBe(L);
    expect(leapCorrectionNs(insert, L + 30n * DAY, 'step', 0)).toBe(-1e9);
    expect(leapSettledAtNs(insert, 'step', 0)).toBe(L);
  });

  it('step, delete: 23:59:58 is followed by 00:00:00', () => {
    expect(leapCorrectionNs(del, L - S - 1n, 'step', 0)).toBe(0);
    expect(leapCorrectionNs(del, L - S, 'step', 0)).toBe(1e9);
    expect(L - S + BigInt(leapCorrectionNs(del, L - S, 'step', 0))).toBe(L);
  });

  it('no leap: no correction', () => {
    expect(leapCorrectionNs(null, L, 'step', 0)).toBe(0);
    expect(leapCorrectionNs(null, L, 'smear', 86_400)).toBe(0);
  });

  it('smear, insert, 86 400 s: linear from noon to noon UTC, −0.5 s at the midpoint', () => {
    const w = smearWindow(insert, 86_400);
    expect(w).toEqual({ startNs: L - 43_200n * S, endNs: L + 43_201n * S });
    expect(leapCorrectionNs(insert, w.startNs - 1n, 'smear', 86_400)).toBe(0);
    expect(leapCorrectionNs(insert, w.startNs, 'smear', 86_400)).toBe(0);
    expect(leapCorrectionNs(insert, w.startNs + 43_200n * S + S / 2n, 'smear', 86_400)).toBe(-5e8);
    const atLeap = leapCorrectionNs(insert, L, 'smear', 86_400);
    expect(atLeap).toBeLessThan(-4.9999e8);
    expect(atLeap).toBeGreaterThan(-5e8);
    expect(leapCorrectionNs(insert, w.endNs, 'smear', 86_400)).toBe(-1e9);
    expect(leapCorrectionNs(insert, w.endNs + DAY, 'smear', 86_400)).toBe(-1e9);
    // Served time: noon 2016-12-31 at the start, noon 2017-01-01 (UTC) at the end.
    expect(w.startNs + BigInt(leapCorrectionNs(insert, w.startNs, 'smear', 86_400))).toBe(utc(2016, 12, 31, 12));
    expect(w.endNs + BigInt(leapCorrectionNs(insert, w.endNs, 'smear', 86_400))).toBe(utc(2017, 1, 1, 12));
    // Slope: each smeared second is 1/86 401 s shorter: 11.57 µs per second.
    const a = leapCorrectionNs(insert, w.startNs + 1000n * S, 'smear', 86_400);
    const b = leapCorrectionNs(insert, w.startNs + 1001n * S, 'smear', 86_400);
    expect(a - b).toBeGreaterThanOrEqual(11_573);
    expect(a - b).toBeLessThanOrEqual(11_575);
    expect(leapSettledAtNs(insert, 'smear', 86_400)).toBe(w.endNs);
  });

  it('smear, delete: +1 s over intervalS − 1 SI seconds, +0.5 s at the midpoint', () => {
    const w = smearWindow(del, 7200);
    expect(w).toEqual({ startNs: L - 3600n * S, endNs: L + 3599n * S });
    expect(leapCorrectionNs(del, w.startNs + 3599n * S + S / 2n, 'smear', 7200)).toBe(5e8);
    expect(leapCorrectionNs(del, w.endNs, 'smear', 7200)).toBe(1e9);
    expect(w.endNs + BigInt(leapCorrectionNs(del, w.endNs, 'smear', 7200))).toBe(L + 3600n * S);
  });

  it('an odd interval is centred to the nanosecond; a meaningless one is refused', () => {
    expect(smearWindow(insert, 3)).toEqual({ startNs: L - 1_500_000_000n, endNs: L + 2_500_000_000n });
    expect(() => smearWindow(insert, 0)).toThrow(RangeError);
    expect(() => smearWindow(insert, 1.5)).toThrow(RangeError);
  });
});
