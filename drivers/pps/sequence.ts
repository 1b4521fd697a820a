/**
 * Pulse sequence bookkeeping shared by kernel PPS (`#SEQ`) and GPIO cdev (`line_seqno`). Pure.
 *
 * Both counters are u32 in the kernel and wrap; a counter that moves backwards by more than half
 * the range is a reset (module reloaded, line re-requested), not 4 billion missed pulses.
 */

const U32 = 2 ** 32;

export interface SequenceStep {
  /** A new pulse since the previous observation. */
  readonly isNew: boolean;
  /** Pulses that happened between the two observations and were not seen. */
  readonly missed: number;
  /** The counter went backwards: the source was reset. */
  readonly reset: boolean;
}

const SAME: SequenceStep = { isNew: false, missed: 0, reset: false };

export class SequenceTracker {
  private last: number | null = null;

  /** Forget the previous value: the next observation is a baseline (after reconnecting). */
  clear(): void {
    this.last = null;
  }

  get lastSequence(): number | null {
    return this.last;
  }

  /**
   * Record `sequence` and say what changed. The first observation after construction or `clear()`
   * is a baseline: it cannot tell whether that pulse was already reported, so it is not new.
   */
  observe(sequence: number): SequenceStep {
    const prev = this.last;
    this.last = sequence;
    if (prev === null) return SAME;
    const diff = (((sequence - prev) % U32) + U32) % U32;
    if (diff === 0) return SAME;
    if (diff < U32 / 2) return { isNew: true, missed: diff - 1, reset: false };
    // Backwards: a fresh counter. Sequence 0 is "no pulse yet" for kernel PPS.
    return { isNew: sequence > 0, missed: 0, reset: true };
  }
}
