/**
 * The gpsd driver's IO shell: gpsd's JSON socket in, samples and pulses out (ARCHITECTURE.md
 * principles 1, 3, 5, 8). For boxes where gpsd already owns the receiver; docs/drivers.md has the whole story.
 *
 * A TPV arrives at the end of gpsd's reporting cycle, late and jittery: it labels a second, it does not
 * say when. gpsd sends the TOFF of that second just before, whose `clock` is gpsd's stamp of the cycle's
 * first byte (the instant the NMEA driver stamps), so that becomes the sample's system time; without one,
 * the TPV line's arrival (injected clock) does. A PPS becomes a pulse at its `clock`. Nothing is filtered.
 * Start-up fails loudly (GPSD_UNREACHABLE); at run time a lost connection is logged once and retried.
 */
import { Reconnector, systemTimers, type DriverTimers } from '../reconnect.js';
import { createConnection } from 'node:net';
import { newTimeSpec, timeSpecFromUnixNs } from '../../src/clock/clock.js';
import type { DriverContext, FixMode, FixState, RefclockDriver } from '../driver.js';
import {
  GpsdLineFramer, MAX_LINE_BYTES, newProtocolCounters, parseGpsdLine, WATCH_COMMAND, type GpsdMessage, type GpsdMode,
} from './protocol.js';
import { GPSD_DEFAULT_HOST, GPSD_DEFAULT_PORT, GpsdDriverError, GpsdErrorCode, unreachable } from './errors.js';

export { GPSD_DEFAULT_HOST, GPSD_DEFAULT_PORT, GpsdDriverError, GpsdErrorCode } from './errors.js';

/** The part of a net.Socket this shell uses; tests pass a fake. */
export interface GpsdSocket {
  write(data: string): unknown;
  destroy(): unknown;
  on(event: 'connect' | 'close', listener: () => void): unknown;
  on(event: 'data', listener: (chunk: Buffer) => void): unknown;
  on(event: 'error', listener: (err: Error) => void): unknown;
  removeAllListeners(): unknown;
}

export type GpsdTimers = DriverTimers;

export interface GpsdDriverOptions {
  readonly host?: string;
  readonly port?: number;
  /** Only use messages from this gpsd device path (gpsd may serve several receivers); default: any. */
  readonly device?: string;
  /** Give up a connection attempt after this long, ms (default 5000; net has no connect timeout of its own). */
  readonly connectTimeoutMs?: number;
  /** First reconnect delay, ms (default 250); doubles up to `maxBackoffMs` (default 8000). */
  readonly initialBackoffMs?: number;
  readonly maxBackoffMs?: number;
  readonly maxLineBytes?: number;
  readonly connect?: (port: number, host: string) => GpsdSocket;
  readonly timers?: GpsdTimers;
}


const FIX_OF_MODE: Record<GpsdMode, FixMode> = { 0: 'none', 1: 'none', 2: '2d', 3: '3d' };

/** Drops a socket for good; a late 'error' after destroy must not become an unhandled one. */
function discard(socket: GpsdSocket): void {
  socket.removeAllListeners();
  socket.on('error', () => undefined);
  socket.destroy();
}

export class GpsdDriver implements RefclockDriver {
  private readonly host: string;
  private readonly port: number;
  private readonly timers: GpsdTimers;
  private readonly connect: (port: number, host: string) => GpsdSocket;
  private readonly protocol = newProtocolCounters();
  private readonly framer: GpsdLineFramer;
  private readonly counts = { samples: 0, samplesStampedByToff: 0, pulses: 0, otherDevice: 0, gpsdErrors: 0, connects: 0 };
  private readonly arrival = newTimeSpec();
  private ctx: DriverContext | null = null;
  private socket: GpsdSocket | null = null;
  /** Aborts the connection attempt in progress (for close). */
  private abortConnect: (() => void) | null = null;
  private readonly reconnect: Reconnector;
  private closed = false;
  /** The last TOFF, waiting for the TPV of the same second (gpsd sends TOFF first). */
  private toff: { device: string | null; realNs: bigint; clockNs: bigint } | null = null;
  /** Whether gpsd has (our) device open, from DEVICES and DEVICE messages. */
  private hasDevice = true;
  private sky: Omit<FixState, 'mode'> = { satellitesUsed: null, satellitesVisible: null, hdop: null };

  constructor(private readonly options: GpsdDriverOptions = {}) {
    this.host = options.host ?? GPSD_DEFAULT_HOST;
    this.port = options.port ?? GPSD_DEFAULT_PORT;
    if (!Number.isInteger(this.port) || this.port < 1 || this.port > 65_535 || this.host === '') {
      throw new GpsdDriverError(GpsdErrorCode.BadAddress, `gpsd address ${this.host}:${this.port} is not valid`,
        `gpsd listens on ${GPSD_DEFAULT_HOST}:${GPSD_DEFAULT_PORT} unless started with -S PORT`);
    }
    this.timers = options.timers ?? systemTimers;
    this.connect = options.connect ?? ((port, host) => createConnection({ port, host }));
    this.framer = new GpsdLineFramer(this.protocol, options.maxLineBytes ?? MAX_LINE_BYTES);
    this.reconnect = new Reconnector(this.timers, options.initialBackoffMs ?? 250, options.maxBackoffMs ?? 8000);
  }

