/**
 * The IO shell around the association core (src/assoc): DNS, sockets and timers for `server`,
 * `pool`, `peer`, `broadcastclient` and `multicastclient` lines.
 *
 * Sockets, as chrony and ntpd arrange them:
 * - client mode (`server`, `pool`, a broadcast client's calibration volley): one socket per
 *   association on an ephemeral port (chrony's default `acquisitionport 0`): a reply is only
 *   accepted from the address and port it was sent to, and nobody can aim replies at a port
 *   they cannot guess.
 * - symmetric mode (`peer`): the server's own port, both ways (the peer sends to 123 and
 *   expects our packets from 123): packets go out through the server's socket, and the server's
 *   handler routes mode 1 and 2 from a configured peer's address here (routeFromServer).
 * - broadcast client: mode 5 arrives on the server's port too; the first packet from a
 *   broadcaster mobilises an association for it.
 *
 * DNS: names are resolved at start; a name whose association has heard nothing for 8 polls is
 * resolved again (the server may have moved), and a pool replaces members that stopped
 * answering or sent a kiss-o'-death DENY/RSTR. A name that does not resolve is retried with
 * backoff (1 min doubling to 1 h), logged once per name.
 *
 * Local time: every reading is the raw system clock (what the core and the discipline fit) and
 * the served timescale (what our own symmetric packets carry), taken together on arrival.
 */
import dgram from 'node:dgram';
import { lookup } from 'node:dns/promises';
import { isIP, isIPv6 } from 'node:net';
import { randomFillSync } from 'node:crypto';
import { DEFAULT_NTP_PORT, type AssociationLine, type GnomonConfig } from '../config/model.js';
import type { RealtimeClock } from '../clock/clock.js';
import { newTimeSpec, timeSpecToUnixNs } from '../clock/clock.js';
import { ntpFractionOf, ntpSecondsOf, type Timescale } from '../clock/timescale.js';
import type { ServerStateCell } from '../server/state.js';
import type { KeyRing } from '../auth/mac.js';
import { Association } from '../assoc/association.js';
import { BroadcastClientAssociation } from '../assoc/broadcast-client.js';
import type { AssociationAction, AssociationConfig, AssociationStatus, LocalTime } from '../assoc/types.js';
import type { Candidate } from '../discipline/select.js';
import type { ClockChange } from '../discipline/steer.js';
import type { Logger } from './log.js';
import { Mode, NTP_HEADER_LENGTH } from '../ntp/constants.js';
import { dgramSocketFd, kernelRxStamper, type KernelRxStamper } from '../server/kernel-rx-stamp.js';
import { networkInterfaces } from 'node:os';

/** This host's IPv4 addresses as refids (u32): a server reporting one of them is synchronised to us. */
function ownRefids(): Set<number> {
  const out = new Set<number>();
  for (const list of Object.values(networkInterfaces())) {
    for (const i of list ?? []) {
      if (i.family !== 'IPv4') continue;
      const [p, q, r, s] = i.address.split('.').map(Number) as [number, number, number, number];
      out.add((((p << 24) | (q << 16) | (r << 8) | s) >>> 0));
    }
  }
  return out;
}

/** ntpd's poll defaults, log2 s. */
export const DEFAULT_MINPOLL = 6;
export const DEFAULT_MAXPOLL = 10;
/** How many servers one `pool` line mobilises (ntpd's `tos maxclock` default less the refclocks, kept small for a LAN box). */
export const POOL_MEMBERS = 4;
/** Broadcast servers followed at once (a LAN has one or two; more is a misconfiguration or spoofing). */
export const MAX_BROADCASTERS = 8;
const RESOLVE_RETRY_MIN_MS = 60_000;
const RESOLVE_RETRY_MAX_MS = 3_600_000;
/** Timers never wait longer than this (a clock step must not leave one asleep for days). */
const MAX_TIMER_MS = 60_000;

