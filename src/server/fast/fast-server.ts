/**
 * The main-thread side of the batched fast path (issue 9; chosen by `--server-path auto`, the
 * default, where available: src/daemon/server-path.ts). N workers per listen address
 * (src/server/fast/worker.ts), each with its own SO_REUSEPORT socket on that address and port,
 * answer time requests; their life cycle (start, restart after an unexpected death, acknowledged
 * messages, stop) is the WorkerPool's (worker-pool.ts). This class mirrors the server snapshot and
 * the timescale's correction line into each address's shared memory (one seqlock'd buffer read by
 * all its workers), sends the workers access config and keys (start, reload), adds their counters
 * into the daemon's ServerCounters, and answers what they forward (mode 6, mode 1/2/5) with the
 * daemon's own handler, sending through the descriptor of the worker that received it (sendto is
 * safe from any thread; the descriptor is dropped before the worker is told to close it).
 *
 * Presents the same surface as NtpUdpServer (src/server/udp.ts) to src/daemon/serve.ts.
 */
import { isIPv6 } from 'node:net';
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
import type { AccessSpec, FromWorker, KeyMaterial } from './protocol.js';
import { probeBind } from './port-probe.js';
import { SharedServerView } from './shared.js';
import { InlinePool } from './inline-pool.js';
import { WorkerPool, type WorkerPoolOptions, type WorkerSlot } from './worker-pool.js';

/** `server.path` in status, `serverpath` in mode 6 (the value `--server-path` takes). */
export const FAST_PATH_NAME = 'fast';
export const FAST_RX_SOURCE = 'kernel (SCM_TIMESTAMPING, recvmmsg worker)';
/** The receive-stamp source with `--server-workers 0` (the main thread's responders, inline-pool.ts). */
export const FAST_INLINE_RX_SOURCE = 'kernel (SCM_TIMESTAMPING, recvmmsg on the main thread)';

export type FastPathOptions = WorkerPoolOptions;

/** Trusted keys of a ring as data for a worker. Reads PreparedKey's fields (the secret and digest name). */
export function keyMaterial(ring: KeyRing): KeyMaterial[] {
  return ring.ids().map((id) => {
    const k = ring.get(id) as unknown as { id: number; type: string; digestLength: number; secret: Buffer; hash?: string };
    const mac = k.hash !== undefined ? { kind: 'digest' as const, hash: k.hash } : { kind: 'cmac' as const, keyBytes: (k.secret.length === 32 ? 32 : 16) as 16 | 32 };
    return { id: k.id, type: k.type, mac, secret: new Uint8Array(k.secret), digestLength: k.digestLength, line: 0 };
  });
}

function listenKey(l: ListenAddress): string {
  return isIPv6(l.address) ? `[${l.address}]:${l.port}` : `${l.address}:${l.port}`;
}

export class FastPathServer {
  readonly path = FAST_PATH_NAME;
  readonly rxStamps: RxTimestampStats;
  /** Replies the kernel refused (send buffer full) in the workers, and main-thread sends that failed. */
  sendErrors = 0;
  readonly workersPerAddress: number;
  /** Worker threads (N ≥ 1 per address), or the main thread's responders (`--server-workers 0`). */
  private readonly pool: WorkerPool | InlinePool;
  private readonly abi = linuxSocketAbi(process.platform, process.arch);
  private readonly meta = new RequestMeta();
  private readonly rx: TimeSpec = newTimeSpec();
  private readonly mono: TimeSpec = newTimeSpec();
  private readonly out = Buffer.alloc(72);
  private readonly sockaddr = Buffer.alloc(32);
  private mainSendErrors = 0;
  /** Receive-stamp counts of workers that exited (a replacement counts from 0). */
  private readonly retired = { kernel: 0, missing: 0, outOfWindow: 0, sendDropped: 0 };