  /** Rejects with GPSD_UNREACHABLE when gpsd does not accept the connection at start-up (fail loudly). */
  async init(ctx: DriverContext): Promise<void> {
    this.ctx = ctx;
    ctx.state('starting');
    const err = await this.open();
    if (err !== null && !this.closed) {
      ctx.state('stopped', err.code, err.message);
      throw err;
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    this.reconnect.cancel();
    this.abortConnect?.();
    if (this.socket !== null) discard(this.socket);
    this.socket = null;
    this.ctx?.state('stopped');
  }

  /** Connects and sends WATCH; resolves null once connected, or the coded error. */
  private open(): Promise<GpsdDriverError | null> {
    const socket = this.connect(this.port, this.host);
    this.framer.reset();
    this.toff = null;
    return new Promise((resolve) => {
      let connected = false;
      const fail = (why: string): void => {
        this.timers.clearTimeout(timer);
        this.abortConnect = null;
        discard(socket);
        resolve(unreachable(this.host, this.port, why));
      };
      const timeoutMs = this.options.connectTimeoutMs ?? 5000;
      const timer = this.timers.setTimeout(() => fail(`no connection within ${timeoutMs} ms`), timeoutMs);
      this.abortConnect = () => fail('closed while connecting');
      socket.on('connect', () => {
        this.timers.clearTimeout(timer);
        this.abortConnect = null;
        connected = true;
        if (this.closed) {
          discard(socket);
          resolve(null);
          return;
        }
        this.counts.connects += 1;
        this.socket = socket;
        socket.write(WATCH_COMMAND);
        resolve(null);
      });
      socket.on('data', (chunk) => this.onData(chunk));
      socket.on('error', (e) => (connected ? this.lost(socket, e.message) : fail(e.message)));
      socket.on('close', () => (connected ? this.lost(socket, 'connection closed by gpsd') : fail('connection closed')));
    });
  }

  private onData(chunk: Buffer): void {
    const ctx = this.ctx!;
    // Stamp before parsing: the chunk's arrival is an upper bound on when gpsd wrote its lines.
    ctx.realtime.read(this.arrival);
    for (const line of this.framer.push(chunk)) {
      const message = parseGpsdLine(line, this.protocol);
      if (message !== null) this.handle(ctx, message);
    }
    ctx.counters({ ...this.protocol, ...this.counts });
  }

  private handle(ctx: DriverContext, m: GpsdMessage): void {
    if ('device' in m && typeof m.device === 'string' && this.options.device !== undefined && m.device !== this.options.device) {
      this.counts.otherDevice += 1;
      return;
    }
    switch (m.class) {
      case 'DEVICES':
        // gpsd sends DEVICES just before its WATCH answer: remember, report with the WATCH.
        this.hasDevice = m.devices.some((d) => this.options.device === undefined || d.path === this.options.device);
        break;
      case 'WATCH':
        this.reconnect.reset();
        this.reportDevice(ctx);
        break;
      case 'DEVICE':
        if (this.options.device === undefined || m.device.path === this.options.device) {
          this.hasDevice = m.device.activated;
          this.reportDevice(ctx);
        }
        break;
      case 'SKY':
        this.sky = { satellitesUsed: m.satellitesUsed, satellitesVisible: m.satellitesVisible, hdop: m.hdop };
        break;
      case 'TOFF':
        this.toff = { device: m.device, realNs: m.realNs, clockNs: m.clockNs };
        break;
      case 'TPV':
        if (m.timeNs !== null) this.reportTpv(ctx, m.device, m.timeNs, m.mode);
        break;
      case 'PPS':
        this.counts.pulses += 1;
        ctx.pulse({ systemTime: timeSpecFromUnixNs(m.clockNs), edge: 'assert' });
        break;
      case 'ERROR':
        this.counts.gpsdErrors += 1;
        break;
    }
  }

  private reportDevice(ctx: DriverContext): void {
    if (this.hasDevice) return ctx.state('running');
    ctx.state('waiting', GpsdErrorCode.NoDevice, this.options.device === undefined ? 'gpsd has no GPS device open'
      : `gpsd does not serve ${this.options.device}`);
  }

  private reportTpv(ctx: DriverContext, device: string | null, timeNs: bigint, mode: GpsdMode): void {
    const toff = this.toff !== null && this.toff.realNs === timeNs && this.toff.device === device ? this.toff : null;
    if (toff !== null) this.counts.samplesStampedByToff += 1;
    this.counts.samples += 1;
    ctx.sample({
      systemTime: toff === null ? { sec: this.arrival.sec, nsec: this.arrival.nsec } : timeSpecFromUnixNs(toff.clockNs),
      referenceTime: timeSpecFromUnixNs(timeNs),
      // gpsd's JSON has no leap-second warning (TPV's leapseconds is GPS−UTC, not an announcement).
      leap: 'unknown',
      fix: { mode: FIX_OF_MODE[mode], ...this.sky },
    });
  }

  /** The connection went away: report once, then retry with backoff until gpsd is back or we are closed. */
  private lost(socket: GpsdSocket, why: string): void {
    if (this.closed || this.socket !== socket) return;
    this.socket = null;
    discard(socket);
    this.ctx!.state('reconnecting', GpsdErrorCode.Disconnected, why);
    this.reconnect.schedule(() => this.open(), (err) => this.ctx!.state('reconnecting', err.code, err.message));
  }
}
