/**
 * The main-thread side of the batched fast path (issue 9; chosen by `--server-path auto`, the
 * default, where available: src/daemon/server-path.ts). N workers per listen address
 * (src/server/fast/worker.ts), each with its own SO_REUSEPORT socket on that address and port,
 * answer time requests; this class starts and stops them, restarts one that dies unexpectedly
 * (back-off 1 s doubling to 60 s), mirrors the server snapshot and the timescale's correction line
 * into the address's shared memory (one seqlock'd buffer read by all its workers), sends them
 * access config and keys (start, reload), adds their counters into the daemon's ServerCounters,
 * and answers what they forward (mode 6, mode 1/2/5) with the daemon's own handler, sending
 * through the descriptor of the worker that received it (sendto is safe from any thread; the
 * descriptor is dropped here before the worker is told to close it).
 *
 * Presents the same surface as NtpUdpServer (src/server/udp.ts) to src/daemon/serve.ts.
 */
import { isIPv6 } from 'node:net';
import { Worker, MessageChannel, SHARE_ENV, type MessagePort, type ResourceLimits } from 'node:worker_threads';

/**
 * The worker's young generation (issue 9, memory): a batch's garbage is a few small objects and a
 * scavenge of a small new space is short, so 1 MB semi-spaces instead of V8's default of up to
 * 16 MB each; the old generation is left to V8 (the rate table grows with `mru maxdepth`).
 */
const WORKER_LIMITS: ResourceLimits = { maxYoungGenerationSizeMb: 3 };
import type { MonotonicClock, TimeSpec } from '../../clock/clock.js';
import { newTimeSpec } from '../../clock/clock.js';
import type { Timescale } from '../../clock/timescale.js';
import { ntpFractionOf, ntpSecondsOf } from '../../clock/timescale.js';
import type { KeyRing } from '../../auth/mac.js';
import { linuxSocketAbi } from '../../net/linux-abi.js';
import type { ServerCounters } from '../counters.js';
import { RequestMeta, type NtpRequestHandler } from '../handler/handler.js';
import type { ServerStateCell } from '../state.js';
import type { ListenAddress, RxTimestampStats } from '../udp.js';
import { sendToFd, socketLibc, writeSockaddr } from './batch-socket.js';
import type { AccessSpec, FromWorker, KeyMaterial, ToWorker, WorkerStart } from './protocol.js';
import { probeBind } from './port-probe.js';
import { SharedServerView } from './shared.js';

/** `server.path` in status, `serverpath` in mode 6 (the value `--server-path` takes). */
export const FAST_PATH_NAME = 'fast';
export const FAST_RX_SOURCE = 'kernel (SCM_TIMESTAMPING, recvmmsg worker)';

const ERRNO_CODES: Record<number, string> = { 98: 'EADDRINUSE', 13: 'EACCES', 99: 'EADDRNOTAVAIL', 22: 'EINVAL' };

