/**
 * Per-client rate limiting with memory fixed at start-up (ntpd's MRU list with `discard`,
 * sized like chrony's ratelimit table), in one SharedArrayBuffer that every thread serving the
 * port uses: the fast path's workers and the main thread see one table, so `ntpq -c mrulist`
 * lists every client and a client's packets count once whichever thread took them.
 *
 * Algorithm (ntpd's ntp_monitor): a leaky bucket per client. Each accepted packet adds
 * 2^average seconds of "leak"; leak drains at one second per second; a packet is over the
 * limit when it comes sooner than 2^minimum seconds after the previous one or when the bucket
 * would exceed 8 × 2^average (a burst of 8, then one per 2^average s).
 *
 * Memory: a 4-way set-associative table of `capacity` slots keyed by the address's words (no
 * string per client, nothing allocated per packet). A client not in the table evicts the least
 * recently seen of its set, so a flood from one address holds one slot and a flood of spoofed
 * addresses can only make real clients look new (served, never starved). Set selection is keyed
 * with a random seed so nobody can aim at one set.
 *
 * Threads write slots without locks. What a race can do: two threads taking the same new client
 * at once may give it two slots, and a thread may read a key another is rewriting and take the
 * client for new. Either way one packet is judged as a new client's (accepted) and the table
 * stays within its capacity; rate limiting is a heuristic against floods, not an account.
 */
import { formatAddress, type ParsedAddress } from '../../net/address.js';

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

/** One row of the table, for mrulist and status pages. */
export interface RateEntry {
  readonly address: string;
  readonly port: number;
  /** Mode and version of the client's last packet. */
  readonly mode: number;
  readonly version: number;
  /** Monotonic seconds of the first and the last packet. */
  readonly firstS: number;
  readonly lastS: number;
  readonly count: number;
}

/** Header words (Int32): the hash seed, evictions (modulo 2^32), the capacity. */
const H_SEED = 0;
const H_EVICTIONS = 1;
const H_CAPACITY = 2;
const HEADER_BYTES = 16;
/** Bytes per slot: 4 float64 + 5 uint32 + 1 uint16 + 3 uint8. */
const SLOT_BYTES = 4 * 8 + 5 * 4 + 2 + 3;

function roundCapacity(capacity: number): number {
  let cap = WAYS;
  while (cap < capacity) cap *= 2;
  return cap;
}

/**
 * One packet as the rate table sees it (the handler's RequestMeta is one). An object, not
 * arguments: monotonic seconds is not a small integer, and passed as an argument to a call the JIT
 * does not inline it is boxed on the heap: one allocation per packet (issue 9's allocation hunt).
 */
export interface RateLimitedRequest {
  /** Source address as words. */
  readonly source: ParsedAddress;
  /** Source UDP port. */
  readonly port: number;
  /** Monotonic seconds at arrival. */
  readonly monoS: number;
}

export class RateLimiter {
  readonly capacity: number;
  /** The table's memory, to hand to another thread (RateLimiter.attach). */
  readonly memory: SharedArrayBuffer;
  private readonly sets: number;
  private readonly header: Int32Array;
  /** Monotonic seconds of the last packet. */
  private readonly last: Float64Array;
  /** Monotonic seconds of the first packet (for the MRU list). */
  private readonly first: Float64Array;
  /** Bucket content, seconds. */
  private readonly leak: Float64Array;
  /** Monotonic seconds of the last kiss-o'-death, -Infinity if none. */
  private readonly lastKod: Float64Array;
  /** The address's four words per slot (ParsedAddress.words). */
  private readonly key: Uint32Array;
  private readonly count: Uint32Array;
  private readonly port: Uint16Array;
  /** 0: empty slot; else 4 or 6. */
  private readonly family: Uint8Array;
  private readonly mode: Uint8Array;
  private readonly version: Uint8Array;
  private readonly seed: number;
  private readonly headS: number;
  private readonly limitS: number;
  private readonly minimumS: number;

  /**
   * A new, empty table (`memory` absent), or a view of another thread's (`memory` from its
   * `.memory`; the capacity and the seed come with it).
   */
  constructor(settings: RateLimitSettings, seed: number, memory?: SharedArrayBuffer) {
    const cap = memory ? new Int32Array(memory, 0, 4)[H_CAPACITY]! : roundCapacity(settings.capacity);
    this.memory = memory ?? new SharedArrayBuffer(HEADER_BYTES + cap * SLOT_BYTES);
    this.capacity = cap;
    this.sets = cap / WAYS;
    this.header = new Int32Array(this.memory, 0, 4);
    if (!memory) {
      this.header[H_SEED] = seed | 0;
      this.header[H_CAPACITY] = cap;
    }
    this.seed = this.header[H_SEED]!;
    let at = HEADER_BYTES;
    const f64 = (): Float64Array => {
      const a = new Float64Array(this.memory, at, cap);
      at += cap * 8;
      return a;
    };
    this.last = f64();
    this.first = f64();
    this.leak = f64();
    this.lastKod = f64();
    this.key = new Uint32Array(this.memory, at, cap * 4);
    at += cap * 16;
    this.count = new Uint32Array(this.memory, at, cap);
    at += cap * 4;
    this.port = new Uint16Array(this.memory, at, cap);
    at += cap * 2;
    this.family = new Uint8Array(this.memory, at, cap);
    this.mode = new Uint8Array(this.memory, at + cap, cap);
    this.version = new Uint8Array(this.memory, at + 2 * cap, cap);
    this.headS = 2 ** settings.averageLog2S;
    this.limitS = BURST * this.headS;
    this.minimumS = 2 ** settings.minimumLog2S;
  }

