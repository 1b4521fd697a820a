/**
 * The wire side of an association (RFC 5905 sections 7 and 8): the packets we send, the checks a
 * packet from the other side must pass, and the on-wire calculation of one sample.
 *
 * Pure and stateless: the association (association.ts) keeps the origin it expects and the
 * timestamps it remembers. Local instants are raw ns since the Unix epoch; the other side's
 * timestamps are NTP, converted with the era nearest our receive instant. Signs as in types.ts:
 * offsetNs = local − server (+ = local ahead), which is −θ of RFC 5905.
 */
import { createHash } from 'node:crypto';
import type { PreparedKey } from '../auth/mac.js';
import type { LeapWarning } from '../../drivers/driver.js';
import { KissCode, LeapIndicator, Mode, NTP_HEADER_LENGTH, PHI_S_PER_S, STRATUM_KISS, STRATUM_UNSYNCHRONISED } from '../ntp/constants.js';
import { decodeHeader, scanTrailer, TRAILER_MALFORMED, type NtpHeader } from '../ntp/packet.js';
import { secondsFromShort, shortFromSeconds, unixNsFromNtp, writeTimestamp, type NtpTimestamp } from '../ntp/timestamp.js';
import { ParsedAddress, parseAddress } from '../net/address.js';
import type { NtpSample, ReplyRejectReason } from './types.js';
import type { ServerSnapshot } from '../server/state.js';

/** RFC 5905 MAXDIST: a sample whose root distance exceeds this is not used, s. */
export const MAXDIST_S = 1.5;

/**
 * Precision field of our client requests: chrony's value (0x20, i.e. 2^32 s) rather than ours.
 * A client request needs none of our state (RFC 9109 / draft-ietf-ntp-data-minimization), so it
 * says nothing true about us; the captured chronyd 4 requests carry exactly this.
 */
export const CLIENT_REQUEST_PRECISION = 0x20;

/** A packet from the other side, decoded, with where its MAC (if any) starts. */
export interface Received {
  readonly header: NtpHeader;
  /** Offset of the key ID (== length when there is no MAC). */
  readonly macAt: number;
  readonly length: number;
}

/**
 * Decodes a datagram, or null when it is not an NTP packet we could use ('badFormat'): shorter
 * than the header, version outside 1-4, or trailing bytes that are neither extension fields nor
 * a MAC. Never throws.
 */
export function decodeReceived(buf: Uint8Array, length: number): Received | null {
  if (!(length >= NTP_HEADER_LENGTH) || length > buf.length) return null;
  const version = (buf[0]! >> 3) & 7;
  if (version < 1 || version > 4) return null;
  const macAt = scanTrailer(buf, length, version);
  if (macAt === TRAILER_MALFORMED) return null;
  return { header: decodeHeader(buf.subarray(0, NTP_HEADER_LENGTH)), macAt, length };
}

/**
 * The authentication verdict for a received packet (RFC 5905 section 7.3's MAC, ntpd's rules).
 * Without a key, any MAC is ignored (an authenticating server may sign its answers to anyone);
 * with one, the packet must carry a MAC under that key ID that verifies. A bare 4-byte key ID
 * is the server's crypto-NAK: it did not know or trust our key.
 */
export function checkMac(buf: Uint8Array, r: Received, key: PreparedKey | undefined): 'ok' | 'badMac' | 'cryptoNak' {
  if (key === undefined) return 'ok';
  const rest = r.length - r.macAt;
  if (rest === 4) return 'cryptoNak';
  if (rest === 0) return 'badMac';
  const keyId = ((buf[r.macAt]! << 24) | (buf[r.macAt + 1]! << 16) | (buf[r.macAt + 2]! << 8) | buf[r.macAt + 3]!) >>> 0;
  if (keyId !== key.id) return 'badMac';
  return key.verify(buf, r.macAt, r.length) ? 'ok' : 'badMac';
}

/** A kiss code's text (stratum 0 and four printable ASCII characters or trailing NULs), else null. */
export function kissCode(h: NtpHeader): string | null {
  if (h.stratum !== STRATUM_KISS) return null;
  let text = '';
  for (let shift = 24; shift >= 0; shift -= 8) {
    const c = (h.referenceId >>> shift) & 0xff;
    if (c === 0) {
      if (text.length === 0) return null;
      continue;
    }
    if (c < 0x21 || c > 0x7e) return null;
    text += String.fromCharCode(c);
  }
  return text;
}

