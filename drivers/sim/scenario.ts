/**
 * What a simulated GPS receiver does each second, and when the host sees it (pure).
 *
 * The simulator's timeline counts SI seconds `gpsSec` (Unix seconds, UTC, before any leap second
 * this scenario inserts). For each one it plans, in host CLOCK_REALTIME nanoseconds:
 *
 * - the PPS edge: `gpsSec × 1e9 + offsetNs + jitter`, where
 *   `offsetNs = offsetMs × 1e6 + driftPpm × 1e3 × elapsed seconds` (+ = the host clock is ahead of
 *   GPS, ARCHITECTURE.md's sign) and jitter is Gaussian with σ = `ppsJitterUs` (interrupt latency);
 *   this is the timestamp the kernel's pps-gpio handler would have taken;
 * - the NMEA burst labelling that edge, starting `nmeaDelayMs` (± a few ms) after the edge and
 *   paced as a UART at `baud` sends it: each chunk (a sentence or a garbage burst) is due when its
 *   last byte would have arrived, so a reader that stamps "arrival − transmission time of the
 *   bytes" (drivers/nmea/framing.ts) recovers the burst's start.
 *
 * Randomness comes from a PRNG keyed by (seed, second, stream), so a seed gives the same run,
 * second by second, whatever the host did. Nothing here reads a clock; run.ts does.
 */
import { gaussian, mulberry32 } from '../../src/clock/simulated.js';
import { activeFaults, unpluggedAt, type FaultName, type FaultSpec } from './faults.js';
import {
  antennaBody, epochBodies, nmeaSentence, ubxFrame, type EpochLabel, type ReceiverStyle,
} from './sentences.js';

export interface ScenarioOptions {
  readonly receiver: ReceiverStyle;
  /** Host clock minus GPS time at the first pulse, ms (+ = host ahead). */
  readonly offsetMs: number;
  /** How fast that offset grows, ppm (+10 → +10 µs more each second). */
  readonly driftPpm: number;
  /** Standard deviation of the PPS timestamp's jitter, µs. */
  readonly ppsJitterUs: number;
  /** Edge to the first NMEA byte, ms; default per receiver (DEFAULT_NMEA_DELAY_MS). */
  readonly nmeaDelayMs?: number;
  readonly faults: readonly FaultSpec[];
  readonly seed: number;
  /** UART speed the bursts are paced at (default 9600). */
  readonly baud?: number;
}

/** u-blox M8 starts its NMEA ~100 ms after the pulse; an MT3339 about half a second after. */
export const DEFAULT_NMEA_DELAY_MS: Readonly<Record<ReceiverStyle, number>> = { ublox: 110, mtk: 500 };
/** The NMEA start wanders uniformly by ± this much, ms (the receiver's CPU load). */
export const NMEA_DELAY_JITTER_MS = 4;
export const DEFAULT_BAUD = 9600;
/** 1024 GPS weeks: how far back a receiver past its firmware's rollover prints dates. */
const ROLLOVER_DAYS = 1024 * 7;

export interface SimChunk {
  /** Host CLOCK_REALTIME when the chunk's last byte has arrived: write it then. */
  readonly hostNs: bigint;
  readonly bytes: Uint8Array;
  readonly kind: 'sentence' | 'garbage';
}

export interface SimSecond {
  /** 0 for the first simulated pulse. */
  readonly index: number;
  /** The SI second on the simulator's timeline (Unix seconds, no leap inserted). */
  readonly gpsSec: number;
  /** What the NMEA says this edge is (after leap-second, wrong-second and rollover faults). */
  readonly label: EpochLabel;
  /** Host minus GPS at this second without jitter, ns (+ = host ahead). */
  readonly offsetNs: number;
  /** The PPS edge (null under `no-pps`); sequence is the kernel's count, 1 for the first edge. */
  readonly edge: { readonly hostNs: bigint; readonly sequence: number } | null;
  /** When the first NMEA byte arrives, host ns (also when there are no chunks). */
  readonly nmeaStartNs: bigint;
  /** Empty under `no-nmea` and while unplugged. */
  readonly chunks: readonly SimChunk[];
  /** `unplug`: the serial device is gone during this second. */
  readonly unplugged: boolean;
  readonly faults: ReadonlySet<FaultName>;
}

export class Scenario {
  readonly nmeaDelayMs: number;
  readonly baud: number;
  /** The simulator-timeline second at which 23:59:60 is printed, or null (no `leap-second` fault). */
  readonly leapSec: number | null;
  private index = 0;
  private sequence = 0;
  private readonly byteTimeNs: number;

  /** @param startGpsSec the GPS second (Unix s) of the first pulse */
  constructor(private readonly options: ScenarioOptions, readonly startGpsSec: number) {
    this.nmeaDelayMs = options.nmeaDelayMs ?? DEFAULT_NMEA_DELAY_MS[options.receiver];
    this.baud = options.baud ?? DEFAULT_BAUD;
    this.byteTimeNs = 10e9 / this.baud;
    const leap = options.faults.find((f) => f.name === 'leap-second');
    // Inserted at the end of the UTC day in which the fault starts, as IERS bulletins schedule them.
    this.leapSec = leap === undefined ? null : (Math.floor((startGpsSec + leap.startS) / 86_400) + 1) * 86_400;
  }

