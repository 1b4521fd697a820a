/**
 * The portable IO shell around the request handler: node:dgram sockets.
 *
 * The receive timestamp: where the kernel allows (Linux x86_64, arm64, armhf), the kernel's own
 * receive time of the datagram, read with ioctl(SIOCGSTAMPNS) first thing in the 'message'
 * callback (src/server/kernel-rx-stamp.ts); otherwise, and for any datagram whose kernel stamp
 * fails the sanity checks below, the clock read first thing in the callback, which carries the
 * event loop's wake-up (~120-650 µs here, PLATFORM.md). Chosen automatically at start; reported as
 * `rxTimestamps` (status, mode 6) with counters of the fallbacks.
 * Replies go out of a small ring of preallocated buffers: dgram may queue a send, so the buffer
 * of a queued reply must not be reused by the next packet.
 *
 * Two things measured to matter here (bench/): the sockets get a synchronous `lookup`, because
 * dgram otherwise runs every reply's destination, already an IP literal, through dns.lookup,
 * which defers the send to the next tick; and sends take no callback, which lets libuv send
 * immediately without a completion callback per packet (send errors arrive as 'error' events).
 */
import dgram from 'node:dgram';
import { isIPv6 } from 'node:net';
import type { MonotonicClock, TimeSpec } from '../clock/clock.js';
import { newTimeSpec } from '../clock/clock.js';
import type { Timescale } from '../clock/timescale.js';
import { ntpFractionOf, ntpSecondsOf } from '../clock/timescale.js';
import { RequestMeta, type NtpRequestHandler } from './handler/handler.js';
import { dgramSocketFd, kernelRxStamper, MAX_KERNEL_RX_LAG_NS, type KernelRxStamper } from './kernel-rx-stamp.js';

const RING = 256;
/** Largest reply the handler writes (header + crypto-NAK). */
/** 48-byte header + key ID + the longest MAC (20 bytes). */
const REPLY_BYTES = 72;

/** One reply buffer and views of the two lengths the handler returns, made once (dgram would slice per send). */
interface ReplySlot {
  readonly buf: Buffer;
  readonly header: Buffer;
  readonly withNak: Buffer;
  /** Signed replies: 16-byte (MD5, AES-CMAC) and 20-byte (SHA-1 and longer) MACs. */
  readonly signed16: Buffer;
  readonly signed20: Buffer;
}

function replySlot(): ReplySlot {
  const buf = Buffer.alloc(REPLY_BYTES);
  return { buf, header: buf.subarray(0, 48), withNak: buf.subarray(0, 52), signed16: buf.subarray(0, 68), signed20: buf.subarray(0, 72) };
}

/** What the receive stamps came from, and how often the kernel's was not used. */
export interface RxTimestampStats {
  /** "kernel (SIOCGSTAMPNS)" or "user space". */
  source: string;
  /** Why not the kernel's, when source is "user space". */
  reason?: string;
  /** Datagrams stamped with the kernel's receive time. */
  kernel: number;
  /** Datagrams stamped in user space although kernel stamps were on: the ioctl failed ... */
  ioctlFailed: number;
  /** ... the kernel stamp was after the JS read or more than MAX_KERNEL_RX_LAG_NS (1 s) before it ... */
  outOfWindow: number;
  /** ... or it repeated the previous datagram's stamp on that socket (a batched read would). */
  repeated: number;
}

export interface UdpServerOptions {
  /** 'auto' (default): kernel stamps where available; 'user': always the JS read (benchmarks, comparisons). */
  readonly rxTimestamps?: 'auto' | 'user';
  /** Override the stamper (tests); null = none. */
  readonly stamper?: KernelRxStamper | null;
}

/** One bound socket and what the receive path keeps for it. */
interface Bound {
  readonly socket: dgram.Socket;
  /** -1 = no kernel stamps on this socket. */
  fd: number;
  lastSec: number;
  lastNsec: number;
}

export interface ListenAddress {
  readonly address: string;
  readonly port: number;
}

export class NtpUdpServer {
  private readonly sockets = new Map<string, dgram.Socket>();
  private readonly bound = new Map<string, Bound>();
  private readonly stamper: KernelRxStamper | null;
  private readonly kernelSpec: TimeSpec = newTimeSpec();
  readonly rxStamps: RxTimestampStats;
  private readonly ring: ReplySlot[] = Array.from({ length: RING }, replySlot);
  private next = 0;
  private readonly rxSpec: TimeSpec = newTimeSpec();
  private readonly mono: TimeSpec = newTimeSpec();
  private readonly meta = new RequestMeta();
  /** Send errors (e.g. ENOBUFS under load), reported by the socket's 'error' event: counted, not logged per packet. */
  sendErrors = 0;

