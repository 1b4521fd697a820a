/**
 * Every numeric pass/fail limit of the hardware-in-the-loop runner, in one table (docs/hil.md
 * explains each). The runner never compares against a number that is not here.
 *
 * Hardware and virtual rig use the same limits. A row may carry a `virtual` override, but only
 * where the simulator's user-space PPS cannot meet the hardware number; today no row needs one:
 *
 * - PPS offset, jitter, rate and phase: the simulator does not time its PPS in user space at all.
 *   It writes the *computed* edge time (GPS second + offset + Gaussian jitter, σ 2 µs by default,
 *   cut at 4σ) into a file in the kernel's sysfs format, and the daemon reads it with the same
 *   sysfs driver it uses on a Pi. A late timer delays when the file changes, never the timestamp
 *   in it, so the numbers the daemon sees are as good as pps-gpio's on a Pi (1-2 µs interrupt
 *   latency); the hardware limits hold with margin (measured in docs/hil.md).
 * - Recovery times (antenna back, GPS replugged, reboot): the simulator is faster than hardware
 *   (no satellite reacquisition, no kernel boot), so it meets the hardware limits easily.
 *
 * What does differ between the rigs is not a limit but a scenario parameter: how long the box
 * holds over (`tos holdover`, an hour on the appliance, a few seconds on the virtual rig) and how
 * long the runner samples. Those are RunOptions in runner.ts.
 */

export type Limit =
  | { readonly kind: 'max'; readonly value: number }
  | { readonly kind: 'min'; readonly value: number }
  | { readonly kind: 'range'; readonly min: number; readonly max: number }
  /** Pass/fail decided by the check itself (e.g. "tally o or *"); the text is shown as the threshold. */
  | { readonly kind: 'condition'; readonly text: string };

export interface ThresholdRow {
  /** Stable id: check results, --json output and docs/hil.md use it. */
  readonly id: string;
  /** The table's "check" column. */
  readonly check: string;
  /** Unit of the measured value and of the limit; display scale below. */
  readonly unit: Unit;
  readonly limit: Limit;
  /** Why this number (one line; docs/hil.md has the long form). */
  readonly why: string;
  /** Only where the simulator's user-space PPS cannot meet `limit`: its own limit and the reason. */
  readonly virtual?: { readonly limit: Limit; readonly why: string };
}

/** Values are stored in the base unit (ns, s, Hz, ratio, count); `display` formats them. */
export type Unit = 'ns' | 's' | 'Hz' | 'ratio' | 'count' | 'none';

export const THRESHOLDS = [
  // --- baseline: the box as it runs -------------------------------------------------------
  { id: 'nmea.rate', check: 'NMEA epochs arriving', unit: 'Hz', limit: { kind: 'min', value: 0.8 },
    why: 'a 1 Hz receiver gives one epoch (RMC/GGA/ZDA group) per second; fewer means lost or garbled sentences' },
  { id: 'nmea.fix', check: 'NMEA fix', unit: 'none', limit: { kind: 'condition', text: '2d or 3d, timecode ≤ 3 s old' },
    why: 'the pairing only labels pulses while the receiver reports a fix; the age counts from the labelled second, and a '
      + 'u-blox burst at 9600 baud ends ~0.8 s after it, so a fresh timecode is up to ~1.8 s old just before the next' },
  { id: 'pps.rate', check: 'PPS pulses (kernel assert)', unit: 'Hz', limit: { kind: 'range', min: 0.95, max: 1.05 },
    why: 'the assert sequence must advance once per second of its own timestamps: no missed or doubled edges' },
  { id: 'pps.phase', check: 'PPS edge on the second', unit: 'ns', limit: { kind: 'max', value: 1_000_000 },
    why: 'assert timestamp + the daemon\'s correction within 1 ms of a whole second: the right edge, wired and not inverted; '
      + 'loose because the correction is read up to a second before the edge' },
  { id: 'pairing.locked', check: 'NMEA/PPS pairing locked', unit: 'ratio', limit: { kind: 'min', value: 0.8 },
    why: 'phase state ok and at least 80 % of the pulses in the window used (learning and stale seconds refuse a few)' },
  { id: 'select.pps', check: 'PPS selected (ntpq -p)', unit: 'none', limit: { kind: 'condition', text: 'PPS tally o or *, tracking, stratum 1' },
    why: 'ntpd\'s tally: o = PPS peer, * = system peer; the daemon serves stratum 1 from it' },
  { id: 'pps.offset', check: 'PPS offset vs disciplined clock (RMS)', unit: 'ns', limit: { kind: 'max', value: 5_000 },
    why: 'each edge\'s kernel timestamp + the daemon\'s correction read with it, from a whole second: kernel PPS on a Pi '
      + 'timestamps the edge in the interrupt handler (1-2 µs) and a locked loop adds little' },
  { id: 'pps.jitter', check: 'PPS jitter', unit: 'ns', limit: { kind: 'max', value: 10_000 },
    why: 'the daemon\'s PPS jitter (RMS of residuals); pps-gpio on a Pi gives 1-4 µs, 10 µs leaves room for a busy box' },
  { id: 'client.stratum', check: 'remote client sees stratum 1', unit: 'count', limit: { kind: 'range', min: 1, max: 1 },
    why: 'an NTP client on another host (ntpdig) gets stratum 1 and leap not 3' },
  // --- scenario: antenna pulled ----------------------------------------------------------
  { id: 'antenna.fix-lost', check: 'antenna pulled: fix lost', unit: 's', limit: { kind: 'max', value: 30 },
    why: 'receivers report no fix within seconds of losing the sky; the u-blox also says ANTSTATUS=OPEN' },
  { id: 'antenna.holdover', check: 'antenna pulled: holdover at stratum 1', unit: 'none',
    limit: { kind: 'condition', text: 'holdover seen, stratum 1, LI 0' },
    why: 'without a fix the pulses are refused; the daemon holds over on its last frequency and keeps serving' },
  { id: 'antenna.holdover-end', check: 'antenna pulled: stratum/LI change after tos holdover', unit: 's',
    limit: { kind: 'range', min: -2, max: 30 },
    why: 'seconds from pulling the antenna to leaving stratum 1, minus the box\'s `tos holdover` (the runner\'s --holdover-s). '
      + 'Holdover counts from the last good sample, which can be a second or two before the pull is noticed; '
      + 'at most 30 s late (the estimate stays fresh 8 s, then the poll)' },
  { id: 'antenna.recovered', check: 'antenna back: PPS tracking again', unit: 's', limit: { kind: 'max', value: 120 },
    why: 'a hot receiver reacquires in seconds; the pairing relearns the phase in ~10 pulses' },
  // --- scenario: GPS unplugged and replugged ---------------------------------------------
  { id: 'unplug.nmea-lost', check: 'GPS unplugged: NMEA loss seen', unit: 's', limit: { kind: 'max', value: 15 },
    why: 'the NMEA driver reconnects (device gone) or its timecode ages past 3 s' },
  { id: 'unplug.served', check: 'GPS unplugged: still stratum 1', unit: 'none', limit: { kind: 'condition', text: 'stratum 1, LI 0 in every sample' },
    why: 'a short outage is covered by holdover (or by PPS alone while the pairing is locked)' },
  { id: 'unplug.nmea-back', check: 'GPS replugged: NMEA back', unit: 's', limit: { kind: 'max', value: 30 },
    why: 'the driver retries with back-off and must find the device again without a daemon restart' },
  { id: 'unplug.pps-back', check: 'GPS replugged: PPS tracking', unit: 's', limit: { kind: 'max', value: 60 },
    why: 'pairing locked and PPS selected again' },
  // --- scenario: reboot ------------------------------------------------------------------
  { id: 'reboot.reachable', check: 'reboot: box back', unit: 's', limit: { kind: 'max', value: 180 },
    why: 'ssh answers with a new boot id (Pi 3/4/5 boot in 20-60 s from SD card)' },
  { id: 'reboot.stratum1', check: 'reboot: stratum 1 from PPS', unit: 's', limit: { kind: 'max', value: 300 },
    why: 'from `sudo reboot` to PPS tracking at stratum 1: boot, gnomon.service, receiver hot start, phase learning' },
] as const satisfies readonly ThresholdRow[];