/** How the shell sends a packet from the server's own port (symmetric mode). */
export type ServerSend = (packet: Uint8Array, address: string, port: number) => void;

type AnyAssociation = Association | BroadcastClientAssociation;

interface Running {
  readonly assoc: AnyAssociation;
  readonly line: AssociationLine | null;
  /** Own ephemeral socket (client mode and broadcast calibration); null for peers. */
  socket: dgram.Socket | null;
  /** The remote's UDP port. */
  readonly port: number;
  timer: NodeJS.Timeout | null;
}

export interface AssociationShellOptions {
  readonly raw: RealtimeClock;
  readonly timescale: Timescale;
  readonly state: ServerStateCell;
  readonly log: Logger;
  readonly serverSend: ServerSend;
}

export class AssociationSet {
  private running: Running[] = [];
  private keys: KeyRing;
  private config: GnomonConfig;
  private stopped = false;
  private readonly resolveTimers = new Set<NodeJS.Timeout>();
  private readonly spec = newTimeSpec();
  /** Kernel receive stamps for the association sockets, where the platform has them. */
  private readonly stamper: KernelRxStamper | undefined = kernelRxStamper().stamper;
  private readonly kernel = newTimeSpec();
  /** Mode 5 packets from broadcasters beyond MAX_BROADCASTERS. */
  private ignoredBroadcasters = 0;
  /** Mode 5 packets ignored for want of a verifying MAC (keys configured). */
  private unverifiedBroadcasts = 0;
  private readonly served = newTimeSpec();

  constructor(config: GnomonConfig, keys: KeyRing, private readonly o: AssociationShellOptions) {
    this.config = config;
    this.keys = keys;
  }

  /** The network lines of a config (no refclocks). */
  static linesOf(config: GnomonConfig): AssociationLine[] {
    return config.associations.filter((a) => a.refclock === undefined);
  }

  start(): void {
    for (const line of AssociationSet.linesOf(this.config)) void this.mobilise(line, 0);
  }