  constructor(
    private readonly handler: NtpRequestHandler,
    private readonly timescale: Timescale,
    private readonly monotonic: MonotonicClock,
    private readonly state: ServerStateCell,
    private readonly counters: ServerCounters,
    onSocketError: (where: string, err: Error) => void,
    options: FastPathOptions = {},
  ) {
    // Without an ABI no socket opens (listen() refuses), so the empty name never reaches one.
    const events = {
      forwarded: (w: WorkerSlot, m: Extract<FromWorker, { kind: 'forward' }>) => this.answerForwarded(w, m),
      stats: (w: WorkerSlot, m: Extract<FromWorker, { kind: 'stats' }>) => this.addStats(w, m),
      exited: (w: WorkerSlot) => this.retire(w),
      socketError: onSocketError,
    };
    const inline = options.workersPerAddress === 0;
    this.pool = inline ? new InlinePool(this.abi?.name ?? '', events, options) : new WorkerPool(this.abi?.name ?? '', monotonic, events, options);
    this.rxStamps = { source: inline ? FAST_INLINE_RX_SOURCE : FAST_RX_SOURCE, kernel: 0, ioctlFailed: 0, outOfWindow: 0, repeated: 0 };
    this.workersPerAddress = this.pool.workersPerAddress;
    state.onPublish((template, leapBits) => {
      for (const a of this.pool.addresses.values()) a.view.writeState(template, leapBits);
    });
    timescale.onLine((correctionNs, slopeNsPerS, t0Sec, t0Nsec) => {
      for (const a of this.pool.addresses.values()) a.view.writeLine({ correctionNs, slopeNsPerS, t0Sec, t0Nsec });
    });
  }

  /** Workers restarted after an unexpected exit, since start. */
  get workerRestarts(): number {
    return this.pool.workerRestarts;
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
    return this.pool.configure(access);
  }

  /**
   * Every worker posts its counters now (they otherwise do every 250 ms): `gnomon status` then
   * counts every request answered before it asked. Mode 6 sysstats and the web page read the
   * counters as they are (≤ 250 ms behind).
   */
  flushCounters(): Promise<void> {
    return this.pool.flushCounters();
  }

  async listen(addresses: readonly ListenAddress[]): Promise<void> {
    if (!this.abi) throw new Error(FastPathServer.unavailableReason());
    if (!this.pool.access) throw new Error('FastPathServer.configure() first');
    for (const l of addresses) {
      const k = listenKey(l);
      if (this.pool.addresses.has(k)) continue;
      // Bound once without SO_REUSEPORT first: the workers' sockets would otherwise share the port
      // with another process's SO_REUSEPORT socket (a second gnomon) instead of failing as dgram does.
      const port = await probeBind(l, k);
      // The current snapshot and line before the workers' first batch.
      const view = new SharedServerView();
      view.writeState(this.state.template, this.state.leapBits);
      view.writeLine(this.timescale.line());
      await this.pool.open(l, k, port, view);
    }
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
    for (const a of this.pool.addresses.values()) {
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

  async closeExcept(keep: readonly ListenAddress[]): Promise<void> {
    await this.pool.stopExcept(new Set(keep.map(listenKey)));
  }

  async close(): Promise<void> {
    await this.closeExcept([]);
  }

  /** Test-only (GNOMON_TEST_FAULTS=worker-crash): makes the first serving worker throw, as a bug would. */
  injectWorkerFault(): string | undefined {
    return this.pool.injectFault();
  }

  /** Workers serving now (of addresses × workersPerAddress; 0 with `--server-workers 0`). */
  workersServing(): number {
    if (this.workersPerAddress === 0) return 0;
    let n = 0;
    for (const a of this.pool.addresses.values()) for (const w of a.workers) if (w.fd >= 0) n++;
    return n;
  }

  /** Sends from the server's port (peers): a serving worker socket of the destination's family, the wildcard address first. */
  sendFromServerPort(packet: Uint8Array, address: string, port: number): boolean {
    const v6 = isIPv6(address);
    let pick = -1;
    for (const a of this.pool.addresses.values()) {
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
    return [...this.pool.addresses.values()].map((a) => ({ address: a.address, port: a.port }));
  }
}
