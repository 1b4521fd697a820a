/**
 * The kernel clock's discipline interface: clock_adjtime(CLOCK_REALTIME, &timex) through koffi.
 *
 * Gnomon steers it frequency-only (src/discipline/steer.ts says why): it sets the kernel
 * frequency, steps with ADJ_SETOFFSET, arms leap seconds and reports its error bounds; the
 * kernel PLL (STA_PLL) stays off. Nothing here runs unless the config says `enable kernel`:
 * `koffiKernelClock()` is read-only unless `{ allowWrites: true }` is passed, and every write
 * path is tested against `FakeKernel` (src/clock/kernel-fake.ts), which emulates the kernel's
 * handling of the same struct. On hardware the writes are exercised only in hil/.
 *
 * Sign conventions: + frequency = the clock runs faster; + step = the clock jumps forward.
 */
import { createRequire } from 'node:module';
import { constants } from 'node:os';
import type { ClockChange, SteerAction } from '../discipline/steer.js';
import { timeSpecToUnixNs, type RealtimeClock, type TimeSpec } from './clock.js';
import {
  ADJ_ESTERROR, ADJ_FREQUENCY, ADJ_MAXERROR, ADJ_NANO, ADJ_OFFSET, ADJ_SETOFFSET, ADJ_STATUS, MAX_ERROR_US, MAX_FREQ_PPM,
  STA_DEL, STA_FLL, STA_INS, STA_NANO, STA_PLL, STA_PPSFREQ, STA_PPSTIME, STA_UNSYNC, TIMEX_LAYOUTS, clearTimex, decodeTimex, encodeTimex, newTimex, ppmToScaled, scaledToPpm, splitStepNs, timexAbiFor,
  type Timex, type TimexAbi,
} from './timex.js';

export const KernelErrorCode = {
  /** The call needs CAP_SYS_TIME (every call with modes ≠ 0). */
  Permission: 'KERNEL_EPERM',
  /** The kernel refused a value (a step's nanoseconds outside [0, 1e9), a bad tick, ...). */
  Invalid: 'KERNEL_EINVAL',
  /** A 32-bit call could not carry the value (armhf without the time64 symbol). */
  Overflow: 'KERNEL_EOVERFLOW',
  /** koffi or libc could not be loaded. */
  Unavailable: 'KERNEL_UNAVAILABLE',
  /** No known struct timex layout for this architecture. */
  Unsupported: 'KERNEL_UNSUPPORTED',
  /** A write was attempted on a read-only KernelClock (no `enable kernel`). */
  ReadOnly: 'KERNEL_READ_ONLY',
  /** Any other errno. */
  Failed: 'KERNEL_FAILED',
} as const;
export type KernelErrorCode = (typeof KernelErrorCode)[keyof typeof KernelErrorCode];

export class KernelClockError extends Error {
  constructor(readonly code: KernelErrorCode, message: string, readonly hint?: string, readonly errno?: string) {
    super(message);
    this.name = 'KernelClockError';
  }
}

const HINTS: Partial<Record<KernelErrorCode, string>> = {
  KERNEL_EPERM: 'needs CAP_SYS_TIME: run as root or set AmbientCapabilities=CAP_SYS_TIME',
  KERNEL_EINVAL: 'the kernel refused a value; this is a Gnomon bug, please report it with the log line',
  KERNEL_READ_ONLY: 'kernel steering is off: add `enable kernel` to the config (only on the appliance, never on a development machine)',
};

/** Maps a failed call's errno name to a coded error. */
export function kernelErrorFor(errno: string, modes: number): KernelClockError {
  const what = `clock_adjtime(modes=0x${modes.toString(16)})`;
  const code = errno === 'EPERM' ? KernelErrorCode.Permission : errno === 'EINVAL' ? KernelErrorCode.Invalid
    : errno === 'EOVERFLOW' ? KernelErrorCode.Overflow : KernelErrorCode.Failed;
  return new KernelClockError(code, `${what} failed: ${errno}`, HINTS[code], errno);
}