  constructor(
    private readonly handler: NtpRequestHandler,
    private readonly timescale: Timescale,
    private readonly monotonic: MonotonicClock,
    private readonly onSocketError: (where: string, err: Error) => void,
    options: UdpServerOptions = {},
  ) {
    let reason: string | undefined;
    if (options.stamper !== undefined) {
      this.stamper = options.stamper;
      if (!this.stamper) reason = 'disabled';
    } else if (options.rxTimestamps === 'user') {
      this.stamper = null;
      reason = 'user-space stamps requested';
    } else {
      const choice = kernelRxStamper();
      this.stamper = choice.stamper ?? null;
      reason = choice.reason;
    }
    this.rxStamps = { source: 'user space', ...(reason ? { reason } : {}), kernel: 0, ioctlFailed: 0, outOfWindow: 0, repeated: 0 };
  }

  /** "kernel (SIOCGSTAMPNS)" when every bound socket gets kernel stamps, else "user space" (with the reason in rxStamps). */
  private updateSource(): void {
    const bound = [...this.bound.values()];
    const allKernel = this.stamper !== null && bound.length > 0 && bound.every((b) => b.fd >= 0);
    if (allKernel) {
      this.rxStamps.source = this.stamper!.description;
      delete this.rxStamps.reason;
    } else {
      this.rxStamps.source = 'user space';
      if (this.stamper && bound.length > 0) this.rxStamps.reason = 'SIOCGSTAMPNS refused on a socket (no descriptor, or the ioctl failed)';
    }
  }

  private key(l: ListenAddress): string {
    return isIPv6(l.address) ? `[${l.address}]:${l.port}` : `${l.address}:${l.port}`;
  }

  /** Binds every address; rejects with the OS error (EADDRINUSE, EACCES) naming the address. */
  async listen(addresses: readonly ListenAddress[]): Promise<void> {
    for (const l of addresses) {
      const k = this.key(l);
      if (this.sockets.has(k)) continue;
      const v6 = isIPv6(l.address);
      const socket = dgram.createSocket({ type: v6 ? 'udp6' : 'udp4', ipv6Only: v6, lookup: v6 ? literalLookup6 : literalLookup4 });
      await new Promise<void>((resolve, reject) => {
        const onError = (err: Error): void => reject(Object.assign(err, { listenAddress: k }));
        socket.once('error', onError);
        socket.bind(l.port, l.address, () => {
          socket.off('error', onError);
          resolve();
        });
      });
      socket.on('error', (err) => {
        this.sendErrors++;
        if (this.sendErrors === 1) this.onSocketError(k, err); // log the first; count the rest
      });
      const b: Bound = { socket, fd: -1, lastSec: 0, lastNsec: 0 };
      if (this.stamper) {
        const fd = dgramSocketFd(socket);
        if (fd >= 0 && this.stamper.enable(fd)) b.fd = fd;
      }
      socket.on('message', (msg, rinfo) => this.onMessage(b, msg, rinfo));
      this.sockets.set(k, socket);
      this.bound.set(k, b);
    }
    this.updateSource();
  }

  /** Closes sockets whose address is not in `keep` (used by reload). */
  async closeExcept(keep: readonly ListenAddress[]): Promise<void> {
    const wanted = new Set(keep.map((l) => this.key(l)));
    for (const [k, s] of this.sockets) {
      if (!wanted.has(k)) {
        await new Promise<void>((resolve) => s.close(() => resolve()));
        this.sockets.delete(k);
        this.bound.delete(k);
      }
    }
  }

  async close(): Promise<void> {
    await this.closeExcept([]);
  }

  /**
   * Sends from the server's own port (symmetric mode: a peer expects our packets from the port it
   * sends to). Picks a socket of the destination's family, the wildcard one first. Returns false
   * when no socket of that family is open.
   */
  sendFromServerPort(packet: Uint8Array, address: string, port: number): boolean {
    const v6 = isIPv6(address);
    let pick: dgram.Socket | undefined;
    for (const s of this.sockets.values()) {
      const a = s.address();
      if ((a.family === 'IPv6') !== v6) continue;
      if (a.address === '0.0.0.0' || a.address === '::') {
        pick = s;
        break;
      }
      pick ??= s;
    }
    if (!pick) return false;
    pick.send(packet, port, address);
    return true;
  }

