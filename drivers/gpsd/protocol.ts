/**
 * gpsd's JSON protocol, client side (pure: bytes in, typed messages out; ARCHITECTURE.md principle 1).
 *
 * gpsd sends one JSON object per line (CR LF), each with a "class". Only what a time source needs is
 * decoded: VERSION, DEVICES/DEVICE, WATCH, TPV, SKY, PPS, TOFF, ERROR (gpsd_json(5)). Everything else
 * (ATT, GST, AIS, ...) is counted as `unknownClass` and ignored, as gpsd's own clients do. Nothing here
 * throws on input: a bad line is counted and skipped, so a gpsd from the future or a wrong port costs
 * counters, not the daemon.
 *
 * Time is exact integers (principle 2): TPV's ISO 8601 `time` is parsed by hand into Unix nanoseconds
 * because Date keeps milliseconds only (and is not allowed in the pure core); PPS/TOFF carry
 * (sec, nsec) integer pairs that are combined without passing through a float.
 */
import { civilDays } from '../../src/ntp/calendar.js';

/**
 * Longest line accepted. gpsd bounds its own responses (GPS_JSON_RESPONSE_MAX, a few KiB); a SKY with
 * every satellite of four constellations is the longest it sends. Anything longer is not gpsd.
 */
export const MAX_LINE_BYTES = 16_384;

/** The WATCH that asks for JSON reports plus PPS and TOFF messages ("pps":true enables both). */
export const WATCH_COMMAND = '?WATCH={"enable":true,"json":true,"pps":true};\n';

/** gpsd's TPV mode: 0 unknown (no data yet), 1 no fix, 2 2D, 3 3D. */
export type GpsdMode = 0 | 1 | 2 | 3;

/**
 * A (reference, local clock) pair as gpsd reports it in PPS and TOFF.
 * The core's offsetNs = clockNs − realNs; + means the local clock is ahead (the driver contract's sign).
 */
export interface GpsdTimePair {
  /** Reference (GPS) time: `real_sec`/`real_nsec`. For PPS the second the edge marks (nsec normally 0). */
  readonly realNs: bigint;
  /**
   * Local CLOCK_REALTIME: `clock_sec`/`clock_nsec`. For PPS when the edge was seen (kernel or gpsd's
   * user-space stamp); for TOFF when the first byte of the reporting cycle was read.
   */
  readonly clockNs: bigint;
}

export type GpsdMessage =
  | { readonly class: 'VERSION'; readonly release: string; readonly protoMajor: number; readonly protoMinor: number }
  | { readonly class: 'DEVICES'; readonly devices: readonly GpsdDevice[] }
  | { readonly class: 'DEVICE'; readonly device: GpsdDevice }
  | { readonly class: 'WATCH'; readonly enable: boolean; readonly json: boolean; readonly pps: boolean }
  | {
    readonly class: 'TPV'; readonly device: string | null; readonly mode: GpsdMode;
    /** The fix time, Unix ns UTC; null when gpsd has none yet (no fix, or no date). */
    readonly timeNs: bigint | null;
    /** GPS − UTC in seconds, when the receiver told gpsd (u-blox binary does, NMEA does not). */
    readonly leapSeconds: number | null;
  }
  | {
    readonly class: 'SKY'; readonly device: string | null;
    readonly satellitesUsed: number | null; readonly satellitesVisible: number | null; readonly hdop: number | null;
  }
  | ({ readonly class: 'PPS' | 'TOFF'; readonly device: string | null;
    /** gpsd's estimate of the pulse's precision, log2 seconds (PPS only; null when absent). */
    readonly precision: number | null } & GpsdTimePair)
  | { readonly class: 'ERROR'; readonly message: string };

export interface GpsdDevice {
  readonly path: string;
  /** gpsd's driver name ("NMEA0183", "u-blox"), once it has recognised the data. */
  readonly driver: string | null;
  /** false when gpsd reports the device closed ("activated": 0 or absent on a DEVICE). */
  readonly activated: boolean;
}