export interface FastPathOptions {
  /** SO_RCVBUF for the workers' sockets, bytes (0: the system default). */
  readonly rcvbuf?: number;
  /** How long a receive blocks at most, ms: the bound on shutdown latency (default 50). */
  readonly receiveTimeoutMs?: number;
  /** Workers (sockets) per listen address (default 1; `--server-workers`). */
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

/** Trusted keys of a ring as data for a worker. Reads PreparedKey's fields (the secret and digest name). */
export function keyMaterial(ring: KeyRing): KeyMaterial[] {
  return ring.ids().map((id) => {
    const k = ring.get(id) as unknown as { id: number; type: string; digestLength: number; secret: Buffer; hash?: string };
    const mac = k.hash !== undefined ? { kind: 'digest' as const, hash: k.hash } : { kind: 'cmac' as const, keyBytes: (k.secret.length === 32 ? 32 : 16) as 16 | 32 };
    return { id: k.id, type: k.type, mac, secret: new Uint8Array(k.secret), digestLength: k.digestLength, line: 0 };
  });
}

/** One worker thread and its socket (one of an address's N). */
interface WorkerSlot {
  readonly index: number;
  worker: Worker | undefined;
  control: MessagePort | undefined;
  /** The socket's descriptor while the worker serves; -1 while down or stopping (nothing is sent on it). */
  fd: number;
  /** The worker closed its socket itself (it posted 'stopped'). */
  closedByWorker: boolean;
  rx: { kernel: number; missing: number; outOfWindow: number };
  sendDropped: number;
  exited: Promise<void>;
  /** The last error the worker reported (its uncaught exception, or a socket call that failed). */
  lastError: string;
  restartTimer: ReturnType<typeof setTimeout> | undefined;
  nextDelayMs: number;
  /** Monotonic ms when this worker became ready (a worker that ran a minute resets the back-off). */
  readySinceMs: number;
  /** configure() calls waiting for this worker to apply their access generation. */
  waiters: { readonly generation: number; readonly done: () => void }[];
}

interface Address {
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

const MINUTE_MS = 60_000;

export class FastPathServer {
  readonly path = FAST_PATH_NAME;
  readonly rxStamps: RxTimestampStats = { source: FAST_RX_SOURCE, kernel: 0, ioctlFailed: 0, outOfWindow: 0, repeated: 0 };
  /** Replies the kernel refused (send buffer full) in the workers, and main-thread sends that failed. */
  sendErrors = 0;
  /** Workers restarted after an unexpected exit, since start. */
  workerRestarts = 0;
  readonly workersPerAddress: number;
  private readonly addresses = new Map<string, Address>();
  private access: AccessSpec | undefined;
  private readonly abi = linuxSocketAbi(process.platform, process.arch);
  private readonly meta = new RequestMeta();
  private readonly rx: TimeSpec = newTimeSpec();
  private readonly mono: TimeSpec = newTimeSpec();
  private readonly out = Buffer.alloc(72);
  private readonly sockaddr = Buffer.alloc(32);
  private mainSendErrors = 0;
  private generation = 0;
  /** Receive-stamp counts of workers that died (a replacement counts from 0). */
  private readonly retired = { kernel: 0, missing: 0, outOfWindow: 0, sendDropped: 0 };

  constructor(
    private readonly handler: NtpRequestHandler,
    private readonly timescale: Timescale,
    private readonly monotonic: MonotonicClock,
    private readonly state: ServerStateCell,
    private readonly counters: ServerCounters,
    private readonly onSocketError: (where: string, err: Error) => void,
    private readonly options: FastPathOptions = {},
  ) {
    this.workersPerAddress = Math.max(1, Math.floor(options.workersPerAddress ?? 1));
    state.onPublish((template, leapBits) => {
      for (const a of this.addresses.values()) a.view.writeState(template, leapBits);
    });
    timescale.onLine((correctionNs, slopeNsPerS, t0Sec, t0Nsec) => {
      for (const a of this.addresses.values()) a.view.writeLine({ correctionNs, slopeNsPerS, t0Sec, t0Nsec });
    });
  }

  /**
   * Whether this machine can run the fast path, or why not: a known socket ABI
   * (src/net/linux-abi.ts) and koffi loading libc here. Whether the socket opens is learnt by listen().
   */
  static unavailableReason(): string | undefined {
    if (!linuxSocketAbi(process.platform, process.arch)) return `no socket ABI for ${process.platform}/${process.arch} (src/net/linux-abi.ts knows Linux x86_64, arm64, armhf)`;
    try {
      socketLibc();
    } catch (err) {
      return `koffi cannot load libc's socket calls: ${(err as Error).message}`;
    }
    return undefined;
  }

  /**
   * Access control and keys for the workers (start-up, reload). Resolves once every serving worker
   * uses them (each applies them at its next loop turn, ≤ one receive timeout), so a reload that
   * reports success is in effect for the next request; a worker that dies or does not answer
   * within 2 s does not hold it up (a restarted one starts with the latest).
   */
  configure(access: AccessSpec): Promise<void> {
    this.access = access;
    return this.tellAll((generation) => ({ kind: 'access', access, generation }));
  }

  /**
   * Every worker posts its counters now (they otherwise do every 250 ms): `gnomon status` then
   * counts every request answered before it asked. Mode 6 sysstats and the web page read the
   * counters as they are (≤ 250 ms behind).
   */
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
          const timer = setTimeout(resolve, 2000);
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

  private key(l: ListenAddress): string {
    return isIPv6(l.address) ? `[${l.address}]:${l.port}` : `${l.address}:${l.port}`;
  }

