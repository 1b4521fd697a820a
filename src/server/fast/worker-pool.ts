/**
 * The fast path's worker threads and their life cycle: N workers per listen address
 * (src/server/fast/worker.ts), each with its own SO_REUSEPORT socket on that address and port,
 * all reading the address's shared snapshot (shared.ts). The pool starts them, restarts one that
 * dies unexpectedly (one report per death; back-off 1 s doubling to 60 s, from 1 s again after a
 * minute of serving), posts the messages each worker acknowledges (access config on reload, a
 * counter flush; waited for 2 s at most) and stops them (descriptors forgotten first, then the
 * stop flag; terminate() only after 2 s). What the workers post besides (forwarded datagrams,
 * counters, socket errors) goes to the owner, FastPathServer (fast-server.ts).
 */
import { isIPv6 } from 'node:net';
import { Worker, MessageChannel, SHARE_ENV, type MessagePort } from 'node:worker_threads';
import type { MonotonicClock } from '../../clock/clock.js';
import { newTimeSpec } from '../../clock/clock.js';
import type { ListenAddress } from '../udp.js';
import { socketLibc } from './batch-socket.js';
import type { AccessSpec, FromWorker, ToWorker, WorkerStart } from './protocol.js';
import type { SharedServerView } from './shared.js';

const ERRNO_CODES: Record<number, string> = { 98: 'EADDRINUSE', 13: 'EACCES', 99: 'EADDRNOTAVAIL', 22: 'EINVAL' };

/** A socket that did not open, as serve.ts reports it: the errno's name as `code`, the listen address. */
export function socketOpenError(message: string, errno: number, listenAddress: string): Error {
  return Object.assign(new Error(message), { code: ERRNO_CODES[errno] ?? `errno ${errno}`, listenAddress });
}

/** A slot with nothing running in it (a worker's, before it starts; the main thread's pseudo-slot). */
export function newWorkerSlot(index: number, firstRestartDelayMs: number): WorkerSlot {
  return {
    index, worker: undefined, control: undefined, fd: -1, closedByWorker: false, rx: { kernel: 0, missing: 0, outOfWindow: 0 }, sendDropped: 0,
    exited: Promise.resolve(), lastError: '', restartTimer: undefined, nextDelayMs: firstRestartDelayMs, readySinceMs: 0, waiters: [],
  };
}

/** A receive blocks at most this long by default, ms: the bound on shutdown latency. */
export const DEFAULT_RECEIVE_TIMEOUT_MS = 50;

/** A listen address as the pools keep it, before its socket(s) open. */
export function newPoolAddress(l: ListenAddress, key: string, port: number, view: SharedServerView): PoolAddress {
  return {
    key, view, family: isIPv6(l.address) ? 6 : 4, wildcard: l.address === '0.0.0.0' || l.address === '::',
    address: l.address, port, stopping: false, workers: [],
  };
}

/** What a responder (responder.ts) starts with, on either pool: the options' socket and coalescing settings. */
export function responderStart(abiName: string, options: WorkerPoolOptions, address: string, port: number,
  view: SharedServerView, access: AccessSpec): Omit<WorkerStart, 'control'> {
  return {
    abi: abiName, address, port, rcvbuf: options.rcvbuf ?? 0, receiveTimeoutMs: options.receiveTimeoutMs ?? DEFAULT_RECEIVE_TIMEOUT_MS,
    coalesceUs: options.rxCoalesceUs ?? 0, shared: view.buffer, access,
  };
}

const MINUTE_MS = 60_000;
/** How long a posted message waits for a worker's acknowledgement, and a stop for a worker's exit, before giving up on it. */
const WORKER_ANSWER_MS = 2000;

