/**
 * The mode 5 sender: the IO shell around broadcast-packet.ts (docs/broadcast.md).
 *
 * One UDP socket per `broadcast` line, bound to the wildcard address and an ephemeral port:
 * - not port 123: the server's own sockets may hold the wildcard or the interface's address on
 *   it, and a second socket bound there would either fail (EADDRINUSE) or, bound more
 *   specifically, take client requests away from the server. Clients do not care: ntpd's
 *   broadcast client only drops source ports below 123 (old versions) or 0 (4.2.8).
 * - the kernel picks the source address by route, i.e. the address of the interface the subnet
 *   or multicast route points at (what ntpd sends from, too). Multicast therefore needs a route
 *   (the default route will do; otherwise `ip route add 224.0.0.0/4 dev eth0`).
 * - one socket per line, not per family, so each line's TTL and SO_BROADCAST are set once on its
 *   own socket and a send error belongs to one destination.
 *
 * Every line has its own timer at 2^minpoll s. A tick sends only while the published snapshot is
 * synchronised (stratum < 16 and LI != 3); the change between sending and paused is logged once
 * per change, as are send errors (counted, never thrown). `configure` is called again on SIGHUP
 * and keeps the lines that did not change (and their timers' phase), closes the removed ones and
 * opens the new ones.
 */
import dgram from 'node:dgram';
import { networkInterfaces } from 'node:os';
import type { Logger } from 'pino';
import type { BroadcastLine } from '../config/model.js';
import { DEFAULT_NTP_PORT } from '../config/model.js';
import { MAX_MAC_BYTES, NO_MAC, encodeBroadcast, isSynchronised, type BroadcastMac, type ServedClock } from './broadcast-packet.js';
import { NTP_HEADER_LENGTH } from '../ntp/constants.js';
import type { ServerStateCell } from './state.js';

/** Timers, injectable so tests can tick by hand. */
export interface BroadcastTimers {
  every(ms: number, fn: () => void): { cancel(): void };
}

export const SYSTEM_TIMERS: BroadcastTimers = {
  every(ms, fn) {
    const handle = setInterval(fn, ms);
    return { cancel: () => clearInterval(handle) };
  },
};

export interface BroadcasterOptions {
  readonly state: ServerStateCell;
  readonly clock: ServedClock;
  readonly log: Pick<Logger, 'info' | 'warn' | 'error'>;
  /** Destination UDP port: the config's `port` (123 unless a development config says otherwise). */
  readonly port?: number;
  readonly mac?: BroadcastMac;
  readonly timers?: BroadcastTimers;
}

/** Per-destination figures (for status and tests). */
export interface BroadcastDestinationStats {
  readonly address: string;
  readonly intervalS: number;
  readonly sent: number;
  /** Ticks that sent nothing because the server was not synchronised. */
  readonly paused: number;
  readonly sendErrors: number;
}

class Destination {
  readonly buf = Buffer.alloc(NTP_HEADER_LENGTH + MAX_MAC_BYTES);
  socket: dgram.Socket | undefined;
  timer: { cancel(): void } | undefined;
  inFlight = false;
  sent = 0;
  paused = 0;
  sendErrors = 0;
  /** The error code last logged; undefined while sends succeed. */
  failing: string | undefined;

  constructor(readonly line: BroadcastLine, readonly key: string) {}
}

function lineKey(l: BroadcastLine): string {
  return `${l.address} ttl ${l.ttl} minpoll ${l.minpoll} version ${l.version} key ${l.key ?? '-'}`;
}

export class Broadcaster {
  private readonly destinations = new Map<string, Destination>();
  private readonly port: number;
  private readonly mac: BroadcastMac;
  private readonly timers: BroadcastTimers;
  /** Whether the last tick found the server synchronised; undefined before the first tick. */
  private sending: boolean | undefined;
  private closed = false;

  constructor(private readonly o: BroadcasterOptions) {
    this.port = o.port ?? DEFAULT_NTP_PORT;
    this.mac = o.mac ?? NO_MAC;
    this.timers = o.timers ?? SYSTEM_TIMERS;
  }

