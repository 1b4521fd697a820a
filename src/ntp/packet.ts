/**
 * NTP packet header (RFC 5905 fig. 8), extension fields (RFC 7822) and the trailing MAC.
 *
 * `decodePacket` builds objects and is for tools, tests and the client side. The server's hot
 * path reads fields straight from the datagram and uses only `scanTrailer`, which allocates
 * nothing.
 */
import { LeapIndicator, Mode, NTP_HEADER_LENGTH } from './constants.js';
import { readTimestamp, writeTimestamp, type NtpTimestamp } from './timestamp.js';

export interface NtpHeader {
  readonly leap: LeapIndicator;
  readonly version: number;
  readonly mode: Mode;
  readonly stratum: number;
  /** log2 seconds, signed. */
  readonly poll: number;
  /** log2 seconds, signed. */
  readonly precision: number;
  /** Root delay, NTP short format (16.16 seconds, raw u32). */
  readonly rootDelay: number;
  /** Root dispersion, NTP short format (16.16 seconds, raw u32). */
  readonly rootDispersion: number;
  /** Reference ID (u32, big-endian on the wire). */
  readonly referenceId: number;
  readonly referenceTimestamp: NtpTimestamp;
  readonly originTimestamp: NtpTimestamp;
  readonly receiveTimestamp: NtpTimestamp;
  readonly transmitTimestamp: NtpTimestamp;
}

export interface ExtensionField {
  readonly type: number;
  /** Value bytes (without the 4-byte type/length header), including padding. */
  readonly value: Uint8Array;
}

export interface Mac {
  /** 0 with an empty digest = crypto-NAK. */
  readonly keyId: number;
  readonly digest: Uint8Array;
}

export interface NtpPacket {
  readonly header: NtpHeader;
  readonly extensions: readonly ExtensionField[];
  readonly mac?: Mac;
}

/** Why a datagram is not an NTP packet. Codes are stable (counted and shown by tools). */
export type PacketErrorCode = 'NTP_TOO_SHORT' | 'NTP_BAD_EXTENSION' | 'NTP_BAD_TRAILER';

export class PacketError extends Error {
  constructor(readonly code: PacketErrorCode, message: string) {
    super(message);
    this.name = 'PacketError';
  }
}

/** MAC lengths: key ID + 16-byte digest (MD5, AES-128-CMAC) or + 20-byte digest (SHA-1). */
const MAC_LENGTHS = [20, 24] as const;
const CRYPTO_NAK_LENGTH = 4;
const MAX_MAC_LENGTH = 24;
/** RFC 7822: an extension field is at least 16 bytes and a multiple of 4. */
const MIN_EXTENSION_LENGTH = 16;
/** RFC 7822: the last extension field of a packet without a MAC is at least 28 bytes. */
const MIN_LAST_EXTENSION_LENGTH = 28;

/**
 * Result of `scanTrailer`: where the MAC starts (== length when there is none), or -1 when the
 * bytes after the header are neither well-formed extension fields nor a MAC.
 */
export const TRAILER_MALFORMED = -1;

/**
 * Walks extension fields after the 48-byte header without allocating. NTPv4 only carries
 * extension fields; for older versions everything after the header must be a MAC.
 * Follows RFC 7822's disambiguation: anything longer than the largest MAC is an extension field.
 */
export function scanTrailer(buf: Uint8Array, length: number, version: number): number {
  let pos = NTP_HEADER_LENGTH;
  if (version === 4) {
    while (length - pos > MAX_MAC_LENGTH) {
      const fieldLength = (buf[pos + 2]! << 8) | buf[pos + 3]!;
      if (fieldLength < MIN_EXTENSION_LENGTH || (fieldLength & 3) !== 0 || fieldLength > length - pos) {
        return TRAILER_MALFORMED;
      }
      pos += fieldLength;
    }
  }
  const rest = length - pos;
  if (rest === 0 || rest === CRYPTO_NAK_LENGTH || rest === MAC_LENGTHS[0] || rest === MAC_LENGTHS[1]) return pos;
  return TRAILER_MALFORMED;
}

