/**
 * Receive coalescing for the fast-path worker (`--rx-coalesce-us`): the user-space counterpart of
 * a NIC's interrupt coalescing (`ethtool -C DEV rx-usecs N`). At a high request rate, after a short
 * batch (fewer than ENOUGH_PER_WAKEUP datagrams), the worker sleeps `intervalUs` before its next
 * recvmmsg so that the next wake-up collects several datagrams instead of one. Why: at 100,000
 * requests/s requests arrive ~10 µs apart, one per wake-up, and the wake-up (context switch, two
 * syscalls, the loop's JS) then costs more than the reply itself (docs/benchmarks.md, issue 9).
 *
 * What it costs and what it does not: a request waits up to `intervalUs` longer in the socket's
 * queue, but its receive timestamp is the kernel's (taken on arrival) and its transmit timestamp is
 * read right before the sendmmsg, so the wait is inside T3 − T2, which every NTP client subtracts
 * from the delay: offsets are not biased by it. Below the engage rate (one request per interval
 * on average, 20,000/s for 50 µs: far above a LAN appliance's usual load) the worker never sleeps,
 * so a lightly loaded server answers as soon as a request arrives.
 *
 * The policy is pure (ReceiveCoalescing); the sleep is the thread's own (usleep through koffi,
 * with the thread's timer slack narrowed so the sleep is close to what was asked).
 */
import { createRequire } from 'node:module';

/** How often the request rate is re-measured, s: short enough to follow a load that stops. */
export const COALESCING_WINDOW_S = 0.01;
/** Default sleep after a short batch at a high rate, µs (NICs' coalescing defaults are tens of µs). */
export const DEFAULT_RX_COALESCE_US = 50;
/**
 * A batch at least this long already spreads a wake-up's cost thin: receive again at once. Not "a
 * full batch": at saturation a closed-loop load keeps fewer requests in flight than the batch holds
 * (bench: 128), so batches are rarely full there, and a sleep after each left the core idle
 * (12 % of the time in a profile with batches of 128) while requests waited.
 */
export const ENOUGH_PER_WAKEUP = 16;
/** The largest interval accepted, µs: beyond it requests would wait a visible time in the queue. */
export const MAX_RX_COALESCE_US = 1000;

/** Whether and how long to sleep before the next receive; pure: time is passed in. */
export class ReceiveCoalescing {
  /** Requests/s at or above which short batches are followed by a sleep (one per interval). */
  readonly engageRatePerS: number;
  /** Whether the last window's rate was at or above engageRatePerS. */
  active = false;
  /** Sleeps taken (for status). */
  sleeps = 0;
  private windowStartS = -1;
  private windowDatagrams = 0;
  /** Datagrams in one receive after which no sleep follows (ENOUGH_PER_WAKEUP, or the batch if smaller). */
  private readonly enough: number;

  /** @param intervalUs sleep length, µs; 0 turns coalescing off. @param batch the receive batch size. */
  constructor(readonly intervalUs: number, batch: number) {
    this.engageRatePerS = intervalUs > 0 ? 1e6 / intervalUs : Infinity;
    this.enough = Math.min(batch, ENOUGH_PER_WAKEUP);
  }

  /**
   * After one turn of the receive loop that got `datagrams` (0 after a receive timeout), at
   * monotonic time `nowS`: the µs to sleep before the next receive (0: receive at once).
   */
  afterReceive(datagrams: number, nowS: number): number {
    if (this.intervalUs <= 0) return 0;
    if (this.windowStartS < 0) this.windowStartS = nowS;
    this.windowDatagrams += datagrams;
    const spanS = nowS - this.windowStartS;
    if (spanS >= COALESCING_WINDOW_S) {
      this.active = this.windowDatagrams / spanS >= this.engageRatePerS;
      this.windowStartS = nowS;
      this.windowDatagrams = 0;
    }
    if (!this.active || datagrams === 0 || datagrams >= this.enough) return 0;
    this.sleeps++;
    return this.intervalUs;
  }
}

/** The calling thread's sleep, for ReceiveCoalescing. */
export interface ThreadSleep {
  sleepUs(us: number): void;
}

/**
 * usleep through koffi (no struct: the same call on every ABI), after narrowing this thread's timer
 * slack (prctl PR_SET_TIMERSLACK, default 50 µs, which would stretch a 50 µs sleep to up to 100)
 * to a tenth of the interval. Only the worker thread calls it: it blocks the calling thread.
 */
export function threadSleep(intervalUs: number): ThreadSleep {
  const koffi = createRequire(import.meta.url)('koffi') as typeof import('koffi');
  const lib = koffi.load('libc.so.6');
  const usleep = lib.func('int usleep(unsigned int)') as (us: number) => number;
  const prctl = lib.func('int prctl(int, ...)') as (option: number, ...args: unknown[]) => number;
  const PR_SET_TIMERSLACK = 29;
  // Best effort: a failed prctl leaves the default slack (longer sleeps, still correct).
  prctl(PR_SET_TIMERSLACK, 'unsigned long', Math.max(1000, Math.round(intervalUs * 100)));
  return { sleepUs: (us) => void usleep(us) };
}
