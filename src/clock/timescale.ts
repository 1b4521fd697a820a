/**
 * The served timescale: raw system clock + the correction the discipline knows and the kernel
 * has not absorbed (chrony's "cooked time"; ARCHITECTURE.md principle 4).
 *
 * The server stamps every packet through `writeNtp`, so it must not allocate.
 */
import type { RealtimeClock, TimeSpec } from './clock.js';
import { newTimeSpec } from './clock.js';
import { writeNtpWords } from '../ntp/timestamp.js';

const NTP_UNIX_EPOCH_OFFSET_S = 2_208_988_800;
/** 2^32 / 1e9: NTP fraction units per nanosecond. */
const FRACTION_PER_NS = 4.294967296;

export class Timescale {
  /**
   * Served time minus raw clock at raw time t0, nanoseconds: + means served time is ahead of the
   * raw system clock (the raw clock is slow). Set only by the discipline.
   */
  private correctionNs = 0;
  /** How fast the correction changes, ns per second of raw time (the discipline's −frequency). */
  private slopeNsPerS = 0;
  private t0Sec = 0;
  private t0Nsec = 0;
  private readonly scratch: TimeSpec = newTimeSpec();
  /** Told after every change of the line (the fast path's shared-memory mirror, src/server/fast/shared.ts). */
  private readonly mirrors: ((correctionNs: number, slopeNsPerS: number, t0Sec: number, t0Nsec: number) => void)[] = [];

  constructor(private readonly raw: RealtimeClock) {}

  /** Precision to advertise, log2 seconds (RFC 5905 "precision"): the clock's measured resolution. */
  get precisionLog2S(): number {
    return Math.ceil(Math.log2(Math.max(this.raw.resolutionNs, 1) / 1e9));
  }

  get source(): string {
    return this.raw.source;
  }

  /** A constant correction, ns (+ = served time ahead of the raw clock). */
  setCorrectionNs(correctionNs: number): void {
    this.setCorrectionLine(correctionNs, 0, 0, 0);
  }

  /**
   * A correction that changes linearly with raw time: correctionNs at raw instant (t0Sec,
   * t0Nsec), changing by slopeNsPerS per raw second. The discipline sets slope = −frequency
   * (ppm × 1000), so served time runs at the reference's rate while the raw clock drifts.
   */
  setCorrectionLine(correctionNs: number, slopeNsPerS: number, t0Sec: number, t0Nsec: number): void {
    this.correctionNs = correctionNs;
    this.slopeNsPerS = slopeNsPerS;
    this.t0Sec = t0Sec;
    this.t0Nsec = t0Nsec;
    for (const m of this.mirrors) m(correctionNs, slopeNsPerS, t0Sec, t0Nsec);
  }

  /** The correction line as set (the fast path copies it into a worker's shared memory). */
  line(): { correctionNs: number; slopeNsPerS: number; t0Sec: number; t0Nsec: number } {
    return { correctionNs: this.correctionNs, slopeNsPerS: this.slopeNsPerS, t0Sec: this.t0Sec, t0Nsec: this.t0Nsec };
  }

  /** Calls `mirror` with the correction line now and after every change. */
  onLine(mirror: (correctionNs: number, slopeNsPerS: number, t0Sec: number, t0Nsec: number) => void): void {
    this.mirrors.push(mirror);
    mirror(this.correctionNs, this.slopeNsPerS, this.t0Sec, this.t0Nsec);
  }

  /** The correction at raw time t (for status and the kernel hand-over), ns. */
  correctionAtNs(t: TimeSpec): number {
    return this.correctionNs + this.slopeNsPerS * ((t.sec - this.t0Sec) + (t.nsec - this.t0Nsec) / 1e9);
  }

  /** The correction now, ns. */
  getCorrectionNs(): number {
    this.raw.read(this.scratch);
    return this.correctionAtNs(this.scratch);
  }

  /** Reads served time into `out` (Unix seconds + nanoseconds). */
  read(out: TimeSpec): void {
    this.raw.read(out);
    // Number arithmetic only: this runs twice per served packet.
    const totalNs = out.nsec + Math.round(this.correctionNs + this.slopeNsPerS * ((out.sec - this.t0Sec) + (out.nsec - this.t0Nsec) / 1e9));
    const carry = Math.floor(totalNs / 1e9);
    out.sec += carry;
    out.nsec = totalNs - carry * 1e9;
  }

  /** Reads the raw system clock (no correction) into `out`: for comparing with kernel timestamps, which are raw too. */
  readRaw(out: TimeSpec): void {
    this.raw.read(out);
  }

  /**
   * Converts a raw clock reading taken earlier (a kernel receive timestamp, a `readRaw`) into
   * served time in place, with the correction at that raw instant. Same arithmetic as `read`; no
   * clock read, no allocation.
   */
  toServed(t: TimeSpec): void {
    const totalNs = t.nsec + Math.round(this.correctionNs + this.slopeNsPerS * ((t.sec - this.t0Sec) + (t.nsec - this.t0Nsec) / 1e9));
    const carry = Math.floor(totalNs / 1e9);
    t.sec += carry;
    t.nsec = totalNs - carry * 1e9;
  }

  /** Writes served "now" as a big-endian NTP timestamp at `offset`. */
  writeNtp(buf: Buffer, offset: number): void {
    const t = this.scratch;
    this.read(t);
    writeNtpFromTimeSpec(buf, offset, t);
  }
}

/** NTP seconds field (u32, era dropped as on the wire) for a Unix TimeSpec. */
export function ntpSecondsOf(t: TimeSpec): number {
  // Modulo 2^32 (the era wraps in 2036) as ToUint32, exact for an integer below 2^53: `% 2 ** 32`
  // on a number past int32 is a floating-point remainder (a C fmod call from JIT code), per reply.
  return (t.sec + NTP_UNIX_EPOCH_OFFSET_S) >>> 0;
}

/** NTP fraction field (u32) for a Unix TimeSpec. */
export function ntpFractionOf(t: TimeSpec): number {
  return Math.floor(t.nsec * FRACTION_PER_NS);
}

/** Unix TimeSpec → big-endian NTP timestamp (the dgram path stamps every reply here: writeNtpWords, no boxing). */
export function writeNtpFromTimeSpec(buf: Buffer, offset: number, t: TimeSpec): void {
  writeNtpWords(buf, offset, ntpSecondsOf(t), ntpFractionOf(t));
}
