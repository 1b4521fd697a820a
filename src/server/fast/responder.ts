/**
 * The fast path's per-batch work, shared by its two drivers: a worker thread's blocking loop
 * (worker.ts) and the main thread's event-loop driver (inline-pool.ts, `--server-workers 0`).
 * It owns one BatchSocket and answers time requests (mode 3, and v1 mode 0) in batches with the
 * same pure NtpRequestHandler the dgram path uses, built here from the access config and keys
 * (start and reload); everything else (mode 6, mode 1/2/5) goes to `post` as a 'forward' message,
 * as do counters ('stats', every 250 ms and on a flush).
 *
 * One turn, after a receive: read the shared snapshot and correction line (seqlock, once per batch)
 * → per datagram: kernel receive stamp (SCM_TIMESTAMPING), served time, handler → one sendmmsg for
 * the batch → interleaved mode's bookkeeping (txstamp.ts) → counters every 250 ms → how long to
 * wait before the next receive (receive coalescing, coalescing.ts).
 *
 * Written as closures over constants, as the worker's loop was: the per-datagram code is the same
 * whichever thread runs it.
 */
import { newTimeSpec, type RealtimeClock } from '../../clock/clock.js';
import { systemMonotonicClock, systemRealtimeClock } from '../../clock/posix.js';
import { ntpFractionOf, ntpSecondsOf, Timescale } from '../../clock/timescale.js';
import { KeyRing } from '../../auth/mac.js';
import { LINUX_SOCKET_ABIS, type LinuxAbiName } from '../../net/linux-abi.js';
import { RateLimiter } from '../access/ratelimit.js';
import { RestrictTable } from '../access/restrict.js';
import { ServerCounters } from '../counters.js';
import { NtpRequestHandler, RequestMeta } from '../handler/handler.js';
import { ServerStateCell, unsynchronisedSnapshot } from '../state.js';
import { MAX_KERNEL_RX_LAG_NS } from '../kernel-rx-stamp.js';
import { BATCH, BatchSocket, REPLY_BYTES, sockaddrAddress, sockaddrPort, sockaddrToAddress } from './batch-socket.js';
import { ReceiveCoalescing } from './coalescing.js';
import { TransmitStamps } from './txstamp.js';
import { SharedServerView, type CorrectionLine } from './shared.js';
import type { AccessSpec, FromWorker, ToWorker, WorkerStart } from './protocol.js';

/** A batch's transmit stamp is taken again when writing it took longer than this (a pause), ns. */
const STAMP_PAUSE_NS = 20_000;
/** ... at most this many times (then the last one goes out: a pause that long again is not chance). */
const STAMP_ATTEMPTS = 3;

/** What a driver needs from the responder. */
export interface BatchResponder {
  readonly sock: BatchSocket;
  /** The stop flag in the address's shared memory (raised by the pool). */
  stopping(): boolean;
  /**
   * One turn after a receive that returned `n` (datagrams; 0 after a timeout; < 0 an error):
   * answers the batch, posts counters when due; returns µs to wait before the next receive.
   */
  turn(n: number): number;
  /** A message from the pool: new access config and keys, a counter flush, the test-only fault (throws). */
  control(msg: ToWorker): void;
  /** Stopping: the last counters, the socket closed, the memory freed. */
  finish(): void;
  /** After a throw: frees the memory but leaves the descriptor to the owner (BatchSocket.releaseMemory). */
  crash(): void;
}

function accessFrom(spec: AccessSpec): { restrict: RestrictTable; limiter: RateLimiter; keys: KeyRing } {
  return {
    restrict: new RestrictTable(spec.restrict, spec.sources),
    limiter: RateLimiter.attach(spec.limiter, spec.rateTable),
    keys: new KeyRing(spec.keys.map((k) => ({ ...k, secret: Buffer.from(k.secret) })), spec.keys.map((k) => k.id)),
  };
}

/** A slot's reply buffer in words (REPLY_BYTES is a multiple of 4). */
const REPLY_WORDS = REPLY_BYTES / 4;

/**
 * Opens the socket (throws if it cannot bind) and builds the handler from `start.access`.
 * `realtime`: CLOCK_REALTIME (a test passes one that jumps, to see a pause while stamping).
 */
