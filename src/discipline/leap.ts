/**
 * Leap seconds: the IETF/NIST/IERS `leap-seconds.list` file, the receiver's announcement, the
 * LI bits clients see, and the served-time correction for the inserted (or deleted) second.
 * docs/leap-seconds.md is the operator's view of the same choices.
 *
 * Time scales. `utcNs` is Unix-epoch nanoseconds on the POSIX scale (every day 86 400 s, as the
 * drivers report time: gpsd's and NMEA's 23:59:60 land on the next midnight). A leap second is
 * named by the instant its new TAI−UTC offset begins, `atUtcNs` = 00:00:00 of the day after the
 * leap, exactly as the file lists it. `nonLeapNs` (leapCorrectionNs) is the served timescale
 * *without* the leap correction: it counts SI seconds straight through the leap, so it equals
 * UTC before the leap and is 1 s ahead of UTC after an inserted second.
 *
 * Choices (sources in docs/leap-seconds.md):
 * - LI window: [atUtcNs − 86 400 s, atUtcNs), i.e. from 00:00:00 UTC of the last day until the
 *   leap is over. RFC 5905 figure 9 defines LI=1 as "the last minute of the day has 61 seconds";
 *   RFC 1305/4330 set it "before 23:59 on the day of insertion"; NTPsec announces when less than
 *   a day is left (ntp_leapsec.c LSPROX_ANNOUNCE). RFC 5905 §7.3's prose says "current month",
 *   but a client reading LI=1 on the 5th would leap at the end of the 5th.
 * - Precedence: a leapfile that parsed, verified and has not expired decides; the receiver's
 *   bits are then only compared (a disagreement is reported). ntpd/NTPsec: "If the leapseconds
 *   file is present, the leap bits for reference clocks and downstratum servers are ignored", and
 *   leapsec_add() refuses receiver/peer leaps before the table expires. Without a file, or with
 *   an expired one, the receiver's insert/delete announces a leap at the end of the current UTC
 *   day (drivers/driver.ts LeapWarning), but only on the last day of a month (ITU-R TF.460 dates;
 *   this also drops a flag the receiver keeps a few seconds past the leap, as ntpd's "not in the
 *   first hour of the month" guard does).
 * - Step: served time repeats 23:59:59 as the Linux kernel does: at nonLeapNs = atUtcNs (the
 *   instant a non-leaping clock would read 00:00:00) the correction becomes −1 s. A deleted second:
 *   at nonLeapNs = atUtcNs − 1 s (23:59:59 would begin) it becomes +1 s.
 * - Smear: linear, centred on the leap, over `smearIntervalS` of UTC (Google's and AWS's standard
 *   is 86 400: noon to noon UTC). NTPsec's `leapsmearinterval` instead ends at the leap with a
 *   cosine shape; Gnomon follows the published standard so that its clients agree with Google's
 *   and Amazon's servers. While smearing, LI is never set (NTPsec ntp_proto.c set_sys_leap:
 *   "If leap smear is enabled in general we must never send a leap second warning").
 *
 * Pure: no files, no clock. Hashing uses node:crypto, which computes and does no IO.
 */
import { createHash } from 'node:crypto';
import type { LeapWarning } from '../../drivers/driver.js';
import { LeapIndicator, NTP_UNIX_EPOCH_OFFSET_S } from '../ntp/constants.js';
import { civilFromDays } from '../ntp/calendar.js';

const NS_PER_S = 1_000_000_000n;
const DAY_S = 86_400;
const DAY_NS = 86_400n * NS_PER_S;
/** ntpd warns daily when the file expires within this many days (ntp_util.c check_leap_expiration). */
export const LEAPFILE_WARN_DAYS = 28;

export type LeapFileCode =
  | 'LEAPFILE_SYNTAX' | 'LEAPFILE_BAD_HASH' | 'LEAPFILE_NO_HASH' | 'LEAPFILE_BAD_TRANSITION'
  | 'LEAPFILE_EXPIRED' | 'LEAPFILE_EXPIRES_SOON' | 'LEAPFILE_READ_FAILED';

/** A located problem with a leap-seconds file. Errors make the file unusable; warnings do not. */
export interface LeapFileProblem {
  readonly code: LeapFileCode;
  readonly severity: 'error' | 'warning';
  readonly message: string;
  readonly hint: string;
  readonly file: string;
  /** 1-based line in the leap file; null when the problem is the file as a whole. */
  readonly line: number | null;
}