/**
 * The baseline measures only once the PPS has been used this many times since the daemon started
 * (a box on the bench has long passed it; on the virtual rig it keeps the first seconds after lock,
 * while the frequency estimate still settles, out of the offset RMS).
 */
export const MIN_PULSES_BEFORE_MEASURING = 8;

/** NMEA counts as flowing while its latest timecode is at most this old (the nmea.fix row), ns. */
export const NMEA_FRESH_NS = 3e9;
/** NMEA counts as interrupted (unplug.nmea-lost) once its latest timecode is older than this, or its driver is not running, ns. */
export const NMEA_LOST_NS = 4e9;

export type CheckId = (typeof THRESHOLDS)[number]['id'];

export type Rig = 'hardware' | 'virtual';

export function thresholdRow(id: CheckId): ThresholdRow {
  const row = (THRESHOLDS as readonly ThresholdRow[]).find((r) => r.id === id);
  if (!row) throw new Error(`no threshold row ${id}`);
  return row;
}

/** The limit that applies on `rig` (the virtual override where there is one). */
export function limitFor(id: CheckId, rig: Rig): Limit {
  const row = thresholdRow(id);
  return rig === 'virtual' && row.virtual ? row.virtual.limit : row.limit;
}

/** Does `value` meet `limit`? Condition limits cannot be judged from a number: false (the check decides). */
export function meets(limit: Limit, value: number): boolean {
  if (!Number.isFinite(value)) return false;
  switch (limit.kind) {
    case 'max': return Math.abs(value) <= limit.value;
    case 'min': return value >= limit.value;
    case 'range': return value >= limit.min && value <= limit.max;
    case 'condition': return false;
  }
}

/** A value in its unit, scaled for people: 1234 ns → "1.23 µs". */
export function display(value: number, unit: Unit): string {
  if (!Number.isFinite(value)) return String(value);
  switch (unit) {
    case 'ns': {
      const a = Math.abs(value);
      if (a >= 1e9) return `${(value / 1e9).toFixed(3)} s`;
      if (a >= 1e6) return `${(value / 1e6).toFixed(3)} ms`;
      if (a >= 1e3) return `${(value / 1e3).toFixed(2)} µs`;
      return `${Math.round(value)} ns`;
    }
    case 's': return `${value.toFixed(1)} s`;
    case 'Hz': return `${value.toFixed(3)} Hz`;
    case 'ratio': return `${(value * 100).toFixed(0)} %`;
    case 'count': return String(value);
    case 'none': return String(value);
  }
}

/** The threshold column: "≤ 5.00 µs", "0.950 Hz … 1.050 Hz", "≥ 80 %". A `max` limit bounds |value|. */
export function describeLimit(limit: Limit, unit: Unit): string {
  switch (limit.kind) {
    case 'max': return `≤ ${display(limit.value, unit)}`;
    case 'min': return `≥ ${display(limit.value, unit)}`;
    case 'range': return limit.min === limit.max ? `= ${display(limit.min, unit)}` : `${display(limit.min, unit)} … ${display(limit.max, unit)}`;
    case 'condition': return limit.text;
  }
}
