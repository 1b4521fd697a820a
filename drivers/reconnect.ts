/**
 * What every driver shell shares when its device or connection goes away: injectable timers and
 * an exponential backoff that keeps reopening until it succeeds or the driver is closed.
 * (Unplugged GPS, gpsd restarted, PPS device vanished: ARCHITECTURE.md principle 8, "recover
 * quietly at run-time".)
 */

/** The part of a scheduler a driver shell needs; tests pass manual timers. */
export interface DriverTimers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const systemTimers: DriverTimers = {
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
};

/** A failed reopen: what the driver reports as its state. */
export interface ReopenFailure {
  readonly code: string;
  readonly message: string;
}

export class Reconnector {
  private delayMs: number;
  private timer: unknown = null;
  private cancelled = false;

  /** @param initialMs first delay; doubles after each failure up to maxMs; back to initialMs on reset(). */
  constructor(private readonly timers: DriverTimers, private readonly initialMs: number, private readonly maxMs: number) {
    this.delayMs = initialMs;
  }

  /** After a successful open: the next outage starts again from the shortest delay. */
  reset(): void {
    this.delayMs = this.initialMs;
  }

  /**
   * Calls `open` after the current delay; while it resolves to a failure, reports it through
   * `onFailure` and tries again after a longer delay. Stops on success or cancel().
   */
  schedule(open: () => Promise<ReopenFailure | null>, onFailure: (failure: ReopenFailure) => void): void {
    this.cancelled = false;
    const delay = this.delayMs;
    this.delayMs = Math.min(this.delayMs * 2, this.maxMs);
    this.timer = this.timers.setTimeout(() => {
      this.timer = null;
      if (this.cancelled) return;
      void open().then((failure) => {
        if (failure === null || this.cancelled) return;
        onFailure(failure);
        this.schedule(open, onFailure);
      });
    }, delay);
  }

  cancel(): void {
    this.cancelled = true;
    if (this.timer !== null) this.timers.clearTimeout(this.timer);
    this.timer = null;
  }
}