export interface WorkerPoolOptions {
  /** SO_RCVBUF for the workers' sockets, bytes (0: the system default). */
  readonly rcvbuf?: number;
  /** How long a receive blocks at most, ms: the bound on shutdown latency (default 50). */
  readonly receiveTimeoutMs?: number;
  /** Workers (sockets) per listen address (`--server-workers`); 0 (serve's default): no worker, the main thread answers (inline-pool.ts). */
  readonly workersPerAddress?: number;
  /** The workers' receive coalescing interval, µs (coalescing.ts; `--rx-coalesce-us`; default 0 = off). */
  readonly rxCoalesceUs?: number;
  /** First restart delay after a worker dies, ms (default 1000; doubles to maxRestartDelayMs). */
  readonly restartDelayMs?: number;
  readonly maxRestartDelayMs?: number;
  /** A worker died unexpectedly (once per death, with why) and is restarted in `restartInMs`. */
  readonly onWorkerDied?: (where: string, reason: string, restartInMs: number) => void;
  /** A restarted worker serves again. */
  readonly onWorkerRestarted?: (where: string, restarts: number) => void;
}

/** What the pool's owner does with what its workers post. */
export interface WorkerEvents {
  /** A datagram the worker does not answer itself (mode 6, mode 1/2/5). */
  forwarded(w: WorkerSlot, m: Extract<FromWorker, { kind: 'forward' }>): void;
  /** The worker's counter deltas and receive-stamp counts (every 250 ms, and on a flush). */
  stats(w: WorkerSlot, m: Extract<FromWorker, { kind: 'stats' }>): void;
  /** The worker exited (stopped or died): the counts it posted are its last; a replacement counts from 0. */
  exited(w: WorkerSlot): void;
  /** A socket call failed in a serving worker. */
  socketError(where: string, err: Error): void;
}

/** One worker thread and its socket (one of an address's N). */
export interface WorkerSlot {
  readonly index: number;
  worker: Worker | undefined;
  control: MessagePort | undefined;
  /** The socket's descriptor while the worker serves; -1 while down or stopping (nothing is sent on it). */
  fd: number;
  /** The worker closed its socket itself (it posted 'stopped'). */
  closedByWorker: boolean;
  /** The receive-stamp counts and dropped replies it last posted (kept by the owner, WorkerEvents.stats). */
  rx: { kernel: number; missing: number; outOfWindow: number };
  sendDropped: number;
  exited: Promise<void>;
  /** The last error the worker reported (its uncaught exception, or a socket call that failed). */
  lastError: string;
  restartTimer: ReturnType<typeof setTimeout> | undefined;
  nextDelayMs: number;
  /** Monotonic ms when this worker became ready (a worker that ran a minute resets the back-off). */
  readySinceMs: number;
  /** Posted messages waiting for this worker to acknowledge their generation. */
  waiters: { readonly generation: number; readonly done: () => void }[];
}

/** A listen address and its workers. */
export interface PoolAddress {
  readonly key: string;
  readonly view: SharedServerView;
  readonly family: 4 | 6;
  readonly wildcard: boolean;
  /** The bound address and port (port 0 resolves with the first worker; the others bind the same). */
  address: string;
  port: number;
  stopping: boolean;
  readonly workers: WorkerSlot[];
}

export class WorkerPool {
  /** Workers restarted after an unexpected exit, since start. */
  workerRestarts = 0;
  readonly workersPerAddress: number;
  /** The listen addresses whose workers all started, by key. */
  readonly addresses = new Map<string, PoolAddress>();
  /** What a (re)starting worker begins with: the latest configure(). */
  access: AccessSpec | undefined;
  private generation = 0;
  private readonly mono = newTimeSpec();

  /** `abiName`: the socket ABI the workers open their sockets with (src/net/linux-abi.ts). */
  constructor(
    private readonly abiName: string,
    private readonly monotonic: MonotonicClock,
    private readonly events: WorkerEvents,
    private readonly options: WorkerPoolOptions = {},
  ) {
    this.workersPerAddress = Math.max(1, Math.floor(options.workersPerAddress ?? 1));
  }

  /**
   * Access control and keys: a worker that starts begins with them; every serving worker is sent
   * them, and the promise resolves once each uses them (or died, or did not answer within 2 s).
   */
  configure(access: AccessSpec): Promise<void> {
    this.access = access;
    return this.tellAll((generation) => ({ kind: 'access', access, generation }));
  }

