/**
 * struct timex, the argument of adjtimex(2) / clock_adjtime(2), as bytes. Pure: no syscalls here
 * (src/clock/kernel.ts makes them).
 *
 * Written from the kernel's include/uapi/linux/timex.h (struct timex and struct __kernel_timex)
 * and glibc's bits/timex.h; the LP64 offsets below were also printed by a C program with
 * offsetof() on x86_64 (glibc 2.36, Debian bookworm). All three Pi ABIs are little-endian.
 *
 * Three layouts:
 * - 'lp64' (x86_64, arm64 — a 64-bit Pi OS): `long` is 8 bytes. 208 bytes. Symbol `clock_adjtime`.
 * - 'ilp32-time64' (armhf with glibc ≥ 2.34): glibc exports `__clock_adjtime64` (and `___adjtimex64`,
 *   three underscores) under GLIBC_2.34, taking `struct __timex64`: every `long` widened to
 *   `long long`, explicit padding after modes, status and shift, and a 64-bit timeval. That is the
 *   kernel's `struct __kernel_timex` and byte-for-byte the LP64 layout (208 bytes). It calls the
 *   clock_adjtime64 syscall (Linux ≥ 5.1) and falls back to the 32-bit one. This is what a C
 *   program built with `-D_TIME_BITS=64` calls, and what Gnomon uses on armhf when the symbol exists.
 * - 'ilp32' (armhf with glibc < 2.34): the legacy struct, `long` and time_t 4 bytes, 128 bytes,
 *   symbol `clock_adjtime`. Still exported by newer glibc (it converts to the 64-bit call), so it
 *   is the fallback; its only limit is a 32-bit `time.tv_sec`, which Gnomon never relies on.
 *
 * Units: `offset` is ns when STA_NANO is set in `status` (or ADJ_NANO in the request), else µs;
 * `time.tv_usec` likewise holds ns under STA_NANO. `freq` and `ppsfreq` are ppm × 2^16, + = the
 * clock runs faster (kernel/time/ntp.c adds time_freq to the length of a second), clamped by the
 * kernel to ±500 ppm (MAXFREQ_SCALED). maxerror/esterror/precision/jitter are µs; tick is µs per
 * USER_HZ tick (10000 at USER_HZ = 100, on every architecture Gnomon runs on).
 */

export type TimexAbi = 'lp64' | 'ilp32' | 'ilp32-time64';

// ── mode bits (timex.modes) ─────────────────────────────────────────────────────────────────
export const ADJ_OFFSET = 0x0001;
export const ADJ_FREQUENCY = 0x0002;
export const ADJ_MAXERROR = 0x0004;
export const ADJ_ESTERROR = 0x0008;
export const ADJ_STATUS = 0x0010;
export const ADJ_TIMECONST = 0x0020;
export const ADJ_TAI = 0x0080;
export const ADJ_SETOFFSET = 0x0100;
export const ADJ_MICRO = 0x1000;
export const ADJ_NANO = 0x2000;
export const ADJ_TICK = 0x4000;

// ── status bits (timex.status) ──────────────────────────────────────────────────────────────
export const STA_PLL = 0x0001;
export const STA_PPSFREQ = 0x0002;
export const STA_PPSTIME = 0x0004;
export const STA_FLL = 0x0008;
export const STA_INS = 0x0010;
export const STA_DEL = 0x0020;
export const STA_UNSYNC = 0x0040;
export const STA_FREQHOLD = 0x0080;
export const STA_PPSSIGNAL = 0x0100;
export const STA_PPSJITTER = 0x0200;
export const STA_PPSWANDER = 0x0400;
export const STA_PPSERROR = 0x0800;
export const STA_CLOCKERR = 0x1000;
export const STA_NANO = 0x2000;
export const STA_MODE = 0x4000;
export const STA_CLK = 0x8000;
/** Bits the kernel owns; ADJ_STATUS leaves them alone. */
export const STA_RONLY = STA_PPSSIGNAL | STA_PPSJITTER | STA_PPSWANDER | STA_PPSERROR | STA_CLOCKERR | STA_NANO | STA_MODE | STA_CLK;

