/**
 * Kernel steering policy (issue 4): what to ask of the kernel clock after each discipline update.
 * Pure: estimates in, actions out. src/clock/kernel.ts carries the actions out (`applySteering`)
 * and only when the config says `enable kernel` (GnomonConfig.kernel, default false).
 *
 * The choice: FREQUENCY-ONLY kernel steering, Gnomon doing the phase (chrony's approach), not
 * the kernel PLL (ntpd's STA_PLL + ADJ_OFFSET).
 * - Served time is `raw clock + correction` (ARCHITECTURE.md principle 4). If the kernel PLL
 *   owned the phase, the kernel would be slewing the raw clock by amounts Gnomon cannot see
 *   (the PLL's internal time_offset decays on its own schedule), so the correction would be
 *   wrong by whatever the kernel had absorbed. With frequency only, every change to the raw
 *   clock is one Gnomon made and knows exactly (a step, or a frequency from an instant on), so it
 *   is broadcast as a ClockChange and the correction and stored samples follow it exactly.
 * - The kernel PLL's time constant (2^(constant+4) s, minimum 16 s; ntpd runs it at 64 s and
 *   more) is much longer than a PPS loop needs, and it clamps its phase input to ±0.5 s.
 *   chrony made the same call for the same reasons (sys_timex.c turns STA_PLL off at start).
 * The phase is slewed through the frequency: while the system clock is `offset` ahead, the
 * kernel frequency is the frequency correction minus offset / (corrTimeRatio × interval),
 * chrony's `corrtimeratio` (default 3): an offset is worked off in about three update intervals,
 * never faster than the ±500 ppm the kernel allows.
 *
 * Steps, as ntpd's `tinker step` / `panic` and `-g`:
 * - |offset| > stepS (default 0.128 s) → step; stepS = 0 means never step (slew only, slowly).
 * - |offset| > panicS (default 1000 s) → refuse, unless it is the first update since start
 *   (ntpd -g: the first correction may be any size); panicS = 0 turns the check off.
 * Stepping or slewing the kernel never changes what clients are served: served time already
 * follows the reference through the correction; steering only moves the correction into the
 * kernel so the host's own clock (logs, cron, TLS) is right too.
 */

export interface TinkerSettings {
  /** Step threshold, seconds (ntpd `tinker step`, default 0.128); 0 = never step. */
  readonly stepS: number;
  /** Panic threshold, seconds (ntpd `tinker panic`, default 1000); 0 = no limit. */
  readonly panicS: number;
}

export const DEFAULT_TINKER: TinkerSettings = { stepS: 0.128, panicS: 1000 };

/** The kernel's frequency limit (MAXFREQ in kernel/time/ntp.c), ppm. */
export const KERNEL_MAX_FREQ_PPM = 500;
/** chrony's default `corrtimeratio`: slew an offset out over this many update intervals. */
export const DEFAULT_CORR_TIME_RATIO = 3;

export interface SteerInput {
  /**
   * System clock (CLOCK_REALTIME as the kernel keeps it, i.e. the raw clock) minus the reference,
   * ns: + = the system clock is ahead. Equals −(Timescale correction) when served time is right.
   */
  readonly offsetNs: number;
  /**
   * Rate error of the system clock as it runs now, kernel frequency included, ppm: + = it runs
   * fast. Undefined while the discipline has no frequency estimate yet (the kernel frequency is
   * then kept, only the phase slew is added).
   */
  readonly freqPpm?: number;
  /** The frequency the kernel applies now (KernelClock.read().freqPpm), ppm, + = faster. */
  readonly kernelFreqPpm: number;
  /** Seconds until the next update is expected (the loop's update interval); sets the slew rate. */
  readonly intervalS: number;
  /** The first update since start: a step of any size is allowed (ntpd -g). */
  readonly first: boolean;
}

export type SteerAction =
  /** Step the system clock by deltaNs (+ = forward; −offset, so negative when the clock is ahead). */
  | { readonly kind: 'step'; readonly deltaNs: bigint }
  /**
   * Set the kernel frequency to `ppm` (absolute, + = faster): basePpm cancels the oscillator's
   * error, slewPpm works off the remaining phase; clamped to ±500 ppm when `clamped`.
   */
  | { readonly kind: 'frequency'; readonly ppm: number; readonly basePpm: number; readonly slewPpm: number; readonly clamped: boolean }
  /** Leave the kernel alone and say why (log it as an error; served time is unaffected). */
  | { readonly kind: 'refuse'; readonly code: 'STEER_PANIC'; readonly reason: string };

