/**
 * IPv4/IPv6 literals as restrict, interface and server lines write them.
 *
 * Parsed by the shared pure parser (src/net/address.ts) rather than node:net so the config
 * layer stays pure, with the accepted syntax narrowed to exactly what we document: no zone ids (a restrict rule cannot be
 * per-link), no leading zeros in IPv4 octets (inet_aton would read 010 as octal 8, which
 * is never what an administrator meant), embedded IPv4 tails in IPv6 allowed
 * (::ffff:1.2.3.4).
 */

import { ParsedAddress, parseAddress } from '../net/address.js';

export interface IpAddress {
  readonly family: 4 | 6;
  /** Network byte order: 4 bytes for IPv4, 16 for IPv6. */
  readonly bytes: readonly number[];
}

export function parseIp(text: string): IpAddress | undefined {
  // Zones and leading zeros are legal for the shared parser (dgram reports zones), not in a config line.
  const dotted = text.slice(text.lastIndexOf(':') + 1);
  if (text.includes('%') || dotted.split('.').some((octet) => dotted.includes('.') && /^0\d/.test(octet))) return undefined;
  const parsed = new ParsedAddress();
  if (!parseAddress(text, parsed)) return undefined;
  const w = parsed.words;
  if (!text.includes(':')) return { family: 4, bytes: wordBytes(w[3]!) };
  // The shared parser reports ::ffff:a.b.c.d as IPv4 (a client on a dual-stack socket); as written
  // in a config it stays the IPv6 literal the administrator typed.
  const words = parsed.family === 4 ? [0, 0, 0xffff, w[3]!] : [w[0]!, w[1]!, w[2]!, w[3]!];
  return { family: 6, bytes: words.flatMap(wordBytes) };
}

export function parseIpv4(text: string): IpAddress | undefined {
  return text.includes(':') ? undefined : parseIp(text);
}

export function parseIpv6(text: string): IpAddress | undefined {
  return text.includes(':') ? parseIp(text) : undefined;
}

function wordBytes(word: number): number[] {
  return [word >>> 24, (word >>> 16) & 0xff, (word >>> 8) & 0xff, word & 0xff];
}

/** Canonical text (RFC 5952 for IPv6: lower case, longest zero run as ::, mapped IPv4 dotted). */
export function formatIp(address: IpAddress): string {
  if (address.family === 4) return address.bytes.join('.');
  const b = address.bytes;
  const groups = Array.from({ length: 8 }, (_, i) => ((b[2 * i] ?? 0) << 8) | (b[2 * i + 1] ?? 0));
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) {
    return `::ffff:${b.slice(12).join('.')}`;
  }
  let bestStart = -1;
  let bestLength = 1; // RFC 5952 4.2.2: a single zero group is not compressed
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) { bestStart = i; bestLength = j - i; }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart === -1) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLength).join(':')}`;
}

export function addressBits(family: 4 | 6): number {
  return family === 4 ? 32 : 128;
}

/** Prefix length of a netmask, or undefined when its one-bits are not contiguous from the top. */
export function prefixFromMask(mask: IpAddress): number | undefined {
  let length = 0;
  let seenZero = false;
  for (const byte of mask.bytes) {
    for (let bit = 7; bit >= 0; bit--) {
      const one = ((byte >> bit) & 1) === 1;
      if (one && seenZero) return undefined;
      if (one) length++;
      else seenZero = true;
    }
  }
  return length;
}

/** The network address: `address` with every bit past `prefixLength` cleared. */
export function networkOf(address: IpAddress, prefixLength: number): IpAddress {
  const bytes = address.bytes.map((byte, i) => {
    const keep = Math.max(0, Math.min(8, prefixLength - 8 * i));
    return byte & ((0xff << (8 - keep)) & 0xff);
  });
  return { family: address.family, bytes };
}

export function sameAddress(a: IpAddress, b: IpAddress): boolean {
  return a.family === b.family && a.bytes.every((byte, i) => byte === b.bytes[i]);
}