// ── return values (clock state) ─────────────────────────────────────────────────────────────
export const TIME_OK = 0;
export const TIME_INS = 1;
export const TIME_DEL = 2;
export const TIME_OOP = 3;
export const TIME_WAIT = 4;
export const TIME_ERROR = 5;

/** freq/ppsfreq/stabil/tolerance scale: ppm × 2^16. */
export const FREQ_SCALE = 65_536;
/** The kernel's frequency limit (MAXFREQ), ppm. */
export const MAX_FREQ_PPM = 500;
/** NTP_PHASE_LIMIT: maxerror above 16 s sets STA_UNSYNC, µs. */
export const MAX_ERROR_US = 16_000_000;

/** struct timex as numbers. All fields fit a double exactly (64-bit values in practice stay < 2^53). */
export interface Timex {
  modes: number;
  /** Remaining PLL offset: ns under STA_NANO/ADJ_NANO, else µs. */
  offset: number;
  /** ppm × 2^16, + = faster. */
  freq: number;
  maxerror: number;
  esterror: number;
  status: number;
  constant: number;
  precision: number;
  tolerance: number;
  /** time.tv_sec: the clock at the call (read), or the step's seconds (ADJ_SETOFFSET). */
  timeSec: number;
  /** time.tv_usec: µs, or ns under STA_NANO/ADJ_NANO; for ADJ_SETOFFSET in [0, 1e9) or [0, 1e6). */
  timeUsec: number;
  tick: number;
  ppsfreq: number;
  jitter: number;
  shift: number;
  stabil: number;
  jitcnt: number;
  calcnt: number;
  errcnt: number;
  stbcnt: number;
  tai: number;
}

export type TimexField = keyof Timex;

export function newTimex(): Timex {
  return {
    modes: 0, offset: 0, freq: 0, maxerror: 0, esterror: 0, status: 0, constant: 0, precision: 0, tolerance: 0,
    timeSec: 0, timeUsec: 0, tick: 0, ppsfreq: 0, jitter: 0, shift: 0, stabil: 0, jitcnt: 0, calcnt: 0, errcnt: 0, stbcnt: 0, tai: 0,
  };
}

/** Zero every field of a reused Timex (the kernel reads only what `modes` names, but be exact). */
export function clearTimex(tx: Timex): Timex {
  for (const key of Object.keys(tx) as TimexField[]) tx[key] = 0;
  return tx;
}

export interface TimexLayout {
  readonly abi: TimexAbi;
  /** sizeof(struct timex). */
  readonly size: number;
  /** Field offsets, bytes. */
  readonly offsets: Readonly<Record<TimexField, number>>;
  /** Width of each field, 4 or 8 bytes. */
  readonly widths: Readonly<Record<TimexField, 4 | 8>>;
}

const FIELD_ORDER: readonly TimexField[] = [
  'modes', 'offset', 'freq', 'maxerror', 'esterror', 'status', 'constant', 'precision', 'tolerance', 'timeSec', 'timeUsec',
  'tick', 'ppsfreq', 'jitter', 'shift', 'stabil', 'jitcnt', 'calcnt', 'errcnt', 'stbcnt', 'tai',
];
/** Declared `int` in every variant; every other field is `long` (or `long long`/time64). */
const INT_FIELDS = new Set<TimexField>(['modes', 'status', 'shift', 'tai']);
/** The 11 trailing `int :32` the kernel reserves. */
const RESERVED_BYTES = 44;

/** Lays fields out with C's natural alignment (what gcc does on all three ABIs; ARM EABI aligns long long to 8). */
function layout(abi: TimexAbi, longBytes: 4 | 8): TimexLayout {
  const offsets = {} as Record<TimexField, number>;
  const widths = {} as Record<TimexField, 4 | 8>;
  let at = 0;
  for (const field of FIELD_ORDER) {
    const width: 4 | 8 = INT_FIELDS.has(field) ? 4 : longBytes;
    at = Math.ceil(at / width) * width;
    offsets[field] = at;
    widths[field] = width;
    at += width;
  }
  at += RESERVED_BYTES;
  const size = Math.ceil(at / longBytes) * longBytes;
  return { abi, size, offsets, widths };
}

