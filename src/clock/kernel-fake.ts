/**
 * A fake kernel behind the same clock_adjtime(2) interface, for tests: every write path of
 * kernel.ts runs against this, never against the host (ARCHITECTURE.md principle 4).
 *
 * It emulates what kernel/time/ntp.c and timekeeping.c do with a struct timex — capability
 * check (EPERM), ADJ_SETOFFSET validation (EINVAL), the ±500 ppm frequency clamp, read-only
 * status bits, STA_NANO units, ADJ_OFFSET ignored while STA_PLL is off, TIME_* return values —
 * over a simulated clock: CLOCK_REALTIME = an injected oscillator (e.g. a FakeClock standing for
 * true time) running at (1 + (intrinsicPpm + freq)·1e-6), plus every step. It does not model the
 * kernel PLL's own slewing (Gnomon keeps the PLL off).
 */
import { timeSpecFromUnixNs, type RealtimeClock, type TimeSpec } from './clock.js';
import { TimexKernelClock, kernelErrorFor, type AdjtimexSyscall } from './kernel.js';
import {
  ADJ_ESTERROR, ADJ_FREQUENCY, ADJ_MAXERROR, ADJ_MICRO, ADJ_NANO, ADJ_OFFSET, ADJ_SETOFFSET, ADJ_STATUS, ADJ_TAI, ADJ_TICK,
  ADJ_TIMECONST, FREQ_SCALE, MAX_ERROR_US, MAX_FREQ_PPM, STA_CLOCKERR, STA_DEL, STA_INS, STA_NANO, STA_PLL, STA_RONLY, STA_UNSYNC,
  TIME_DEL, TIME_ERROR, TIME_INS, TIME_OK, scaledToPpm, type Timex,
} from './timex.js';

const MAXFREQ_SCALED = MAX_FREQ_PPM * FREQ_SCALE;

export interface FakeKernelOptions {
  /** The free-running hardware timeline, Unix ns (e.g. `() => fakeClock.nowNs()`). */
  readonly oscillatorNs: () => bigint;
  /** The oscillator's own rate error, ppm, + = fast (what the discipline should find and cancel). */
  readonly intrinsicPpm?: number;
  /** CLOCK_REALTIME minus the oscillator at start, ns (+ = the system clock starts ahead). */
  readonly initialOffsetNs?: bigint;
  /** false = the process lacks CAP_SYS_TIME: every write fails with EPERM. */
  readonly permitted?: boolean;
  /** Initial state, as another daemon may have left it (e.g. { status: STA_PLL, freq: ... }). */
  readonly initial?: Partial<Pick<Timex, 'freq' | 'status' | 'offset' | 'constant' | 'maxerror' | 'esterror' | 'tai'>>;
}

export class FakeKernel implements AdjtimexSyscall {
  readonly description = 'fake kernel (tests)';
  permitted: boolean;
  /** Every call's modes, in order (0 = read). */
  readonly calls: number[] = [];
  /** Every ADJ_SETOFFSET step, ns, in order. */
  readonly steps: bigint[] = [];
  private freqScaled: number;
  private status: number;
  /** The PLL's pending offset, ns. */
  private pllOffsetNs: number;
  private constant: number;
  private maxerror: number;
  private esterror: number;
  private tick = 10_000;
  private tai: number;
  private anchorOscNs: bigint;
  private anchorRealNs: bigint;
  private readonly intrinsicPpm: number;

  constructor(private readonly options: FakeKernelOptions) {
    this.permitted = options.permitted ?? true;
    this.intrinsicPpm = options.intrinsicPpm ?? 0;
    const init = options.initial ?? {};
    this.freqScaled = init.freq ?? 0;
    this.status = init.status ?? STA_UNSYNC;
    this.pllOffsetNs = init.offset ?? 0;
    this.constant = init.constant ?? 2;
    this.maxerror = init.maxerror ?? MAX_ERROR_US;
    this.esterror = init.esterror ?? MAX_ERROR_US;
    this.tai = init.tai ?? 0;
    this.anchorOscNs = options.oscillatorNs();
    this.anchorRealNs = this.anchorOscNs + (options.initialOffsetNs ?? 0n);
  }

  /** Applied frequency, ppm (+ = faster). */
  get freqPpm(): number {
    return scaledToPpm(this.freqScaled);
  }

  get statusBits(): number {
    return this.status;
  }

  get pendingPllOffsetNs(): number {
    return this.pllOffsetNs;
  }

  /** CLOCK_REALTIME now, Unix ns. */
  realtimeNs(): bigint {
    const osc = this.options.oscillatorNs();
    const elapsed = osc - this.anchorOscNs;
    const rate = (this.intrinsicPpm + scaledToPpm(this.freqScaled)) * 1e-6;
    return this.anchorRealNs + elapsed + BigInt(Math.round(Number(elapsed) * rate));
  }