  async listen(addresses: readonly ListenAddress[]): Promise<void> {
    if (!this.abi) throw new Error(FastPathServer.unavailableReason());
    if (!this.access) throw new Error('FastPathServer.configure() first');
    for (const l of addresses) {
      const k = this.key(l);
      if (this.addresses.has(k)) continue;
      const a: Address = {
        key: k, view: new SharedServerView(), family: isIPv6(l.address) ? 6 : 4, wildcard: l.address === '0.0.0.0' || l.address === '::',
        address: l.address, port: l.port, stopping: false, workers: [],
      };
      // Bound once without SO_REUSEPORT first: the workers' sockets would otherwise share the port
      // with another process's SO_REUSEPORT socket (a second gnomon) instead of failing as dgram does.
      a.port = await probeBind(l, k);
      // The current snapshot and line before the workers' first batch.
      a.view.writeState(this.state.template, this.state.leapBits);
      a.view.writeLine(this.timescale.line());
      try {
        for (let i = 0; i < this.workersPerAddress; i++) {
          const w = this.newSlot(i);
          a.workers.push(w);
          // The first worker resolves port 0; the others join its SO_REUSEPORT group on the same port.
          await this.startWorker(a, w);
        }
      } catch (err) {
        await this.stopAddress(a);
        throw err;
      }
      this.addresses.set(k, a);
    }
  }

  private newSlot(index: number): WorkerSlot {
    return {
      index, worker: undefined, control: undefined, fd: -1, closedByWorker: false, rx: { kernel: 0, missing: 0, outOfWindow: 0 }, sendDropped: 0,
      exited: Promise.resolve(), lastError: '', restartTimer: undefined, nextDelayMs: this.options.restartDelayMs ?? 1000, readySinceMs: 0, waiters: [],
    };
  }

  private where(a: Address, w: WorkerSlot): string {
    return this.workersPerAddress > 1 ? `${a.key} worker ${w.index + 1}/${this.workersPerAddress}` : a.key;
  }

  /** Starts the slot's worker; resolves once its socket is bound, rejects if it cannot bind. */
  private startWorker(a: Address, w: WorkerSlot): Promise<void> {
    const channel = new MessageChannel();
    const data: WorkerStart = {
      abi: this.abi!.name, address: a.address, port: a.port, rcvbuf: this.options.rcvbuf ?? 0, receiveTimeoutMs: this.options.receiveTimeoutMs ?? 50,
      coalesceUs: this.options.rxCoalesceUs ?? 0,
      shared: a.view.buffer, control: channel.port2, access: this.access!,
    };
    const worker = new Worker(new URL('./worker.js', import.meta.url), { workerData: data, transferList: [channel.port2], resourceLimits: WORKER_LIMITS, env: SHARE_ENV });
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
            const err = Object.assign(new Error(m.message), { code: ERRNO_CODES[m.errno] ?? `errno ${m.errno}`, listenAddress: a.key });
            if (!ready) reject(err);
            else this.onSocketError(this.where(a, w), err);
            break;
          }
          case 'forward':
            this.answerForwarded(w, m);
            break;
          case 'stats':
            this.addStats(w, m);
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
        this.retire(w);
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