  /** Another thread's view of the table in `memory`. */
  static attach(settings: RateLimitSettings, memory: SharedArrayBuffer): RateLimiter {
    return new RateLimiter(settings, 0, memory);
  }

  /** The poll interval a RATE kiss-o'-death asks clients to respect, log2 seconds. */
  get averageLog2S(): number {
    return Math.log2(this.headS);
  }

  /** Clients evicted to make room (a full table under a flood of distinct sources), all threads, modulo 2^32. */
  get evictions(): number {
    return this.header[H_EVICTIONS]! >>> 0;
  }

  /**
   * Records a packet from `client` (port, mode, version for the MRU list) at monotonic time
   * `nowS` and says whether it is over the limit. Every packet is recorded (the MRU list shows
   * all clients); only `limited` rules act on the verdict.
   */
  observe(request: RateLimitedRequest, mode: number, version: number): RateVerdict {
    const nowS = request.monoS;
    const slot = this.find(request.source);
    const port = request.port;
    this.port[slot] = port;
    this.mode[slot] = mode;
    this.version[slot] = version;
    if (this.count[slot] === 0) {
      this.count[slot] = 1;
      this.first[slot] = this.last[slot] = nowS;
      this.leak[slot] = this.headS;
      return RateVerdict.Accept;
    }
    const interval = nowS - this.last[slot]!;
    this.last[slot] = nowS;
    if (this.count[slot] !== 0xffffffff) this.count[slot]!++;
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

  private find(client: ParsedAddress): number {
    const w = client.words;
    const w0 = w[0]!, w1 = w[1]!, w2 = w[2]!, w3 = w[3]!;
    const fam = client.family;
    const base = (this.hash(w0, w1, w2, w3) & (this.sets - 1)) * WAYS;
    const key = this.key;
    let victim = base;
    for (let i = base; i < base + WAYS; i++) {
      const f = this.family[i];
      if (f === 0) {
        victim = i;
        break;
      }
      const k = 4 * i;
      if (f === fam && key[k + 3] === w3 && key[k + 2] === w2 && key[k + 1] === w1 && key[k] === w0) return i;
      if (this.last[i]! < this.last[victim]!) victim = i;
    }
    if (this.family[victim] !== 0) Atomics.add(this.header, H_EVICTIONS, 1);
    const k = 4 * victim;
    key[k] = w0;
    key[k + 1] = w1;
    key[k + 2] = w2;
    key[k + 3] = w3;
    this.family[victim] = fam;
    this.count[victim] = 0;
    this.lastKod[victim] = -Infinity;
    return victim;
  }

  /** A seeded multiply-xorshift mix of the four words (murmur3's finaliser per word). */
  private hash(w0: number, w1: number, w2: number, w3: number): number {
    let h = this.seed ^ w3;
    h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
    h = Math.imul(h ^ (h >>> 13) ^ w2, 0xc2b2ae35);
    h = Math.imul(h ^ (h >>> 16) ^ w1, 0x85ebca6b);
    h = Math.imul(h ^ (h >>> 13) ^ w0, 0xc2b2ae35);
    return (h ^ (h >>> 16)) >>> 0;
  }

  /** Clients currently in the table, most recent first (status pages, mrulist). Allocates: not per packet. */
  entries(): RateEntry[] {
    const out: RateEntry[] = [];
    for (let i = 0; i < this.capacity; i++) {
      const f = this.family[i]!;
      if (f === 0 || this.count[i] === 0) continue;
      out.push({
        address: formatAddress(f, this.key.subarray(4 * i, 4 * i + 4)), port: this.port[i]!, mode: this.mode[i]!,
        version: this.version[i]!, firstS: this.first[i]!, lastS: this.last[i]!, count: this.count[i]!,
      });
    }
    return out.sort((a, b) => b.lastS - a.lastS);
  }

  /** How many slots hold a client (cheaper than entries().length). */
  occupied(): number {
    let n = 0;
    for (let i = 0; i < this.capacity; i++) if (this.family[i] !== 0 && this.count[i] !== 0) n++;
    return n;
  }
}
