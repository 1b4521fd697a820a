/**
 * ntpd's driftfile (`driftfile PATH`): the local oscillator's frequency, kept across restarts so
 * a restarted daemon starts on the right rate instead of learning it again.
 *
 * Format, as ntpd and NTPsec write and read it (ntpd/ntp_util.c drift_write/drift_read): one
 * decimal number, ppm, then a newline. NTPsec writes `%.6f\n`, ntpd Classic `%.3f\n`; both read
 * it back with `fscanf("%lf")`, i.e. the first number, whatever follows it. Gnomon writes `%.6f`
 * and reads the first whitespace-separated token, which must be a whole decimal number (ntpd
 * would take "12.5abc" as 12.5; Gnomon refuses it, since a damaged file is worth a warning and
 * starting from 0 costs only a few minutes of convergence). Anything after the first token is
 * ignored, as ntpd does: old xntpd files carry a second "flag" field, chrony's driftfile a skew.
 *
 * Sign. The number is ntpd's `drift_comp`: the frequency CORRECTION ntpd applies to the clock,
 * the same quantity and sign as the kernel's `ntp_adjtime` `freq` (ntp_loopfilter.c loads it
 * with `ntv.freq = DTOFREQ(drift_comp)` and, without the kernel, adds it to every adjtime
 * slew): + = ntpd speeds the clock up, because the oscillator on its own runs SLOW.
 * Gnomon's freqPpm (regression.ts) is the opposite quantity: how fast the clock runs against
 * the reference, + = it runs fast. So, for the oscillator's own rate (no kernel correction in
 * it):
 *
 *     driftfile value (ntpd) = −freqPpm (Gnomon)        freqPpm = −driftfile value
 *
 * A driftfile ntpd left on the same box therefore means the same thing to Gnomon: "-12.345"
 * from ntpd = the crystal runs 12.345 ppm fast = Gnomon freqPpm +12.345.
 * With kernel frequency steering on (src/discipline/steer.ts), Gnomon's measured freqPpm is the
 * rate of the clock as the kernel runs it, so the oscillator's own frequency is
 * `measured freqPpm − kernelFreqPpm`; that is what belongs in the file (and what ntpd stores:
 * once converged, drift_comp equals the kernel frequency).
 *
 * Range: ntpd clamps its frequency to ±500 ppm (NTP_MAXFREQ) and the Linux kernel refuses more
 * (MAXFREQ); a file beyond that is damaged or from another machine, and is refused.
 *
 * Pure: text in, values out; the file IO is src/daemon/drift.ts.
 */

/** ntpd's NTP_MAXFREQ and the kernel's MAXFREQ, ppm. */
export const DRIFT_MAX_PPM = 500;

export type DriftfileCode = 'DRIFTFILE_SYNTAX' | 'DRIFTFILE_RANGE' | 'DRIFTFILE_READ_FAILED' | 'DRIFTFILE_WRITE_FAILED';

/** A located problem with a driftfile; `code` is stable. */
export interface DriftfileProblem {
  readonly code: DriftfileCode;
  readonly message: string;
  readonly hint: string;
  readonly file: string;
  /** 1-based position of the offending token; null when the problem is the file as a whole. */
  readonly line: number | null;
  readonly column: number | null;
}

export type DriftfileParse =
  | { readonly ok: true; readonly freqPpm: number; /** The value as written (ntpd sign). */ readonly ntpdPpm: number }
  | { readonly ok: false; readonly problem: DriftfileProblem };

const DECIMAL = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;
const RESET_HINT = 'delete the file: Gnomon then starts from 0 ppm and writes a new one within the hour';

/** Gnomon freqPpm (+ = the clock runs fast) → the ntpd driftfile value (+ = ntpd speeds it up). */
export function ntpdDriftFromFreqPpm(freqPpm: number): number {
  return freqPpm === 0 ? 0 : -freqPpm;
}

/** The ntpd driftfile value → Gnomon freqPpm. */
export function freqPpmFromNtpdDrift(ntpdPpm: number): number {
  return ntpdPpm === 0 ? 0 : -ntpdPpm;
}

/**
 * The file's content for Gnomon's freqPpm: NTPsec's `%.6f\n`, ntpd sign. Throws RangeError for a
 * non-finite or out-of-range frequency (a caller bug: the save policy never asks for one).
 */
export function formatDriftfile(freqPpm: number): string {
  if (!Number.isFinite(freqPpm) || Math.abs(freqPpm) > DRIFT_MAX_PPM) {
    throw new RangeError(`driftfile: frequency ${freqPpm} ppm is not within ±${DRIFT_MAX_PPM} ppm`);
  }
  const text = ntpdDriftFromFreqPpm(freqPpm).toFixed(6);
  // printf would write "-0.000000" for a tiny negative value; write the plain zero.
  return `${/^-0\.0+$/.test(text) ? text.slice(1) : text}\n`;
}

