/**
 * The fast path without worker threads (`--server-workers 0`): each listen address's BatchResponder
 * (responder.ts) runs on the main thread, driven by the event loop. Why: a worker thread is a
 * second V8 isolate and Node environment, ~12 MiB of the ~68 MiB a fast-path daemon holds
 * (docs/server.md, "Memory"); this keeps the kernel stamps, the batching and the per-datagram code
 * and drops the isolate.
 *
 * How the main thread waits without blocking: poll(2) on every address's socket, as a koffi
 * asynchronous call, so it blocks one libuv threadpool thread (no isolate; one for all addresses,
 * the pool's other threads stay free for fs, dns and crypto). When it returns, the main thread
 * reads each socket with recvmmsg(MSG_DONTWAIT) and answers the batches. While requests keep
 * coming it stays off the threadpool: after the batches (and the coalescing wait, when due) it
 * reads again at once, for up to 1 ms, then from setImmediate, so the event loop keeps its turns
 * (timers, the control socket, the web page wait at most ~1 ms under load); a round that finds
 * nothing goes back to poll. The thread hop delays only the first request after a quiet
 * spell, inside T3 − T2 (the receive stamp is the kernel's): no client's offset or delay sees it.
 *
 * Same surface as WorkerPool for FastPathServer: one pseudo-slot per address carries the socket's
 * descriptor (forwarded replies, sends from the server port) and its receive counts.
 */
import type { ListenAddress } from '../udp.js';
import { BATCH, socketLibc } from './batch-socket.js';
import { threadSleep, type ThreadSleep } from './coalescing.js';
import type { AccessSpec, FromWorker } from './protocol.js';
import { createBatchResponder, type BatchResponder } from './responder.js';
import type { SharedServerView } from './shared.js';
import {
  DEFAULT_RECEIVE_TIMEOUT_MS, newPoolAddress, newWorkerSlot, responderStart, socketOpenError, type PoolAddress, type WorkerEvents, type WorkerPoolOptions,
} from './worker-pool.js';

/** struct pollfd { int fd; short events; short revents; }: the same 8 bytes on every Linux ABI. */
const POLLFD_BYTES = 8;
const POLLIN = 1;
/** Listen addresses one loop polls at most (far above any config: one per interface address). */
const MAX_ADDRESSES = 64;
/** How long the main thread answers batches back to back before letting the event loop run, ms. */
const YIELD_MS = 1;

type Poll = ((fds: unknown, nfds: number, timeoutMs: number) => number) & {
  async(fds: unknown, nfds: number, timeoutMs: number, done: (err: unknown, ready: number) => void): void;
};

/** The main thread's receive loop over every address's responder. */
class InlineLoop {
  private readonly responders: BatchResponder[] = [];
  private readonly poll: Poll;
  private readonly fdsPtr: unknown;
  private readonly fds32: Int32Array;
  private readonly fds16: Int16Array;
  /** A poll is running on the threadpool (its pollfd array is the kernel's until it returns). */
  private polling = false;
  private scheduled = false;
  private freed = false;
  private onIdle: (() => void) | undefined;

  constructor(private readonly timeoutMs: number, private readonly sleeper: ThreadSleep | undefined) {
    const c = socketLibc();
    const lib = c.koffi.load('libc.so.6');
    this.poll = lib.func('int poll(void *, unsigned long, int)') as Poll;
    this.fdsPtr = c.koffi.alloc('uint8_t', MAX_ADDRESSES * POLLFD_BYTES);
    const bytes = c.koffi.view(this.fdsPtr, MAX_ADDRESSES * POLLFD_BYTES) as ArrayBuffer;
    this.fds32 = new Int32Array(bytes);
    this.fds16 = new Int16Array(bytes);
  }

  add(r: BatchResponder): void {
    if (this.responders.length >= MAX_ADDRESSES) throw new Error(`more than ${MAX_ADDRESSES} listen addresses`);
    this.responders.push(r);
    if (!this.polling && !this.scheduled) this.round();
  }

  /** Stops one responder now (no receive of it runs on another thread: only poll does, and it does not touch its buffers). */
  remove(r: BatchResponder): void {
    const i = this.responders.indexOf(r);
    if (i >= 0) this.responders.splice(i, 1);
    r.finish();
  }

  /** Resolves once no poll is in flight (then the pollfd array is freed). */
  close(): Promise<void> {
    for (const r of [...this.responders]) this.remove(r);
    return new Promise<void>((resolve) => {
      const free = (): void => {
        if (!this.freed) socketLibc().koffi.free(this.fdsPtr);
        this.freed = true;
        resolve();
      };
      if (this.polling) this.onIdle = free;
      else free();
    });
  }

