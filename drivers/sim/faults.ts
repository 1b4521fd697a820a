/**
 * The simulator's fault names and their time windows (pure).
 *
 * A fault is written `NAME`, `NAME@START` or `NAME@START+DURATION` (whole seconds counted from
 * the simulator's first pulse): `fix-loss@30+20` loses the fix from second 30 to second 49.
 * Without `@` a fault starts at once; without `+` it lasts until the simulator stops. The names
 * are stable (scripts and docs/simulator.md use them); what each one emits is decided in
 * scenario.ts and sentences.ts and listed in docs/simulator.md.
 */

export const FAULT_NAMES = [
  'fix-loss',
  'antenna-unplugged',
  'no-pps',
  'no-nmea',
  'garbage',
  'wrong-second',
  'week-rollover',
  'leap-second',
  'unplug',
] as const;

export type FaultName = (typeof FAULT_NAMES)[number];

/** One line each, for `gnomon sim --help` and error messages. */
export const FAULT_SUMMARIES: Readonly<Record<FaultName, string>> = {
  'fix-loss': 'no fix: RMC status V, GGA quality 0, no satellites; time still printed',
  'antenna-unplugged': 'antenna open-circuit notice (u-blox TXT / MTK PGTOP), then no fix',
  'no-pps': 'no PPS edges (NMEA without PPS)',
  'no-nmea': 'no NMEA (PPS without NMEA)',
  'garbage': 'binary UBX frames and random bytes between sentences',
  'wrong-second': 'NMEA labels each edge with the next second (one second off)',
  'week-rollover': 'dates 1024 weeks in the past, as old firmware after a GPS week rollover',
  'leap-second': 'inserts a leap second (23:59:60) at the end of the current UTC day',
  'unplug': 'the serial pty vanishes for 3 s every 10 s and returns as a new pty',
};

export interface FaultSpec {
  readonly name: FaultName;
  /** Seconds after the first simulated pulse (index 0) at which the fault starts. */
  readonly startS: number;
  /** How many seconds it lasts; null = until the simulator stops. */
  readonly durationS: number | null;
}

export type FaultParse = { readonly ok: true; readonly fault: FaultSpec } | { readonly ok: false; readonly message: string };

const SYNTAX = /^([a-z-]+)(?:@(\d{1,9}))?(?:\+(\d{1,9}))?$/;

export function isFaultName(name: string): name is FaultName {
  return (FAULT_NAMES as readonly string[]).includes(name);
}

/** Parses `NAME[@START][+DURATION]`; the error message names the valid faults. */
export function parseFault(text: string): FaultParse {
  const m = SYNTAX.exec(text.trim());
  const name = m?.[1] ?? text.trim();
  if (!isFaultName(name)) {
    return { ok: false, message: `unknown fault "${name}" (valid: ${FAULT_NAMES.join(', ')})` };
  }
  if (m === null) {
    return { ok: false, message: `fault "${text}": expected NAME, NAME@START or NAME@START+DURATION (whole seconds)` };
  }
  const durationS = m[3] === undefined ? null : Number(m[3]);
  if (durationS === 0) return { ok: false, message: `fault "${text}": a duration must be at least 1 s` };
  return { ok: true, fault: { name, startS: m[2] === undefined ? 0 : Number(m[2]), durationS } };
}

/** Whether `fault` is active at simulated second `index` (0 = the first pulse). */
export function faultActive(fault: FaultSpec, index: number): boolean {
  if (index < fault.startS) return false;
  return fault.durationS === null || index < fault.startS + fault.durationS;
}

/** The set of fault names active at `index`. */
export function activeFaults(faults: readonly FaultSpec[], index: number): Set<FaultName> {
  const out = new Set<FaultName>();
  for (const f of faults) if (faultActive(f, index)) out.add(f.name);
  return out;
}

/** `unplug`: within its window, every 10 s the device is gone for seconds 4, 5 and 6 of the cycle. */
export const UNPLUG_PERIOD_S = 10;
export const UNPLUG_FROM_S = 4;
export const UNPLUG_FOR_S = 3;

export function unpluggedAt(faults: readonly FaultSpec[], index: number): boolean {
  for (const f of faults) {
    if (f.name !== 'unplug' || !faultActive(f, index)) continue;
    const k = (index - f.startS) % UNPLUG_PERIOD_S;
    if (k >= UNPLUG_FROM_S && k < UNPLUG_FROM_S + UNPLUG_FOR_S) return true;
  }
  return false;
}
