/**
 * A DriverContext that records what a driver reports: samples, pulses, the state changes it would
 * log (once per change, as the daemon's context does) and its latest counters. Shared by the
 * NMEA, PPS and gpsd driver tests, unit and system.
 */
import type { RealtimeClock } from '../../src/clock/clock.js';
import { stateChangeFilter, type DriverContext, type RefclockPulse, type RefclockSample } from '../../drivers/driver.js';

export function recordingContext(realtime: RealtimeClock, name: string) {
  const samples: RefclockSample[] = [];
  const pulses: RefclockPulse[] = [];
  /** "state" or "state CODE", once per change. */
  const logged: string[] = [];
  const changed = stateChangeFilter();
  let counters: Record<string, number> = {};
  const ctx: DriverContext = {
    name,
    realtime,
    sample: (s) => void samples.push(s),
    pulse: (p) => void pulses.push(p),
    state: (state, code) => {
      if (changed(state, code)) logged.push(code === undefined ? state : `${state} ${code}`);
    },
    counters: (c) => void (counters = { ...c }),
  };
  return { ctx, samples, pulses, logged, counters: () => counters };
}
