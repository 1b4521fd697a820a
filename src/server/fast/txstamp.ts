/**
 * The fast-path worker's half of NTP interleaved mode (src/server/interleave): which replies ask
 * the kernel for a transmit stamp, the daemon's transmit time saved for them after the send, and
 * the kernel's stamps read back from the socket's error queue (MSG_ERRQUEUE) into the map.
 *
 * The error queue is read right after each sendmmsg that carried stamped replies (on loopback the
 * stamps are there by then: the driver stamps inside the send) and again on later turns of the loop
 * while some are still expected (a real NIC stamps a little later). Its entries count against the
 * socket's receive buffer, so they are never left there: after two empty reads nothing more is
 * expected. Allocation-free per packet.
 */
import { newTimeSpec } from '../../clock/clock.js';
import { ntpFractionOf, ntpSecondsOf, type Timescale } from '../../clock/timescale.js';
import type { ServerCounters } from '../counters.js';
import type { TransmitClock } from '../handler/handler.js';
import { udpPayloadOffset } from '../interleave/frame.js';
import { InterleavedServer } from '../interleave/server.js';
import { DEFAULT_MAP_CAPACITY } from '../interleave/timestamp-map.js';
import { BATCH, type BatchSocket } from './batch-socket.js';
import { ErrorQueue } from './error-queue.js';

export class TransmitStamps {
  readonly interleave = new InterleavedServer(DEFAULT_MAP_CAPACITY, BATCH);
  /** The handler's and the restamp's clock: served time with the transmit timestamp's lowest bit clear. */
  readonly clock: TransmitClock;
  private pendingBefore = 0;
  private interleavedBefore = 0;
  /** Stamped replies sent whose stamp has not been read yet. */
  private awaiting = 0;
  private emptyReads = 0;
  private readonly ts = newTimeSpec();
  private readonly errors: ErrorQueue;

  constructor(sock: BatchSocket, private readonly timescale: Timescale, private readonly counters: ServerCounters) {
    this.clock = this.interleave.transmitClock(timescale);
    this.errors = new ErrorQueue(sock.abi, sock.fd, sock.family);
  }

  /** After the socket was closed: frees the error queue's buffers. */
  close(): void {
    this.errors.free();
  }

  /** Before each handler run. */
  before(): void {
    this.pendingBefore = this.interleave.pendingCount;
    this.interleavedBefore = this.interleave.counts.interleaved;
  }

  /** After it: whether that reply's transmit time is to be saved (ask the kernel to stamp it). */
  wantsStamp(): boolean {
    return this.interleave.pendingCount > this.pendingBefore;
  }

  /** ... and whether it went out interleaved (its transmit timestamp is the previous reply's: not restamped). */
  wasInterleaved(): boolean {
    return this.interleave.counts.interleaved > this.interleavedBefore;
  }

  /** Whether this batch has replies to save (the daemon's transmit time must be read). */
  pending(): boolean {
    return this.interleave.pendingCount > 0;
  }

  /** After the batch's sendmmsg; `txStamp` is the served transmit time read right before it (NTP, 8 bytes). */
  afterSend(txStamp: Buffer): void {
    const n = this.interleave.pendingCount;
    if (n > 0) {
      this.interleave.commit(txStamp.readUInt32BE(0), txStamp.readUInt32BE(4));
      this.awaiting += n;
    }
    if (this.awaiting > 0) this.drain();
  }

  /** A turn of the loop without datagrams: stamps that came late. */
  poll(): void {
    if (this.awaiting > 0) this.drain();
  }

  private drain(): void {
    const n = this.errors.receive();
    if (n <= 0) {
      if (++this.emptyReads >= 2) {
        this.awaiting = 0;
        this.emptyReads = 0;
      }
      return;
    }
    this.emptyReads = 0;
    this.awaiting = Math.max(0, this.awaiting - n);
    const xl = this.interleave;
    const ts = this.ts;
    for (let j = 0; j < n; j++) {
      const len = this.errors.length(j);
      const frame = this.errors.frame(j);
      const at = len > 0 ? udpPayloadOffset(frame, len) : -1;
      if (at < 0 || !this.errors.txStamp(j, ts)) {
        xl.counts.txStampUnmatched++;
        continue;
      }
      this.timescale.toServed(ts);
      xl.recordTransmit(frame, at, len - at, ntpSecondsOf(ts), ntpFractionOf(ts));
    }
  }

  /** Copies the counts into the worker's ServerCounters (before its stats are sent). */
  count(): void {
    const c = this.counters;
    const k = this.interleave.counts;
    c.interleaved = k.interleaved;
    c.txStampKernel = k.txStampKernel;
    c.txStampMissing = k.txStampMissing;
    c.txStampUnmatched = k.txStampUnmatched;
  }
}
