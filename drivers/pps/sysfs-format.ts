/**
 * Kernel PPS sysfs text and the read schedule. Pure (ARCHITECTURE.md principle 1).
 *
 * `/sys/class/pps/ppsN/assert` (and `clear`) hold `SEC.NSEC#SEQ\n`, printed by the kernel as
 * `%lld.%09d#%u` (drivers/pps/sysfs.c): the CLOCK_REALTIME of the last captured edge, taken in the
 * interrupt handler, and a u32 count of edges. `0.000000000#0` before the first pulse; an empty
 * file when the device was not set up to capture that edge (pps-gpio without `capture_clear`).
 */
import type { TimeSpec } from '../../src/clock/clock.js';

/** Where the kernel lists its PPS devices (here so the refclock shell can name a device's folder without loading the driver). */
export const DEFAULT_PPS_SYSFS_ROOT = '/sys/class/pps';

export type PpsSysfsReading =
  | { readonly kind: 'pulse'; readonly time: Readonly<TimeSpec>; readonly sequence: number }
  /** `0.000000000#0`: the device exists and captures this edge but has seen no pulse yet. */
  | { readonly kind: 'none' }
  /** Empty file: this edge is not captured. */
  | { readonly kind: 'empty' }
  | { readonly kind: 'bad'; readonly text: string };

const LINE = /^(\d{1,19})\.(\d{9})#(\d{1,10})$/;

export function parsePpsSysfs(text: string): PpsSysfsReading {
  const line = text.trim();
  if (line === '') return { kind: 'empty' };
  const m = LINE.exec(line);
  if (m === null) return { kind: 'bad', text: line.slice(0, 64) };
  const sec = Number(m[1]);
  const nsec = Number(m[2]);
  const sequence = Number(m[3]);
  if (!Number.isSafeInteger(sec) || sequence >= 2 ** 32) return { kind: 'bad', text: line.slice(0, 64) };
  if (sequence === 0) return { kind: 'none' };
  return { kind: 'pulse', time: { sec, nsec }, sequence };
}

export interface ReadSchedule {
  /** How long after the expected edge to read, ms: covers timer lateness and the interrupt-to-sysfs path. */
  readonly afterEdgeMs: number;
  /** Interval while no pulse is expected soon (start-up, missed edge, stepped clock), ms. */
  readonly huntMs: number;
}

export const DEFAULT_READ_SCHEDULE: ReadSchedule = { afterEdgeMs: 20, huntMs: 100 };

/**
 * Milliseconds until the next read. Why phase-locked reads: sysfs cannot be polled for changes, and
 * the timestamp is the kernel's, so reading late never costs accuracy, only latency. One read a
 * second, `afterEdgeMs` after the edge the last pulse predicts, keeps a Pi Zero idle; when that
 * read finds nothing new (`lastPulseNs` null or stale, or the clock was stepped) we hunt at
 * 10 Hz until a pulse shows up, and the sequence number de-duplicates either way.
 *
 * @param lastPulseNs kernel time of the last pulse (Unix ns), or null when none is known
 * @param nowNs the injected realtime clock now (same clock the kernel stamps with)
 * @param foundNew whether the read just done found a new pulse
 */
export function nextReadDelayMs(lastPulseNs: bigint | null, nowNs: bigint, foundNew: boolean, s: ReadSchedule = DEFAULT_READ_SCHEDULE): number {
  if (lastPulseNs === null || !foundNew) return s.huntMs;
  const readAtNs = lastPulseNs + 1_000_000_000n + BigInt(Math.round(s.afterEdgeMs * 1e6));
  const delayMs = Number(readAtNs - nowNs) / 1e6;
  // Past due (we were slow) or more than a second away (clock stepped back): hunt instead.
  if (delayMs <= 0 || delayMs > 1000 + s.afterEdgeMs) return s.huntMs;
  return Math.ceil(delayMs);
}
