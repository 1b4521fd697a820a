/**
 * A hand-driven clock for unit tests: time moves only when the test says so.
 */
import { timeSpecFromUnixNs, type MonotonicClock, type RealtimeClock, type TimeSpec } from './clock.js';

export class FakeClock implements RealtimeClock, MonotonicClock {
  readonly source = 'fake';
  readonly resolutionNs: number;
  private ns: bigint;

  /** @param startUnixNs realtime at construction; the monotonic reading starts at the same value. */
  constructor(startUnixNs: bigint, resolutionNs = 1) {
    this.ns = startUnixNs;
    this.resolutionNs = resolutionNs;
  }

  read(out: TimeSpec): void {
    timeSpecFromUnixNs(this.ns, out);
  }

  nowNs(): bigint {
    return this.ns;
  }

  advanceNs(ns: number | bigint): void {
    this.ns += BigInt(ns);
  }

  advanceS(s: number): void {
    this.ns += BigInt(Math.round(s * 1e9));
  }
}
