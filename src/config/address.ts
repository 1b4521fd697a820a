/**
 * IPv4/IPv6 literals as restrict, interface and server lines write them.
 *
 * Parsed by hand rather than with node:net so the config layer stays pure and so the
 * accepted syntax is exactly what we document: no zone ids (a restrict rule cannot be
 * per-link), no leading zeros in IPv4 octets (inet_aton would read 010 as octal 8, which
 * is never what an administrator meant), embedded IPv4 tails in IPv6 allowed
 * (::ffff:1.2.3.4).
 */

export interface IpAddress {
  readonly family: 4 | 6;
  /** Network byte order: 4 bytes for IPv4, 16 for IPv6. */
  readonly bytes: readonly number[];
}

export function parseIp(text: string): IpAddress | undefined {
  return text.includes(':') ? parseIpv6(text) : parseIpv4(text);
}

export function parseIpv4(text: string): IpAddress | undefined {
  const parts = text.split('.');
  if (parts.length !== 4) return undefined;
  const bytes: number[] = [];
  for (const part of parts) {
    if (!/^(0|[1-9][0-9]{0,2})$/.test(part)) return undefined;
    const n = Number(part);
    if (n > 255) return undefined;
    bytes.push(n);
  }
  return { family: 4, bytes };
}

export function parseIpv6(text: string): IpAddress | undefined {
  if (text.length < 2 || text.length > 45) return undefined;
  const gap = text.indexOf('::');
  if (gap !== -1 && text.indexOf('::', gap + 1) !== -1) return undefined;
  const headText = gap === -1 ? text : text.slice(0, gap);
  const tailText = gap === -1 ? '' : text.slice(gap + 2);
  const head = headText === '' ? [] : headText.split(':');
  const tail = tailText === '' ? [] : tailText.split(':');
  const groups: number[] = [];
  const tailGroups: number[] = [];
  const last = gap === -1 ? head.length - 1 : -1;
  if (!pushGroups(head, groups, last)) return undefined;
  if (!pushGroups(tail, tailGroups, tail.length - 1)) return undefined;
  const total = groups.length + tailGroups.length;
  if (gap === -1 ? total !== 8 : total > 7) return undefined;
  const all = [...groups, ...new Array<number>(8 - total).fill(0), ...tailGroups];
  return { family: 6, bytes: all.flatMap((g) => [g >> 8, g & 0xff]) };
}

/** Appends 16-bit groups; the part at index `ipv4At` may be a dotted IPv4 tail (two groups). */
function pushGroups(parts: readonly string[], into: number[], ipv4At: number): boolean {
  for (const [i, part] of parts.entries()) {
    if (i === ipv4At && part.includes('.')) {
      const v4 = parseIpv4(part);
      if (!v4) return false;
      const [a = 0, b = 0, c = 0, d = 0] = v4.bytes;
      into.push((a << 8) | b, (c << 8) | d);
      continue;
    }
    if (!/^[0-9a-fA-F]{1,4}$/.test(part)) return false;
    into.push(parseInt(part, 16));
  }
  return true;
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