/** What a kiss-o'-death asks of us. Other kiss codes (INIT, STEP, ...) are only unsynchronised. */
export function kissAction(h: NtpHeader): 'rate' | 'deny' | 'restrict' | null {
  if (h.stratum !== STRATUM_KISS) return null;
  if (h.referenceId === KissCode.RATE) return 'rate';
  if (h.referenceId === KissCode.DENY) return 'deny';
  if (h.referenceId === KissCode.RSTR) return 'restrict';
  return null;
}

/**
 * Header checks after the exchange is known to be ours (RFC 5905 tests 6 and 7, as flash bits):
 * an unsynchronised server (LI 3, stratum 16 or a stratum-0 packet that is not a kiss we act on)
 * or a stratum beyond 16, which no server may send.
 */
export function headerReject(h: NtpHeader): ReplyRejectReason | null {
  if (h.leap === LeapIndicator.Unsynchronised || h.stratum === STRATUM_UNSYNCHRONISED || h.stratum === STRATUM_KISS) return 'unsynchronised';
  if (h.stratum > STRATUM_UNSYNCHRONISED) return 'badStratum';
  return null;
}

/** The four timestamps of one exchange: ours as raw local ns, the other side's as sent. */
export interface Exchange {
  /** Our transmit instant (T1), raw ns. */
  readonly t1Ns: bigint;
  /** The other side's receive (T2) and transmit (T3) timestamps. */
  readonly t2: NtpTimestamp;
  readonly t3: NtpTimestamp;
  /** Our receive instant (T4), raw ns. */
  readonly t4Ns: bigint;
}

/** 2^log2 s in ns. */
export function log2ToNs(log2S: number): number {
  return 2 ** log2S * 1e9;
}

/**
 * RFC 5905 section 8: θ = ((T2 − T1) + (T3 − T4)) / 2, δ = (T4 − T1) − (T3 − T2), floored at the
 * larger precision (a loopback exchange can measure 0 or less); ε = both precisions + PHI × the
 * time the exchange took. The era of T2 and T3 is the one nearest T4.
 *
 * Two refinements that matter because our raw clock may run tens of ppm off (they vanish for a
 * client exchange of a millisecond, and matter for a symmetric peer that holds our packet for
 * up to a poll interval before answering):
 * - the offset is the mean of the clock's error at T1 and at T4, so the sample belongs to the
 *   midpoint of T1 and T4, not to T4 (chrony does the same);
 * - T4 − T1 is measured with our raw clock; `freqPpm` (the association's measured frequency, + =
 *   fast) converts it to the server's seconds before the server's hold time is subtracted.
 */
export function computeSample(x: Exchange, serverPrecisionLog2S: number, ourPrecisionLog2S: number, freqPpm = 0): NtpSample {
  const t2 = unixNsFromNtp(x.t2, x.t4Ns);
  const t3 = unixNsFromNtp(x.t3, x.t4Ns);
  const offsetNs = Number((x.t1Ns - t2) + (x.t4Ns - t3)) / 2;
  const floorNs = Math.max(log2ToNs(serverPrecisionLog2S), log2ToNs(ourPrecisionLog2S));
  const spanNs = Math.max(0, Number(x.t4Ns - x.t1Ns));
  const delayNs = Math.max(spanNs * (1 - freqPpm * 1e-6) - Number(t3 - t2), floorNs);
  const dispersionNs = log2ToNs(serverPrecisionLog2S) + log2ToNs(ourPrecisionLog2S) + PHI_S_PER_S * spanNs;
  return { atNs: x.t1Ns + (x.t4Ns - x.t1Ns) / 2n, offsetNs, delayNs, dispersionNs };
}

/** Root distance of a sample through this server, s (RFC 5905 section 11.2's λ, at the sample). */
export function rootDistanceS(h: NtpHeader, s: NtpSample): number {
  return secondsFromShort(h.rootDelay) / 2 + secondsFromShort(h.rootDispersion) + s.delayNs / 2e9 + s.dispersionNs / 1e9;
}

