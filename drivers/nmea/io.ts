/**
 * The NMEA driver's IO shell: a serial port in, samples out (ARCHITECTURE.md principles 1, 5, 8).
 *
 * Everything that decides anything lives in the pure framer and decoder; this file opens the
 * device, stamps each chunk with the injected realtime clock as soon as it is handed over,
 * closes an epoch when the line goes quiet, and reopens the port with exponential backoff when
 * it disappears (unplugged USB receiver, closed pty), reporting each state change once.
 *
 * @serialport/parser-readline is not used for framing: it hands over lines without the arrival
 * time of their first byte and buffers without bound, the two things framing.ts exists for.
 */
import { Reconnector, systemTimers, type DriverTimers } from '../reconnect.js';
import { createRequire } from 'node:module';
import type { SerialPort as SerialPortClass } from 'serialport';
import { newTimeSpec, timeSpecFromUnixNs, timeSpecToUnixNs } from '../../src/clock/clock.js';
import type { DriverContext, RefclockDriver } from '../driver.js';
import { DriverError } from '../driver.js';
import { NmeaDecoder, type NmeaEpoch } from './decode.js';
import { NmeaFramer, byteTimeNsForBaud } from './framing.js';

export const NMEA_BAUD_RATES = [4800, 9600, 19200, 38400, 57600, 115200] as const;

export const NmeaErrorCode = {
  BadBaud: 'NMEA_BAD_BAUD',
  DeviceMissing: 'NMEA_DEVICE_MISSING',
  DeviceAccess: 'NMEA_DEVICE_ACCESS',
  DeviceError: 'NMEA_DEVICE_ERROR',
  Disconnected: 'NMEA_DISCONNECTED',
} as const;
export type NmeaErrorCode = (typeof NmeaErrorCode)[keyof typeof NmeaErrorCode];

export class NmeaDriverError extends DriverError<NmeaErrorCode> {}

/** The part of a serialport stream this shell uses; SerialPort and SerialPortMock both fit. */
export interface SerialLine {
  readonly isOpen: boolean;
  open(callback: (err: Error | null) => void): void;
  close(callback?: (err: Error | null) => void): void;
  on(event: 'data', listener: (chunk: Buffer) => void): unknown;
  on(event: 'close' | 'error', listener: (err?: Error | null) => void): unknown;
  removeAllListeners(): unknown;
}

export type NmeaTimers = DriverTimers;

export interface NmeaDriverOptions {
  readonly path: string;
  readonly baud: number;
  /** Week-rollover pivot, Unix ns (default: the build date, rollover.ts). */
  readonly pivotUnixNs?: bigint;
  /** Silence after which the epoch in progress is reported, ms (default 100). */
  readonly quietMs?: number;
  /** First reconnect delay, ms (default 250); doubles up to `maxBackoffMs` (default 4000, so a replug recovers within 5 s). */
  readonly initialBackoffMs?: number;
  readonly maxBackoffMs?: number;
  /** Opens the device; tests pass SerialPortMock. */
  readonly openLine?: (options: { path: string; baudRate: number; autoOpen: false }) => SerialLine;
  readonly timers?: NmeaTimers;
}


export function classifyOpenError(path: string, err: Error): NmeaDriverError {
  const text = `${(err as NodeJS.ErrnoException).code ?? ''} ${err.message}`;
  if (/ENOENT|No such file|does not exist/i.test(text)) {
    return new NmeaDriverError(NmeaErrorCode.DeviceMissing, `${path}: no such serial device`,
      'is the receiver plugged in and the path right? USB receivers are usually /dev/ttyACM0 or /dev/ttyUSB0, the Pi UART /dev/serial0');
  }
  if (/EACCES|Permission denied/i.test(text)) {
    return new NmeaDriverError(NmeaErrorCode.DeviceAccess, `${path}: permission denied`, 'add the daemon user to the dialout group');
  }
  return new NmeaDriverError(NmeaErrorCode.DeviceError, `${path}: ${err.message}`);
}

const TIME_SENTENCE = /^\$[A-Z]{2}(?:RMC|GGA|GNS|ZDA),/;

/**
 * serialport (and its native bindings) loaded at the first device opened, not at start-up: a
 * daemon without an NMEA refclock would otherwise carry ~15 MB of resident memory for it.
 * serialport is CommonJS, so a synchronous require keeps `openLine` synchronous.
 */
function openSerialPort(options: { path: string; baudRate: number; autoOpen: false }): SerialLine {
  const { SerialPort } = createRequire(import.meta.url)('serialport') as { SerialPort: typeof SerialPortClass };
  return new SerialPort(options);
}

