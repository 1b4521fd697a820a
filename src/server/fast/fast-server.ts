/**
 * The main-thread side of the batched fast path (issue 9; opt-in: `gnomon serve --fast-path` or
 * GNOMON_FAST_PATH=1). One worker per listen address (src/server/fast/worker.ts) owns the socket
 * and answers time requests; this class starts and stops the workers, mirrors the server snapshot
 * and the timescale's correction line into their shared memory, sends them access config and keys
 * (start, reload), adds their counters into the daemon's ServerCounters, and answers what they
 * forward (mode 6, mode 1/2/5) with the daemon's own handler, sending through the worker's socket
 * descriptor (sendto is safe from any thread; the descriptor is dropped here before the worker
 * is told to close it).
 *
 * Presents the same surface as NtpUdpServer (src/server/udp.ts) to src/daemon/serve.ts.
 */
import { isIPv6 } from 'node:net';
import { Worker, MessageChannel, SHARE_ENV, type ResourceLimits } from 'node:worker_threads';

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
import { sendToFd, writeSockaddr } from './batch-socket.js';
import type { AccessSpec, FromWorker, KeyMaterial, ToWorker, WorkerStart } from './protocol.js';
import { SharedServerView } from './shared.js';

export const FAST_PATH_NAME = 'recvmmsg worker';
export const FAST_RX_SOURCE = 'kernel (SCM_TIMESTAMPING, recvmmsg worker)';

const ERRNO_CODES: Record<number, string> = { 98: 'EADDRINUSE', 13: 'EACCES', 99: 'EADDRNOTAVAIL', 22: 'EINVAL' };

export interface FastPathOptions {
  /** SO_RCVBUF for the workers' sockets, bytes (0: the system default). */
  readonly rcvbuf?: number;
  /** How long a receive blocks at most, ms: the bound on shutdown latency (default 50). */
  readonly receiveTimeoutMs?: number;
}

/** Trusted keys of a ring as data for a worker. Reads PreparedKey's fields (the secret and digest name). */
export function keyMaterial(ring: KeyRing): KeyMaterial[] {
  return ring.ids().map((id) => {
    const k = ring.get(id) as unknown as { id: number; type: string; digestLength: number; secret: Buffer; hash?: string };
    const mac = k.hash !== undefined ? { kind: 'digest' as const, hash: k.hash } : { kind: 'cmac' as const, keyBytes: (k.secret.length === 32 ? 32 : 16) as 16 | 32 };
    return { id: k.id, type: k.type, mac, secret: new Uint8Array(k.secret), digestLength: k.digestLength, line: 0 };
  });
}

interface Running {
  readonly key: string;
  readonly worker: Worker;
  readonly view: SharedServerView;
  readonly control: MessageChannel['port1'];
  /** -1 once stopping (nothing is sent on a descriptor the worker may have closed). */
  fd: number;
  family: 4 | 6;
  address: string;
  port: number;
  wildcard: boolean;
  rx: { kernel: number; missing: number; outOfWindow: number };
  sendDropped: number;
  readonly exited: Promise<void>;
}

export class FastPathServer {
  readonly path = FAST_PATH_NAME;
  readonly rxStamps: RxTimestampStats = { source: FAST_RX_SOURCE, kernel: 0, ioctlFailed: 0, outOfWindow: 0, repeated: 0 };
  /** Replies the kernel refused (send buffer full) in the workers, and main-thread sends that failed. */
  sendErrors = 0;
  private readonly running = new Map<string, Running>();
  private access: AccessSpec | undefined;
  private readonly abi = linuxSocketAbi(process.platform, process.arch);
  private readonly meta = new RequestMeta();
  private readonly rx: TimeSpec = newTimeSpec();
  private readonly mono: TimeSpec = newTimeSpec();
  private readonly out = Buffer.alloc(72);
  private readonly sockaddr = Buffer.alloc(32);
  private mainSendErrors = 0;

