/**
 * NTP interleaved mode on the server side (draft-ietf-ntp-interleaved-modes), with chrony's rules
 * (ntp_core.c NCR_ProcessRxUnknown, transmit_packet, NCR_ProcessTxUnknown). Pure: the request
 * handler calls `serve` while it builds a reply; the IO shell (the fast path's worker) calls
 * `commit` after the batch went out and `recordTransmit` for each kernel transmit stamp it read
 * from the error queue.
 *
 * - Every server reply has the lowest bit of its receive timestamp set and of its transmit timestamp
 *   cleared (the handler's clock is `transmitClock`). A client in interleaved mode echoes our
 *   receive timestamp as its origin, so a request whose origin ends in 1 may be interleaved and one
 *   ending in 0 (a client's own transmit time, or our transmit time in symmetric basic mode) is not.
 * - A request counts as interleaved-capable when it is NTPv4, its origin ends in 1 and its receive
 *   and transmit timestamps differ. For those (only) the reply's receive timestamp is saved in the
 *   TimestampMap with the daemon's transmit time, later replaced by the kernel's stamp.
 * - If the origin is found (and was not answered before), the reply is interleaved: origin = the
 *   request's receive timestamp, transmit = the saved transmit time of the previous reply (the
 *   kernel's, or the daemon's when no stamp came: counted as missing). Otherwise basic mode.
 *   A client's third request is the first that can be answered interleaved.
 * Kisses, crypto-NAKs and symmetric (mode 2) replies are never interleaved here.
 */
import type { TransmitClock } from '../handler/handler.js';
import { writeNtpWords } from '../../ntp/timestamp.js';
import { TimestampMap, DEFAULT_MAP_CAPACITY, type TransmitFound } from './timestamp-map.js';

/** What interleaved mode did, counted (the worker adds them to ServerCounters). */
export interface InterleaveCounts {
  /** Replies sent in interleaved mode. */
  interleaved: number;
  /** ... of which carried the daemon's transmit time because no kernel stamp had been recorded. */
  txStampMissing: number;
  /** Kernel transmit stamps read from the error queue and recorded. */
  txStampKernel: number;
  /** Kernel transmit stamps that matched no saved reply (or failed chrony's 0-1 s delay check). */
  txStampUnmatched: number;
}

function u32(b: Uint8Array, at: number): number {
  return ((b[at]! << 24) | (b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!) >>> 0;
}


export class InterleavedServer {
  readonly map: TimestampMap;
  readonly counts: InterleaveCounts = { interleaved: 0, txStampMissing: 0, txStampKernel: 0, txStampUnmatched: 0 };
  /** Replies to interleaved-capable requests since the last commit (their receive timestamps). */
  private readonly pendingSec: Uint32Array;
  private readonly pendingFrac: Uint32Array;
  private pending = 0;
  private readonly found: TransmitFound = { seconds: 0, fraction: 0, kernel: false };

  /** `maxPending`: replies per batch (the worker's BATCH); more before a commit are not saved. */
  constructor(capacity = DEFAULT_MAP_CAPACITY, maxPending = 64) {
    this.map = new TimestampMap(capacity);
    this.pendingSec = new Uint32Array(maxPending);
    this.pendingFrac = new Uint32Array(maxPending);
  }

  /** Replies awaiting `commit` that want their transmit time saved (the shell asks the kernel to stamp those). */
  get pendingCount(): number {
    return this.pending;
  }

  /** A TransmitClock that clears the lowest bit of what `clock` writes (see the module comment). */
  transmitClock(clock: TransmitClock): TransmitClock {
    return {
      writeNtp(buf: Buffer, offset: number): void {
        clock.writeNtp(buf, offset);
        buf[offset + 7] = buf[offset + 7]! & 0xfe;
      },
    };
  }

  /**
   * Called by the handler for a server (mode 4) reply it will send, after writing origin (24) and
   * receive (32) in the basic way and before the transmit timestamp (40). Marks the receive
   * timestamp; returns true when the reply is interleaved (origin and transmit written here: the
   * caller must not write the transmit timestamp).
   */
  serve(req: Uint8Array, version: number, out: Uint8Array): boolean {
    out[39] = out[39]! | 1;
    if (version !== 4 || (req[31]! & 1) === 0) return false;
    let same = true;
    for (let i = 32; i < 40; i++) if (req[i] !== req[i + 8]) { same = false; break; }
    if (same) return false;
    if (this.pending < this.pendingSec.length) {
      this.pendingSec[this.pending] = u32(out, 32);
      this.pendingFrac[this.pending] = u32(out, 36);
      this.pending++;
    }
    const f = this.found;
    if (this.map.take(u32(req, 24), u32(req, 28), f) !== 2) return false;
    for (let i = 0; i < 8; i++) out[24 + i] = req[32 + i]!;
    writeNtpWords(out, 40, f.seconds, f.fraction & ~1);
    this.counts.interleaved++;
    if (!f.kernel) this.counts.txStampMissing++;
    return true;
  }

  /** After the batch was sent: saves each pending reply with the daemon's transmit time (read right before the send). */
  commit(txSec: number, txFrac: number): void {
    for (let i = 0; i < this.pending; i++) this.map.save(this.pendingSec[i]!, this.pendingFrac[i]!, txSec, txFrac & ~1, false);
    this.pending = 0;
  }

  /**
   * A kernel transmit stamp (served time) for the reply `reply[at .. at + length)` (the NTP message
   * looped back from the error queue). Returns whether it was recorded.
   */
  recordTransmit(reply: Uint8Array, at: number, length: number, txSec: number, txFrac: number): boolean {
    if (length < 48 || at < 0 || at + 48 > reply.length || (reply[at]! & 7) !== 4) {
      this.counts.txStampUnmatched++;
      return false;
    }
    if (this.map.updateTx(u32(reply, at + 32), u32(reply, at + 36), txSec, txFrac & ~1)) {
      this.counts.txStampKernel++;
      return true;
    }
    this.counts.txStampUnmatched++;
    return false;
  }
}