export class NmeaDriver implements RefclockDriver {
  private readonly framer: NmeaFramer;
  private readonly decoder: NmeaDecoder;
  private readonly timers: NmeaTimers;
  private readonly openLine: NonNullable<NmeaDriverOptions['openLine']>;
  private readonly arrival = newTimeSpec();
  private readonly byType: Record<string, number> = {};
  private ctx: DriverContext | null = null;
  private line: SerialLine | null = null;
  private quietTimer: unknown = null;
  private readonly reconnect: Reconnector;
  private closed = false;

  constructor(private readonly options: NmeaDriverOptions) {
    if (!(NMEA_BAUD_RATES as readonly number[]).includes(options.baud)) {
      throw new NmeaDriverError(NmeaErrorCode.BadBaud, `baud ${options.baud} is not supported`, `use one of ${NMEA_BAUD_RATES.join(', ')}`);
    }
    this.framer = new NmeaFramer({ byteTimeNs: byteTimeNsForBaud(options.baud) });
    this.decoder = new NmeaDecoder({ pivotUnixNs: options.pivotUnixNs });
    this.timers = options.timers ?? systemTimers;
    this.openLine = options.openLine ?? openSerialPort;
    this.reconnect = new Reconnector(this.timers, options.initialBackoffMs ?? 250, options.maxBackoffMs ?? 4000);
  }

  /** Rejects with a coded NmeaDriverError when the device cannot be opened at start-up (fail loudly). */
  async init(ctx: DriverContext): Promise<void> {
    this.ctx = ctx;
    ctx.state('starting');
    const err = await this.open();
    if (err !== null) {
      ctx.state('stopped', err.code, err.message);
      throw err;
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    this.clearTimers();
    const line = this.line;
    this.line = null;
    if (line !== null) {
      line.removeAllListeners();
      if (line.isOpen) await new Promise<void>((resolve) => line.close(() => resolve()));
    }
    this.ctx?.state('stopped');
  }

  private open(): Promise<NmeaDriverError | null> {
    const line = this.openLine({ path: this.options.path, baudRate: this.options.baud, autoOpen: false });
    return new Promise((resolve) => {
      line.open((err) => {
        if (err) {
          resolve(classifyOpenError(this.options.path, err));
          return;
        }
        if (this.closed) {
          line.close();
          resolve(null);
          return;
        }
        this.line = line;
        this.reconnect.reset();
        line.on('data', (chunk) => this.onData(chunk));
        line.on('error', (e) => this.lost(line, e ?? null));
        line.on('close', (e) => this.lost(line, e ?? null));
        this.ctx?.state('running');
        resolve(null);
      });
    });
  }

  private onData(chunk: Buffer): void {
    const ctx = this.ctx!;
    ctx.realtime.read(this.arrival);
    const arrivalNs = timeSpecToUnixNs(this.arrival);
    for (const sentence of this.framer.push(chunk, arrivalNs)) {
      // ntpq's timecode is the last time-bearing sentence, as ntpd's NMEA driver shows it.
      if (TIME_SENTENCE.test(sentence.text)) ctx.timecode?.(sentence.text);
      // Per sentence type ("sentenceRMC"), for /metrics; the talker is not part of the key.
      const type = /^[$!][A-Z]{2}([A-Z0-9]{3})[,*]/.exec(sentence.text)?.[1] ?? 'other';
      const key = `sentence${type}`;
      this.byType[key] = (this.byType[key] ?? 0) + 1;
      this.report(this.decoder.push(sentence));
    }
    if (this.quietTimer !== null) this.timers.clearTimeout(this.quietTimer);
    this.quietTimer = this.timers.setTimeout(() => {
      this.quietTimer = null;
      this.report(this.decoder.flush());
    }, this.options.quietMs ?? 100);
  }

  private report(epochs: NmeaEpoch[]): void {
    const ctx = this.ctx!;
    for (const e of epochs) {
      ctx.sample({ systemTime: timeSpecFromUnixNs(e.systemTimeNs), referenceTime: timeSpecFromUnixNs(e.utcNs), leap: 'unknown', fix: e.fix });
    }
    if (epochs.length > 0) ctx.counters({ ...this.framer.counters, ...this.decoder.counters, ...this.byType });
  }

  /** The device went away or failed: report once, then retry with backoff until it is back or we are closed. */
  private lost(line: SerialLine, err: Error | null): void {
    if (this.closed || this.line !== line) return;
    this.line = null;
    line.removeAllListeners();
    if (line.isOpen) line.close();
    this.report(this.decoder.flush());
    this.ctx!.state('reconnecting', NmeaErrorCode.Disconnected, err?.message ?? 'port closed');
    this.reconnect.schedule(() => this.open(), (err) => this.ctx!.state('reconnecting', err.code, err.message));
  }

  private clearTimers(): void {
    if (this.quietTimer !== null) this.timers.clearTimeout(this.quietTimer);
    this.reconnect.cancel();
    this.quietTimer = null;
  }
}
