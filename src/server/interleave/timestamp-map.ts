/**
 * The server's map from the receive timestamp it put in a reply to that reply's transmit time, for
 * NTP interleaved mode (draft-ietf-ntp-interleaved-modes; chrony's clientlog.c NtpTimestampMap).
 * A client in interleaved mode sends back, as its origin timestamp, the receive timestamp of our
 * previous reply to it; we look that up here and answer with the previous reply's precise transmit
 * time (the kernel's stamp, read from the error queue after it left).
 *
 * Both sides are NTP timestamps on the served timescale, as (seconds, fraction) u32 pairs. Keys are
 * kept in order in a circular buffer of fixed capacity (a power of two): entries arrive nearly in
 * order (receive stamps of one socket), the oldest is dropped when full, and a lookup is a binary
 * search. As in chrony: a key seen twice is disabled (no answer could be trusted to be the right
 * one); a key is answered at most once (disabled after the lookup, a replayed request gets basic
 * mode); after the served time steps back, entries more than a second in the "future" are trimmed;
 * a key far behind the newest replaces its nearest older neighbour instead of shifting the buffer.
 *
 * Pure and allocation-free after construction; no input makes it throw or grow.
 */

const DISABLED = 1;
const VALID_TX = 2;
const KERNEL_TX = 4;
const TWO32 = 4_294_967_296;
/** chrony NTPTS_FUTURE_LIMIT: after a backward step, entries this far (1 s) past the new key are dropped. */
const FUTURE_LIMIT = TWO32;
/** chrony NTPTS_INSERT_LIMIT: a key within this many entries of the newest is inserted in order. */
const INSERT_LIMIT = 64;
/** A transmit time more than this (2 s) from its receive time is not kept (chrony's set_ntp_tx range). */
const MAX_TX_FROM_RX = 2 * TWO32;
/** chrony MAX_TX_DELAY: a kernel stamp must be 0-1 s after the daemon's transmit time it replaces. */
const MAX_TX_DELAY = TWO32;

/**
 * Default capacity: 65536 entries (1.1 MB). Each interleaved client holds one entry from one request to
 * its next, so this serves 65536 of them per worker when they poll alike (a client polling faster than
 * the others takes proportionally more room).
 */
export const DEFAULT_MAP_CAPACITY = 1 << 16;

/** What `take` found: the transmit timestamp and whether it is the kernel's. */
export interface TransmitFound {
  seconds: number;
  fraction: number;
  kernel: boolean;
}

/** Signed 64-bit (a − b) of two NTP timestamps, as a double (exact to 2^53; only its sign and size near 0 matter). */
export function ntpDiff(aSec: number, aFrac: number, bSec: number, bFrac: number): number {
  const borrow = aFrac < bFrac ? 1 : 0;
  const hi = (aSec - bSec - borrow) | 0;
  const lo = (aFrac - bFrac) >>> 0;
  return hi * TWO32 + lo;
}

export class TimestampMap {
  readonly capacity: number;
  private readonly rxSec: Uint32Array;
  private readonly rxFrac: Uint32Array;
  private readonly txSec: Uint32Array;
  private readonly txFrac: Uint32Array;
  private readonly flags: Uint8Array;
  private first = 0;
  private count = 0;
  /** Result of the last find(): the index found, or where the key would go. */
  private at = 0;

  /** `capacity` is rounded up to a power of two, at least 2. */
  constructor(capacity = DEFAULT_MAP_CAPACITY) {
    let c = 2;
    while (c < capacity && c < 1 << 30) c *= 2;
    this.capacity = c;
    this.rxSec = new Uint32Array(c);
    this.rxFrac = new Uint32Array(c);
    this.txSec = new Uint32Array(c);
    this.txFrac = new Uint32Array(c);
    this.flags = new Uint8Array(c);
  }

  get size(): number {
    return this.count;
  }

  /** Forgets everything (the served time stepped by an unknown amount). */
  clear(): void {
    this.count = 0;
  }

  private slot(index: number): number {
    return (this.first + index) & (this.capacity - 1);
  }

  private cmp(index: number, sec: number, frac: number): number {
    const s = this.slot(index);
    return ntpDiff(this.rxSec[s]!, this.rxFrac[s]!, sec, frac);
  }

  /** Whether the key is there; `this.at` = its index, or where it would be inserted (0 .. size). */
  private find(sec: number, frac: number): boolean {
    const n = this.count;
    if (n === 0) {
      this.at = 0;
      return false;
    }
    // Before the first, or after the last (checked in this order, as chrony, so a trim keeps the order).
    const dFirst = this.cmp(0, sec, frac);
    if (dFirst > 0) {
      this.at = 0;
      return false;
    }
    const dLast = this.cmp(n - 1, sec, frac);
    if (dLast < 0) {
      this.at = n;
      return false;
    }
    if (dLast === 0) {
      this.at = n - 1;
      return true;
    }
    // Invariant: entry lo ≤ key < entry hi.
    let lo = 0;
    let hi = n - 1;
    while (hi - lo > 1) {
      const mid = (lo + hi) >>> 1;
      if (this.cmp(mid, sec, frac) <= 0) lo = mid;
      else hi = mid;
    }
    if (this.cmp(lo, sec, frac) === 0) {
      this.at = lo;
      return true;
    }
    this.at = hi;
    return false;
  }