  /** A reload: everything is restarted when the network lines or the keys changed (a poll interval is cheap to relearn). */
  async reconfigure(config: GnomonConfig, keys: KeyRing): Promise<void> {
    const key = (c: GnomonConfig) => JSON.stringify([AssociationSet.linesOf(c).map((l) => ({ ...l, at: undefined })), c.broadcastClient?.groups, c.broadcastClient?.novolley]);
    const same = key(config) === key(this.config) && keys.ids().join() === this.keys.ids().join();
    this.config = config;
    this.keys = keys;
    if (same) return;
    await this.stop();
    this.stopped = false;
    this.start();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const t of this.resolveTimers) clearTimeout(t);
    this.resolveTimers.clear();
    const all = this.running;
    this.running = [];
    await Promise.all(all.map((r) => this.close(r)));
  }

  /** Multicast groups to join on the server's sockets (multicastclient). */
  get multicastGroups(): readonly string[] {
    return this.config.broadcastClient?.groups ?? [];
  }

  /**
   * The associations as the discipline's candidates. A server whose refid is one of our own IPv4
   * addresses follows us (RFC 5905's loop test in fit()): following it back would be a timing
   * loop, so it has no estimate to offer.
   */
  candidates(nowNs: bigint): Candidate[] {
    const own = ownRefids();
    return this.running.map((r) => {
      const status = r.assoc.status(nowNs);
      const loop = status.upstream !== null && status.upstream.stratum > 1 && own.has(status.upstream.refid >>> 0);
      const estimate = loop ? null : r.assoc.estimate(nowNs);
      const c = r.assoc.config;
      return {
        name: c.name, estimate, prefer: c.prefer, noselect: c.noselect, stratum: estimate?.path?.stratum ?? 16,
        ...(c.alwaysTrue ? { alwaysTrue: true } : {}),
      };
    });
  }

  status(nowNs: bigint): AssociationStatus[] {
    return this.running.map((r) => r.assoc.status(nowNs));
  }

  clockChanged(change: ClockChange): void {
    for (const r of this.running) r.assoc.clockChanged(change);
  }

  /**
   * Whether the server's handler should hand a datagram of this mode from this address to us
   * (cheap: called by the hot path for modes 1, 2 and 5 only).
   */
  wants(mode: number, address: string): boolean {
    if (mode === Mode.Broadcast) return this.config.broadcastClient !== undefined;
    return this.running.some((r) => r.assoc.config.mode === 'symmetric' && r.assoc.config.address === address);
  }

  /** A mode 1, 2 or 5 datagram the server's socket received (wants() said yes). */
  routeFromServer(buf: Uint8Array, length: number, address: string): void {
    const rx = this.now();
    const mode = buf[0]! & 7;
    if (mode === Mode.Broadcast) {
      let r = this.running.find((x) => x.assoc instanceof BroadcastClientAssociation && x.assoc.config.address === address);
      if (!r) r = this.mobiliseBroadcast(buf, length, address, rx.rawNs);
      if (r && r.assoc instanceof BroadcastClientAssociation) this.act(r, r.assoc.receiveBroadcast(buf, length, rx));
      return;
    }
    const r = this.running.find((x) => x.assoc.config.mode === 'symmetric' && x.assoc.config.address === address);
    if (r) this.act(r, r.assoc.receive(buf, length, rx));
  }

  private now(): LocalTime {
    this.o.raw.read(this.spec);
    this.o.timescale.read(this.served);
    return { rawNs: timeSpecToUnixNs(this.spec), served: { seconds: ntpSecondsOf(this.served), fraction: ntpFractionOf(this.served) } };
  }

  /**
   * When the datagram just read on `fd` arrived: the kernel's receive stamp (SIOCGSTAMPNS) where the
   * socket has one and it is sane (not after the JS read, less than 1 s before it), else the JS read.
   * A reply's T4 read in JS carries the event loop's wake-up: hundreds of µs, milliseconds under load.
   */
  private arrival(fd: number): LocalTime {
    this.o.raw.read(this.spec);
    const jsNs = timeSpecToUnixNs(this.spec);
    if (fd >= 0 && this.stamper?.read(fd, this.kernel)) {
      const kNs = timeSpecToUnixNs(this.kernel);
      if (kNs <= jsNs && jsNs - kNs < 1_000_000_000n) {
        this.served.sec = this.kernel.sec;
        this.served.nsec = this.kernel.nsec;
        this.o.timescale.toServed(this.served);
        return { rawNs: kNs, served: { seconds: ntpSecondsOf(this.served), fraction: ntpFractionOf(this.served) } };
      }
    }
    this.served.sec = this.spec.sec;
    this.served.nsec = this.spec.nsec;
    this.o.timescale.toServed(this.served);
    return { rawNs: jsNs, served: { seconds: ntpSecondsOf(this.served), fraction: ntpFractionOf(this.served) } };
  }

  private async mobilise(line: AssociationLine, attempt: number): Promise<void> {
    const key = line.key !== undefined ? this.keys.get(line.key) : undefined;
    if (line.key !== undefined && !key) {
      // Running it unauthenticated would silently drop what the line asks for.
      this.o.log.error({ at: line.at, key: line.key }, `${line.kind} ${line.host} key ${line.key}: no such trusted key (keys file + trustedkey); the association is not started`);
      return;
    }
    let addresses: string[];
    try {
      addresses = isIP(line.host) !== 0 ? [line.host] : await this.resolve(line);
    } catch (err) {
      if (this.stopped) return;
      const delay = Math.min(RESOLVE_RETRY_MAX_MS, RESOLVE_RETRY_MIN_MS * 2 ** attempt);
      if (attempt === 0) this.o.log.warn({ at: line.at, host: line.host, err: (err as Error).message, retryS: delay / 1000 }, `cannot resolve ${line.host}; retrying`);
      this.later(delay, () => void this.mobilise(line, attempt + 1));
      return;
    }
    if (this.stopped) return;
    const taken = new Set(this.running.map((r) => r.assoc.config.address));
    const want = line.kind === 'pool' ? POOL_MEMBERS - this.running.filter((r) => r.line === line).length : 1;
    for (const address of addresses.filter((a) => !taken.has(a)).slice(0, Math.max(0, want))) {
      const config: AssociationConfig = {
        name: address, address, mode: line.kind === 'peer' ? 'symmetric' : 'client',
        minpollLog2S: line.minpoll ?? DEFAULT_MINPOLL, maxpollLog2S: Math.max(line.maxpoll ?? DEFAULT_MAXPOLL, line.minpoll ?? DEFAULT_MINPOLL),
        iburst: line.iburst || line.kind === 'pool', burst: line.burst, prefer: line.prefer, noselect: line.noselect,
        alwaysTrue: line.true, version: line.version ?? 4, ...(key ? { key } : {}),
      };
      const assoc = new Association(config, randomFillSync, this.now().rawNs);
      const r: Running = { assoc, line, socket: null, timer: null, port: line.port ?? DEFAULT_NTP_PORT };
      if (config.mode === 'client') r.socket = await this.openSocket(r, address);
      this.running.push(r);
      this.o.log.info({ at: line.at, address, mode: config.mode, key: line.key }, `${line.kind} ${line.host}: polling ${address}`);
      this.schedule(r);
    }
  }

  private async resolve(line: AssociationLine): Promise<string[]> {
    const found = await lookup(line.host, { all: true });
    if (found.length === 0) throw new Error('no addresses');
    return found.map((f) => f.address);
  }

  private mobiliseBroadcast(buf: Uint8Array, length: number, address: string, rawNs: bigint): Running | undefined {
    // Each broadcaster costs a socket and a filter: spoofed mode 5 from many addresses must not exhaust them.
    if (this.running.filter((r) => r.assoc instanceof BroadcastClientAssociation).length >= MAX_BROADCASTERS) {
      this.ignoredBroadcasters++;
      if (this.ignoredBroadcasters === 1) this.o.log.warn({ address, max: MAX_BROADCASTERS }, `broadcast client: already following ${MAX_BROADCASTERS} broadcasters; ${address} ignored (logged once)`);
      return undefined;
    }
    // With trusted keys configured, a broadcaster must sign with one of them and the MAC must
    // verify (ntpd's `enable auth`); one that does not never gets an association.
    let key;
    if (this.keys.size > 0) {
      const macAt = NTP_HEADER_LENGTH;
      key = length >= macAt + 4 + 16 ? this.keys.get(Buffer.from(buf.buffer, buf.byteOffset, length).readUInt32BE(macAt)) : undefined;
      if (!key || !key.verify(buf, macAt, length)) {
        this.unverifiedBroadcasts++;
        if (this.unverifiedBroadcasts === 1) this.o.log.warn({ address }, `broadcast client: ${address} broadcasts without a MAC under a trusted key; ignored (logged once)`);
        return undefined;
      }
    }
    const config: AssociationConfig = {
      name: address, address, mode: 'client', minpollLog2S: DEFAULT_MINPOLL, maxpollLog2S: DEFAULT_MAXPOLL,
      iburst: !(this.config.broadcastClient?.novolley ?? false), burst: false, prefer: false, noselect: false, alwaysTrue: false, version: 4,
      ...(key ? { key } : {}),
    };
    // The volley goes to the broadcaster's NTP port: the one this network uses, ours.
    const r: Running = { assoc: new BroadcastClientAssociation(config, randomFillSync, rawNs), line: null, socket: null, timer: null, port: this.config.port };
    this.running.push(r);
    this.o.log.info({ address, authenticated: key !== undefined }, `broadcast client: heard ${address}; calibrating the delay with a client volley`);
    void this.openSocket(r, address).then((s) => {
      r.socket = s;
      this.schedule(r);
    });
    return r;
  }

  private openSocket(r: Running, address: string): Promise<dgram.Socket> {
    // The address is a literal: answer dgram's lookup at once, or every send waits a tick for dns.lookup
    // and leaves later than the T1 the association read (hundreds of µs: a bias of half that in the offset).
    const v6 = isIPv6(address);
    const socket = dgram.createSocket({ type: v6 ? 'udp6' : 'udp4', lookup: (host, _o, cb) => (cb as (e: null, a: string, f: number) => void)(null, host, v6 ? 6 : 4) });
    let fd = -1;
    socket.on('message', (msg, rinfo) => {
      const rx = this.arrival(fd); // first: the stamp belongs to the datagram just read
      if (rinfo.address !== address || rinfo.port !== r.port) return; // not the server we asked
      this.act(r, r.assoc.receive(msg, msg.length, rx));
    });
    socket.on('error', (err) => this.o.log.warn({ address, err: err.message }, 'association socket error'));
    return new Promise((resolve) => socket.bind(0, () => {
      const f = this.stamper ? dgramSocketFd(socket) : -1;
      if (f >= 0 && this.stamper!.enable(f)) fd = f;
      resolve(socket);
    }));
  }

  private schedule(r: Running): void {
    if (this.stopped || !this.running.includes(r)) return;
    if (r.timer) clearTimeout(r.timer);
    const ms = Number(r.assoc.nextPollNs() - this.now().rawNs) / 1e6;
    r.timer = setTimeout(() => this.pollNow(r), Math.max(0, Math.min(MAX_TIMER_MS, ms)));
    r.timer.unref();
  }

  private pollNow(r: Running): void {
    r.timer = null;
    const now = this.now();
    if (r.assoc.nextPollNs() <= now.rawNs) this.act(r, r.assoc.poll(now, this.o.state.snapshot));
    this.schedule(r);
  }

  private act(r: Running, actions: readonly AssociationAction[]): void {
    const address = r.assoc.config.address;
    for (const a of actions) {
      if (a.kind === 'send') {
        if (r.assoc.config.mode === 'symmetric') this.o.serverSend(a.packet, address, r.port);
        else r.socket?.send(a.packet, r.port, address);
      } else if (a.kind === 'demobilise') {
        this.o.log.warn({ address, reason: a.reason }, `${address} sent a kiss-o'-death (${a.reason === 'kodDeny' ? 'DENY' : 'RSTR'}): no longer polled`);
        // A server that refuses us is not asked again for a while (a pool may name it again).
        this.replace(r, RESOLVE_RETRY_MIN_MS);
      } else {
        this.o.log.warn({ address, host: r.line?.host }, `${address} has not answered for 8 polls${r.line && isIP(r.line.host) === 0 ? `; resolving ${r.line.host} again` : ''}`);
        // A name may have moved (server) or a pool member gone: look the name up again now.
        if (r.line && isIP(r.line.host) === 0) this.replace(r, 0);
      }
    }
  }

  /** Drops an association; a named server or a pool looks for a replacement after `delayMs`. */
  private replace(r: Running, delayMs: number): void {
    this.running = this.running.filter((x) => x !== r);
    void this.close(r);
    const line = r.line;
    if (line && isIP(line.host) === 0 && !this.stopped) this.later(delayMs, () => void this.mobilise(line, 0));
  }

  private later(ms: number, fn: () => void): void {
    const t = setTimeout(() => {
      this.resolveTimers.delete(t);
      fn();
    }, ms);
    t.unref();
    this.resolveTimers.add(t);
  }

  private close(r: Running): Promise<void> {
    if (r.timer) clearTimeout(r.timer);
    r.timer = null;
    const s = r.socket;
    r.socket = null;
    return s ? new Promise((resolve) => s.close(() => resolve())) : Promise.resolve();
  }
}