export interface LeapEntry {
  /** NTP seconds (since 1900, no leap seconds counted) from which `taiOffsetS` applies, as in the file. */
  readonly ntpS: number;
  /** The same instant, Unix-epoch nanoseconds (POSIX scale). */
  readonly startsUtcNs: bigint;
  /** TAI − UTC from that instant, seconds. */
  readonly taiOffsetS: number;
  readonly line: number;
}

export interface LeapTable {
  readonly file: string;
  /** Ascending; the first (1972-01-01, 10 s) starts integer-second UTC and is not a leap. */
  readonly entries: readonly LeapEntry[];
  /** `#$` last update, NTP seconds; null when the file has none. */
  readonly updatedNtpS: number | null;
  /** `#@` expiry, NTP seconds, and as Unix ns. */
  readonly expiresNtpS: number;
  readonly expiresUtcNs: bigint;
  /** `#h` present and matching, or absent (ntpd loads such a file with an error in its log). */
  readonly hash: 'verified' | 'absent';
  /** Problems that do not stop the file from being used (LEAPFILE_NO_HASH). */
  readonly warnings: readonly LeapFileProblem[];
}

export type LeapFileParse =
  | { readonly ok: true; readonly table: LeapTable }
  | { readonly ok: false; readonly error: LeapFileProblem };

export interface LeapEvent {
  /** First instant of the new TAI−UTC offset: 00:00:00 UTC of the day after the leap, Unix ns. */
  readonly atUtcNs: bigint;
  readonly kind: 'insert' | 'delete';
}

export interface LeapState {
  /** TAI − UTC at utcNs; null before 1972-01-01 (no integer offset existed) or without a table. */
  readonly taiOffsetS: number | null;
  /** The next leap the table lists after utcNs. */
  readonly upcoming: LeapEvent | null;
  /** utcNs is in the LI window [upcoming.atUtcNs − 1 day, upcoming.atUtcNs). */
  readonly announce: boolean;
}

export type LeapMode = 'step' | 'smear';

const REFRESH_HINT = 'install a current copy: `apt install tzdata` refreshes /usr/share/zoneinfo/leap-seconds.list, '
  + 'or fetch https://hpiers.obspm.fr/iers/bul/bulc/ntp/leap-seconds.list (see docs/leap-seconds.md)';

/**
 * Parses a leap-seconds.list. Checks the syntax, the `#h` SHA-1 (over the digits of the `#$` and
 * `#@` lines and of each data line before its `#`, in file order, as the file's README and
 * NTPsec's leapsec_validate() compute it), that each entry starts a month at 00:00:00 UTC, that
 * the entries ascend, and that each offset differs from the previous by exactly one second.
 * Expiry depends on the time: see leapTableExpiry.
 */