  /** Every worker posts its counters now; resolves once each has (or died, or 2 s passed). */
  flushCounters(): Promise<void> {
    return this.tellAll((generation) => ({ kind: 'flush', generation }));
  }

  /** Posts a message to every worker; resolves when each has acknowledged it (or died, or 2 s passed). */
  private tellAll(message: (generation: number) => ToWorker): Promise<void> {
    const generation = ++this.generation;
    const applied: Promise<void>[] = [];
    for (const a of this.addresses.values()) {
      for (const w of a.workers) {
        if (!w.control) continue;
        w.control.postMessage(message(generation));
        applied.push(new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, WORKER_ANSWER_MS);
          w.waiters.push({ generation, done: () => { clearTimeout(timer); resolve(); } });
        }));
      }
    }
    return Promise.all(applied).then(() => undefined);
  }

  private settle(w: WorkerSlot, generation: number): void {
    const keep = w.waiters.filter((x) => x.generation > generation);
    for (const x of w.waiters) if (x.generation <= generation) x.done();
    w.waiters = keep;
  }

  /**
   * Starts the address's workers one after the other on (l.address, port) — the first resolves
   * port 0, the others join its SO_REUSEPORT group — and adds it to `addresses` once all serve.
   * If one cannot bind, the ones started are stopped and its error is thrown. `view`: the
   * address's shared snapshot, already holding the current state and line.
   */
  async open(l: ListenAddress, key: string, port: number, view: SharedServerView): Promise<void> {
    const a = newPoolAddress(l, key, port, view);
    try {
      for (let i = 0; i < this.workersPerAddress; i++) {
        const w = newWorkerSlot(i, this.options.restartDelayMs ?? 1000);
        a.workers.push(w);
        await this.startWorker(a, w);
      }
    } catch (err) {
      await this.stopAddress(a);
      throw err;
    }
    this.addresses.set(key, a);
  }

  /** The worker's name in logs: the address, and which of its workers when there are several. */
  private where(a: PoolAddress, w: WorkerSlot): string {
    return this.workersPerAddress > 1 ? `${a.key} worker ${w.index + 1}/${this.workersPerAddress}` : a.key;
  }

  /** Starts the slot's worker; resolves once its socket is bound, rejects if it cannot bind. */
  private startWorker(a: PoolAddress, w: WorkerSlot): Promise<void> {
    const channel = new MessageChannel();
    const data: WorkerStart = { ...responderStart(this.abiName, this.options, a.address, a.port, a.view, this.access!), control: channel.port2 };
    const worker = new Worker(new URL('./worker.js', import.meta.url), { workerData: data, transferList: [channel.port2], env: SHARE_ENV });
    w.worker = worker;
    w.control = channel.port1;
    w.closedByWorker = false;
    w.lastError = '';
    let exitedResolve!: () => void;
    w.exited = new Promise<void>((r) => { exitedResolve = r; });
    return new Promise<void>((resolve, reject) => {
      let ready = false;
      worker.on('message', (m: FromWorker) => {
        switch (m.kind) {
          case 'ready':
            ready = true;
            a.address = m.address;
            a.port = m.port;
            w.readySinceMs = this.nowMs();
            // Stopped meanwhile (a reload or SIGTERM during a restart): the flag ends it; its descriptor is not used.
            if (!a.stopping) w.fd = m.fd;
            resolve();
            break;
          case 'error': {
            w.lastError = m.message;
            const err = socketOpenError(m.message, m.errno, a.key);
            if (!ready) reject(err);
            else this.events.socketError(this.where(a, w), err);
            break;
          }
          case 'forward':
            this.events.forwarded(w, m);
            break;
          case 'stats':
            this.events.stats(w, m);
            break;
          case 'applied':
            this.settle(w, m.generation);
            break;
          case 'stopped':
            w.closedByWorker = true;
            break;
        }
      });
      worker.on('error', (err) => {
        w.lastError = err.message;
        if (!ready) reject(Object.assign(err, { listenAddress: a.key }));
      });
      worker.on('exit', (code) => {
        const fd = w.fd;
        w.fd = -1;
        channel.port1.close();
        w.control = undefined;
        w.worker = undefined;
        this.events.exited(w);
        this.settle(w, Infinity);
        exitedResolve();
        if (!ready) {
          reject(Object.assign(new Error(w.lastError || `fast-path worker exited before binding (code ${code})`), { listenAddress: a.key }));
          return;
        }
        if (a.stopping) return;
        // Died while serving: its socket stays open if it did not close it (descriptors are the
        // process's), holding a share of the SO_REUSEPORT group nobody reads. Closed here so the
        // kernel hashes every client to the workers still running.
        if (!w.closedByWorker && fd >= 0) socketLibc().close(fd);
        this.scheduleRestart(a, w, w.lastError || `exit code ${code}`);
      });
    });
  }

  private nowMs(): number {
    this.monotonic.read(this.mono);
    return this.mono.sec * 1e3 + this.mono.nsec / 1e6;
  }

  private scheduleRestart(a: PoolAddress, w: WorkerSlot, reason: string): void {
    const base = this.options.restartDelayMs ?? 1000;
    // A worker that served for a minute died of something new: start the back-off again.
    if (w.readySinceMs > 0 && this.nowMs() - w.readySinceMs >= MINUTE_MS) w.nextDelayMs = base;
    const delay = w.nextDelayMs;
    w.nextDelayMs = Math.min(delay * 2, this.options.maxRestartDelayMs ?? MINUTE_MS);
    this.options.onWorkerDied?.(this.where(a, w), reason, delay);
    w.restartTimer = setTimeout(() => {
      w.restartTimer = undefined;
      if (a.stopping) return;
      this.workerRestarts++;
      this.startWorker(a, w).then(
        () => this.options.onWorkerRestarted?.(this.where(a, w), this.workerRestarts),
        // Could not bind (its own exit handler did not reschedule: it never became ready).
        (err: Error) => { if (!a.stopping) this.scheduleRestart(a, w, err.message); },
      );
    }, delay);
    w.restartTimer.unref();
  }

  /** Stops an address's workers: descriptors forgotten first, then the flag; terminate() only if one does not see it. */
  private async stopAddress(a: PoolAddress): Promise<void> {
    a.stopping = true;
    a.view.stop();
    const stopping: Promise<void>[] = [];
    for (const w of a.workers) {
      w.fd = -1;
      if (w.restartTimer) clearTimeout(w.restartTimer);
      w.restartTimer = undefined;
      const worker = w.worker;
      // The worker sees the flag within one receive timeout; terminate() only if it somehow does not.
      const timer = setTimeout(() => void worker?.terminate(), WORKER_ANSWER_MS);
      stopping.push(w.exited.then(() => clearTimeout(timer)));
    }
    await Promise.all(stopping);
  }

  /** Stops the workers of every address whose key is not in `keep`, and forgets those addresses. */
  async stopExcept(keep: ReadonlySet<string>): Promise<void> {
    const stopping: Promise<void>[] = [];
    for (const [k, a] of this.addresses) {
      if (keep.has(k)) continue;
      this.addresses.delete(k);
      stopping.push(this.stopAddress(a));
    }
    await Promise.all(stopping);
  }

  /** Test-only (GNOMON_TEST_FAULTS=worker-crash): makes the first serving worker throw, as a bug would; where it was. */
  injectFault(): string | undefined {
    for (const a of this.addresses.values()) {
      for (const w of a.workers) {
        if (w.fd < 0 || !w.control) continue;
        w.control.postMessage({ kind: 'fault', message: 'test fault injected (GNOMON_TEST_FAULTS=worker-crash, SIGUSR2)' } satisfies ToWorker);
        return this.where(a, w);
      }
    }
    return undefined;
  }
}