  constructor(
    private readonly handler: NtpRequestHandler,
    private readonly timescale: Timescale,
    private readonly monotonic: MonotonicClock,
    private readonly state: ServerStateCell,
    private readonly counters: ServerCounters,
    private readonly onSocketError: (where: string, err: Error) => void,
    private readonly options: FastPathOptions = {},
  ) {
    state.onPublish((template, leapBits) => {
      for (const r of this.running.values()) r.view.writeState(template, leapBits);
    });
    timescale.onLine((correctionNs, slopeNsPerS, t0Sec, t0Nsec) => {
      for (const r of this.running.values()) r.view.writeLine({ correctionNs, slopeNsPerS, t0Sec, t0Nsec });
    });
  }

  /** Whether this machine can run the fast path (a known socket ABI), or why not. */
  static unavailableReason(): string | undefined {
    return linuxSocketAbi(process.platform, process.arch) ? undefined : `no socket ABI for ${process.platform}/${process.arch}`;
  }

  /** Access control and keys for the workers (start-up, reload). */
  configure(access: AccessSpec): void {
    this.access = access;
    for (const r of this.running.values()) r.control.postMessage({ kind: 'access', access } satisfies ToWorker);
  }

  private key(l: ListenAddress): string {
    return isIPv6(l.address) ? `[${l.address}]:${l.port}` : `${l.address}:${l.port}`;
  }

  async listen(addresses: readonly ListenAddress[]): Promise<void> {
    if (!this.abi) throw new Error(FastPathServer.unavailableReason());
    if (!this.access) throw new Error('FastPathServer.configure() first');
    for (const l of addresses) {
      const k = this.key(l);
      if (this.running.has(k)) continue;
      this.running.set(k, await this.startWorker(k, l));
    }
  }

  private startWorker(k: string, l: ListenAddress): Promise<Running> {
    const view = new SharedServerView();
    // The current snapshot and line before the worker's first batch.
    view.writeState(this.state.template, this.state.leapBits);
    const c = this.timescale.line();
    view.writeLine(c);
    const channel = new MessageChannel();
    const data: WorkerStart = {
      abi: this.abi!.name, address: l.address, port: l.port, rcvbuf: this.options.rcvbuf ?? 0, receiveTimeoutMs: this.options.receiveTimeoutMs ?? 50,
      shared: view.buffer, control: channel.port2, access: this.access!,
    };
    const worker = new Worker(new URL('./worker.js', import.meta.url), { workerData: data, transferList: [channel.port2], resourceLimits: WORKER_LIMITS, env: SHARE_ENV });
    let exitedResolve!: () => void;
    const exited = new Promise<void>((r) => { exitedResolve = r; });
    return new Promise<Running>((resolve, reject) => {
      const r: Running = {
        key: k, worker, view, control: channel.port1, fd: -1, family: isIPv6(l.address) ? 6 : 4, address: l.address, port: l.port,
        wildcard: l.address === '0.0.0.0' || l.address === '::', rx: { kernel: 0, missing: 0, outOfWindow: 0 }, sendDropped: 0, exited,
      };
      let ready = false;
      worker.on('message', (m: FromWorker) => {
        switch (m.kind) {
          case 'ready':
            ready = true;
            r.fd = m.fd;
            r.address = m.address;
            r.port = m.port;
            resolve(r);
            break;
          case 'error': {
            const err = Object.assign(new Error(m.message), { code: ERRNO_CODES[m.errno] ?? `errno ${m.errno}`, listenAddress: k });
            if (!ready) reject(err);
            else this.onSocketError(k, err);
            break;
          }
          case 'forward':
            this.answerForwarded(r, m);
            break;
          case 'stats':
            this.addStats(r, m);
            break;
          case 'stopped':
            break;
        }
      });
      worker.on('error', (err) => {
        if (!ready) reject(Object.assign(err, { listenAddress: k }));
        else this.onSocketError(k, err);
      });
      worker.on('exit', (code) => {
        // Not asked to stop: nothing answers on this address any more; say so (once, at error level).
        if (ready && r.fd >= 0) this.onSocketError(k, new Error(`fast-path worker exited unexpectedly (code ${code}); no longer serving ${k}`));
        r.fd = -1;
        channel.port1.close();
        exitedResolve();
        if (!ready) reject(Object.assign(new Error('fast-path worker exited before binding'), { listenAddress: k }));
      });
    });
  }