  /** Room for one more at `index`: grows, or drops the oldest (and the index moves down with it). */
  private push(index: number): number {
    if (this.count < this.capacity) {
      this.count++;
      return index;
    }
    this.first = (this.first + 1) & (this.capacity - 1);
    return index > 0 ? index - 1 : 0;
  }

  /**
   * Records that the reply carrying receive timestamp (rxSec, rxFrac) left at (txSec, txFrac) by
   * the daemon's clock (`kernel` false) or the kernel's. A zero key is ignored; a key already there
   * is disabled instead.
   */
  save(rxSec: number, rxFrac: number, txSec: number, txFrac: number, kernel: boolean): void {
    rxSec >>>= 0;
    rxFrac >>>= 0;
    if (rxSec === 0 && rxFrac === 0) return;
    if (this.find(rxSec, rxFrac)) {
      this.flags[this.slot(this.at)]! |= DISABLED;
      return;
    }
    let index = this.at;
    if (index === this.count) {
      index = this.push(index);
    } else {
      // The served time went back: drop what is now more than a second ahead.
      while (index < this.count && this.cmp(this.count - 1, rxSec, rxFrac) > FUTURE_LIMIT) this.count--;
      if (index + INSERT_LIMIT >= this.count) {
        index = this.push(index);
        for (let i = this.count - 1; i > index; i--) {
          const to = this.slot(i);
          const from = this.slot(i - 1);
          this.rxSec[to] = this.rxSec[from]!;
          this.rxFrac[to] = this.rxFrac[from]!;
          this.txSec[to] = this.txSec[from]!;
          this.txFrac[to] = this.txFrac[from]!;
          this.flags[to] = this.flags[from]!;
        }
      } else if (index > 0) {
        index--;
      }
    }
    const s = this.slot(index);
    this.rxSec[s] = rxSec;
    this.rxFrac[s] = rxFrac;
    this.flags[s] = 0;
    this.setTx(s, txSec >>> 0, txFrac >>> 0, kernel);
  }

  private setTx(s: number, txSec: number, txFrac: number, kernel: boolean): void {
    if (Math.abs(ntpDiff(txSec, txFrac, this.rxSec[s]!, this.rxFrac[s]!)) >= MAX_TX_FROM_RX) {
      this.flags[s] = this.flags[s]! & ~(VALID_TX | KERNEL_TX);
      return;
    }
    this.txSec[s] = txSec;
    this.txFrac[s] = txFrac;
    this.flags[s] = (this.flags[s]! & DISABLED) | VALID_TX | (kernel ? KERNEL_TX : 0);
  }

  /**
   * The kernel's transmit time for the reply with this receive timestamp, replacing the daemon's.
   * Refused (false) when the key is unknown or already answered, or the stamp is not 0-1 s after
   * the daemon's time (chrony's update_tx_timestamp: it belongs to another packet).
   */
  updateTx(rxSec: number, rxFrac: number, txSec: number, txFrac: number): boolean {
    rxSec >>>= 0;
    rxFrac >>>= 0;
    if (!this.find(rxSec, rxFrac)) return false;
    const s = this.slot(this.at);
    const f = this.flags[s]!;
    if ((f & DISABLED) !== 0 || (f & VALID_TX) === 0) return false;
    const delay = ntpDiff(txSec >>> 0, txFrac >>> 0, this.txSec[s]!, this.txFrac[s]!);
    if (delay < 0 || delay > MAX_TX_DELAY) return false;
    this.setTx(s, txSec >>> 0, txFrac >>> 0, true);
    return true;
  }

  /**
   * An interleaved request names this receive timestamp: 0 when it is unknown or was answered
   * already; otherwise the entry is disabled (answered once) and the result is 2 with the transmit
   * time in `out`, or 1 when no valid transmit time was kept (the reply must be basic).
   */
  take(rxSec: number, rxFrac: number, out: TransmitFound): 0 | 1 | 2 {
    rxSec >>>= 0;
    rxFrac >>>= 0;
    if ((rxSec === 0 && rxFrac === 0) || !this.find(rxSec, rxFrac)) return 0;
    const s = this.slot(this.at);
    const f = this.flags[s]!;
    if ((f & DISABLED) !== 0) return 0;
    this.flags[s] = f | DISABLED;
    if ((f & VALID_TX) === 0) return 1;
    out.seconds = this.txSec[s]!;
    out.fraction = this.txFrac[s]!;
    out.kernel = (f & KERNEL_TX) !== 0;
    return 2;
  }
}
