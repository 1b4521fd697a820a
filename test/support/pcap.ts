/**
 * Minimal reader for the classic pcap files in ../shared/captures (Ethernet link type, IPv4/IPv6
 * UDP), so unit tests can use packets real clients and servers sent.
 */
import { readFileSync } from 'node:fs';

export interface UdpDatagram {
  readonly src: string;
  readonly srcPort: number;
  readonly dst: string;
  readonly dstPort: number;
  readonly payload: Buffer;
}

function ipv6Text(b: Buffer): string {
  const parts: string[] = [];
  for (let i = 0; i < 16; i += 2) parts.push(b.readUInt16BE(i).toString(16));
  return parts.join(':').replace(/(^|:)0(:0)+(:|$)/, '::');
}

export function readPcapUdp(path: string): UdpDatagram[] {
  const f = readFileSync(path);
  const magic = f.readUInt32LE(0);
  if (magic !== 0xa1b2c3d4 && magic !== 0xa1b23c4d) throw new Error(`${path}: not a little-endian classic pcap`);
  const linkType = f.readUInt32LE(20);
  if (linkType !== 1) throw new Error(`${path}: link type ${linkType}, expected Ethernet (1)`);
  const out: UdpDatagram[] = [];
  for (let pos = 24; pos + 16 <= f.length;) {
    const capLen = f.readUInt32LE(pos + 8);
    const frame = f.subarray(pos + 16, pos + 16 + capLen);
    pos += 16 + capLen;
    const etherType = frame.readUInt16BE(12);
    let l4: Buffer;
    let src: string;
    let dst: string;
    if (etherType === 0x0800) {
      const ihl = (frame[14]! & 0x0f) * 4;
      if (frame[14 + 9] !== 17) continue;
      src = [...frame.subarray(26, 30)].join('.');
      dst = [...frame.subarray(30, 34)].join('.');
      const totalLength = frame.readUInt16BE(16);
      l4 = frame.subarray(14 + ihl, 14 + totalLength);
    } else if (etherType === 0x86dd) {
      if (frame[14 + 6] !== 17) continue;
      src = ipv6Text(frame.subarray(22, 38));
      dst = ipv6Text(frame.subarray(38, 54));
      l4 = frame.subarray(54, 54 + frame.readUInt16BE(18));
    } else {
      continue;
    }
    const udpLength = l4.readUInt16BE(4);
    out.push({ src, srcPort: l4.readUInt16BE(0), dst, dstPort: l4.readUInt16BE(2), payload: Buffer.from(l4.subarray(8, udpLength)) });
  }
  return out;
}

/** ../shared relative to the repository root (true in a developer checkout and in CI). */
export const SHARED_DIR = new URL('../../../shared/', import.meta.url);
