/**
 * Parsing what the box prints (pure): `gnomon status --json`, `ntpq -p` / `gnomon peers`, the
 * kernel's sysfs PPS `assert`, and `ntpdig -j`.
 *
 * The runner reads another machine's output, possibly from another Gnomon version, so it keeps
 * its own narrow view of the status (StatusView) instead of importing the daemon's types, and
 * says which field is missing rather than failing on `undefined` later.
 */
import { NMEA_FRESH_NS, NMEA_LOST_NS } from './thresholds.js';

export interface RefclockView {
  readonly name: string;
  /** Octal reach register as printed ("377"). */
  readonly reach: string;
  /** "3d", "2d", "none", or null when the refclock reports no fix. */
  readonly fixMode: string | null;
  /** The source's offset against the raw system clock (+ = the clock is ahead), ns; null before an estimate. */
  readonly offsetNs: number | null;
  readonly jitterNs: number | null;
  /** The pairing's phase state ("ok", "learning", ...); null for sources without one. */
  readonly phaseState: string | null;
  readonly labelledBy: string | null;
  readonly lastRejectReason: string | null;
  /** Age of the latest timecode (NMEA), ns; null for pulse sources. */
  readonly lastTimecodeAgeNs: number | null;
  readonly counters: Readonly<Record<string, number>>;
  /** The first driver's state ("running", "reconnecting", ...) and counters. */
  readonly driverState: string | null;
  readonly driverCounters: Readonly<Record<string, number>>;
}

export interface StatusView {
  readonly synchronised: boolean;
  readonly stratum: number;
  readonly leap: number;
  readonly refid: string;
  /** tracking | holdover | local | none */
  readonly state: string;
  readonly selected: string;
  /** Served time − raw system clock, ns. */
  readonly correctionNs: number;
  /** The NMEA (or gpsd) refclock, if configured. */
  readonly nmea: RefclockView | null;
  /** The PPS refclock, if configured. */
  readonly pps: RefclockView | null;
}

type Json = Record<string, unknown>;

function obj(v: unknown, where: string): Json {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error(`gnomon status --json: ${where} is not an object`);
  return v as Json;
}

function num(o: Json, key: string, where: string): number {
  const v = o[key];
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new Error(`gnomon status --json: ${where}.${key} is not a number`);
  return v;
}

function str(o: Json, key: string, where: string): string {
  const v = o[key];
  if (typeof v !== 'string') throw new Error(`gnomon status --json: ${where}.${key} is not a string`);
  return v;
}

function optNum(v: unknown): number | null {
  return typeof v === 'number' && Number.isFinite(v) ? v : null;
}

function optStr(v: unknown): string | null {
  return typeof v === 'string' ? v : null;
}

function counters(v: unknown): Record<string, number> {
  const out: Record<string, number> = {};
  if (typeof v !== 'object' || v === null) return out;
  for (const [k, x] of Object.entries(v as Json)) if (typeof x === 'number') out[k] = x;
  return out;
}

function refclockView(v: unknown, i: number): RefclockView {
  const where = `refclocks[${i}]`;
  const r = obj(v, where);
  const estimate = typeof r.estimate === 'object' && r.estimate !== null ? (r.estimate as Json) : null;
  const fix = typeof r.fix === 'object' && r.fix !== null ? (r.fix as Json) : null;
  const phase = typeof r.phase === 'object' && r.phase !== null ? (r.phase as Json) : null;
  const drivers = Array.isArray(r.drivers) ? r.drivers : [];
  const driver = typeof drivers[0] === 'object' && drivers[0] !== null ? (drivers[0] as Json) : null;
  return {
    name: str(r, 'name', where),
    reach: typeof r.reach === 'string' ? r.reach : String(r.reach ?? ''),
    fixMode: fix ? optStr(fix.mode) : null,
    offsetNs: estimate ? optNum(estimate.offsetNs) : null,
    jitterNs: estimate ? optNum(estimate.jitterNs) : null,
    phaseState: phase ? optStr(phase.state) : null,
    labelledBy: optStr(r.labelledBy),
    lastRejectReason: optStr(r.lastRejectReason),
    lastTimecodeAgeNs: optNum(r.lastTimecodeAgeNs),
    counters: counters(r.counters),
    driverState: driver ? optStr(driver.state) : null,
    driverCounters: counters(driver?.counters),
  };
}