/** Counter names are stable: status pages and tests match on them. */
export interface ProtocolCounters {
  /** Complete lines seen (blank lines excluded). */
  lines: number;
  /** Lines that are not a JSON object with a string "class". */
  garbage: number;
  /** Well-formed objects of a class this client does not use. */
  unknownClass: number;
  /** Objects of a known class whose fields are missing or out of range (e.g. a TPV time that is not ISO 8601). */
  badFields: number;
  /** Lines longer than MAX_LINE_BYTES; dropped. */
  overlong: number;
}

export function newProtocolCounters(): ProtocolCounters {
  return { lines: 0, garbage: 0, unknownClass: 0, badFields: 0, overlong: 0 };
}

const LF = 0x0a;

/**
 * Bounded line framing. gpsd writes whole lines, but TCP may cut them anywhere (also inside a UTF-8
 * character, hence bytes, not strings, until a line is complete).
 */
export class GpsdLineFramer {
  private parts: Buffer[] = [];
  private partBytes = 0;
  /** Inside a line that already exceeded the bound: skip to its LF. */
  private discarding = false;

  constructor(private readonly counters: ProtocolCounters, private readonly maxLineBytes = MAX_LINE_BYTES) {}

  push(chunk: Buffer): string[] {
    const lines: string[] = [];
    let start = 0;
    for (;;) {
      const lf = chunk.indexOf(LF, start);
      const end = lf < 0 ? chunk.length : lf;
      if (!this.discarding) {
        if (this.partBytes + end - start > this.maxLineBytes) {
          this.counters.overlong += 1;
          this.discarding = true;
          this.parts = [];
          this.partBytes = 0;
        } else if (end > start) {
          this.parts.push(chunk.subarray(start, end));
          this.partBytes += end - start;
        }
      }
      if (lf < 0) break;
      if (!this.discarding) {
        const line = Buffer.concat(this.parts, this.partBytes).toString('utf8').replace(/\r$/, '');
        if (line.trim() !== '') lines.push(line);
      }
      this.parts = [];
      this.partBytes = 0;
      this.discarding = false;
      start = lf + 1;
    }
    // Copy what is kept: the caller's chunk buffer may be reused.
    if (this.parts.length > 0) this.parts = [Buffer.from(Buffer.concat(this.parts, this.partBytes))];
    return lines;
  }

  /** Drops a partial line (after a reconnect the rest of it will never come). */
  reset(): void {
    this.parts = [];
    this.partBytes = 0;
    this.discarding = false;
  }
}

type Json = Record<string, unknown>;

const str = (o: Json, k: string): string | null => (typeof o[k] === 'string' ? o[k] as string : null);
const num = (o: Json, k: string): number | null => (typeof o[k] === 'number' && Number.isFinite(o[k]) ? o[k] as number : null);
const int = (o: Json, k: string): number | null => {
  const v = num(o, k);
  return v !== null && Number.isSafeInteger(v) ? v : null;
};

/** One complete line → a message, or null (counted) when it is not one this client uses. */
export function parseGpsdLine(line: string, counters: ProtocolCounters): GpsdMessage | null {
  counters.lines += 1;
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    counters.garbage += 1;
    return null;
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value) || typeof (value as Json).class !== 'string') {
    counters.garbage += 1;
    return null;
  }
  const o = value as Json;
  const message = decode(o);
  if (message === undefined) counters.unknownClass += 1;
  else if (message === null) counters.badFields += 1;
  return message ?? null;
}