/** Parses a driftfile's text (ntpd's or Gnomon's) into Gnomon's freqPpm. */
export function parseDriftfile(text: string, file: string): DriftfileParse {
  const fail = (code: DriftfileCode, message: string, hint: string, line: number | null, column: number | null): DriftfileParse =>
    ({ ok: false, problem: { code, message, hint, file, line, column } });
  const match = /\S+/.exec(text);
  if (!match) return fail('DRIFTFILE_SYNTAX', 'driftfile: the file is empty', RESET_HINT, null, null);
  const before = text.slice(0, match.index);
  const line = before.split('\n').length;
  const column = match.index - (before.lastIndexOf('\n') + 1) + 1;
  const token = match[0];
  const value = Number(token);
  if (!DECIMAL.test(token) || !Number.isFinite(value)) {
    return fail('DRIFTFILE_SYNTAX', `driftfile: expected a frequency in ppm such as -12.345678, got "${token.slice(0, 40)}"`,
      RESET_HINT, line, column);
  }
  if (Math.abs(value) > DRIFT_MAX_PPM) {
    return fail('DRIFTFILE_RANGE', `driftfile: ${token} ppm is beyond the ±${DRIFT_MAX_PPM} ppm any clock can be corrected by`,
      `a frequency that large is a damaged file or one from another machine; ${RESET_HINT}`, line, column);
  }
  return { ok: true, freqPpm: freqPpmFromNtpdDrift(value), ntpdPpm: value === 0 ? 0 : value };
}

/** `FILE[:LINE:COL]: MESSAGE [CODE] (hint: ...)`, one log line. */
export function formatDriftfileProblem(p: DriftfileProblem): string {
  const where = p.line === null ? '' : `:${p.line}${p.column === null ? '' : `:${p.column}`}`;
  return `${p.file}${where}: ${p.message} [${p.code}] (hint: ${p.hint})`;
}

/**
 * When to save: NTPsec's rule (ntp_util.c write_stats), checked once an hour.
 * - The first check after start writes (ntpd's threshold starts at 0), unless the value equals
 *   what was loaded from the file.
 * - After a write the threshold is 0.1 ppm (ntpd's wander_threshold, 1e-7); each hourly check
 *   that does not write halves it, so a slowly drifting frequency is still saved within a few
 *   hours while a steady one is not rewritten every hour. At most one write an hour: the SD card
 *   sees at most 24 small writes a day.
 * - Only a trusted frequency is saved: the caller says whether the discipline is tracking a
 *   reference with a settled model (suggested: state 'tracking' and freqSdPpm < 0.1). A
 *   holdover or free-running estimate is never written, so a restart after an outage starts on
 *   the last measured rate, not on an extrapolation.
 * - A check that cannot save (untrusted, no estimate) does not halve the threshold and does not
 *   count as the hourly check: the next update that is trusted may save at once.
 * On a clean shutdown the daemon may call `dueAtShutdown` (chrony writes its driftfile on exit;
 * ntpd does not): it saves a trusted value that differs from the file by at least the file's
 * resolution.
 *
 * Pure: the caller passes monotonic seconds; it writes only when `due` returns a number, and
 * calls `saved` after the write succeeded (a failed write is retried at the next hourly check).
 */
export interface DriftSavePolicyOptions {
  /** Seconds between checks (ntpd: 3600). */
  readonly intervalS?: number;
  /** Threshold after a write, ppm (ntpd: 0.1). */
  readonly thresholdPpm?: number;
}

/** The file's resolution (%.6f), ppm: smaller differences are not differences. */
export const DRIFTFILE_RESOLUTION_PPM = 1e-6;

export class DriftSavePolicy {
  private readonly intervalS: number;
  private readonly resetThresholdPpm: number;
  private lastSavedPpm: number | null;
  private thresholdPpm = 0;
  private nextCheckS: number;

  /**
   * @param loadedFreqPpm what loadDriftfile returned at start (Gnomon sign), null when none
   * @param startS monotonic seconds at start: the first check is one interval later
   */
  constructor(loadedFreqPpm: number | null, startS: number, options: DriftSavePolicyOptions = {}) {
    this.intervalS = options.intervalS ?? 3600;
    this.resetThresholdPpm = options.thresholdPpm ?? 0.1;
    this.lastSavedPpm = loadedFreqPpm;
    this.nextCheckS = startS + this.intervalS;
  }

  /** The value the file holds (Gnomon sign), as far as this process knows. */
  get savedPpm(): number | null {
    return this.lastSavedPpm;
  }

  /**
   * Call on every discipline update (cheap). Returns the freqPpm to write now, or null.
   * @param freqPpm the oscillator's frequency, Gnomon sign (+ = runs fast), kernel correction excluded
   * @param trusted whether the estimate may be saved (see the class comment)
   */
  due(nowS: number, freqPpm: number | null, trusted: boolean): number | null {
    if (nowS < this.nextCheckS) return null;
    if (freqPpm === null || !trusted || !Number.isFinite(freqPpm) || Math.abs(freqPpm) > DRIFT_MAX_PPM) return null;
    this.nextCheckS = nowS + this.intervalS;
    const saved = this.lastSavedPpm;
    const change = saved === null ? Infinity : Math.abs(freqPpm - saved);
    if (change < DRIFTFILE_RESOLUTION_PPM || change < this.thresholdPpm) {
      this.thresholdPpm /= 2;
      return null;
    }
    return freqPpm;
  }

  /** For a clean shutdown: the value to write, or null. */
  dueAtShutdown(freqPpm: number | null, trusted: boolean): number | null {
    if (freqPpm === null || !trusted || !Number.isFinite(freqPpm) || Math.abs(freqPpm) > DRIFT_MAX_PPM) return null;
    const saved = this.lastSavedPpm;
    return saved === null || Math.abs(freqPpm - saved) >= DRIFTFILE_RESOLUTION_PPM ? freqPpm : null;
  }

  /** The write of freqPpm succeeded. */
  saved(freqPpm: number): void {
    this.lastSavedPpm = freqPpm;
    this.thresholdPpm = this.resetThresholdPpm;
  }
}