  private addStats(r: Running, m: Extract<FromWorker, { kind: 'stats' }>): void {
    const c = this.counters as unknown as Record<string, number>;
    for (const [k, v] of Object.entries(m.counters)) if (typeof c[k] === 'number') c[k] += v;
    r.rx.kernel = m.rx.kernel;
    r.rx.missing = m.rx.missing;
    r.rx.outOfWindow = m.rx.outOfWindow;
    r.sendDropped = m.sendDropped;
    let kernel = 0, missing = 0, out = 0, dropped = 0;
    for (const w of this.running.values()) {
      kernel += w.rx.kernel;
      missing += w.rx.missing;
      out += w.rx.outOfWindow;
      dropped += w.sendDropped;
    }
    this.rxStamps.kernel = kernel;
    this.rxStamps.ioctlFailed = missing;
    this.rxStamps.outOfWindow = out;
    this.sendErrors = dropped + this.mainSendErrors;
  }

  /** Mode 6 and mode 1/2/5: the daemon's handler decides, as on the dgram path; replies go out through the worker's socket. */
  private answerForwarded(r: Running, m: Extract<FromWorker, { kind: 'forward' }>): void {
    if (r.fd < 0) return;
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
      if (!sendToFd(r.fd, this.out, n, m.name, m.name.length)) this.mainSendErrors++;
    } else {
      const k = this.handler.takeControlReply();
      for (let i = 0; i < k; i++) {
        const d = this.handler.controlDatagram(i);
        if (!sendToFd(r.fd, d, d.length, m.name, m.name.length)) this.mainSendErrors++;
      }
    }
  }

  async closeExcept(keep: readonly ListenAddress[]): Promise<void> {
    const wanted = new Set(keep.map((l) => this.key(l)));
    const stopping: Promise<void>[] = [];
    for (const [k, r] of this.running) {
      if (wanted.has(k)) continue;
      this.running.delete(k);
      r.fd = -1;
      r.view.stop();
      // The worker sees the flag within one receive timeout; terminate() only if it somehow does not.
      const timer = setTimeout(() => void r.worker.terminate(), 2000);
      stopping.push(r.exited.then(() => clearTimeout(timer)));
    }
    await Promise.all(stopping);
  }

  async close(): Promise<void> {
    await this.closeExcept([]);
  }

  /** Sends from the server's port (peers): a worker socket of the destination's family, the wildcard one first. */
  sendFromServerPort(packet: Uint8Array, address: string, port: number): boolean {
    const v6 = isIPv6(address);
    let pick: Running | undefined;
    for (const r of this.running.values()) {
      if ((r.family === 6) !== v6 || r.fd < 0) continue;
      if (r.wildcard) {
        pick = r;
        break;
      }
      pick ??= r;
    }
    if (!pick) return false;
    const len = writeSockaddr(address, port, this.sockaddr);
    if (len === 0) return false;
    return sendToFd(pick.fd, packet, packet.length, this.sockaddr, len);
  }

  /** Multicast groups are not joined on the fast path yet (issue 9): every group is reported as not joined. */
  joinGroups(groups: readonly string[]): { group: string; error: string }[] {
    return groups.map((group) => ({ group, error: 'multicastclient is not supported on the fast path yet (run without --fast-path)' }));
  }

  boundAddresses(): ListenAddress[] {
    return [...this.running.values()].map((r) => ({ address: r.address, port: r.port }));
  }
}