export const TIMEX_LAYOUTS: Readonly<Record<TimexAbi, TimexLayout>> = {
  'lp64': layout('lp64', 8),
  'ilp32-time64': layout('ilp32-time64', 8),
  'ilp32': layout('ilp32', 4),
};

/**
 * Which layout and libc symbol to use on `arch` (Node's process.arch). `hasTime64Symbol`: whether
 * libc.so.6 exports `__clock_adjtime64` (only 32-bit glibc ≥ 2.34 does). Undefined = unsupported.
 */
export function timexAbiFor(arch: string, hasTime64Symbol: boolean): { abi: TimexAbi; symbol: string } | undefined {
  if (arch === 'x64' || arch === 'arm64') return { abi: 'lp64', symbol: 'clock_adjtime' };
  if (arch === 'arm') return hasTime64Symbol ? { abi: 'ilp32-time64', symbol: '__clock_adjtime64' } : { abi: 'ilp32', symbol: 'clock_adjtime' };
  return undefined;
}

/** Writes `tx` into `buf` (at least layout.size bytes), padding zeroed. Throws RangeError on a value the field cannot hold. */
export function encodeTimex(tx: Timex, abi: TimexAbi, buf: Buffer): Buffer {
  const l = TIMEX_LAYOUTS[abi];
  if (buf.length < l.size) throw new RangeError(`struct timex (${abi}) needs ${l.size} bytes, got ${buf.length}`);
  buf.fill(0, 0, l.size);
  for (const field of FIELD_ORDER) {
    const value = tx[field];
    if (!Number.isSafeInteger(value)) throw new RangeError(`timex.${field} must be an integer, got ${value}`);
    const at = l.offsets[field];
    if (field === 'modes') {
      if (value < 0 || value > 0xffff_ffff) throw new RangeError(`timex.modes out of range: ${value}`);
      buf.writeUInt32LE(value, at);
    } else if (l.widths[field] === 4) {
      if (value < -0x8000_0000 || value > 0x7fff_ffff) throw new RangeError(`timex.${field} does not fit 32 bits on ${abi}: ${value}`);
      buf.writeInt32LE(value, at);
    } else {
      buf.writeBigInt64LE(BigInt(value), at);
    }
  }
  return buf;
}

/** Reads a timex from `buf` into `out` (reused on the read path) or a new object. */
export function decodeTimex(buf: Buffer, abi: TimexAbi, out: Timex = newTimex()): Timex {
  const l = TIMEX_LAYOUTS[abi];
  if (buf.length < l.size) throw new RangeError(`struct timex (${abi}) needs ${l.size} bytes, got ${buf.length}`);
  for (const field of FIELD_ORDER) {
    const at = l.offsets[field];
    if (field === 'modes') out.modes = buf.readUInt32LE(at);
    else if (l.widths[field] === 4) out[field] = buf.readInt32LE(at);
    else out[field] = Number(buf.readBigInt64LE(at));
  }
  return out;
}

/** ppm → the kernel's scaled freq (ppm × 2^16), rounded. */
export function ppmToScaled(ppm: number): number {
  return Math.round(ppm * FREQ_SCALE);
}

export function scaledToPpm(scaled: number): number {
  return scaled / FREQ_SCALE;
}

/**
 * A signed step in ns as ADJ_SETOFFSET|ADJ_NANO wants it: tv_sec may be negative, tv_usec (ns
 * here) must be in [0, 1e9) (timekeeping_validate_timex returns EINVAL otherwise), so −0.3 s is
 * {sec: −1, nsec: 700000000}.
 */
export function splitStepNs(deltaNs: bigint): { sec: number; nsec: number } {
  const NS = 1_000_000_000n;
  let sec = deltaNs / NS;
  let nsec = deltaNs % NS;
  if (nsec < 0n) {
    nsec += NS;
    sec -= 1n;
  }
  return { sec: Number(sec), nsec: Number(nsec) };
}