export function parseLeapSecondsList(text: string, file: string): LeapFileParse {
  const fail = (code: LeapFileCode, line: number | null, message: string, hint: string): LeapFileParse =>
    ({ ok: false, error: { code, severity: 'error', message, hint, file, line } });
  const sha1 = createHash('sha1');
  const entries: LeapEntry[] = [];
  let updatedNtpS: number | null = null;
  let expires: { ntpS: number; line: number } | null = null;
  let hashLine: { words: string; line: number } | null = null;
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i] ?? '';
    const n = i + 1;
    if (raw.startsWith('#$') || raw.startsWith('#@')) {
      const m = /^#[$@]\s*(\d+)\s*$/.exec(raw);
      const what = raw[1] === '$' ? 'the `#$` last-update line' : 'the `#@` expiry line';
      if (!m) return fail('LEAPFILE_SYNTAX', n, `${what} must hold one NTP timestamp (seconds since 1900)`, REFRESH_HINT);
      const value = Number(m[1]);
      if (!Number.isSafeInteger(value)) return fail('LEAPFILE_SYNTAX', n, `${what} holds an impossible timestamp`, REFRESH_HINT);
      if (raw[1] === '$') {
        if (updatedNtpS !== null) return fail('LEAPFILE_SYNTAX', n, 'a second `#$` last-update line', REFRESH_HINT);
        updatedNtpS = value;
      } else {
        if (expires !== null) return fail('LEAPFILE_SYNTAX', n, 'a second `#@` expiry line', REFRESH_HINT);
        expires = { ntpS: value, line: n };
      }
      sha1.update(m[1] ?? '');
    } else if (raw.startsWith('#h')) {
      if (hashLine !== null) return fail('LEAPFILE_SYNTAX', n, 'a second `#h` hash line', REFRESH_HINT);
      const m = /^#h\s+((?:[0-9a-fA-F]{1,8}\s+){4}[0-9a-fA-F]{1,8})\s*$/.exec(raw);
      if (!m) return fail('LEAPFILE_SYNTAX', n, 'the `#h` line must hold five hexadecimal words (a SHA-1)', REFRESH_HINT);
      hashLine = { words: m[1] ?? '', line: n };
    } else if (raw.startsWith('#') || raw.trim() === '') {
      continue;
    } else {
      const m = /^(\d+)\s+(\d+)\s*(?:#.*)?$/.exec(raw);
      if (!m) {
        return fail('LEAPFILE_SYNTAX', n, `expected "NTP-SECONDS TAI-UTC [# comment]", got "${raw.slice(0, 40)}"`,
          'a data line starts in the first column with two whole numbers; is this a leap-seconds.list file?');
      }
      const ntpS = Number(m[1]);
      const taiOffsetS = Number(m[2]);
      if (!Number.isSafeInteger(ntpS) || taiOffsetS > 32_767) return fail('LEAPFILE_SYNTAX', n, 'a number on this line is too large', REFRESH_HINT);
      sha1.update(`${m[1] ?? ''}${m[2] ?? ''}`);
      entries.push({ ntpS, startsUtcNs: BigInt(ntpS - NTP_UNIX_EPOCH_OFFSET_S) * NS_PER_S, taiOffsetS, line: n });
    }
  }
  if (expires === null) return fail('LEAPFILE_SYNTAX', null, 'no `#@` expiry line, so the file cannot be judged current', REFRESH_HINT);
  if (entries.length === 0) return fail('LEAPFILE_SYNTAX', null, 'no leap-second entries', REFRESH_HINT);

  const warnings: LeapFileProblem[] = [];
  if (hashLine === null) {
    warnings.push({
      code: 'LEAPFILE_NO_HASH', severity: 'warning', file, line: null,
      message: 'no `#h` hash line: the file\'s integrity cannot be checked (used anyway, as ntpd does)', hint: REFRESH_HINT,
    });
  } else {
    const expected = hashLine.words.trim().split(/\s+/).map((w) => w.toLowerCase().padStart(8, '0')).join('');
    const actual = sha1.digest('hex');
    if (expected !== actual) {
      return fail('LEAPFILE_BAD_HASH', hashLine.line, `the SHA-1 of the file's data (${actual}) does not match its \`#h\` line (${expected}): it was altered or damaged`, REFRESH_HINT);
    }
  }

  for (let i = 0; i < entries.length; i++) {
    const e = entries[i]!;
    const unixS = e.ntpS - NTP_UNIX_EPOCH_OFFSET_S;
    const date = civilFromDays(Math.floor(unixS / DAY_S));
    if (unixS % DAY_S !== 0 || date.day !== 1) {
      return fail('LEAPFILE_BAD_TRANSITION', e.line, `${e.ntpS} (${formatUtcDate(e.startsUtcNs)}) is not 00:00:00 UTC on the first day of a month`,
        'leap seconds happen only at the end of a month; the file is damaged or not a leap-seconds.list');
    }
    const prev = entries[i - 1];
    if (prev && e.ntpS <= prev.ntpS) {
      return fail('LEAPFILE_BAD_TRANSITION', e.line, `entries must ascend: ${e.ntpS} does not follow ${prev.ntpS} (line ${prev.line})`, REFRESH_HINT);
    }
    if (prev && Math.abs(e.taiOffsetS - prev.taiOffsetS) !== 1) {
      return fail('LEAPFILE_BAD_TRANSITION', e.line, `TAI−UTC goes from ${prev.taiOffsetS} to ${e.taiOffsetS} s; a leap changes it by exactly one second`, REFRESH_HINT);
    }
  }
  const expiresUtcNs = BigInt(expires.ntpS - NTP_UNIX_EPOCH_OFFSET_S) * NS_PER_S;
  return { ok: true, table: { file, entries, updatedNtpS, expiresNtpS: expires.ntpS, expiresUtcNs, hash: hashLine ? 'verified' : 'absent', warnings } };
}

/**
 * LEAPFILE_EXPIRED once utcNs reaches the `#@` date, LEAPFILE_EXPIRES_SOON within 28 days of it
 * (ntpd's thresholds), else null. Both are warnings: an expired file still gives the leaps and
 * offsets it lists (ntpd keeps using it); it only cannot rule out leaps announced after it was
 * written, so the receiver's announcements count again (see decideLeap).
 */
