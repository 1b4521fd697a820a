/**
 * Per-client rate limiting with memory fixed at start-up (ntpd's MRU list with `discard`,
 * sized like chrony's ratelimit table).
 *
 * Algorithm (ntpd's ntp_monitor): a leaky bucket per client. Each accepted packet adds
 * 2^average seconds of "leak"; leak drains at one second per second; a packet is over the
 * limit when it comes sooner than 2^minimum seconds after the previous one or when the bucket
 * would exceed 8 × 2^average (a burst of 8, then one per 2^average s).
 *
 * Memory: a 4-way set-associative table of `capacity` slots in typed arrays. A client not in
 * the table evicts the least recently seen of its set, so a flood from one address holds one
 * slot and a flood of spoofed addresses can only make real clients look new (served, never
 * starved). Set selection is keyed with a random seed so nobody can aim at one set.
 */

const WAYS = 4;
/** ntpd's NTP_SHIFT: the bucket holds this many average headways. */
const BURST = 8;

export interface RateLimitSettings {
  /** log2 seconds of the minimum average headway (discard average). */
  readonly averageLog2S: number;
  /** log2 seconds of the minimum headway (discard minimum). */
  readonly minimumLog2S: number;
  /** Slots; rounded up to a power of two, at least 4 ways. */
  readonly capacity: number;
}

export enum RateVerdict {
  Accept = 0,
  /** Over the limit; no kiss-o'-death due yet (one was sent recently). */
  Limited = 1,
  /** Over the limit, and this client may be sent a RATE kiss-o'-death now. */
  LimitedSendKod = 2,
}

export class RateLimiter {
  readonly capacity: number;
  private readonly sets: number;
  private readonly keys: (string | undefined)[];
  /** Monotonic seconds of the last packet. */
  private readonly last: Float64Array;
  /** Monotonic seconds of the first packet (for the MRU list). */
  private readonly first: Float64Array;
  /** Bucket content, seconds. */
  private readonly leak: Float64Array;
  /** Monotonic seconds of the last kiss-o'-death, -Infinity if none. */
  private readonly lastKod: Float64Array;
  private readonly count: Uint32Array;
  private readonly headS: number;
  private readonly limitS: number;
  private readonly minimumS: number;
  /** Clients evicted to make room (a full table under a flood of distinct sources). */
  evictions = 0;

  constructor(settings: RateLimitSettings, private readonly seed: number) {
    let cap = WAYS;
    while (cap < settings.capacity) cap *= 2;
    this.capacity = cap;
    this.sets = cap / WAYS;
    this.keys = new Array<string | undefined>(cap).fill(undefined);
    this.last = new Float64Array(cap);
    this.first = new Float64Array(cap);
    this.leak = new Float64Array(cap);
    this.lastKod = new Float64Array(cap).fill(-Infinity);
    this.count = new Uint32Array(cap);
    this.headS = 2 ** settings.averageLog2S;
    this.limitS = BURST * this.headS;
    this.minimumS = 2 ** settings.minimumLog2S;
  }

  /** The poll interval a RATE kiss-o'-death asks clients to respect, log2 seconds. */
  get averageLog2S(): number {
    return Math.log2(this.headS);
  }

  /**
   * Records a packet from `address` at monotonic time `nowS` and says whether it is over the
   * limit. Every packet is recorded (the MRU list shows all clients); only `limited` rules act
   * on the verdict.
   */
  observe(address: string, nowS: number): RateVerdict {
    const slot = this.find(address);
    if (this.count[slot] === 0) {
      this.count[slot] = 1;
      this.first[slot] = this.last[slot] = nowS;
      this.leak[slot] = this.headS;
      return RateVerdict.Accept;
    }
    const interval = nowS - this.last[slot]!;
    this.last[slot] = nowS;
    this.count[slot] = Math.min(this.count[slot]! + 1, 0xffffffff);
    const leak = Math.max(0, this.leak[slot]! - interval);
    if (interval >= this.minimumS && leak + this.headS <= this.limitS) {
      this.leak[slot] = leak + this.headS;
      return RateVerdict.Accept;
    }
    this.leak[slot] = leak;
    // At most one kiss-o'-death per minimum interval per client, so KoDs cannot be a flood either.
    if (nowS - this.lastKod[slot]! >= this.minimumS) {
      this.lastKod[slot] = nowS;
      return RateVerdict.LimitedSendKod;
    }
    return RateVerdict.Limited;
  }

  private find(address: string): number {
    const base = (this.hash(address) & (this.sets - 1)) * WAYS;
    let victim = base;
    for (let i = base; i < base + WAYS; i++) {
      if (this.keys[i] === address) return i;
      if (this.keys[i] === undefined) {
        victim = i;
        break;
      }
      if (this.last[i]! < this.last[victim]!) victim = i;
    }
    if (this.keys[victim] !== undefined) this.evictions++;
    this.keys[victim] = address;
    this.count[victim] = 0;
    this.lastKod[victim] = -Infinity;
    return victim;
  }

  /** FNV-1a over the UTF-16 code units, seeded. */
  private hash(s: string): number {
    let h = (0x811c9dc5 ^ this.seed) >>> 0;
    for (let i = 0; i < s.length; i++) {
      h ^= s.charCodeAt(i);
      h = Math.imul(h, 0x01000193);
    }
    return h >>> 0;
  }

  /** Clients currently in the table, most recent first (for status pages and, later, mrulist). */
  entries(): { address: string; firstS: number; lastS: number; count: number }[] {
    const out: { address: string; firstS: number; lastS: number; count: number }[] = [];
    for (let i = 0; i < this.capacity; i++) {
      const k = this.keys[i];
      if (k !== undefined && this.count[i]! > 0) out.push({ address: k, firstS: this.first[i]!, lastS: this.last[i]!, count: this.count[i]! });
    }
    return out.sort((a, b) => b.lastS - a.lastS);
  }
}