  /** Applies the config's `broadcast` lines: opens new destinations, closes removed ones. Never throws. */
  async configure(lines: readonly BroadcastLine[] = []): Promise<void> {
    if (this.closed) return;
    const wanted = new Map(lines.map((l) => [lineKey(l), l]));
    for (const [key, d] of this.destinations) {
      if (wanted.has(key)) continue;
      this.destinations.delete(key);
      await this.closeDestination(d);
      this.o.log.info({ address: d.line.address }, `broadcast: stopped sending to ${d.line.address}`);
    }
    for (const [key, line] of wanted) {
      if (this.destinations.has(key)) continue;
      const d = new Destination(line, key);
      this.destinations.set(key, d);
      await this.open(d);
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    const all = [...this.destinations.values()];
    this.destinations.clear();
    await Promise.all(all.map((d) => this.closeDestination(d)));
  }

  stats(): BroadcastDestinationStats[] {
    return [...this.destinations.values()].map((d) => ({
      address: d.line.address, intervalS: 2 ** d.line.minpoll, sent: d.sent, paused: d.paused, sendErrors: d.sendErrors,
    }));
  }

  private async open(d: Destination): Promise<void> {
    const { line } = d;
    const v6 = line.family === 6;
    const socket = dgram.createSocket({ type: v6 ? 'udp6' : 'udp4', ipv6Only: v6 });
    try {
      await new Promise<void>((resolve, reject) => {
        socket.once('error', reject);
        socket.bind(0, v6 ? '::' : '0.0.0.0', () => {
          socket.off('error', reject);
          resolve();
        });
      });
      if (line.multicast) socket.setMulticastTTL(line.ttl);
      else socket.setBroadcast(true);
    } catch (err) {
      socket.close();
      d.sendErrors++;
      this.o.log.error({ address: line.address, err: (err as Error).message, at: line.at },
        `broadcast: cannot open a socket for ${line.address}; not sending there`);
      return;
    }
    socket.on('error', (err) => this.failed(d, err));
    socket.on('message', () => undefined); // nothing is expected on the ephemeral port; drop it
    d.socket = socket;
    const intervalS = 2 ** line.minpoll;
    const kind = line.multicast ? `multicast, ttl ${line.ttl}` : 'broadcast';
    this.o.log.info({ address: line.address, port: this.port, intervalS, version: line.version, ttl: line.multicast ? line.ttl : undefined },
      `broadcast: sending mode 5 to ${line.address} (${kind}) every ${intervalS} s while synchronised`);
    if (!line.multicast && !isInterfaceBroadcast(line.address)) {
      this.o.log.warn({ address: line.address, at: line.at },
        `broadcast: ${line.address} is not the broadcast address of any interface here; the packets go where the route sends them`);
    }
    d.timer = this.timers.every(intervalS * 1000, () => this.tick(d));
    this.tick(d);
  }

  private tick(d: Destination): void {
    if (!d.socket || this.closed) return;
    const synced = isSynchronised(this.o.state.snapshot);
    if (synced !== this.sending) {
      this.sending = synced;
      if (synced) this.o.log.info({ stratum: this.o.state.snapshot.stratum }, 'broadcast: synchronised; sending');
      else this.o.log.warn('broadcast: not synchronised; broadcasts paused until the server is synchronised again');
    }
    if (!synced) {
      d.paused++;
      return;
    }
    if (d.inFlight) return; // the previous one is still queued: never overwrite its buffer
    const { line } = d;
    const n = encodeBroadcast(d.buf, this.o.state, this.o.clock,
      { version: line.version, pollLog2: line.minpoll, ...(line.key !== undefined ? { keyId: line.key } : {}) }, this.mac);
    d.inFlight = true;
    try {
      d.socket.send(d.buf, 0, n, this.port, line.address, (err) => {
        d.inFlight = false;
        if (err) {
          this.failed(d, err);
          return;
        }
        d.sent++;
        if (d.failing !== undefined) {
          d.failing = undefined;
          this.o.log.info({ address: line.address }, `broadcast: sending to ${line.address} works again`);
        }
      });
    } catch (err) {
      d.inFlight = false;
      this.failed(d, err as Error);
    }
  }

  private failed(d: Destination, err: NodeJS.ErrnoException): void {
    d.sendErrors++;
    const code = err.code ?? err.message;
    if (d.failing === code) return;
    d.failing = code;
    this.o.log.error({ address: d.line.address, code, err: err.message, sendErrors: d.sendErrors },
      `broadcast: sending to ${d.line.address} failed (logged once until it changes)`);
  }

  private async closeDestination(d: Destination): Promise<void> {
    d.timer?.cancel();
    d.timer = undefined;
    const s = d.socket;
    d.socket = undefined;
    if (s) await new Promise<void>((resolve) => s.close(() => resolve()));
  }
}

/** Whether `address` is 255.255.255.255 or the subnet broadcast address of one of this host's IPv4 interfaces. */
export function isInterfaceBroadcast(address: string): boolean {
  if (address === '255.255.255.255') return true;
  for (const list of Object.values(networkInterfaces())) {
    for (const i of list ?? []) {
      if (i.family !== 'IPv4') continue;
      const a = ipv4Number(i.address);
      const m = ipv4Number(i.netmask);
      if (((a | ~m) >>> 0) === ipv4Number(address)) return true;
    }
  }
  return false;
}

function ipv4Number(text: string): number {
  return text.split('.').reduce((n, octet) => ((n << 8) | Number(octet)) >>> 0, 0);
}