export function leapTableExpiry(table: LeapTable, utcNs: bigint): LeapFileProblem | null {
  const base = { severity: 'warning' as const, file: table.file, line: null, hint: REFRESH_HINT };
  const when = formatUtcDate(table.expiresUtcNs);
  if (utcNs >= table.expiresUtcNs) {
    return { ...base, code: 'LEAPFILE_EXPIRED', message: `the leap-second list expired on ${when}; leaps announced since then are taken from the receiver only` };
  }
  if (utcNs >= table.expiresUtcNs - BigInt(LEAPFILE_WARN_DAYS) * DAY_NS) {
    return { ...base, code: 'LEAPFILE_EXPIRES_SOON', message: `the leap-second list expires on ${when}` };
  }
  return null;
}

/** TAI−UTC, the next listed leap, and whether utcNs is in its LI window (see the file comment). */
export function leapState(table: LeapTable, utcNs: bigint): LeapState {
  let taiOffsetS: number | null = null;
  for (let i = 0; i < table.entries.length; i++) {
    const e = table.entries[i]!;
    if (e.startsUtcNs > utcNs) {
      const prev = table.entries[i - 1];
      if (!prev) return { taiOffsetS: null, upcoming: null, announce: false };
      const upcoming: LeapEvent = { atUtcNs: e.startsUtcNs, kind: e.taiOffsetS > prev.taiOffsetS ? 'insert' : 'delete' };
      return { taiOffsetS, upcoming, announce: inAnnounceWindow(upcoming, utcNs) };
    }
    taiOffsetS = e.taiOffsetS;
  }
  return { taiOffsetS, upcoming: null, announce: false };
}

/** From 00:00:00 UTC of the leap's last day until the leap is over (the LI window). */
export function inAnnounceWindow(leap: LeapEvent, utcNs: bigint): boolean {
  return utcNs >= leap.atUtcNs - DAY_NS && utcNs < leap.atUtcNs;
}

export interface LeapDecision {
  /** Who decided: a current leapfile, the receiver (no file or an expired one), or nobody. */
  readonly source: 'leapfile' | 'receiver' | 'none';
  /** The leap to prepare for (latch it for leapCorrectionNs); null when none is known. */
  readonly leap: LeapEvent | null;
  /** utcNs is in that leap's LI window. */
  readonly announce: boolean;
  /** What to put in LI when synchronised: NoWarning while smearing, whatever `announce` says. */
  readonly indicator: LeapIndicator;
  readonly taiOffsetS: number | null;
  /** A current leapfile and the receiver said different things about today; the file won. */
  readonly disagreement: { readonly leapfile: 'insert' | 'delete' | 'none'; readonly receiver: LeapWarning } | null;
}

/**
 * Combines the leapfile (null when none is configured or it failed to load) with the selected
 * receiver's warning at utcNs. Precedence: see the file comment.
 */
export function decideLeap(table: LeapTable | null, receiver: LeapWarning, utcNs: bigint, mode: LeapMode): LeapDecision {
  const fromFile = table ? leapState(table, utcNs) : null;
  const current = table !== null && utcNs < table.expiresUtcNs;
  const taiOffsetS = fromFile?.taiOffsetS ?? null;
  const indicatorFor = (leap: LeapEvent | null, announce: boolean): LeapIndicator =>
    mode === 'smear' || !announce || leap === null ? LeapIndicator.NoWarning
      : leap.kind === 'insert' ? LeapIndicator.AddSecond : LeapIndicator.DeleteSecond;

  if (fromFile && (current || fromFile.announce)) {
    // A current file decides; an expired one still knows the leaps it lists.
    const fileToday = fromFile.announce && fromFile.upcoming ? fromFile.upcoming.kind : 'none';
    const disagree = receiver !== 'unknown' && receiver !== fileToday;
    return {
      source: 'leapfile', leap: fromFile.upcoming, announce: fromFile.announce,
      indicator: indicatorFor(fromFile.upcoming, fromFile.announce), taiOffsetS,
      disagreement: disagree ? { leapfile: fileToday, receiver } : null,
    };
  }
  const fromReceiver = receiverLeap(receiver, utcNs);
  if (fromReceiver) {
    return { source: 'receiver', leap: fromReceiver, announce: true, indicator: indicatorFor(fromReceiver, true), taiOffsetS, disagreement: null };
  }
  return { source: table ? 'leapfile' : 'none', leap: fromFile?.upcoming ?? null, announce: false, indicator: LeapIndicator.NoWarning, taiOffsetS, disagreement: null };
}

