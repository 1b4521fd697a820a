/**
 * The real clocks: clock_gettime(2) through koffi into a reused buffer (~60 ns a read here).
 *
 * Why not Node's own clocks: Date.now() has millisecond resolution, and
 * performance.timeOrigin + performance.now() is a monotonic clock with a fixed origin, so it is
 * off by the full amount after any step of the system clock (PLATFORM.md).
 * If koffi cannot load (an unsupported platform), a fallback anchored on process.hrtime keeps
 * the daemon running with a warning; it re-anchors on Date.now() every second to follow steps.
 */
import { createRequire } from 'node:module';
import { timeSpecFromUnixNs, type MonotonicClock, type RealtimeClock, type TimeSpec } from './clock.js';

const CLOCK_REALTIME = 0;

type ClockGettime = (clockId: number, out: Buffer) => number;

interface Libc {
  clockGettime: ClockGettime;
  clockGetres: ClockGettime;
}

let libc: Libc | null | undefined;

function loadLibc(): Libc | null {
  if (libc !== undefined) return libc;
  try {
    const require = createRequire(import.meta.url);
    const koffi = require('koffi') as typeof import('koffi');
    const lib = koffi.load('libc.so.6');
    libc = {
      clockGettime: lib.func('int clock_gettime(int, _Out_ uint8_t *ts)') as ClockGettime,
      clockGetres: lib.func('int clock_getres(int, _Out_ uint8_t *ts)') as ClockGettime,
    };
  } catch {
    libc = null;
  }
  return libc;
}

/** struct timespec on 64-bit Linux: int64 tv_sec, int64 tv_nsec, little-endian on x86_64 and aarch64. */
function readTimespec(buf: Buffer, out: TimeSpec): void {
  out.sec = buf.readUInt32LE(0) + buf.readInt32LE(4) * 4_294_967_296;
  out.nsec = buf.readUInt32LE(8);
}

class PosixClock implements RealtimeClock {
  private readonly buf = Buffer.alloc(16);
  readonly resolutionNs: number;
  readonly source = 'clock_gettime via koffi';

  constructor(private readonly id: number, private readonly c: Libc) {
    c.clockGetres(id, this.buf);
    const scratch = { sec: 0, nsec: 0 };
    readTimespec(this.buf, scratch);
    const resNs = scratch.sec * 1e9 + scratch.nsec;
    this.resolutionNs = Math.max(resNs, measureReadCostNs((t) => this.read(t)));
  }

  read(out: TimeSpec): void {
    this.c.clockGettime(this.id, this.buf);
    readTimespec(this.buf, out);
  }
}

/** Used only when koffi is unavailable: hrtime is monotonic, so re-anchor to Date.now() each second. */
class HrtimeRealtimeClock implements RealtimeClock {
  readonly source = 'process.hrtime anchored to Date.now (koffi unavailable)';
  readonly resolutionNs = 1_000_000;
  private anchorUnixNs = 0n;
  private anchorHr = 0n;

  read(out: TimeSpec): void {
    const hr = process.hrtime.bigint();
    if (hr - this.anchorHr > 1_000_000_000n) {
      this.anchorHr = hr;
      this.anchorUnixNs = BigInt(Date.now()) * 1_000_000n;
    }
    const ns = this.anchorUnixNs + (hr - this.anchorHr);
    timeSpecFromUnixNs(ns, out);
  }
}

/**
 * performance.now() is CLOCK_MONOTONIC underneath, never steps, returns a double without
 * allocating and costs a fraction of a koffi call: right for intervals (rate limiting), wrong
 * only as a wall clock, which this is not used as.
 */
class PerformanceMonotonicClock implements MonotonicClock {
  read(out: TimeSpec): void {
    const ms = performance.now();
    const sec = Math.floor(ms / 1000);
    out.sec = sec;
    out.nsec = Math.floor((ms - sec * 1000) * 1e6);
  }
}

/** Median cost of one read, nanoseconds: the finest step two stamps can differ by in practice. */
function measureReadCostNs(read: (t: TimeSpec) => void): number {
  const t = { sec: 0, nsec: 0 };
  // Warm up first: the first thousands of calls run unoptimised and would overstate the cost ~10x.
  for (let i = 0; i < 20_000; i++) read(t);
  const samples: number[] = [];
  for (let round = 0; round < 9; round++) {
    const n = 200;
    const start = process.hrtime.bigint();
    for (let i = 0; i < n; i++) read(t);
    samples.push(Number(process.hrtime.bigint() - start) / n);
  }
  samples.sort((a, b) => a - b);
  return samples[4]!;
}

export function systemRealtimeClock(): RealtimeClock {
  const c = loadLibc();
  return c ? new PosixClock(CLOCK_REALTIME, c) : new HrtimeRealtimeClock();
}

export function systemMonotonicClock(): MonotonicClock {
  return new PerformanceMonotonicClock();
}
