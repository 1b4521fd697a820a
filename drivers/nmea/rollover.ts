/**
 * GPS week-number rollover: the one place that decides which 1024-week era a receiver's date
 * belongs to (ARCHITECTURE.md principle 2).
 *
 * The legacy GPS navigation message carries a 10-bit week number, so a receiver's firmware must
 * guess the era; old firmware guesses the one it was built in and, 1024 weeks (19.6 years)
 * later, reports dates 1024 weeks in the past (GPS-320FW class receivers after 2019-04-06).
 * As gpsd does, Gnomon assumes no true date precedes a pivot (by default the build date of this
 * release: the receiver cannot be reporting a time before the software reading it was built)
 * and moves earlier dates forward by whole 1024-week periods.
 */

const NS_PER_S = 1_000_000_000n;

/** 1024 weeks in nanoseconds. */
export const GPS_ROLLOVER_NS = 1024n * 7n * 86_400n * NS_PER_S;

/**
 * The default pivot: the date of this release, Unix seconds (2026-11-01T00:00:00Z). Update it
 * when cutting a release; it must never be later than the release date, or true dates between
 * the two would be pushed 19.6 years into the future.
 */
export const BUILD_PIVOT_UNIX_S = 1_793_491_200;
export const BUILD_PIVOT_UNIX_NS = BigInt(BUILD_PIVOT_UNIX_S) * NS_PER_S;

/** 1999-08-22T00:00:00Z, the first GPS week rollover: a pivot that corrects nothing a modern receiver reports. */
export const NO_CORRECTION_PIVOT_UNIX_NS = 935_280_000n * NS_PER_S;

export interface RolloverResult {
  readonly unixNs: bigint;
  /** How many 1024-week periods were added (0 when the date was already at or after the pivot). */
  readonly periods: number;
}

/** Dates before `pivotUnixNs` are moved forward by 1024 weeks until they are not (at most 4 periods). */
export function correctWeekRollover(unixNs: bigint, pivotUnixNs: bigint = BUILD_PIVOT_UNIX_NS): RolloverResult {
  let t = unixNs;
  let periods = 0;
  // Four periods span 78 years: anything further back is not a rollover but a broken receiver.
  while (t < pivotUnixNs && periods < 4) {
    t += GPS_ROLLOVER_NS;
    periods++;
  }
  return t < pivotUnixNs ? { unixNs, periods: 0 } : { unixNs: t, periods };
}
