/** A recording DriverContext and hand-fired timers for the PPS driver tests. */
import { FakeClock } from '../../../../src/clock/fake.js';
import { recordingContext } from '../../../support/driver-context.js';
import type { PpsTimers } from '../../../../drivers/pps/errors.js';

export function fakeContext(clock: FakeClock, name = 'PPS(0)') {
  return recordingContext(clock, name);
}

/** Timers that only record; the test fires or inspects them. */
export class ManualTimers implements PpsTimers {
  pending = new Map<number, { fn: () => void; ms: number }>();
  private next = 1;

  setTimeout(fn: () => void, ms: number): unknown {
    const id = this.next++;
    this.pending.set(id, { fn, ms });
    return id;
  }

  clearTimeout(handle: unknown): void {
    this.pending.delete(handle as number);
  }

  /** Delay of the one pending timer (the drivers keep at most one). */
  get delayMs(): number | undefined {
    return [...this.pending.values()].at(-1)?.ms;
  }

  fire(): void {
    const entries = [...this.pending.entries()];
    this.pending.clear();
    for (const [, t] of entries) t.fn();
  }
}

export const START_NS = 1_700_000_000_000_000_000n;
export const newClock = (): FakeClock => new FakeClock(START_NS + 500_000_000n);
