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
 * Smear (`leapsmearinterval N`, no LI: leap.ts): the measurement frame still steps at the leap
 * (the receivers' labels do), but served time gets a linear term on top that ramps the second in
 * over N seconds centred on the leap (leap.ts leapCorrectionNs): smear − step, which is 0 before
 * the window, −0.5 s just before the step, +0.5 s just after it, and 0 again at the end. The term
 * is a line (value and slope), so the timescale applies it continuously, not once a second.
 *
 * Pure: the served and non-leap instants come in.
 */
import type { LeapWarning } from '../../drivers/driver.js';
import { LeapIndicator } from '../ntp/constants.js';
import { decideLeap, leapCorrectionNs, leapSettledAtNs, smearWindow, type LeapDecision, type LeapEvent, type LeapMode, type LeapTable } from './leap.js';

export interface LeapUpdate {
  readonly decision: LeapDecision;
  /** LI to publish while synchronised. */
  readonly indicator: LeapIndicator;
  /** A reference step to apply now, ns (+ = every offset one second larger: an inserted second); 0 for none. */
  readonly referenceStepNs: number;
  /** Served-time instant of the next step, ns, for a timer; null when none is pending. */
  readonly nextStepAtServedNs: bigint | null;
  /** While smearing: served − stepped time now (ns) and how fast it changes (ns per s); null outside the window. */
  readonly smear: { readonly termNs: number; readonly slopeNsPerS: number } | null;
  /** The next instant (served, ns) at which the leap changes what is served: step, smear start or end; for a timer. */
  readonly nextEventAtServedNs: bigint | null;
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

  /**
   * Once a second (and at the leap's instants): served time now without any smear term (raw − the
   * followed line), and the selected receiver's warning.
   */
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
      // Settled: the step now lives in the lines (and any smear has ended); forget it.
      if (nonLeapNs > leapSettledAtNs(this.latched, this.mode, this.smearIntervalS) + 2_000_000_000n) {
        this.latched = null;
        this.appliedNs = 0;
      }
    }
    const stepAt = this.latched && this.appliedNs === 0 ? leapSettledAtNs(this.latched, 'step', 0) : NO_STEP_PENDING;
    return {
      decision,
      indicator: decision.indicator,
      referenceStepNs,
      nextStepAtServedNs: stepAt,
      // nonLeapNs as computed on entry: a step just applied moved served time, not the non-leap scale.
      ...this.smearNow(nonLeapNs, stepAt),
    };
  }

  private smearNow(nonLeapNs: bigint, stepAt: bigint | null): Pick<LeapUpdate, 'smear' | 'nextEventAtServedNs'> {
    const leap = this.latched;
    if (this.mode !== 'smear' || leap === null) return { smear: null, nextEventAtServedNs: stepAt };
    const w = smearWindow(leap, this.smearIntervalS);
    // Served instants of the window's ends: before the step served = non-leap, after it served = non-leap + applied.
    const events = [stepAt, nonLeapNs < w.startNs ? w.startNs : null, nonLeapNs < w.endNs ? w.endNs + BigInt(this.appliedNs) : null]
      .filter((x): x is bigint => x !== null);
    const next = events.length > 0 ? events.reduce((a, b) => (b < a ? b : a)) : null;
    if (nonLeapNs < w.startNs || nonLeapNs >= w.endNs) return { smear: null, nextEventAtServedNs: next };
    const termNs = leapCorrectionNs(leap, nonLeapNs, 'smear', this.smearIntervalS) - leapCorrectionNs(leap, nonLeapNs, 'step', 0);
    const slopeNsPerS = ((leap.kind === 'insert' ? -1 : 1) * 1e18) / Number(w.endNs - w.startNs);
    return { smear: { termNs, slopeNsPerS }, nextEventAtServedNs: next };
  }
}
