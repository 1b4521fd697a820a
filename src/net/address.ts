/**
 * The one IP address parser: text → 32-bit words, without allocating, so the per-packet
 * restrict lookup can compare numbers. The config layer builds its stricter literal syntax on
 * it (src/config/address.ts).
 *
 * IPv4 lands in word 3 with `family` 4; IPv4-mapped IPv6 (::ffff:a.b.c.d, seen on dual-stack
 * sockets) is reported as IPv4 so one rule covers a client however it arrives.
 */

export class ParsedAddress {
  /** 4 or 6; 0 when the text is not an address. */
  family = 0;
  /** Big-endian words; IPv4 uses words[3] only. */
  readonly words = new Uint32Array(4);
}

function hexDigit(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  if (c >= 65 && c <= 70) return c - 55;
  return -1;
}

/** Dotted quad in text[start, end) → u32, or -1. */
function parseIpv4(text: string, start: number, end: number): number {
  let value = 0;
  let octet = -1;
  let dots = 0;
  for (let i = start; i < end; i++) {
    const c = text.charCodeAt(i);
    if (c === 46) {
      if (octet < 0 || dots === 3) return -1;
      value = value * 256 + octet;
      octet = -1;
      dots++;
    } else if (c >= 48 && c <= 57) {
      octet = octet < 0 ? c - 48 : octet * 10 + (c - 48);
      if (octet > 255) return -1;
    } else {
      return -1;
    }
  }
  if (dots !== 3 || octet < 0) return -1;
  return value * 256 + octet;
}

// Scratch for IPv6 groups; module-level so parsing allocates nothing.
const groups = new Uint16Array(8);

/** Parses `text` into `out`. Returns false (family 0) when it is not an IP address. */
export function parseAddress(text: string, out: ParsedAddress): boolean {
  out.family = 0;
  let end = text.length;
  const pct = text.indexOf('%'); // zone index on link-local addresses: not part of the address
  if (pct >= 0) end = pct;
  if (text.indexOf(':') < 0) {
    const v4 = parseIpv4(text, 0, end);
    if (v4 < 0) return false;
    out.words[0] = out.words[1] = out.words[2] = 0;
    out.words[3] = v4;
    out.family = 4;
    return true;
  }
  if (!parseIpv6(text, end)) return false;
  const w = out.words;
  for (let i = 0; i < 4; i++) w[i] = ((groups[2 * i]! << 16) | groups[2 * i + 1]!) >>> 0;
  // ::ffff:a.b.c.d is an IPv4 client on a dual-stack socket.
  out.family = w[0] === 0 && w[1] === 0 && w[2] === 0xffff ? 4 : 6;
  if (out.family === 4) w[2] = 0;
  return true;
}

function parseIpv6(text: string, end: number): boolean {
  groups.fill(0);
  let n = 0; // groups written
  let gap = -1; // index in `groups` where "::" stood
  let i = 0;
  if (text.charCodeAt(0) === 58) {
    if (text.charCodeAt(1) !== 58) return false;
    gap = 0;
    i = 2;
    if (i === end) return true; // "::"
  }
  while (i < end) {
    // An embedded IPv4 tail (::ffff:1.2.3.4) takes two groups.
    let j = i;
    let value = 0;
    let digits = 0;
    let sawDot = false;
    while (j < end) {
      const c = text.charCodeAt(j);
      if (c === 58) break;
      if (c === 46) sawDot = true;
      j++;
    }
    if (sawDot) {
      if (j !== end || n > 6) return false;
      const v4 = parseIpv4(text, i, end);
      if (v4 < 0) return false;
      groups[n++] = v4 >>> 16;
      groups[n++] = v4 & 0xffff;
      i = end;
      break;
    }
    for (let k = i; k < j; k++) {
      const d = hexDigit(text.charCodeAt(k));
      if (d < 0) return false;
      value = value * 16 + d;
      digits++;
    }
    if (digits === 0 || digits > 4 || n >= 8) return false;
    groups[n++] = value;
    i = j;
    if (i < end) {
      // at a ':'
      i++;
      if (i < end && text.charCodeAt(i) === 58) {
        if (gap >= 0) return false;
        gap = n;
        i++;
      } else if (i === end) {
        return false; // trailing single ':'
      }
    }
  }
  if (gap < 0) return n === 8;
  if (n >= 8) return false;
  // Move the groups after the gap to the end.
  const tail = n - gap;
  for (let k = 0; k < tail; k++) groups[7 - k] = groups[n - 1 - k]!;
  for (let k = gap; k < 8 - tail; k++) groups[k] = 0;
  return true;
}

/** Network mask words for a prefix length within a family (IPv4 prefixes apply to word 3). */
export function maskWords(family: 4 | 6, prefixLength: number): Uint32Array {
  const m = new Uint32Array(4);
  if (family === 4) {
    m[3] = prefixLength === 0 ? 0 : (0xffffffff << (32 - prefixLength)) >>> 0;
    return m;
  }
  for (let i = 0; i < 4; i++) {
    const bits = Math.max(0, Math.min(32, prefixLength - 32 * i));
    m[i] = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
  }
  return m;
}

const HEX = '0123456789abcdef';
function hex16(g: number): string {
  // No leading zeros (RFC 5952 4.1).
  if (g >= 0x1000) return HEX[g >> 12]! + HEX[(g >> 8) & 15]! + HEX[(g >> 4) & 15]! + HEX[g & 15]!;
  if (g >= 0x100) return HEX[g >> 8]! + HEX[(g >> 4) & 15]! + HEX[g & 15]!;
  if (g >= 0x10) return HEX[g >> 4]! + HEX[g & 15]!;
  return HEX[g]!;
}

/**
 * RFC 5952 text of eight IPv6 groups, as node:dgram reports addresses: lower-case hex without
 * leading zeros, the longest run of ≥ 2 zero groups (the first of equal runs) as "::".
 */
export function formatIpv6Groups(g: ArrayLike<number>): string {
  let bestAt = -1;
  let bestLen = 1;
  for (let i = 0; i < 8;) {
    if (g[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) { bestAt = i; bestLen = j - i; }
    i = j;
  }
  let s = '';
  for (let i = 0; i < 8; i++) {
    if (i === bestAt) {
      s += '::';
      i += bestLen - 1;
      continue;
    }
    if (s.length > 0 && !s.endsWith(':')) s += ':';
    s += hex16(g[i]!);
  }
  return s;
}

const formatGroups = new Uint16Array(8);

/** Text of a parsed address: a dotted quad for family 4 (mapped clients included), RFC 5952 for 6, '' otherwise. */
export function formatAddress(family: number, words: ArrayLike<number>): string {
  if (family === 4) {
    const v = words[3]!;
    return `${v >>> 24}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}`;
  }
  if (family !== 6) return '';
  for (let i = 0; i < 4; i++) {
    formatGroups[2 * i] = words[i]! >>> 16;
    formatGroups[2 * i + 1] = words[i]! & 0xffff;
  }
  return formatIpv6Groups(formatGroups);
}