  /** Host minus GPS at second `index` without jitter, ns. */
  offsetNsAt(index: number): number {
    return this.options.offsetMs * 1e6 + this.options.driftPpm * 1e3 * index;
  }

  /** The UTC label a truthful receiver prints for `gpsSec` (with the scheduled leap second, if any). */
  utcLabel(gpsSec: number): EpochLabel {
    if (this.leapSec !== null && gpsSec >= this.leapSec) {
      if (gpsSec === this.leapSec) return { days: gpsSec / 86_400 - 1, secondOfDay: 86_400 };
      gpsSec -= 1;
    }
    return { days: Math.floor(gpsSec / 86_400), secondOfDay: gpsSec % 86_400 };
  }

  /** The plan for the next second. */
  next(): SimSecond {
    const index = this.index++;
    const o = this.options;
    const gpsSec = this.startGpsSec + index;
    const faults = activeFaults(o.faults, index);
    const unplugged = unpluggedAt(o.faults, index);
    const rand = prng(o.seed, index);
    const offsetNs = this.offsetNsAt(index);
    const baseNs = BigInt(gpsSec) * 1_000_000_000n + BigInt(Math.round(offsetNs));

    let edge: SimSecond['edge'] = null;
    if (!faults.has('no-pps')) {
      const sigmaNs = o.ppsJitterUs * 1e3;
      const jitterNs = sigmaNs > 0 ? Math.max(-4 * sigmaNs, Math.min(4 * sigmaNs, gaussian(rand) * sigmaNs)) : 0;
      edge = { hostNs: baseNs + BigInt(Math.round(jitterNs)), sequence: ++this.sequence };
    }

    const delayNs = Math.max(0, (this.nmeaDelayMs + (rand() * 2 - 1) * NMEA_DELAY_JITTER_MS) * 1e6);
    const nmeaStartNs = baseNs + BigInt(Math.round(delayNs));

    // wrong-second: the label of the next edge, i.e. what a receiver that announces the coming second prints.
    let label = this.utcLabel(faults.has('wrong-second') ? gpsSec + 1 : gpsSec);
    if (faults.has('week-rollover')) label = { days: label.days - ROLLOVER_DAYS, secondOfDay: label.secondOfDay };

    const chunks = faults.has('no-nmea') || unplugged ? [] : this.burst(index, label, faults, rand, nmeaStartNs);
    return { index, gpsSec, label, offsetNs, edge, nmeaStartNs, chunks, unplugged, faults };
  }

  private burst(index: number, label: EpochLabel, faults: ReadonlySet<FaultName>, rand: () => number, startNs: bigint): SimChunk[] {
    const style = this.options.receiver;
    const fix = !faults.has('fix-loss') && !faults.has('antenna-unplugged');
    const bodies = epochBodies(style, { label, fix, index });
    const antenna = this.options.faults.find((f) => f.name === 'antenna-unplugged');
    if (antenna !== undefined) {
      // u-blox reports the antenna on each change; the MTK's PGTOP comes every second while it lasts.
      if (faults.has('antenna-unplugged') && (style === 'mtk' || index === antenna.startS)) bodies.push(antennaBody(style, true));
      if (style === 'ublox' && antenna.durationS !== null && index === antenna.startS + antenna.durationS) bodies.push(antennaBody(style, false));
    }
    const pieces: Array<{ bytes: Uint8Array; kind: SimChunk['kind'] }> =
      bodies.map((b) => ({ bytes: ascii(nmeaSentence(b) + '\r\n'), kind: 'sentence' }));
    if (faults.has('garbage')) {
      // One or two bursts, never before the first sentence (whose first byte dates the epoch).
      const bursts = 1 + Math.floor(rand() * 2);
      for (let k = 0; k < bursts; k++) {
        const at = 1 + Math.floor(rand() * pieces.length);
        pieces.splice(at, 0, { bytes: garbageBytes(rand), kind: 'garbage' });
      }
    }
    const out: SimChunk[] = [];
    let sent = 0;
    for (const p of pieces) {
      sent += p.bytes.length;
      out.push({ hostNs: startNs + BigInt(Math.round((sent - 1) * this.byteTimeNs)), bytes: p.bytes, kind: p.kind });
    }
    return out;
  }
}

function ascii(text: string): Uint8Array {
  const out = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) out[i] = text.charCodeAt(i);
  return out;
}

/** A UBX frame with a random payload (NAV-PVT, NAV-TIMEUTC or NAV-SAT shaped), or 8-40 random bytes. */
function garbageBytes(rand: () => number): Uint8Array {
  if (rand() < 0.5) {
    const shapes: ReadonlyArray<readonly [number, number, number]> = [[0x01, 0x07, 92], [0x01, 0x21, 20], [0x01, 0x35, 32]];
    const [cls, id, len] = shapes[Math.floor(rand() * shapes.length)]!;
    return ubxFrame(cls, id, randomBytes(rand, len));
  }
  return randomBytes(rand, 8 + Math.floor(rand() * 33));
}

function randomBytes(rand: () => number, n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.floor(rand() * 256);
  return out;
}

/** mulberry32 keyed by (seed, second): each second's randomness is independent of the others'. */
export function prng(seed: number, index: number): () => number {
  return mulberry32((Math.imul(seed | 0, 0x9e3779b1) ^ Math.imul(index + 1, 0x85ebca6b)) >>> 0);
}