/** clock_adjtime(CLOCK_REALTIME, tx): reads and writes `tx` in place, returns the TIME_* state; throws KernelClockError. */
export interface AdjtimexSyscall {
  adjtime(tx: Timex): number;
  readonly description: string;
}

export type KernelLeap = 'none' | 'insert' | 'delete';
export type KernelTimeState = 'ok' | 'insert' | 'delete' | 'in-progress' | 'wait' | 'error';

export interface KernelClockState {
  /** Frequency the kernel applies, ppm, + = the clock runs faster. */
  readonly freqPpm: number;
  /** Offset the kernel PLL still has to slew, ns (0 while Gnomon steers: the PLL is off). */
  readonly pllOffsetNs: number;
  readonly status: number;
  readonly pll: boolean;
  readonly nano: boolean;
  readonly unsynchronised: boolean;
  readonly leap: KernelLeap;
  /** The call's return value (TIME_OK ... TIME_ERROR). */
  readonly state: KernelTimeState;
  readonly maxErrorUs: number;
  readonly estErrorUs: number;
  /** PLL time constant (0..10). */
  readonly constant: number;
  /** µs per USER_HZ tick (10000 at USER_HZ = 100). */
  readonly tickUs: number;
  readonly toleranceppm: number;
  /** TAI − UTC, s (0 until someone sets it). */
  readonly taiS: number;
  /** CLOCK_REALTIME at the call, Unix ns. */
  readonly timeNs: bigint;
}

export interface KernelClock {
  /** Read-only query (modes = 0): no capability needed, changes nothing. */
  read(): KernelClockState;
  /**
   * Take over from whatever ran before (chrony's initialise_timex): clear any PLL offset left
   * by ntpd, turn the PLL and PPS discipline off, mark the clock unsynchronised. Call once
   * before the first steering action.
   */
  takeControl(): void;
  /** Set the kernel frequency (absolute, + = faster), clamped to ±500 ppm; returns what the kernel applied. */
  setFrequencyPpm(ppm: number): number;
  /** Step the clock by deltaNs (+ = forward) with ADJ_SETOFFSET: one atomic, exact jump. */
  stepNs(deltaNs: bigint): void;
  /** Arm (or disarm) a leap second at the end of the current UTC day (STA_INS / STA_DEL). */
  setLeap(kind: KernelLeap): void;
  /**
   * Error bounds for other programs (ntp_gettime, timedatectl): esterror/maxerror in µs, and
   * STA_UNSYNC cleared when synchronised. maxerror ≥ 16 s means unsynchronised (the kernel's limit).
   */
  setStatus(estErrorUs: number, maxErrorUs: number, synchronised: boolean): void;
  readonly description: string;
}

const STATES: readonly KernelTimeState[] = ['ok', 'insert', 'delete', 'in-progress', 'wait', 'error'];

function stateOf(ret: number): KernelTimeState {
  return STATES[ret] ?? 'error';
}

/** Decodes a timex answer into the typed state. */
export function kernelStateOf(tx: Timex, ret: number): KernelClockState {
  const nano = (tx.status & STA_NANO) !== 0;
  return {
    freqPpm: scaledToPpm(tx.freq),
    pllOffsetNs: nano ? tx.offset : tx.offset * 1000,
    status: tx.status,
    pll: (tx.status & STA_PLL) !== 0,
    nano,
    unsynchronised: (tx.status & STA_UNSYNC) !== 0,
    leap: (tx.status & STA_INS) !== 0 ? 'insert' : (tx.status & STA_DEL) !== 0 ? 'delete' : 'none',
    state: stateOf(ret),
    maxErrorUs: tx.maxerror,
    estErrorUs: tx.esterror,
    constant: tx.constant,
    tickUs: tx.tick,
    toleranceppm: scaledToPpm(tx.tolerance),
    taiS: tx.tai,
    timeNs: BigInt(tx.timeSec) * 1_000_000_000n + BigInt(nano ? tx.timeUsec : tx.timeUsec * 1000),
  };
}

/** Status bits Gnomon never wants set while it steers: the kernel's own PLL/FLL and PPS discipline. */
const KERNEL_DISCIPLINE = STA_PLL | STA_FLL | STA_PPSFREQ | STA_PPSTIME;