export function leapWarning(li: LeapIndicator): LeapWarning {
  return li === LeapIndicator.AddSecond ? 'insert' : li === LeapIndicator.DeleteSecond ? 'delete'
    : li === LeapIndicator.NoWarning ? 'none' : 'unknown';
}

/** The fields our symmetric-mode packets carry about us: what the server publishes (one definition). */
export type OwnState = ServerSnapshot;

/** Header bytes 0-3: what every packet we build starts with. */
function writeCommon(buf: Uint8Array, leap: number, version: number, mode: Mode, stratum: number, pollLog2S: number, precision: number): void {
  buf[0] = ((leap & 3) << 6) | ((version & 7) << 3) | mode;
  buf[1] = stratum & 0xff;
  buf[2] = pollLog2S & 0xff;
  buf[3] = precision & 0xff;
}

/** Room for the header and the longest MAC (key ID + 20-byte digest). */
function packetFor(key: PreparedKey | undefined): Uint8Array {
  return new Uint8Array(NTP_HEADER_LENGTH + (key ? 4 + key.digestLength : 0));
}

/**
 * A client request (mode 3) that says nothing about us (data minimisation, as chronyd 4 and
 * NTPsec clients send): LI 0, stratum 0, precision 0x20, root delay/dispersion, refid, reference,
 * origin and receive timestamps all zero; the transmit timestamp is the random nonce the reply
 * must echo as its origin.
 */
export function encodeClientRequest(version: number, pollLog2S: number, nonce: NtpTimestamp, key?: PreparedKey): Uint8Array {
  const buf = packetFor(key);
  writeCommon(buf, LeapIndicator.NoWarning, version, Mode.Client, 0, pollLog2S, CLIENT_REQUEST_PRECISION);
  writeTimestamp(buf, 40, nonce);
  appendMac(buf, key);
  return buf;
}

/**
 * A symmetric packet (mode 1 active, or mode 2 passive) with our real state, as RFC 5905 has a
 * peer send: the other side selects and combines us like any server. org/rec are its last
 * transmit timestamp and our served time when it arrived; xmt our served time now.
 */
export function encodeSymmetric(mode: Mode.SymmetricActive | Mode.SymmetricPassive, version: number, pollLog2S: number, own: OwnState,
  org: NtpTimestamp, rec: NtpTimestamp, xmt: NtpTimestamp, key?: PreparedKey): Uint8Array {
  const buf = packetFor(key);
  writeCommon(buf, own.leap, version, mode, own.stratum, pollLog2S, own.precisionLog2S);
  const view = new DataView(buf.buffer);
  view.setUint32(4, shortFromSeconds(own.rootDelayS));
  view.setUint32(8, shortFromSeconds(own.rootDispersionS));
  view.setUint32(12, own.referenceId >>> 0);
  writeTimestamp(buf, 16, own.referenceTime);
  writeTimestamp(buf, 24, org);
  writeTimestamp(buf, 32, rec);
  writeTimestamp(buf, 40, xmt);
  appendMac(buf, key);
  return buf;
}

/** Key ID (big-endian) and MAC over the 48-byte header, into the room packetFor left. */
function appendMac(buf: Uint8Array, key: PreparedKey | undefined): void {
  if (!key) return;
  new DataView(buf.buffer).setUint32(NTP_HEADER_LENGTH, key.id >>> 0);
  key.sign(buf, NTP_HEADER_LENGTH, buf, NTP_HEADER_LENGTH + 4);
}

/**
 * The refid we serve while following this server (RFC 5905 section 7.3): its IPv4 address, or
 * the first four bytes of the MD5 hash of its 16 IPv6 address bytes. Text that is no address
 * (cannot happen for a configured association: the shell resolves names) hashes as text.
 */
export function refidForAddress(address: string): number {
  const parsed = new ParsedAddress();
  if (parseAddress(address, parsed) && parsed.family === 4) return parsed.words[3]! >>> 0;
  let bytes: Uint8Array;
  if (parsed.family === 6) {
    bytes = new Uint8Array(16);
    const view = new DataView(bytes.buffer);
    for (let i = 0; i < 4; i++) view.setUint32(4 * i, parsed.words[i]!);
  } else {
    bytes = new TextEncoder().encode(address);
  }
  const d = createHash('md5').update(bytes).digest();
  return d.readUInt32BE(0);
}
