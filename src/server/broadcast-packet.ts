/**
 * Mode 5 (broadcast/multicast server) packets, encoded from the snapshot the server publishes.
 *
 * Pure: bytes and values in, bytes out; the served clock is injected as anything with
 * `writeNtp` (the Timescale in the daemon, a fake in tests). Layout (RFC 5905 fig. 8), 48 bytes:
 *
 *   0      LI (snapshot) | VN (the line's version, default 4) | mode 5
 *   1      stratum                  2  poll (the line's minpoll: the sending interval, log2 s)
 *   3      precision (log2 s)       4-7 root delay   8-11 root dispersion (NTP short format)
 *   12-15  reference ID             16-23 reference time
 *   24-31  origin = 0               32-39 receive = 0   (nothing was received: RFC 5905's
 *                                                        broadcast packets, ntpd and chronyd alike)
 *   40-47  transmit = served time, written last, just before the datagram is handed to the kernel
 *
 * Bytes 1 and 3-23 come straight from ServerStateCell.template, the same bytes mode 4 replies
 * carry, so a broadcast never says anything the unicast server would not.
 */
import { LeapIndicator, Mode, NTP_HEADER_LENGTH, STRATUM_UNSYNCHRONISED } from '../ntp/constants.js';
import type { ServerSnapshot, ServerStateCell } from './state.js';

/** Served "now", written as a big-endian NTP timestamp (Timescale.writeNtp). */
export interface ServedClock {
  writeNtp(buf: Buffer, offset: number): void;
}

/**
 * The authentication hook: called after the transmit timestamp is written, with the 48-byte
 * header in `packet[0..48)` and room after it; returns how many bytes it appended (a key ID and a
 * digest: 4 + 16 or 4 + 20 bytes, RFC 5905 fig. 8). The daemon's hook signs with the trusted key
 * of a `broadcast ... key K` line (serve.ts); `NO_MAC` appends nothing. The daemon's buffer has
 * MAX_MAC_BYTES of room.
 */
export type BroadcastMac = (packet: Buffer, headerLength: number, keyId: number) => number;

export const NO_MAC: BroadcastMac = () => 0;

/** Key ID + the longest digest ntpd sends (SHA-1, 20 bytes). */
export const MAX_MAC_BYTES = 4 + 20;

export interface BroadcastPacketOptions {
  /** NTP version field, 1-4. */
  readonly version: number;
  /** Poll field, log2 s: the sending interval. */
  readonly pollLog2: number;
  /** Key ID for the MAC hook; undefined = no MAC. */
  readonly keyId?: number;
}

/** Broadcasts go out only while this holds (ntpd sends none while unsynchronised either). */
export function isSynchronised(s: ServerSnapshot): boolean {
  return s.stratum < STRATUM_UNSYNCHRONISED && s.leap !== LeapIndicator.Unsynchronised;
}

/**
 * Writes a mode 5 packet into `out` (at least 48 bytes, 48 + MAX_MAC_BYTES with a key) and
 * returns its length. The transmit timestamp is written last, then the MAC, if any, over it.
 */
export function encodeBroadcast(out: Buffer, state: ServerStateCell, clock: ServedClock, options: BroadcastPacketOptions,
  mac: BroadcastMac = NO_MAC): number {
  const t = state.template;
  out[0] = state.leapBits | ((options.version & 7) << 3) | Mode.Broadcast;
  out[1] = t[1]!;
  out.writeInt8(Math.max(-128, Math.min(127, options.pollLog2)), 2);
  t.copy(out, 3, 3, 24);
  out.fill(0, 24, 40);
  clock.writeNtp(out, 40);
  if (options.keyId === undefined) return NTP_HEADER_LENGTH;
  return NTP_HEADER_LENGTH + mac(out, NTP_HEADER_LENGTH, options.keyId);
}