/** `gnomon status --json` → StatusView; throws naming the first missing field. */
export function parseStatus(text: string): StatusView {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new Error(`gnomon status --json: not JSON: ${JSON.stringify(text.slice(0, 120))}`);
  }
  const top = obj(raw, 'the answer');
  const server = obj(top.server, 'server');
  const refclocks = Array.isArray(top.refclocks) ? top.refclocks.map(refclockView) : [];
  const isPps = (r: RefclockView) => r.name.startsWith('PPS') || (r.driverState !== null && 'pulses' in r.driverCounters && !('sentences' in r.driverCounters));
  const pps = refclocks.find(isPps) ?? null;
  const nmea = refclocks.find((r) => r !== pps && (r.name.startsWith('GPS') || 'sentences' in r.driverCounters || r.fixMode !== null)) ?? null;
  return {
    synchronised: server.synchronised === true,
    stratum: num(server, 'stratum', 'server'),
    leap: num(server, 'leap', 'server'),
    refid: str(server, 'refid', 'server'),
    state: str(server, 'state', 'server'),
    selected: str(server, 'selected', 'server'),
    correctionNs: num(server, 'correctionNs', 'server'),
    nmea,
    pps,
  };
}

/** The box serves stratum 1 from its PPS: what "locked" means for every check and scenario. */
export function ppsTracking(s: StatusView): boolean {
  return s.state === 'tracking' && s.stratum === 1 && s.leap !== 3 && s.pps !== null && s.selected === s.pps.name;
}

/** NMEA flowing with a fix: the driver runs, the latest timecode is fresh, and the receiver reports 2d/3d. */
export function nmeaWithFix(s: StatusView, maxAgeNs = NMEA_FRESH_NS): boolean {
  const n = s.nmea;
  return n !== null && (n.driverState === null || n.driverState === 'running') && n.lastTimecodeAgeNs !== null
    && n.lastTimecodeAgeNs <= maxAgeNs && (n.fixMode === '2d' || n.fixMode === '3d');
}

/** NMEA interrupted: the driver is not running (device gone, reconnecting) or its latest timecode is older than `ageNs`. */
export function nmeaInterrupted(s: StatusView, ageNs = NMEA_LOST_NS): boolean {
  const n = s.nmea;
  if (n === null) return true;
  return (n.driverState !== null && n.driverState !== 'running') || n.lastTimecodeAgeNs === null || n.lastTimecodeAgeNs > ageNs;
}

/** The PPS source's offset against the served (disciplined) time, ns: its offset against the raw clock + the correction. */
export function ppsOffsetVsServedNs(s: StatusView): number | null {
  return s.pps?.offsetNs === null || s.pps?.offsetNs === undefined ? null : s.pps.offsetNs + s.correctionNs;
}

// ---------------------------------------------------------------------------------------------

export interface PeerRow {
  /** The tally character: ' ', 'x', '.', '-', '+', '#', '*', 'o'. */
  readonly tally: string;
  readonly remote: string;
  readonly refid: string;
  readonly stratum: number;
  readonly reach: string;
  /** ms, as printed. */
  readonly delayMs: number;
  readonly offsetMs: number;
  readonly jitterMs: number;
}

/**
 * `ntpq -p`/`-pn` (NTPsec or classic) or `gnomon peers`: the rows under the `=====` line. A
 * remote too long for its column makes ntpq wrap the rest onto the next line; that is joined.
 */
