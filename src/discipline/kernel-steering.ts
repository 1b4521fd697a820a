/**
 * `enable kernel`: hands the discipline's knowledge to the kernel clock after each update, so the
 * system clock (what every other program on the box reads) follows GPS too, not only served time.
 *
 * Frequency-only steering with Gnomon doing the phase (steer.ts says why). Each change the
 * kernel makes to the clock is returned as a ClockChange; the caller broadcasts it to the
 * sources and the discipline (their stored samples are re-expressed on the changed clock) and
 * re-applies the followed line to the timescale, so served time does not move when the system
 * clock does.
 *
 * Steering happens only while tracking (on PPS when a PPS is configured): in holdover the kernel keeps the last frequency (the
 * best guess there is) and its status says unsynchronised once Gnomon is no longer synchronised.
 *
 * Pure: the kernel is injected (src/clock/kernel.ts for the real one, kernel-fake.ts in tests).
 */
import type { KernelClock } from '../clock/kernel.js';
import type { CorrectionModel, DisciplineState } from './discipline.js';
import { Steer, type ClockChange, type TinkerSettings } from './steer.js';
import { predictOffsetNs } from './regression.js';

export interface KernelSteeringResult {
  /** What the kernel did to the clock, to broadcast; null when nothing changed. */
  readonly change: ClockChange | null;
  /** Set when the policy refused to act (tinker panic), for the log. */
  readonly refused?: string;
}

export class KernelSteering {
  private readonly steer: Steer;
  private controlled = false;

  /**
   * `pulsesExpected`: some configured source has PPS. Then only a pulse-based estimate steers:
   * the NMEA-only estimate that comes first is off by the uncalibrated serial delay (hundreds of
   * ms), and stepping the system clock to it would mean a second step moments later.
   */
  constructor(private readonly kernel: KernelClock, tinker: TinkerSettings, private readonly pulsesExpected: boolean, private readonly intervalS = 1) {
    this.steer = new Steer(tinker);
  }

  get description(): string {
    return this.kernel.description;
  }

  /**
   * After a discipline update at local time nowNs: steer while tracking, and keep the kernel's
   * error estimates current (what `adjtimex -p` / ntptime show). Throws KernelClockError
   * (e.g. KERNEL_EPERM) for the caller to log and stop steering.
   */
  update(state: DisciplineState, line: CorrectionModel | null, estErrorNs: number, maxErrorNs: number, nowNs: bigint): KernelSteeringResult {
    if (!this.controlled) {
      this.kernel.takeControl();
      this.controlled = true;
    }
    const tracking = state.kind === 'tracking' && line !== null && (state.estimate.basis === 'pulse' || !this.pulsesExpected);
    let result: KernelSteeringResult = { change: null };
    if (tracking) {
      const offsetNs = predictOffsetNs(line, nowNs);
      const before = this.kernel.read();
      const actions = this.steer.decide({ offsetNs, freqPpm: line.freqPpm, kernelFreqPpm: before.freqPpm, intervalS: this.intervalS });
      const refusal = actions.find((a) => a.kind === 'refuse');
      let stepNs = 0n;
      let freq = before.freqPpm;
      for (const a of actions) {
        if (a.kind === 'step') {
          this.kernel.stepNs(a.deltaNs);
          stepNs += a.deltaNs;
        } else if (a.kind === 'frequency') {
          freq = this.kernel.setFrequencyPpm(a.ppm);
        }
      }
      const changed = stepNs !== 0n || freq !== before.freqPpm;
      result = {
        change: changed ? { atNs: before.timeNs, stepNs, freqChangePpm: freq - before.freqPpm } : null,
        ...(refusal?.kind === 'refuse' ? { refused: refusal.reason } : {}),
      };
    }
    const synchronised = state.kind === 'tracking' || state.kind === 'holdover';
    this.kernel.setStatus(Math.ceil(estErrorNs / 1000), Math.ceil(maxErrorNs / 1000), synchronised);
    return result;
  }

  /** The kernel's frequency now, ppm (+ = it makes the clock run faster): for the driftfile. */
  frequencyPpm(): number {
    return this.kernel.read().freqPpm;
  }
}