/** KernelClock over any AdjtimexSyscall: the real one (koffi) or FakeKernel. One reused Timex. */
export class TimexKernelClock implements KernelClock {
  private readonly tx: Timex = newTimex();
  /** The read-write status bits Gnomon last wrote (ADJ_STATUS replaces them all, as in chrony). */
  private status: number | undefined;

  constructor(private readonly sys: AdjtimexSyscall, private readonly allowWrites: boolean) {}

  get description(): string {
    return this.sys.description;
  }

  read(): KernelClockState {
    const tx = clearTimex(this.tx);
    const ret = this.sys.adjtime(tx);
    return kernelStateOf(tx, ret);
  }

  takeControl(): void {
    // Two calls, as chrony: ADJ_OFFSET is ignored unless STA_PLL is on, so clear the PLL's
    // leftover offset with the PLL on, then turn it off.
    this.write(ADJ_OFFSET | ADJ_STATUS, (tx) => {
      tx.status = STA_PLL | STA_UNSYNC;
      tx.offset = 0;
    });
    this.status = STA_UNSYNC;
    this.write(ADJ_STATUS, (tx) => {
      tx.status = STA_UNSYNC;
    });
  }

  setFrequencyPpm(ppm: number): number {
    if (!Number.isFinite(ppm)) throw new RangeError(`frequency must be finite, got ${ppm}`);
    const clamped = Math.min(MAX_FREQ_PPM, Math.max(-MAX_FREQ_PPM, ppm));
    const tx = this.write(ADJ_FREQUENCY, (t) => {
      t.freq = ppmToScaled(clamped);
    });
    return scaledToPpm(tx.freq);
  }

  stepNs(deltaNs: bigint): void {
    const { sec, nsec } = splitStepNs(deltaNs);
    this.write(ADJ_SETOFFSET | ADJ_NANO, (tx) => {
      tx.timeSec = sec;
      tx.timeUsec = nsec;
    });
  }

  setLeap(kind: KernelLeap): void {
    this.guard(ADJ_STATUS);
    const bits = kind === 'insert' ? STA_INS : kind === 'delete' ? STA_DEL : 0;
    const status = (this.currentStatus() & ~(STA_INS | STA_DEL)) | bits;
    this.writeStatus(ADJ_STATUS, status);
  }

  setStatus(estErrorUs: number, maxErrorUs: number, synchronised: boolean): void {
    this.guard(ADJ_STATUS | ADJ_ESTERROR | ADJ_MAXERROR);
    const max = Math.min(MAX_ERROR_US, Math.max(0, Math.round(maxErrorUs)));
    const est = Math.min(MAX_ERROR_US, Math.max(0, Math.round(estErrorUs)));
    const sync = synchronised && max < MAX_ERROR_US;
    const status = sync ? this.currentStatus() & ~STA_UNSYNC : this.currentStatus() | STA_UNSYNC;
    this.writeStatus(ADJ_STATUS | ADJ_ESTERROR | ADJ_MAXERROR, status, (tx) => {
      tx.esterror = est;
      tx.maxerror = max;
    });
  }

  /** The status to write: Gnomon's last, or the kernel's read-write bits without its discipline. */
  private currentStatus(): number {
    if (this.status === undefined) this.status = this.read().status & (STA_INS | STA_DEL | STA_UNSYNC);
    return this.status;
  }

  private writeStatus(modes: number, status: number, fill?: (tx: Timex) => void): void {
    this.guard(modes);
    const clean = status & ~KERNEL_DISCIPLINE;
    this.write(modes, (tx) => {
      tx.status = clean;
      fill?.(tx);
    });
    this.status = clean;
  }

  private guard(modes: number): void {
    if (!this.allowWrites) {
      throw new KernelClockError(KernelErrorCode.ReadOnly, `refused to change the kernel clock (modes=0x${modes.toString(16)}): this KernelClock is read-only`, HINTS.KERNEL_READ_ONLY);
    }
  }

