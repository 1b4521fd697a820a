/**
 * Clock interfaces injected into everything that needs the time (ARCHITECTURE.md principle 3).
 *
 * Reads fill a caller-owned `TimeSpec` so the per-packet path allocates nothing.
 */

/** A mutable (seconds, nanoseconds) pair; `nsec` is in [0, 1e9). */
export interface TimeSpec {
  sec: number;
  nsec: number;
}

export function newTimeSpec(): TimeSpec {
  return { sec: 0, nsec: 0 };
}

/** CLOCK_REALTIME: seconds since the Unix epoch. May be stepped by the kernel or an administrator. */
export interface RealtimeClock {
  read(out: TimeSpec): void;
  /** Smallest step between two distinct readings, nanoseconds (clock resolution or read cost, whichever is larger). */
  readonly resolutionNs: number;
  /** Where the readings come from, for logs ("clock_gettime via koffi"). */
  readonly source: string;
}

/** CLOCK_MONOTONIC: never steps; for intervals, rate limiting and timeouts. */
export interface MonotonicClock {
  read(out: TimeSpec): void;
}

/** Seconds as a float from a TimeSpec; for intervals only (loses sub-µs precision past ~100 days). */
export function timeSpecSeconds(t: TimeSpec): number {
  return t.sec + t.nsec / 1e9;
}

export function timeSpecToUnixNs(t: TimeSpec): bigint {
  return BigInt(t.sec) * 1_000_000_000n + BigInt(t.nsec);
}

/** The inverse of timeSpecToUnixNs, into `out` (reused in hot loops) or a new TimeSpec. */
export function timeSpecFromUnixNs(unixNs: bigint, out: TimeSpec = { sec: 0, nsec: 0 }): TimeSpec {
  out.sec = Number(unixNs / 1_000_000_000n);
  out.nsec = Number(unixNs % 1_000_000_000n);
  return out;
}
