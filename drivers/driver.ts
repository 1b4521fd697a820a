/**
 * The refclock driver contract (ARCHITECTURE.md principle 5: drivers report, the core decides).
 *
 * Modelled on chrony's `RefclockDriver`: a driver is started with a context, reports what the
 * hardware said through it, and is stopped. It never filters, averages, pairs NMEA with PPS or
 * judges reachability: a driver that sees a sentence or an edge reports it, with the state the
 * receiver claimed (fix, leap), and the core (src/refclock) decides what to believe.
 *
 * Times are (seconds, nanoseconds) since the Unix epoch, UTC, as `TimeSpec` (principle 2: integers).
 */
import type { RealtimeClock, TimeSpec } from '../src/clock/clock.js';

/** The receiver's leap-second announcement for the end of the current UTC day. */
export type LeapWarning = 'none' | 'insert' | 'delete' | 'unknown';

/** Position fix dimension the receiver claims; `none` means its time is not to be trusted. */
export type FixMode = 'none' | '2d' | '3d';

/** Receiver status as reported, for status pages; `null` = the sentences did not carry it. */
export interface FixState {
  readonly mode: FixMode;
  readonly satellitesUsed: number | null;
  readonly satellitesVisible: number | null;
  /** Horizontal dilution of precision (dimensionless). */
  readonly hdop: number | null;
  /** Active antenna supervision where the receiver reports it (u-blox TXT ANTSTATUS, MTK PGTOP); absent = not reported. */
  readonly antenna?: AntennaStatus;
}

/** ok = antenna connected; open = not connected (or the receiver fell back to an internal one); short = feed shorted. */
export type AntennaStatus = 'ok' | 'open' | 'short';

/**
 * "At local time `systemTime`, the receiver said it was `referenceTime`."
 * offsetNs = systemTime − referenceTime (+ means the local clock is ahead, ARCHITECTURE.md's sign) is computed
 * by the core (src/refclock),
 * which also applies the configured per-receiver delay (`fudge time2`, `refclock ... offset`).
 */
export interface RefclockSample {
  /** Local CLOCK_REALTIME when the data arrived (for NMEA: the first byte of the epoch's first sentence). */
  readonly systemTime: Readonly<TimeSpec>;
  /** The UTC instant the data labels (for NMEA: the fix time in the sentences). */
  readonly referenceTime: Readonly<TimeSpec>;
  readonly leap: LeapWarning;
  readonly fix: FixState;
}

/** One edge of a pulse-per-second signal. */
export interface RefclockPulse {
  /** Local CLOCK_REALTIME of the edge (kernel timestamp where the source has one). */
  readonly systemTime: Readonly<TimeSpec>;
  readonly edge: 'assert' | 'clear';
  /** The source's own pulse counter (kernel PPS sequence) when it has one; lets the core drop repeats. */
  readonly sequence?: number;
}

/** Coarse driver state; the context logs each change once (principle 8: recover quietly, log once). */
export type DriverState = 'starting' | 'running' | 'waiting' | 'reconnecting' | 'stopped';

/** What a driver may call. Implemented by the core; a fake in tests. */
export interface DriverContext {
  /** Instance name for logs and counters, e.g. "NMEA(0)". */
  readonly name: string;
  /** The clock drivers stamp arrivals with (injected, principle 3). */
  readonly realtime: RealtimeClock;
  sample(sample: RefclockSample): void;
  pulse(pulse: RefclockPulse): void;
  /**
   * Report the driver's state; the context logs only when `state` or `code` differs from the
   * previous report, so a driver may call this on every retry without flooding the log.
   * `code` is a stable error code (e.g. "NMEA_DEVICE_MISSING") when the state has a cause.
   */
  state(state: DriverState, code?: string, detail?: string): void;
  /** Counters with stable names ("sentences", "checksumBad", ...), absolute values, for status pages. */
  counters(values: Readonly<Record<string, number>>): void;
  /** The latest checksum-valid sentence as received (ntpq's `timecode`); optional for drivers without text. */
  timecode?(text: string): void;
}

export interface RefclockDriver {
  /** Open the device and start reporting. Rejects with a coded error only for start-up misconfiguration. */
  init(ctx: DriverContext): Promise<void>;
  /** Stop reporting and release the device; safe to call twice. */
  close(): Promise<void>;
  /** For sources that must be read on a schedule (sysfs PPS); called by the core's scheduler. */
  poll?(): void;
}

/**
 * Log-once-per-change helper for DriverContext implementations: returns true when (state, code)
 * differs from the previous call, i.e. when the caller should log.
 */
export function stateChangeFilter(): (state: DriverState, code?: string) => boolean {
  let last: string | undefined;
  return (state, code) => {
    const key = `${state}\u0000${code ?? ''}`;
    if (key === last) return false;
    last = key;
    return true;
  };
}

/**
 * A driver's start-up or run-time failure: a stable code (e.g. NMEA_DEVICE_MISSING), what
 * happened, and the likely fix, which the message carries so a log line alone is enough.
 */
export class DriverError<Code extends string = string> extends Error {
  constructor(readonly code: Code, message: string, readonly hint?: string) {
    super(hint === undefined ? message : `${message} (${hint})`);
    this.name = new.target.name;
  }
}
