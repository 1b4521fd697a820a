/**
 * ntpd's access control (`restrict`, ntp_acc(5)) compiled for a per-packet lookup.
 *
 * Semantics kept from ntpd: the most specific matching entry wins (longest prefix);
 * `restrict default` covers both families, `-4`/`-6 default` one each; repeated lines for the
 * same address and mask add their flags together (ntpd ORs them); `restrict source` is the
 * template for the addresses of configured servers and peers.
 *
 * With no `default` line for a family, the implicit default is `noquery` (NTPsec's), so an
 * ntp.conf that says nothing still keeps mode 6 from the network, and the loopback (127.0.0.0/8,
 * ::1) is implicitly unrestricted so the box's own ntpq works. Time service is allowed either way.
 */
import type { RestrictFlag, RestrictRule } from '../../config/model.js';
import { ParsedAddress, maskWords, parseAddress } from '../../net/address.js';

/** Restrict flags as bits, for the hot path. */
export const RestrictBits = {
  ignore: 1 << 0,
  kod: 1 << 1,
  limited: 1 << 2,
  lowpriotrap: 1 << 3,
  nomodify: 1 << 4,
  noquery: 1 << 5,
  nopeer: 1 << 6,
  noserve: 1 << 7,
  notrap: 1 << 8,
  notrust: 1 << 9,
  version: 1 << 10,
  nomrulist: 1 << 11,
  noepeer: 1 << 12,
} as const satisfies Record<RestrictFlag, number>;

export function flagsToBits(flags: readonly RestrictFlag[]): number {
  let bits = 0;
  for (const f of flags) bits |= RestrictBits[f];
  return bits;
}

export function bitsToFlags(bits: number): RestrictFlag[] {
  return (Object.keys(RestrictBits) as RestrictFlag[]).filter((f) => (bits & RestrictBits[f]) !== 0);
}

interface Entry {
  readonly family: 4 | 6;
  readonly prefixLength: number;
  readonly net: Uint32Array;
  readonly mask: Uint32Array;
  bits: number;
}

export class RestrictTable {
  /** Sorted by prefix length, longest first, so the first match is the most specific. */
  private readonly entries: Entry[] = [];
  private defaultV4 = 0;
  private defaultV6 = 0;
  private readonly scratch = new ParsedAddress();

  /**
   * @param rules restrict lines in file order.
   * @param sourceAddresses literal addresses of configured servers/peers, for `restrict source`.
   */
  constructor(rules: readonly RestrictRule[], sourceAddresses: readonly string[] = []) {
    const hasDefault = { 4: false, 6: false };
    for (const r of rules) {
      if (r.kind !== 'default') continue;
      if (r.family !== 'ipv6') hasDefault[4] = true;
      if (r.family !== 'ipv4') hasDefault[6] = true;
    }
    if (!hasDefault[4]) {
      this.defaultV4 = RestrictBits.noquery;
      this.add('127.0.0.0', 8, 0);
    }
    if (!hasDefault[6]) {
      this.defaultV6 = RestrictBits.noquery;
      this.add('::1', 128, 0);
    }
    for (const r of rules) {
      const bits = flagsToBits(r.flags);
      if (r.kind === 'default') {
        if (r.family !== 'ipv6') this.defaultV4 |= bits;
        if (r.family !== 'ipv4') this.defaultV6 |= bits;
      } else if (r.kind === 'address' && r.address !== undefined) {
        this.add(r.address, r.prefixLength, bits);
      } else if (r.kind === 'source') {
        for (const a of sourceAddresses) this.add(a, undefined, bits);
      }
    }
    this.entries.sort((a, b) => b.prefixLength - a.prefixLength);
  }

  private add(address: string, prefixLength: number | undefined, bits: number): void {
    const p = new ParsedAddress();
    if (!parseAddress(address, p)) throw new Error(`restrict: "${address}" is not an IP address`);
    const family = p.family as 4 | 6;
    // A mapped address given in IPv6 form with an IPv6 prefix length (e.g. ::ffff:10.0.0.0/104) → IPv4 length.
    let len = prefixLength ?? (family === 4 ? 32 : 128);
    if (family === 4 && len > 32) len -= 96;
    const mask = maskWords(family, len);
    const net = new Uint32Array(4);
    for (let i = 0; i < 4; i++) net[i] = (p.words[i]! & mask[i]!) >>> 0;
    const same = this.entries.find((e) => e.family === family && e.prefixLength === len && e.net.every((w, i) => w === net[i]));
    if (same) same.bits |= bits;
    else this.entries.push({ family, prefixLength: len, net, mask, bits });
  }

  /** Restrict bits for a client address as text (dgram's rinfo.address); unknown text gets the IPv6 default + ignore. */
  lookup(address: string): number {
    parseAddress(address, this.scratch); // family 0 when it is not an address
    return this.lookupAddress(this.scratch);
  }

  /** Restrict bits for a parsed client address (family 0, not an address: the IPv6 default + ignore). */
  lookupAddress(a: ParsedAddress): number {
    if (a.family === 0) return this.defaultV6 | RestrictBits.ignore;
    const w = a.words;
    const entries = this.entries;
    for (let i = 0; i < entries.length; i++) {
      const e = entries[i]!;
      if (e.family !== a.family) continue;
      const m = e.mask;
      const n = e.net;
      if (((w[3]! & m[3]!) >>> 0) === n[3] && ((w[2]! & m[2]!) >>> 0) === n[2] &&
          ((w[1]! & m[1]!) >>> 0) === n[1] && ((w[0]! & m[0]!) >>> 0) === n[0]) {
        return e.bits;
      }
    }
    return a.family === 4 ? this.defaultV4 : this.defaultV6;
  }
}
