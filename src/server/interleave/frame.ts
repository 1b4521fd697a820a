/**
 * Finds the UDP payload in a datagram the kernel looped back to the error queue with its transmit
 * timestamp: the frame as the driver sent it, from the link-layer header on (chrony's
 * extract_udp_data). Ethernet (loopback has a 14-byte all-zero Ethernet header too), with any
 * 802.1Q tags, then IPv4 or IPv6 (with the extension headers chrony skips), then UDP. A frame that
 * starts directly with an IP header (tunnels) is taken as such. Pure; allocation-free.
 */

/** Offset of the UDP payload in `frame[0 .. length)`, or -1 when it cannot be found. */
export function udpPayloadOffset(frame: Uint8Array, length: number): number {
  let at = 0;
  let len = Math.min(length, frame.length);
  const ipNibble = len > 0 ? frame[0]! >> 4 : 0;
  // A bare IP packet: IPv4 with a sane IHL and protocol UDP, or IPv6 with UDP next; else Ethernet.
  const bareV4 = ipNibble === 4 && len >= 28 && (frame[0]! & 15) >= 5 && frame[9] === 17;
  const bareV6 = ipNibble === 6 && len >= 48 && frame[6] === 17;
  if (!bareV4 && !bareV6) {
    if (len < 14) return -1;
    at = 12;
    len -= 12;
    while (len >= 4 && frame[at] === 0x81 && frame[at + 1] === 0x00) {
      at += 4;
      len -= 4;
    }
    if (len < 2) return -1;
    const v4 = frame[at] === 0x08 && frame[at + 1] === 0x00;
    const v6 = frame[at] === 0x86 && frame[at + 1] === 0xdd;
    if (!v4 && !v6) return -1;
    at += 2;
    len -= 2;
  }
  if (len >= 20 && frame[at]! >> 4 === 4) {
    const ihl = (frame[at]! & 15) * 4;
    if (ihl < 20 || len < ihl + 8 || frame[at + 9] !== 17) return -1;
    return at + ihl + 8;
  }
  if (len >= 48 && frame[at]! >> 4 === 6) {
    let next = frame[at + 6]!;
    at += 40;
    len -= 40;
    while (next !== 17) {
      let ext: number;
      switch (next) {
        case 44: // fragment: only the first
          if ((((frame[at + 2]! << 8) | frame[at + 3]!) >> 3) !== 0) return -1;
          ext = 8;
          break;
        case 0: case 43: case 60: case 135:
          ext = 8 * (frame[at + 1]! + 1);
          break;
        case 51:
          ext = 4 * (frame[at + 1]! + 2);
          break;
        default:
          return -1;
      }
      if (len < ext + 8) return -1;
      next = frame[at]!;
      at += ext;
      len -= ext;
    }
    return len >= 8 ? at + 8 : -1;
  }
  return -1;
}