  /**
   * Joins multicast groups on the wildcard sockets of their family (multicastclient); returns the
   * groups no socket could join, with the reason.
   */
  joinGroups(groups: readonly string[]): { group: string; error: string }[] {
    const failed: { group: string; error: string }[] = [];
    for (const g of groups) {
      const v6 = isIPv6(g);
      const wild = [...this.sockets.values()].filter((s) => s.address().address === (v6 ? '::' : '0.0.0.0'));
      if (wild.length === 0) {
        failed.push({ group: g, error: `the server does not listen on the ${v6 ? 'IPv6' : 'IPv4'} wildcard address` });
        continue;
      }
      for (const s of wild) {
        try {
          s.addMembership(g);
        } catch (err) {
          failed.push({ group: g, error: (err as Error).message });
        }
      }
    }
    return failed;
  }

  /** Bound addresses as the OS reports them (port 0 resolves to the real port). */
  boundAddresses(): ListenAddress[] {
    return [...this.sockets.values()].map((s) => {
      const a = s.address();
      return { address: a.address, port: a.port };
    });
  }

  /**
   * Replaces the JS read in rxSpec (raw clock) with the kernel's receive time of this datagram
   * when it passes the checks, and counts why not otherwise. Never throws (the stamper does not).
   */
  private kernelStamp(b: Bound): void {
    const k = this.kernelSpec;
    const rx = this.rxSpec;
    if (!this.stamper!.read(b.fd, k)) {
      this.rxStamps.ioctlFailed++;
      return;
    }
    const lagNs = (rx.sec - k.sec) * 1e9 + (rx.nsec - k.nsec);
    if (!(lagNs >= 0 && lagNs <= MAX_KERNEL_RX_LAG_NS)) {
      this.rxStamps.outOfWindow++;
      return;
    }
    if (k.sec === b.lastSec && k.nsec === b.lastNsec) {
      this.rxStamps.repeated++;
      return;
    }
    b.lastSec = k.sec;
    b.lastNsec = k.nsec;
    rx.sec = k.sec;
    rx.nsec = k.nsec;
    this.rxStamps.kernel++;
  }

  private onMessage(b: Bound, msg: Buffer, rinfo: dgram.RemoteInfo): void {
    const socket = b.socket;
    this.timescale.readRaw(this.rxSpec);
    if (b.fd >= 0) this.kernelStamp(b);
    this.timescale.toServed(this.rxSpec);
    this.monotonic.read(this.mono);
    const meta = this.meta;
    meta.setSourceText(rinfo.address, rinfo.port);
    meta.rxSeconds = ntpSecondsOf(this.rxSpec);
    meta.rxFraction = ntpFractionOf(this.rxSpec);
    meta.monoS = this.mono.sec + this.mono.nsec / 1e9;
    const slot = this.ring[this.next]!;
    this.next = (this.next + 1) & (RING - 1);
    const n = this.handler.handle(msg, msg.length, meta, slot.buf);
    if (n === 48) socket.send(slot.header, rinfo.port, rinfo.address);
    else if (n === 52) socket.send(slot.withNak, rinfo.port, rinfo.address);
    else if (n === 68) socket.send(slot.signed16, rinfo.port, rinfo.address);
    else if (n === 72) socket.send(slot.signed20, rinfo.port, rinfo.address);
    else if (n === 0) {
      // Mode 6 (ntpq): the handler leaves 0..16 datagrams of its own.
      const k = this.handler.takeControlReply();
      for (let i = 0; i < k; i++) socket.send(this.handler.controlDatagram(i), rinfo.port, rinfo.address);
    }
  }
}

/**
 * Replies only ever go to the address a datagram came from, an IP literal: answer dgram's
 * lookup synchronously instead of through dns.lookup.
 */
type LookupCallback = (err: Error | null, address: string, family: number) => void;
function literalLookup4(address: string, _family: unknown, callback: LookupCallback): void {
  callback(null, address, 4);
}
function literalLookup6(address: string, _family: unknown, callback: LookupCallback): void {
  callback(null, address, 6);
}
