/**
 * NTP time formats (RFC 5905 section 6) as integers, and the one place where eras are resolved.
 *
 * A 64-bit NTP timestamp is u32 seconds since 1900 (modulo 2^32, i.e. within an era) plus a u32
 * binary fraction. Eras roll over in 2036; arithmetic here is modular so differences are right
 * across the rollover as long as the two instants are within 68 years of each other.
 */
import { NTP_UNIX_EPOCH_OFFSET_S } from './constants.js';

export interface NtpTimestamp {
  /** Seconds since the start of the era (u32). */
  readonly seconds: number;
  /** Binary fraction of a second (u32), units of 2^-32 s. */
  readonly fraction: number;
}

const TWO32 = 4_294_967_296;
const TWO32N = 4_294_967_296n;
const NS_PER_S = 1_000_000_000n;
/** Length of one NTP era, seconds. */
export const NTP_ERA_S = TWO32;

export const ZERO_TIMESTAMP: NtpTimestamp = { seconds: 0, fraction: 0 };

export function isZero(ts: NtpTimestamp): boolean {
  return ts.seconds === 0 && ts.fraction === 0;
}

/** NTP timestamp for an instant in nanoseconds since the Unix epoch (era dropped). */
export function ntpFromUnixNs(unixNs: bigint): NtpTimestamp {
  const ntpNs = unixNs + BigInt(NTP_UNIX_EPOCH_OFFSET_S) * NS_PER_S;
  let secs = ntpNs / NS_PER_S;
  let remNs = ntpNs % NS_PER_S;
  if (remNs < 0n) {
    remNs += NS_PER_S;
    secs -= 1n;
  }
  const fraction = Number((remNs * TWO32N) / NS_PER_S);
  return { seconds: Number(((secs % TWO32N) + TWO32N) % TWO32N), fraction };
}

/**
 * Unix nanoseconds for an NTP timestamp, choosing the era that puts the result closest to
 * `pivotUnixNs` (RFC 5905: "the era is resolved from an external source of time").
 */
export function unixNsFromNtp(ts: NtpTimestamp, pivotUnixNs: bigint): bigint {
  const pivot = ntpFromUnixNs(pivotUnixNs);
  const deltaNs = ntpDiffNs(ts, pivot);
  return pivotUnixNs + deltaNs;
}

/** a - b in nanoseconds, assuming |a - b| < 68 years (modular over eras). */
export function ntpDiffNs(a: NtpTimestamp, b: NtpTimestamp): bigint {
  let ds = (a.seconds - b.seconds) | 0; // wraps to the signed 32-bit difference
  let df = a.fraction - b.fraction;
  if (df < 0) {
    df += TWO32;
    ds -= 1;
  }
  return BigInt(ds) * NS_PER_S + (BigInt(df) * NS_PER_S) / TWO32N;
}

/** a - b in seconds as a float; for offsets and delays, which are small. */
export function ntpDiffSeconds(a: NtpTimestamp, b: NtpTimestamp): number {
  const ds = (a.seconds - b.seconds) | 0;
  return ds + (a.fraction - b.fraction) / TWO32;
}

/** Adds a signed number of nanoseconds (|ns| < 2^53) modulo the era. */
export function ntpAddNs(ts: NtpTimestamp, ns: number): NtpTimestamp {
  const fracDelta = (ns % 1e9) * 4.294967296;
  let secs = ts.seconds + Math.trunc(ns / 1e9);
  let frac = ts.fraction + Math.round(fracDelta);
  while (frac >= TWO32) {
    frac -= TWO32;
    secs += 1;
  }
  while (frac < 0) {
    frac += TWO32;
    secs -= 1;
  }
  return { seconds: ((secs % TWO32) + TWO32) % TWO32, fraction: frac };
}

export function readTimestamp(buf: Uint8Array, offset: number): NtpTimestamp {
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  return { seconds: view.getUint32(offset), fraction: view.getUint32(offset + 4) };
}

export function writeTimestamp(buf: Uint8Array, offset: number, ts: NtpTimestamp): void {
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  view.setUint32(offset, ts.seconds >>> 0);
  view.setUint32(offset + 4, ts.fraction >>> 0);
}

/**
 * The hot path's writeTimestamp: the two u32 fields, big-endian, by byte stores (no object, no
 * DataView, no Buffer method). Small enough for the JIT to inline, which matters: NTP seconds are
 * not a small integer, and as an argument to a call that is not inlined they are boxed on the heap
 * (test/system/allocation.test.ts watches for that).
 */
export function writeNtpWords(buf: Uint8Array, offset: number, seconds: number, fraction: number): void {
  buf[offset] = seconds >>> 24;
  buf[offset + 1] = (seconds >>> 16) & 255;
  buf[offset + 2] = (seconds >>> 8) & 255;
  buf[offset + 3] = seconds & 255;
  buf[offset + 4] = fraction >>> 24;
  buf[offset + 5] = (fraction >>> 16) & 255;
  buf[offset + 6] = (fraction >>> 8) & 255;
  buf[offset + 7] = fraction & 255;
}

/** Hex form used by ntpq and tcpdump: "eead11a1.18718000". */
export function formatTimestampHex(ts: NtpTimestamp): string {
  return `${ts.seconds.toString(16).padStart(8, '0')}.${ts.fraction.toString(16).padStart(8, '0')}`;
}

/**
 * NTP short format (16.16 unsigned seconds), used for root delay and root dispersion.
 * Values are clamped to the representable range rather than wrapped: a wrapped dispersion
 * would tell clients the server is far better than it is.
 */
export function shortFromSeconds(seconds: number): number {
  if (!(seconds > 0)) return 0;
  // Rounded up: an error bound must never be advertised smaller than it is.
  const v = Math.ceil(seconds * 65536);
  return v >= TWO32 ? 0xffffffff : v >>> 0;
}

export function secondsFromShort(short: number): number {
  return (short >>> 0) / 65536;
}

/** log2 seconds as carried in the poll and precision fields (signed 8-bit). */
export function log2SecondsToByte(log2: number): number {
  return log2 & 0xff;
}

export function byteToLog2Seconds(byte: number): number {
  return (byte << 24) >> 24;
}