  /** A RealtimeClock reading this fake kernel's CLOCK_REALTIME (steps and frequency included). */
  realtimeClock(resolutionNs = 1): RealtimeClock {
    return { source: 'fake kernel CLOCK_REALTIME', resolutionNs, read: (out: TimeSpec) => void timeSpecFromUnixNs(this.realtimeNs(), out) };
  }

  private reanchor(): void {
    const now = this.realtimeNs();
    this.anchorOscNs = this.options.oscillatorNs();
    this.anchorRealNs = now;
  }

  adjtime(tx: Timex): number {
    const modes = tx.modes;
    this.calls.push(modes);
    // timekeeping_validate_timex
    if (modes !== 0 && !this.permitted) throw kernelErrorFor('EPERM', modes);
    if (modes & ADJ_TICK && (tx.tick < 9000 || tx.tick > 11000)) throw kernelErrorFor('EINVAL', modes);
    if (modes & ADJ_SETOFFSET) {
      const limit = modes & ADJ_NANO ? 1_000_000_000 : 1_000_000;
      if (tx.timeUsec < 0 || tx.timeUsec >= limit) throw kernelErrorFor('EINVAL', modes);
    }
    if (modes & ADJ_SETOFFSET) {
      const delta = BigInt(tx.timeSec) * 1_000_000_000n + BigInt(modes & ADJ_NANO ? tx.timeUsec : tx.timeUsec * 1000);
      this.reanchor();
      this.anchorRealNs += delta;
      this.steps.push(delta);
    }
    // process_adjtimex_modes
    if (modes & ADJ_STATUS) {
      if ((this.status & STA_PLL) && !(tx.status & STA_PLL)) this.pllOffsetNs = 0;
      this.status = (this.status & STA_RONLY) | (tx.status & ~STA_RONLY);
    }
    if (modes & ADJ_NANO) this.status |= STA_NANO;
    if (modes & ADJ_MICRO) this.status &= ~STA_NANO;
    if (modes & ADJ_FREQUENCY) {
      this.reanchor();
      this.freqScaled = Math.min(MAXFREQ_SCALED, Math.max(-MAXFREQ_SCALED, tx.freq));
    }
    if (modes & ADJ_MAXERROR) this.maxerror = Math.min(MAX_ERROR_US, Math.max(0, tx.maxerror));
    if (modes & ADJ_ESTERROR) this.esterror = tx.esterror;
    if (modes & ADJ_TIMECONST) this.constant = Math.min(10, Math.max(0, tx.constant));
    if (modes & ADJ_TAI && tx.constant >= 0) this.tai = tx.constant;
    if (modes & ADJ_TICK) this.tick = tx.tick;
    if (modes & ADJ_OFFSET && this.status & STA_PLL) {
      const nano = (modes & ADJ_NANO) || (this.status & STA_NANO);
      this.pllOffsetNs = nano ? tx.offset : tx.offset * 1000;
    }
    this.fill(tx);
    if (this.status & (STA_UNSYNC | STA_CLOCKERR)) return TIME_ERROR;
    return this.status & STA_INS ? TIME_INS : this.status & STA_DEL ? TIME_DEL : TIME_OK;
  }

  /** The kernel's answer: the whole state, in the units STA_NANO selects. */
  private fill(tx: Timex): void {
    const nano = (this.status & STA_NANO) !== 0;
    const now = this.realtimeNs();
    const sec = now / 1_000_000_000n;
    const nsec = Number(now - sec * 1_000_000_000n);
    tx.offset = nano ? this.pllOffsetNs : Math.trunc(this.pllOffsetNs / 1000);
    tx.freq = this.freqScaled;
    tx.maxerror = this.maxerror;
    tx.esterror = this.esterror;
    tx.status = this.status;
    tx.constant = this.constant;
    tx.precision = 1;
    tx.tolerance = MAXFREQ_SCALED;
    tx.timeSec = Number(sec);
    tx.timeUsec = nano ? nsec : Math.trunc(nsec / 1000);
    tx.tick = this.tick;
    tx.tai = this.tai;
  }
}

/** The KernelClock the daemon would use, over a FakeKernel: same code as the real one above the syscall. */
export class FakeKernelClock extends TimexKernelClock {
  readonly kernel: FakeKernel;

  constructor(kernelOrOptions: FakeKernel | FakeKernelOptions, options: { allowWrites?: boolean } = {}) {
    const kernel = kernelOrOptions instanceof FakeKernel ? kernelOrOptions : new FakeKernel(kernelOrOptions);
    super(kernel, options.allowWrites ?? true);
    this.kernel = kernel;
  }

  /** Frequency the fake kernel applies now, ppm. */
  get appliedFreqPpm(): number {
    return this.kernel.freqPpm;
  }

  /** Steps applied so far, ns. */
  get stepHistory(): readonly bigint[] {
    return this.kernel.steps;
  }

  /** CLOCK_REALTIME of the fake kernel, with every step and frequency change. */
  realtimeClock(resolutionNs = 1): RealtimeClock {
    return this.kernel.realtimeClock(resolutionNs);
  }
}
