/**
 * Turns leap decisions (leap.ts) into what the discipline does: the LI to publish, and at the
 * leap instant a one-second step of the reference.
 *
 * How an inserted second is served (step mode): until the leap the raw clock, the GPS labels and
 * served time all agree on the non-leap scale. From the leap on, UTC is one second behind that
 * scale: every new offset measured against the raw clock is one second larger. So at the leap
 * instant the keeper reports a reference step of +1 s, the daemon shifts every stored offset and
 * the followed line by it (the same "clock change" broadcast a kernel step makes, chrony's
 * approach), and served time, raw − line, falls back one second: 23:59:59 is served twice, as
 * the Linux kernel does. A deleted second is the same with −1 s.
 *
 * Smear (`leapsmearinterval N`) is decided by leap.ts (no LI while smearing) but not applied yet:
 * the keeper steps at the leap instead and says so (`smearNotApplied`). To be done with the
 * kernel hand-over, where a slow ramp belongs in the timescale's slope.
 *
 * Pure: the served and non-leap instants come in.
 */
import type { LeapWarning } from '../../drivers/driver.js';
import { LeapIndicator } from '../ntp/constants.js';
import { decideLeap, leapCorrectionNs, leapSettledAtNs, type LeapDecision, type LeapEvent, type LeapMode, type LeapTable } from './leap.js';

export interface LeapUpdate {
  readonly decision: LeapDecision;
  /** LI to publish while synchronised. */
  readonly indicator: LeapIndicator;
  /** A reference step to apply now, ns (+ = every offset one second larger: an inserted second); 0 for none. */
  readonly referenceStepNs: number;
  /** Served-time instant of the next step, ns, for a timer; null when none is pending. */
  readonly nextStepAtServedNs: bigint | null;
  /** Smear configured but stepping (see the file comment). */
  readonly smearNotApplied: boolean;
}

const NO_STEP_PENDING = null;

export class LeapKeeper {
  private latched: LeapEvent | null = null;
  /** Served − non-leap already applied as reference steps, ns (0 or ∓1e9 around a leap). */
  private appliedNs = 0;

  constructor(private table: LeapTable | null, private readonly mode: LeapMode, private readonly smearIntervalS: number) {}

  setTable(table: LeapTable | null): void {
    this.table = table;
  }

  /** Once a second (and at the leap instant): served time now, and the selected receiver's warning. */
  update(servedNs: bigint, receiver: LeapWarning): LeapUpdate {
    const nonLeapNs = servedNs - BigInt(this.appliedNs);
    const decision = decideLeap(this.table, receiver, servedNs, this.mode);
    if (decision.leap && this.latched === null && nonLeapNs < leapSettledAtNs(decision.leap, 'step', 0)) this.latched = decision.leap;
    let referenceStepNs = 0;
    if (this.latched) {
      const desired = leapCorrectionNs(this.latched, nonLeapNs, 'step', 0);
      if (desired !== this.appliedNs) {
        // Served must move by (desired − applied); served = raw − line, so the line (and every
        // stored offset) moves the other way.
        referenceStepNs = this.appliedNs - desired;
        this.appliedNs = desired;
      }
      // Settled: the step now lives in the lines; forget it.
      if (nonLeapNs > leapSettledAtNs(this.latched, 'step', 0) + 2_000_000_000n) {
        this.latched = null;
        this.appliedNs = 0;
      }
    }
    const stepAt = this.latched ? leapSettledAtNs(this.latched, 'step', 0) + BigInt(this.appliedNs) : NO_STEP_PENDING;
    return {
      decision,
      indicator: decision.indicator,
      referenceStepNs,
      nextStepAtServedNs: stepAt !== null && this.appliedNs === 0 ? stepAt : NO_STEP_PENDING,
      smearNotApplied: this.mode === 'smear' && this.latched !== null,
    };
  }
}