export function decodeHeader(buf: Uint8Array): NtpHeader {
  if (buf.length < NTP_HEADER_LENGTH) {
    throw new PacketError('NTP_TOO_SHORT', `NTP packet is ${buf.length} bytes; the header alone is ${NTP_HEADER_LENGTH}`);
  }
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const b0 = buf[0]!;
  return {
    leap: (b0 >> 6) as LeapIndicator,
    version: (b0 >> 3) & 7,
    mode: (b0 & 7) as Mode,
    stratum: buf[1]!,
    poll: view.getInt8(2),
    precision: view.getInt8(3),
    rootDelay: view.getUint32(4),
    rootDispersion: view.getUint32(8),
    referenceId: view.getUint32(12),
    referenceTimestamp: readTimestamp(buf, 16),
    originTimestamp: readTimestamp(buf, 24),
    receiveTimestamp: readTimestamp(buf, 32),
    transmitTimestamp: readTimestamp(buf, 40),
  };
}

export function decodePacket(buf: Uint8Array): NtpPacket {
  const header = decodeHeader(buf);
  const macAt = scanTrailer(buf, buf.length, header.version);
  if (macAt === TRAILER_MALFORMED) {
    throw new PacketError('NTP_BAD_TRAILER',
      `${buf.length - NTP_HEADER_LENGTH} bytes after the NTP header are neither RFC 7822 extension fields nor a MAC`);
  }
  const extensions: ExtensionField[] = [];
  for (let pos = NTP_HEADER_LENGTH; pos < macAt;) {
    const type = (buf[pos]! << 8) | buf[pos + 1]!;
    const len = (buf[pos + 2]! << 8) | buf[pos + 3]!;
    extensions.push({ type, value: buf.slice(pos + 4, pos + len) });
    pos += len;
  }
  if (macAt === buf.length) return { header, extensions };
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  return { header, extensions, mac: { keyId: view.getUint32(macAt), digest: buf.slice(macAt + 4) } };
}

/** Writes the 48-byte header into `buf` (which must have room) at offset 0. */
export function encodeHeader(h: NtpHeader, buf: Uint8Array = new Uint8Array(NTP_HEADER_LENGTH)): Uint8Array {
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  buf[0] = ((h.leap & 3) << 6) | ((h.version & 7) << 3) | (h.mode & 7);
  buf[1] = h.stratum & 0xff;
  view.setInt8(2, ((h.poll << 24) >> 24));
  view.setInt8(3, ((h.precision << 24) >> 24));
  view.setUint32(4, h.rootDelay >>> 0);
  view.setUint32(8, h.rootDispersion >>> 0);
  view.setUint32(12, h.referenceId >>> 0);
  writeTimestamp(buf, 16, h.referenceTimestamp);
  writeTimestamp(buf, 24, h.originTimestamp);
  writeTimestamp(buf, 32, h.receiveTimestamp);
  writeTimestamp(buf, 40, h.transmitTimestamp);
  return buf;
}

/**
 * Header + extension fields (each padded to a multiple of 4, at least 16 bytes) + optional MAC.
 * Without a MAC the last field is padded to 28 bytes (RFC 7822 section 7.5), so it cannot be
 * mistaken for one.
 */
export function encodePacket(p: NtpPacket): Uint8Array {
  const extLengths = p.extensions.map((e, i) => Math.max(
    !p.mac && i === p.extensions.length - 1 ? MIN_LAST_EXTENSION_LENGTH : MIN_EXTENSION_LENGTH, (4 + e.value.length + 3) & ~3));
  const macLength = p.mac ? 4 + p.mac.digest.length : 0;
  const total = NTP_HEADER_LENGTH + extLengths.reduce((a, b) => a + b, 0) + macLength;
  const buf = new Uint8Array(total);
  encodeHeader(p.header, buf);
  let pos = NTP_HEADER_LENGTH;
  p.extensions.forEach((e, i) => {
    const len = extLengths[i]!;
    buf[pos] = e.type >> 8;
    buf[pos + 1] = e.type & 0xff;
    buf[pos + 2] = len >> 8;
    buf[pos + 3] = len & 0xff;
    buf.set(e.value, pos + 4);
    pos += len;
  });
  if (p.mac) {
    new DataView(buf.buffer).setUint32(pos, p.mac.keyId >>> 0);
    buf.set(p.mac.digest, pos + 4);
  }
  return buf;
}