/** The receiver's insert/delete as a leap at the end of the current UTC day, if that day ends a month. */
export function receiverLeap(receiver: LeapWarning, utcNs: bigint): LeapEvent | null {
  if (receiver !== 'insert' && receiver !== 'delete') return null;
  const dayIndex = utcNs >= 0n ? utcNs / DAY_NS : (utcNs - DAY_NS + 1n) / DAY_NS;
  const atUtcNs = (dayIndex + 1n) * DAY_NS;
  if (civilFromDays(Number(dayIndex) + 1).day !== 1) return null;
  return { atUtcNs, kind: receiver };
}

/**
 * Served time minus the non-leap timescale at `nonLeapNs`, nanoseconds, for the latched `leap`:
 * 0 before, −1e9 after an inserted second (+1e9 after a deleted one), and between them either a
 * step (at the instants in the file comment) or a linear smear centred on the leap over
 * `smearIntervalS` seconds of UTC. For an insert the smear runs over intervalS + 1 SI seconds
 * from nonLeap = atUtcNs − intervalS/2, so it starts and ends on the UTC instants
 * atUtcNs ∓ intervalS/2 (noon to noon for 86 400), and is −0.5 s at its midpoint.
 * The correction stays at ∓1 s after the leap until the owner of the timescale absorbs it.
 */
export function leapCorrectionNs(leap: LeapEvent | null, nonLeapNs: bigint, mode: LeapMode, smearIntervalS: number): number {
  if (leap === null) return 0;
  const sign = leap.kind === 'insert' ? -1n : 1n;
  if (mode === 'smear') {
    const w = smearWindow(leap, smearIntervalS);
    if (w.endNs > w.startNs) {
      if (nonLeapNs <= w.startNs) return 0;
      if (nonLeapNs >= w.endNs) return Number(sign * NS_PER_S);
      return Number((sign * (nonLeapNs - w.startNs) * NS_PER_S) / (w.endNs - w.startNs));
    }
  }
  return nonLeapNs >= stepAtNs(leap) ? Number(sign * NS_PER_S) : 0;
}

/** Where a smear runs on the non-leap timescale: [startNs, endNs]. */
export function smearWindow(leap: LeapEvent, smearIntervalS: number): { readonly startNs: bigint; readonly endNs: bigint } {
  if (!Number.isInteger(smearIntervalS) || smearIntervalS < 1) throw new RangeError(`smear interval must be a whole number of seconds ≥ 1, got ${smearIntervalS}`);
  const halfNs = (BigInt(smearIntervalS) * NS_PER_S) / 2n;
  const startNs = leap.atUtcNs - halfNs;
  // UTC at the end (atUtcNs + half) is, on the non-leap scale, one second later for an insert, earlier for a delete.
  const endNs = leap.atUtcNs + (BigInt(smearIntervalS) * NS_PER_S - halfNs) + (leap.kind === 'insert' ? NS_PER_S : -NS_PER_S);
  return { startNs, endNs };
}

/** The non-leap instant after which leapCorrectionNs is constant (±1 s): the step, or the smear's end. */
export function leapSettledAtNs(leap: LeapEvent, mode: LeapMode, smearIntervalS: number): bigint {
  if (mode === 'smear') {
    const w = smearWindow(leap, smearIntervalS);
    if (w.endNs > w.startNs) return w.endNs;
  }
  return stepAtNs(leap);
}

function stepAtNs(leap: LeapEvent): bigint {
  return leap.kind === 'insert' ? leap.atUtcNs : leap.atUtcNs - NS_PER_S;
}

/** "2017-01-01" for a Unix-ns instant (UTC date; for messages). */
export function formatUtcDate(utcNs: bigint): string {
  const days = Number(utcNs >= 0n ? utcNs / DAY_NS : (utcNs - DAY_NS + 1n) / DAY_NS);
  const { year, month, day } = civilFromDays(days);
  return `${year}-${String(month).padStart(2, '0')}-${String(day).padStart(2, '0')}`;
}

/** `FILE:LINE: error: MESSAGE [CODE] (hint: ...)`, the config diagnostics' shape. */
export function formatLeapFileProblem(p: LeapFileProblem): string {
  return `${p.file}${p.line === null ? '' : `:${p.line}`}: ${p.severity}: ${p.message} [${p.code}] (hint: ${p.hint})`;
}
