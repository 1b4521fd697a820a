/**
 * The served timescale: raw system clock + the correction the discipline knows and the kernel
 * has not absorbed (chrony's "cooked time"; ARCHITECTURE.md principle 4).
 *
 * The server stamps every packet through `writeNtp`, so it must not allocate.
 */
import type { RealtimeClock, TimeSpec } from './clock.js';
import { newTimeSpec } from './clock.js';

const NTP_UNIX_EPOCH_OFFSET_S = 2_208_988_800;
const TWO32 = 4_294_967_296;
/** 2^32 / 1e9: NTP fraction units per nanosecond. */
const FRACTION_PER_NS = 4.294967296;

export class Timescale {
  /**
   * Served time minus raw clock, nanoseconds: + means served time is ahead of the raw system
   * clock (the raw clock is slow). Set only by the discipline.
   */
  private correctionNs = 0;
  private readonly scratch: TimeSpec = newTimeSpec();

  constructor(private readonly raw: RealtimeClock) {}

  /** Precision to advertise, log2 seconds (RFC 5905 "precision"): the clock's measured resolution. */
  get precisionLog2S(): number {
    return Math.ceil(Math.log2(Math.max(this.raw.resolutionNs, 1) / 1e9));
  }

  get source(): string {
    return this.raw.source;
  }

  /** Replaces the correction (called by the discipline on each update). */
  setCorrectionNs(correctionNs: number): void {
    this.correctionNs = correctionNs;
  }

  getCorrectionNs(): number {
    return this.correctionNs;
  }

  /** Reads served time into `out` (Unix seconds + nanoseconds). */
  read(out: TimeSpec): void {
    this.raw.read(out);
    const totalNs = out.nsec + this.correctionNs;
    const carry = Math.floor(totalNs / 1e9);
    out.sec += carry;
    out.nsec = totalNs - carry * 1e9;
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
  return (t.sec + NTP_UNIX_EPOCH_OFFSET_S) % TWO32;
}

/** NTP fraction field (u32) for a Unix TimeSpec. */
export function ntpFractionOf(t: TimeSpec): number {
  return Math.floor(t.nsec * FRACTION_PER_NS);
}

/** Unix TimeSpec → big-endian NTP timestamp. */
export function writeNtpFromTimeSpec(buf: Buffer, offset: number, t: TimeSpec): void {
  buf.writeUInt32BE(ntpSecondsOf(t), offset);
  buf.writeUInt32BE(ntpFractionOf(t), offset + 4);
}