  private scheduleRestart(a: Address, w: WorkerSlot, reason: string): void {
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

  /** A dead worker's receive counts stay in the totals; its replacement counts from 0. */
  private retire(w: WorkerSlot): void {
    this.retired.kernel += w.rx.kernel;
    this.retired.missing += w.rx.missing;
    this.retired.outOfWindow += w.rx.outOfWindow;
    this.retired.sendDropped += w.sendDropped;
    w.rx = { kernel: 0, missing: 0, outOfWindow: 0 };
    w.sendDropped = 0;
  }

  private addStats(w: WorkerSlot, m: Extract<FromWorker, { kind: 'stats' }>): void {
    const c = this.counters as unknown as Record<string, number>;
    for (const [k, v] of Object.entries(m.counters)) if (typeof c[k] === 'number') c[k] += v;
    w.rx.kernel = m.rx.kernel;
    w.rx.missing = m.rx.missing;
    w.rx.outOfWindow = m.rx.outOfWindow;
    w.sendDropped = m.sendDropped;
    let { kernel, missing, outOfWindow: out, sendDropped: dropped } = this.retired;
    for (const a of this.addresses.values()) {
      for (const x of a.workers) {
        kernel += x.rx.kernel;
        missing += x.rx.missing;
        out += x.rx.outOfWindow;
        dropped += x.sendDropped;
      }
    }
    this.rxStamps.kernel = kernel;
    this.rxStamps.ioctlFailed = missing;
    this.rxStamps.outOfWindow = out;
    this.sendErrors = dropped + this.mainSendErrors;
  }

  /** Mode 6 and mode 1/2/5: the daemon's handler decides, as on the dgram path; replies go out through the receiving worker's socket. */
  private answerForwarded(w: WorkerSlot, m: Extract<FromWorker, { kind: 'forward' }>): void {
    if (w.fd < 0) return;
    const rx = this.rx;
    rx.sec = m.rxSec;
    rx.nsec = m.rxNsec;
    this.timescale.toServed(rx);
    this.monotonic.read(this.mono);
    const meta = this.meta;
    meta.setSourceText(m.address, m.port);
    meta.rxSeconds = ntpSecondsOf(rx);
    meta.rxFraction = ntpFractionOf(rx);
    meta.monoS = this.mono.sec + this.mono.nsec / 1e9;
    const req = Buffer.from(m.bytes.buffer, m.bytes.byteOffset, m.bytes.byteLength);
    const n = this.handler.handle(req, req.length, meta, this.out);
    if (n > 0) {
      if (!sendToFd(w.fd, this.out, n, m.name, m.name.length)) this.mainSendErrors++;
    } else {
      const k = this.handler.takeControlReply();
      for (let i = 0; i < k; i++) {
        const d = this.handler.controlDatagram(i);
        if (!sendToFd(w.fd, d, d.length, m.name, m.name.length)) this.mainSendErrors++;
      }
    }
  }

  /** Stops an address's workers: descriptors forgotten first, then the flag; terminate() only if one does not see it. */
  private async stopAddress(a: Address): Promise<void> {
    a.stopping = true;
    a.view.stop();
    const stopping: Promise<void>[] = [];
    for (const w of a.workers) {
      w.fd = -1;
      if (w.restartTimer) clearTimeout(w.restartTimer);
      w.restartTimer = undefined;
      const worker = w.worker;
      // The worker sees the flag within one receive timeout; terminate() only if it somehow does not.
      const timer = setTimeout(() => void worker?.terminate(), 2000);
      stopping.push(w.exited.then(() => clearTimeout(timer)));
    }
    await Promise.all(stopping);
  }

  async closeExcept(keep: readonly ListenAddress[]): Promise<void> {
    const wanted = new Set(keep.map((l) => this.key(l)));
    const stopping: Promise<void>[] = [];
    for (const [k, a] of this.addresses) {
      if (wanted.has(k)) continue;
      this.addresses.delete(k);
      stopping.push(this.stopAddress(a));
    }
    await Promise.all(stopping);
  }

  async close(): Promise<void> {
    await this.closeExcept([]);
  }

  /** Test-only (GNOMON_TEST_FAULTS=worker-crash): makes the first serving worker throw, as a bug would. */
  injectWorkerFault(): string | undefined {
    for (const a of this.addresses.values()) {
      for (const w of a.workers) {
        if (w.fd < 0 || !w.control) continue;
        w.control.postMessage({ kind: 'fault', message: 'test fault injected (GNOMON_TEST_FAULTS=worker-crash, SIGUSR2)' } satisfies ToWorker);
        return this.where(a, w);
      }
    }
    return undefined;
  }

  /** Workers serving now (of addresses × workersPerAddress). */
  workersServing(): number {
    let n = 0;
    for (const a of this.addresses.values()) for (const w of a.workers) if (w.fd >= 0) n++;
    return n;
  }

  /** Sends from the server's port (peers): a serving worker socket of the destination's family, the wildcard address first. */
  sendFromServerPort(packet: Uint8Array, address: string, port: number): boolean {
    const v6 = isIPv6(address);
    let pick = -1;
    for (const a of this.addresses.values()) {
      if ((a.family === 6) !== v6) continue;
      const w = a.workers.find((x) => x.fd >= 0);
      if (!w) continue;
      pick = w.fd;
      if (a.wildcard) break;
    }
    if (pick < 0) return false;
    const len = writeSockaddr(address, port, this.sockaddr);
    if (len === 0) return false;
    return sendToFd(pick, packet, packet.length, this.sockaddr, len);
  }

  /** Multicast groups are not joined on the fast path yet: `--server-path auto` picks dgram for a config with multicastclient. */
  joinGroups(groups: readonly string[]): { group: string; error: string }[] {
    return groups.map((group) => ({ group, error: 'multicastclient is not supported on the fast path yet (run with --server-path dgram, or auto)' }));
  }

  boundAddresses(): ListenAddress[] {
    return [...this.addresses.values()].map((a) => ({ address: a.address, port: a.port }));
  }
}
