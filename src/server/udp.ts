/**
 * The portable IO shell around the request handler: node:dgram sockets.
 *
 * The receive timestamp is taken first thing in the 'message' callback. That is as early as
 * node:dgram allows, and it still carries the event loop's wake-up (~120-650 µs here,
 * PLATFORM.md); kernel timestamps need the batched fast path (a later issue).
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
import type { NtpRequestHandler, RequestMeta } from './handler/handler.js';

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

export interface ListenAddress {
  readonly address: string;
  readonly port: number;
}

export class NtpUdpServer {
  private readonly sockets = new Map<string, dgram.Socket>();
  private readonly ring: ReplySlot[] = Array.from({ length: RING }, replySlot);
  private next = 0;
  private readonly rxSpec: TimeSpec = newTimeSpec();
  private readonly mono: TimeSpec = newTimeSpec();
  private readonly meta: RequestMeta = { address: '', rxSeconds: 0, rxFraction: 0, monoS: 0 };
  /** Send errors (e.g. ENOBUFS under load), reported by the socket's 'error' event: counted, not logged per packet. */
  sendErrors = 0;

  constructor(
    private readonly handler: NtpRequestHandler,
    private readonly timescale: Timescale,
    private readonly monotonic: MonotonicClock,
    private readonly onSocketError: (where: string, err: Error) => void,
  ) {}

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
      socket.on('message', (msg, rinfo) => this.onMessage(socket, msg, rinfo));
      this.sockets.set(k, socket);
    }
  }

  /** Closes sockets whose address is not in `keep` (used by reload). */
  async closeExcept(keep: readonly ListenAddress[]): Promise<void> {
    const wanted = new Set(keep.map((l) => this.key(l)));
    for (const [k, s] of this.sockets) {
      if (!wanted.has(k)) {
        await new Promise<void>((resolve) => s.close(() => resolve()));
        this.sockets.delete(k);
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

  private onMessage(socket: dgram.Socket, msg: Buffer, rinfo: dgram.RemoteInfo): void {
    this.timescale.read(this.rxSpec);
    this.monotonic.read(this.mono);
    const meta = this.meta;
    meta.address = rinfo.address;
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