export function parsePeers(text: string): PeerRow[] {
  const lines = text.split('\n');
  const start = lines.findIndex((l) => /^=+\s*$/.test(l.trim()));
  if (start < 0) throw new Error(`ntpq -p: no ===== line in ${JSON.stringify(text.slice(0, 200))}`);
  const rows: PeerRow[] = [];
  for (let i = start + 1; i < lines.length; i++) {
    let line = lines[i] ?? '';
    if (line.trim() === '') continue;
    let fields = line.slice(1).trim().split(/\s+/);
    if (fields.length === 1 && i + 1 < lines.length) {
      line = `${line} ${lines[i + 1] ?? ''}`;
      i++;
      fields = line.slice(1).trim().split(/\s+/);
    }
    if (fields.length < 10) continue;
    const n = fields.length;
    rows.push({
      tally: line[0] ?? ' ',
      remote: fields[0] ?? '',
      refid: fields[1] ?? '',
      stratum: Number(fields[2]),
      reach: fields[n - 4] ?? '',
      delayMs: Number(fields[n - 3]),
      offsetMs: Number(fields[n - 2]),
      jitterMs: Number(fields[n - 1]),
    });
  }
  return rows;
}

/** The PPS row of a peers table: remote "PPS(0)" (or ntpd's 127.127.22.u) or refid .PPS. */
export function ppsPeer(rows: readonly PeerRow[]): PeerRow | undefined {
  return rows.find((r) => r.remote.startsWith('PPS') || r.remote.startsWith('127.127.22.') || r.refid === '.PPS.');
}

// ---------------------------------------------------------------------------------------------

export interface AssertReading {
  /** The edge's timestamp, ns since the Unix epoch (the kernel's CLOCK_REALTIME at the interrupt). */
  readonly ns: bigint;
  readonly seq: number;
}

/** `/sys/class/pps/ppsN/assert`: `SEC.NSEC#SEQ`. Throws on anything else (an empty file: no assert capture). */
export function parseAssert(text: string): AssertReading {
  const m = /^(\d+)\.(\d{9})#(\d+)$/.exec(text.trim());
  if (!m) throw new Error(`PPS assert: expected SEC.NSEC#SEQ, got ${JSON.stringify(text.trim())}`);
  return { ns: BigInt(m[1]!) * 1_000_000_000n + BigInt(m[2]!), seq: Number(m[3]) };
}

/** Signed distance of an instant (ns) from the nearest whole second, ns in (-5e8, 5e8]. */
export function distanceFromSecondNs(ns: bigint): number {
  let frac = Number(((ns % 1_000_000_000n) + 1_000_000_000n) % 1_000_000_000n);
  if (frac > 500_000_000) frac -= 1_000_000_000;
  return frac;
}

// ---------------------------------------------------------------------------------------------

export interface ClientAnswer {
  readonly stratum: number;
  /** "no-leap", "add-leap", "del-leap", "unsync", or a number as text. */
  readonly leap: string;
  /** Server − client clock, s (+ = the server is ahead). */
  readonly offsetS: number;
}

/** `ntpdig -j HOST`: the JSON line. Throws with ntpdig's stderr reason if there is none. */
export function parseNtpdig(stdout: string, stderr = ''): ClientAnswer {
  const line = stdout.split('\n').find((l) => l.trim().startsWith('{'));
  if (line === undefined) {
    const why = /Response dropped: (.*)$/m.exec(stderr)?.[1] ?? (stderr.trim().split('\n').pop() || 'no answer');
    throw new Error(`ntpdig: ${why}`);
  }
  const j = JSON.parse(line) as Json;
  if (typeof j.stratum !== 'number') throw new Error('ntpdig -j: no stratum');
  return { stratum: j.stratum, leap: String(j.leap ?? ''), offsetS: typeof j.offset === 'number' ? j.offset : Number(j.offset) };
}

/** `gnomon query HOST --json` (the fallback client when ntpdig is missing): its first answer. */
export function parseGnomonQuery(stdout: string): ClientAnswer {
  const arr = JSON.parse(stdout) as unknown;
  const first = Array.isArray(arr) ? (arr[0] as Json | undefined) : undefined;
  if (!first || typeof first.stratum !== 'number') throw new Error(`gnomon query --json: no answer in ${stdout.slice(0, 200)}`);
  const offset = typeof first.offsetS === 'number' ? first.offsetS : typeof first.offset === 'number' ? first.offset : NaN;
  return { stratum: first.stratum, leap: String(first.leap ?? ''), offsetS: offset };
}