/** undefined: unknown class; null: known class, unusable fields. */
function decode(o: Json): GpsdMessage | null | undefined {
  const device = str(o, 'device');
  switch (o.class) {
    case 'VERSION': {
      const release = str(o, 'release');
      const protoMajor = int(o, 'proto_major');
      const protoMinor = int(o, 'proto_minor');
      return release === null || protoMajor === null || protoMinor === null ? null
        : { class: 'VERSION', release, protoMajor, protoMinor };
    }
    case 'DEVICES': {
      if (!Array.isArray(o.devices)) return null;
      const devices = o.devices.map(decodeDevice);
      return devices.some((d) => d === null) ? null : { class: 'DEVICES', devices: devices as GpsdDevice[] };
    }
    case 'DEVICE': {
      const d = decodeDevice(o);
      return d === null ? null : { class: 'DEVICE', device: d };
    }
    case 'WATCH':
      return { class: 'WATCH', enable: o.enable !== false, json: o.json === true, pps: o.pps === true };
    case 'TPV': {
      const mode = int(o, 'mode') ?? 0;
      if (mode < 0 || mode > 3) return null;
      let timeNs: bigint | null = null;
      if (o.time !== undefined) {
        const text = str(o, 'time');
        timeNs = text === null ? null : parseIsoTimeNs(text);
        if (timeNs === null) return null;
      }
      return { class: 'TPV', device, mode: mode as GpsdMode, timeNs, leapSeconds: int(o, 'leapseconds') };
    }
    case 'SKY': {
      const satellites = Array.isArray(o.satellites) ? o.satellites as unknown[] : null;
      const used = satellites?.filter((s) => typeof s === 'object' && s !== null && (s as Json).used === true).length;
      return {
        class: 'SKY', device,
        // gpsd 3.20+ sends uSat/nSat; older ones only the satellite list.
        satellitesUsed: int(o, 'uSat') ?? used ?? null,
        satellitesVisible: int(o, 'nSat') ?? satellites?.length ?? null,
        hdop: num(o, 'hdop'),
      };
    }
    case 'PPS':
    case 'TOFF': {
      const realNs = secNsec(o, 'real_sec', 'real_nsec');
      const clockNs = secNsec(o, 'clock_sec', 'clock_nsec');
      if (realNs === null || clockNs === null) return null;
      return { class: o.class, device, realNs, clockNs, precision: int(o, 'precision') };
    }
    case 'ERROR':
      return { class: 'ERROR', message: str(o, 'message') ?? '' };
    default:
      return undefined;
  }
}

function decodeDevice(d: unknown): GpsdDevice | null {
  if (typeof d !== 'object' || d === null) return null;
  const path = str(d as Json, 'path');
  if (path === null) return null;
  // "activated" is an ISO time while open, 0 (or missing) once gpsd has closed the device.
  const activated = (d as Json).activated;
  return { path, driver: str(d as Json, 'driver'), activated: typeof activated === 'string' || (typeof activated === 'number' && activated > 0) };
}

function secNsec(o: Json, secKey: string, nsecKey: string): bigint | null {
  const sec = int(o, secKey);
  const nsec = int(o, nsecKey);
  if (sec === null || nsec === null || sec < 0 || nsec < 0 || nsec >= 1_000_000_000) return null;
  return BigInt(sec) * 1_000_000_000n + BigInt(nsec);
}

const ISO_TIME = /^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d+))?Z$/;

/**
 * gpsd's TPV time ("2015-04-13T20:26:40.000Z", 0-9 fraction digits) → Unix ns, exactly; null if malformed.
 * A leap second (":60") maps onto the first instant of the next minute, as POSIX time must.
 */
export function parseIsoTimeNs(text: string): bigint | null {
  const m = ISO_TIME.exec(text);
  if (m === null) return null;
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number) as [number, number, number, number, number, number];
  const days = civilDays(year, month, day);
  if (days === null || hour > 23 || minute > 59 || second > 60) return null;
  // Digits past nanoseconds are truncated, like every other time in Gnomon.
  const fraction = (m[7] ?? '').slice(0, 9).padEnd(9, '0');
  const seconds = days * 86_400 + hour * 3600 + minute * 60 + second;
  return BigInt(seconds) * 1_000_000_000n + BigInt(fraction);
}