/**
 * A change Gnomon made to the system clock, broadcast to everything that keeps system-clock
 * timestamps (chrony's LCL_AddParameterChangeHandler / SST_SlewSamples).
 *
 * From `atNs` on, the system clock reads `stepNs + freqChangePpm·1e-6·(t − atNs)` more than it
 * would have. So:
 * - a stored sample (system timestamp t, offset o = system − reference) is corrected to
 *   t' = t + d, o' = o + d with d = stepNs + freqChangePpm·1e-6·(t − atNs) (`correctSample`),
 *   or dropped if a source prefers (a step larger than its filter window, say);
 * - a frequency estimate of the system clock grows by freqChangePpm;
 * - the Timescale correction shrinks by `absorbedNs(change, t)`, so served time does not move:
 *   new correction line = old line − stepNs at atNs, slope − freqChangePpm × 1000 ns/s.
 */
export interface ClockChange {
  /** System clock reading (Unix ns) just before the change was applied. */
  readonly atNs: bigint;
  /** + = the system clock jumped forward by this much. */
  readonly stepNs: bigint;
  /** + = the system clock runs this much faster from atNs on, ppm. */
  readonly freqChangePpm: number;
}

/** How much more the system clock reads at its (pre-change) time `tNs` because of `change`, ns. */
export function absorbedNs(change: ClockChange, tNs: bigint): number {
  return Number(change.stepNs) + change.freqChangePpm * 1e-6 * Number(tNs - change.atNs);
}

/** A stored sample as it would have been measured with the clock after `change` (see ClockChange). */
export function correctSample(sampleNs: bigint, offsetNs: number, change: ClockChange): { sampleNs: bigint; offsetNs: number } {
  const d = absorbedNs(change, sampleNs);
  return { sampleNs: sampleNs + BigInt(Math.round(d)), offsetNs: offsetNs + d };
}

function clamp(x: number, limit: number): number {
  return Math.min(limit, Math.max(-limit, x));
}

/** Kernel freq resolution is 2^-16 ppm: changes smaller than that are not worth a syscall. */
function sameScaled(a: number, b: number): boolean {
  return Math.round(a * 65_536) === Math.round(b * 65_536);
}

/**
 * One decision: [] (nothing to change), [step], [frequency], [step, frequency] (apply in
 * order), or [refuse].
 */
export function decideSteering(input: SteerInput, tinker: TinkerSettings = DEFAULT_TINKER, corrTimeRatio = DEFAULT_CORR_TIME_RATIO): SteerAction[] {
  const { offsetNs, kernelFreqPpm, first } = input;
  if (!Number.isFinite(offsetNs) || !Number.isFinite(kernelFreqPpm)) return [];
  const magnitudeS = Math.abs(offsetNs) / 1e9;
  if (!first && tinker.panicS > 0 && magnitudeS > tinker.panicS) {
    return [{
      kind: 'refuse', code: 'STEER_PANIC',
      reason: `system clock is ${(offsetNs / 1e9).toFixed(3)} s off the reference, beyond the panic threshold of ${tinker.panicS} s (tinker panic); `
        + 'the kernel clock is left alone: set it by hand, or restart Gnomon (the first correction may be any size)',
    }];
  }
  const actions: SteerAction[] = [];
  let remainingNs = offsetNs;
  if (tinker.stepS > 0 && magnitudeS > tinker.stepS) {
    actions.push({ kind: 'step', deltaNs: -BigInt(Math.round(offsetNs)) });
    remainingNs = 0;
  }
  const freq = input.freqPpm !== undefined && Number.isFinite(input.freqPpm) ? input.freqPpm : 0;
  const basePpm = clamp(kernelFreqPpm - freq, KERNEL_MAX_FREQ_PPM);
  const intervalS = Math.max(input.intervalS, 1);
  // ns per s / 1000 = ppm; ahead (+) → slow down (−).
  const slewPpm = -remainingNs / (corrTimeRatio * intervalS) / 1000;
  const wanted = kernelFreqPpm - freq + slewPpm;
  const ppm = clamp(basePpm + slewPpm, KERNEL_MAX_FREQ_PPM);
  if (!sameScaled(ppm, kernelFreqPpm)) {
    actions.push({ kind: 'frequency', ppm, basePpm, slewPpm: ppm - basePpm, clamped: ppm !== wanted });
  }
  return actions;
}

/**
 * The policy with its one piece of state, "has the first update happened": what the daemon holds.
 * Call `decide` on each discipline update while `enable kernel` is configured.
 */
export class Steer {
  private firstDone = false;

  constructor(readonly tinker: TinkerSettings = DEFAULT_TINKER, readonly corrTimeRatio = DEFAULT_CORR_TIME_RATIO) {}

  /** Whether the next decision is still the first since start (ntpd -g). */
  get first(): boolean {
    return !this.firstDone;
  }

  decide(input: Omit<SteerInput, 'first'>): SteerAction[] {
    const actions = decideSteering({ ...input, first: !this.firstDone }, this.tinker, this.corrTimeRatio);
    this.firstDone = true;
    return actions;
  }
}