  private write(modes: number, fill: (tx: Timex) => void): Timex {
    this.guard(modes);
    const tx = clearTimex(this.tx);
    fill(tx);
    tx.modes = modes;
    this.sys.adjtime(tx);
    return tx;
  }
}

// ── the real syscall through koffi ──────────────────────────────────────────────────────────

const CLOCK_REALTIME = 0;
const errnoNames = new Map<number, string>(Object.entries(constants.errno).map(([name, n]) => [n, name]));

type Koffi = typeof import('koffi');
type ClockAdjtime = (clockId: number, tx: Buffer) => number;

/**
 * clock_adjtime(CLOCK_REALTIME, buf) through koffi with one preallocated buffer. The layout and
 * symbol follow timexAbiFor(process.arch, libc exports __clock_adjtime64); `description` names them.
 */
export function koffiAdjtimex(): AdjtimexSyscall {
  let koffi: Koffi;
  let lib: ReturnType<Koffi['load']>;
  try {
    koffi = createRequire(import.meta.url)('koffi') as Koffi;
    lib = koffi.load('libc.so.6');
  } catch (err) {
    throw new KernelClockError(KernelErrorCode.Unavailable, `cannot load koffi/libc for clock_adjtime: ${(err as Error).message}`);
  }
  let hasTime64 = false;
  if (process.arch === 'arm') {
    try {
      lib.func('int __clock_adjtime64(int, _Inout_ uint8_t *tx)');
      hasTime64 = true;
    } catch {
      hasTime64 = false;
    }
  }
  const choice = timexAbiFor(process.arch, hasTime64);
  if (!choice) throw new KernelClockError(KernelErrorCode.Unsupported, `no struct timex layout for architecture ${process.arch}`);
  const abi: TimexAbi = choice.abi;
  const call = lib.func(`int ${choice.symbol}(int, _Inout_ uint8_t *tx)`) as unknown as ClockAdjtime;
  const buf = Buffer.alloc(TIMEX_LAYOUTS[abi].size);
  return {
    description: `${choice.symbol} via koffi (struct timex ${abi}, ${TIMEX_LAYOUTS[abi].size} bytes)`,
    adjtime(tx: Timex): number {
      encodeTimex(tx, abi, buf);
      const ret = call(CLOCK_REALTIME, buf);
      if (ret < 0) {
        const errno = koffi.errno();
        throw kernelErrorFor(errnoNames.get(errno) ?? `errno ${errno}`, tx.modes);
      }
      decodeTimex(buf, abi, tx);
      return ret;
    },
  };
}

/**
 * The real kernel clock. Read-only (modes = 0 only) unless allowWrites; the daemon passes
 * `allowWrites: config.kernel && !--no-kernel`. Throws KernelClockError (KERNEL_UNAVAILABLE /
 * KERNEL_UNSUPPORTED) when koffi or the layout is missing.
 */
export function koffiKernelClock(options: { allowWrites?: boolean } = {}): KernelClock {
  return new TimexKernelClock(koffiAdjtimex(), options.allowWrites === true);
}

// ── applying a steering decision ────────────────────────────────────────────────────────────

/**
 * Carries out steer.decide()'s actions in order and returns the ClockChange to broadcast, or
 * null when nothing changed. 'refuse' actions change nothing (the caller logs them). `raw` is the
 * system clock the change is stamped with (the Timescale's raw clock).
 */
export function applySteering(kernel: KernelClock, actions: readonly SteerAction[], raw: RealtimeClock): ClockChange | null {
  if (!actions.some((a) => a.kind === 'step' || a.kind === 'frequency')) return null;
  const before = kernel.read().freqPpm;
  const t: TimeSpec = { sec: 0, nsec: 0 };
  raw.read(t);
  const atNs = timeSpecToUnixNs(t);
  let stepNs = 0n;
  let freq = before;
  for (const action of actions) {
    if (action.kind === 'step') {
      kernel.stepNs(action.deltaNs);
      stepNs += action.deltaNs;
    } else if (action.kind === 'frequency') {
      freq = kernel.setFrequencyPpm(action.ppm);
    }
  }
  return { atNs, stepNs, freqChangePpm: freq - before };
}