export function createBatchResponder(start: Omit<WorkerStart, 'control'>, post: (m: FromWorker) => void,
  realtime: RealtimeClock = systemRealtimeClock()): BatchResponder {
  const abi = LINUX_SOCKET_ABIS[start.abi as LinuxAbiName];
  const sock = new BatchSocket(abi, { address: start.address, port: start.port, rcvbuf: start.rcvbuf, receiveTimeoutMs: start.receiveTimeoutMs });
  const shared = new SharedServerView(start.shared);
  const timescale = new Timescale(realtime);
  const monotonic = systemMonotonicClock();
  const state = new ServerStateCell(unsynchronisedSnapshot(-20));
  const counters = new ServerCounters();
  const a = accessFrom(start.access);
  const tx = new TransmitStamps(sock, timescale, counters);
  const handler = new NtpRequestHandler(tx.clock, state, a.restrict, a.limiter, counters);
  handler.setKeys(a.keys);
  handler.setInterleave(tx.interleave);
  // Unsigned basic replies are restamped right before each sendmmsg below: no clock read per reply in the handler.
  handler.setShellStampsTransmit(true);

  const line: CorrectionLine = { correctionNs: 0, slopeNsPerS: 0, t0Sec: 0, t0Nsec: 0 };
  let seq = -1;
  const refresh = (): void => {
    const s = shared.sequence();
    if (s === seq) return;
    const leap = shared.read(state.template, line);
    if (leap < 0) return;
    state.leapBits = leap;
    timescale.setCorrectionLine(line.correctionNs, line.slopeNsPerS, line.t0Sec, line.t0Nsec);
    seq = s;
  };

  const meta = new RequestMeta();
  const now = newTimeSpec();
  const rx = newTimeSpec();
  const mono = newTimeSpec();
  const restamp = new Int32Array(BATCH);
  let restamps = 0;
  // The batch's transmit timestamp as bytes (written by the clock) and as the two words it is copied in.
  const txStampWords = new Int32Array(2);
  const txStamp = Buffer.from(txStampWords.buffer);
  const replyWords = sock.replyWords;
  const stampFrom = newTimeSpec();
  const stampTo = newTimeSpec();
  let restampsRetaken = 0;
  const rxStats = { kernel: 0, missing: 0, outOfWindow: 0, forwarded: 0, receiveErrors: 0 };
  const sent = new ServerCounters();
  const keys = Object.keys(counters) as (keyof ServerCounters)[];
  const delta: Record<string, number> = {};
  let lastFlushS = 0;
  const coalescing = new ReceiveCoalescing(start.coalesceUs ?? 0, BATCH);
  const flushStats = (): void => {
    tx.count();
    counters.rxCoalesced = coalescing.sleeps;
    counters.txRestampRetaken = restampsRetaken;
    for (const k of keys) {
      const v = counters[k];
      if (typeof v !== 'number') continue;
      delta[k] = v - (sent[k] as number);
      (sent as unknown as Record<string, number>)[k] = v;
    }
    post({ kind: 'stats', counters: delta, rx: rxStats, sendDropped: sock.sendDropped });
  };

  const answer = (n: number): void => {
    refresh();
    timescale.readRaw(now);
    monotonic.read(mono);
    meta.monoS = mono.sec + mono.nsec / 1e9;
    for (let i = 0; i < n; i++) {
      const slot = sock.slots[i]!;
      const len = sock.length(i);
      // The kernel's stamp where it is there and plausible (as udp.ts checks its SIOCGSTAMPNS), else the read after recvmmsg.
      let stamped = sock.rxStamp(i, rx);
      if (stamped) {
        const lagNs = (now.sec - rx.sec) * 1e9 + (now.nsec - rx.nsec);
        if (!(lagNs >= 0 && lagNs <= MAX_KERNEL_RX_LAG_NS)) {
          rxStats.outOfWindow++;
          stamped = false;
        }
      } else {
        rxStats.missing++;
      }
      if (stamped) rxStats.kernel++;
      else {
        rx.sec = now.sec;
        rx.nsec = now.nsec;
      }
      const b0 = len > 0 ? slot.payload[0]! : 0;
      const mode = b0 & 7;
      const truncated = sock.truncated(i);
      if (!truncated && (mode === 1 || mode === 2 || mode === 5 || mode === 6)) {
        // Copies (new Uint8Array of a view): a posted view would clone the whole region under it.
        // Not a time request: the main thread's handler routes it (control responder, associations, passive reply).
        rxStats.forwarded++;
        post({
          kind: 'forward', bytes: new Uint8Array(slot.payload.subarray(0, len)), name: new Uint8Array(slot.name.subarray(0, sock.nameLength(i))),
          address: sockaddrAddress(slot.name), port: sockaddrPort(slot.name), rxSec: rx.sec, rxNsec: rx.nsec,
        });
        continue;
      }
      timescale.toServed(rx);
      sockaddrToAddress(slot.name, meta.source);
      meta.sourceWritten(sockaddrPort(slot.name));
      meta.rxSeconds = ntpSecondsOf(rx);
      meta.rxFraction = ntpFractionOf(rx);
      tx.before();
      const out = truncated ? 0 : handler.handle(slot.payload, len, meta, slot.reply);
      if (out > 0) {
        sock.queueReply(i, out, tx.wantsStamp());
        // An unsigned basic time reply (not a kiss: stratum ≠ 0) gets the batch's transmit stamp below.
        if (out === 48 && slot.reply[1] !== 0 && !tx.wasInterleaved()) restamp[restamps++] = i;
      }
    }
    // Transmit timestamps of the batch's unsigned basic replies, right before the one sendmmsg (the
    // handler left them to this point: setShellStampsTransmit). Signed replies keep the one the handler
    // wrote (the MAC covers it); kisses carry the client's own; interleaved ones the previous reply's.
    // The stamp is taken again when more than STAMP_PAUSE_NS passed between the read before it
    // and the send (checked inside flushIfFresh, right before the syscall): a pause there (a GC
    // step on the main thread's heap, a preemption) would send the replies with a transmit time
    // that many µs early, which the client reads as offset (seen: samples 0.5-1.1 ms off, their
    // delay 1-2 ms short, in 60 s bench runs on the main thread).
    if (restamps > 0 || tx.pending()) {
      for (let attempt = 1; ; attempt++) {
        timescale.readRaw(stampFrom);
        tx.clock.writeNtp(txStamp, 0);
        const s0 = txStampWords[0]!, s1 = txStampWords[1]!;
        for (let r = 0; r < restamps; r++) {
          const at = restamp[r]! * REPLY_WORDS + 10; // bytes 40-47 of that slot's reply
          replyWords[at] = s0;
          replyWords[at + 1] = s1;
        }
        if (sock.flushIfFresh(timescale, stampFrom, STAMP_PAUSE_NS, stampTo) >= 0) break;
        restampsRetaken++;
        if (attempt === STAMP_ATTEMPTS) {
          sock.flush();
          break;
        }
      }
      restamps = 0;
    } else {
      sock.flush();
    }
    tx.afterSend(txStamp);
  };

  return {
    sock,
    stopping: () => shared.stopping,
    turn(n: number): number {
      if (n < 0) rxStats.receiveErrors++;
      else if (n > 0) answer(n);
      else tx.poll();
      // A batch read the monotonic clock at its start (meta.monoS): close enough for the 250 ms counter posts and the coalescing window.
      if (n <= 0) monotonic.read(mono);
      const t = mono.sec + mono.nsec / 1e9;
      if (t - lastFlushS >= 0.25) {
        lastFlushS = t;
        flushStats();
      }
      return coalescing.afterReceive(n > 0 ? n : 0, t);
    },
    control(msg: ToWorker): void {
      if (msg.kind === 'access') {
        const next = accessFrom(msg.access);
        handler.reconfigure(next.restrict, next.limiter);
        handler.setKeys(next.keys);
        post({ kind: 'applied', generation: msg.generation });
      } else if (msg.kind === 'flush') {
        flushStats();
        post({ kind: 'applied', generation: msg.generation });
      } else if (msg.kind === 'fault') {
        throw new Error(msg.message);
      }
    },
    finish(): void {
      flushStats();
      sock.close();
      tx.close();
    },
    crash(): void {
      sock.releaseMemory();
      tx.close();
    },
  };
}