  private waitReadable(): void {
    const n = this.responders.length;
    if (n === 0) return;
    for (let i = 0; i < n; i++) {
      this.fds32[2 * i] = this.responders[i]!.sock.fd;
      this.fds16[4 * i + 2] = POLLIN;
      this.fds16[4 * i + 3] = 0;
    }
    this.polling = true;
    this.poll.async(this.fdsPtr, n, this.timeoutMs, this.onPolled);
  }

  private readonly onPolled = (): void => {
    this.polling = false;
    if (this.onIdle) {
      this.onIdle();
      return;
    }
    this.round();
  };

  private readonly onImmediate = (): void => {
    this.scheduled = false;
    this.round();
  };

  /**
   * Reads and answers what every socket has queued, again and again while requests keep coming (a
   * round with nothing goes back to poll), yielding to the event loop every YIELD_MS: each yield
   * costs an epoll_wait and libuv's turn, which at 100,000 requests/s would be paid per small batch.
   */
  private round(): void {
    const yieldAt = performance.now() + YIELD_MS;
    for (;;) {
      let got = 0;
      let sleepUs = 0;
      for (let i = 0; i < this.responders.length; i++) {
        const r = this.responders[i]!;
        const n = r.sock.receive(BATCH, false);
        if (n > 0) got += n;
        const us = r.turn(n);
        if (us > sleepUs) sleepUs = us;
      }
      if (got === 0) {
        this.waitReadable();
        return;
      }
      // Under load: the coalescing wait (blocks this thread briefly, as a worker's does), then what queued meanwhile.
      if (sleepUs > 0) this.sleeper!.sleepUs(sleepUs);
      if (performance.now() >= yieldAt) break;
    }
    this.scheduled = true;
    setImmediate(this.onImmediate);
  }
}

export class InlinePool {
  readonly workerRestarts = 0;
  readonly workersPerAddress = 0;
  readonly addresses = new Map<string, PoolAddress>();
  access: AccessSpec | undefined;
  private readonly responders = new Map<string, BatchResponder>();
  private loop: InlineLoop | undefined;

  constructor(private readonly abiName: string, private readonly events: WorkerEvents, private readonly options: WorkerPoolOptions = {}) {}

  /** New access config and keys, in use before this returns (same thread). */
  configure(access: AccessSpec): Promise<void> {
    this.access = access;
    for (const r of this.responders.values()) r.control({ kind: 'access', access, generation: 0 });
    return Promise.resolve();
  }

  flushCounters(): Promise<void> {
    for (const r of this.responders.values()) r.control({ kind: 'flush', generation: 0 });
    return Promise.resolve();
  }

  /** Opens the address's socket and starts answering on it; rejects (with the errno's name) if it cannot bind. */
  open(l: ListenAddress, key: string, port: number, view: SharedServerView): Promise<void> {
    const slot = newWorkerSlot(0, 0);
    const post = (m: FromWorker): void => {
      if (m.kind === 'forward') this.events.forwarded(slot, m);
      else if (m.kind === 'stats') this.events.stats(slot, m);
    };
    let r: BatchResponder;
    try {
      r = createBatchResponder(responderStart(this.abiName, this.options, l.address, port, view, this.access!), post);
    } catch (err) {
      return Promise.reject(socketOpenError((err as Error).message, (err as { errno?: number }).errno ?? 0, key));
    }
    slot.fd = r.sock.fd;
    const a = newPoolAddress(l, key, r.sock.port, view);
    a.address = r.sock.address;
    a.workers.push(slot);
    this.addresses.set(key, a);
    this.responders.set(key, r);
    const coalesceUs = this.options.rxCoalesceUs ?? 0;
    this.loop ??= new InlineLoop(this.options.receiveTimeoutMs ?? DEFAULT_RECEIVE_TIMEOUT_MS, coalesceUs > 0 ? threadSleep(coalesceUs) : undefined);
    this.loop.add(r);
    return Promise.resolve();
  }

  /** Stops every address whose key is not in `keep` (descriptor forgotten, socket closed); with none left, the loop ends once its poll returns. */
  async stopExcept(keep: ReadonlySet<string>): Promise<void> {
    for (const [k, a] of this.addresses) {
      if (keep.has(k)) continue;
      this.addresses.delete(k);
      a.stopping = true;
      for (const w of a.workers) w.fd = -1;
      a.view.stop();
      const r = this.responders.get(k)!;
      this.responders.delete(k);
      this.loop!.remove(r);
    }
    if (this.addresses.size === 0 && this.loop) {
      const loop = this.loop;
      this.loop = undefined;
      await loop.close();
    }
  }

  /** No worker to crash (GNOMON_TEST_FAULTS=worker-crash needs --server-workers ≥ 1). */
  injectFault(): string | undefined {
    return undefined;
  }
}
