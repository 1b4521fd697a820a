/**
 * Kernel PPS through sysfs: the preferred PPS source (issue 3, ARCHITECTURE.md principles 5, 8).
 *
 * pps-gpio (`dtoverlay=pps-gpio,gpiopin=18`) timestamps each edge in the interrupt handler; this
 * shell only reads `/sys/class/pps/ppsN/{assert,clear}` on the schedule sysfs-format.ts explains
 * and reports each new sequence as a pulse carrying the kernel's timestamp. No native code.
 * Start-up problems fail loudly with a code and a fix; a device that vanishes later (module
 * unloaded) is retried with backoff and each state change is reported once.
 */
import { systemTimers } from '../reconnect.js';
import { readFile } from 'node:fs/promises';
import { newTimeSpec, timeSpecToUnixNs } from '../../src/clock/clock.js';
import type { DriverContext, RefclockDriver } from '../driver.js';
import { PpsDriverError, PpsErrorCode, errnoName, type PpsEdge, type PpsTimers } from './errors.js';
import { SequenceTracker } from './sequence.js';
import { DEFAULT_PPS_SYSFS_ROOT, DEFAULT_READ_SCHEDULE, nextReadDelayMs, parsePpsSysfs, type ReadSchedule } from './sysfs-format.js';

export interface PpsSysfsOptions {
  /** Device name under the root, e.g. "pps0". */
  readonly device: string;
  readonly edge?: PpsEdge;
  /** Default `/sys/class/pps`; tests pass a temp dir. */
  readonly sysfsRoot?: string;
  readonly schedule?: ReadSchedule;
  /** No new pulse for this long → state `waiting PPS_NO_SIGNAL` (default 2500 ms). */
  readonly noSignalMs?: number;
  /** First retry delay after the device vanished (default 250 ms), doubling up to `maxBackoffMs` (default 4000). */
  readonly initialBackoffMs?: number;
  readonly maxBackoffMs?: number;
  readonly timers?: PpsTimers;
}

export { DEFAULT_PPS_SYSFS_ROOT };

export function classifySysfsError(path: string, err: unknown): PpsDriverError {
  const code = errnoName(err);
  if (code === 'ENOENT' || code === 'ENOTDIR') {
    return new PpsDriverError(PpsErrorCode.DeviceMissing, `${path}: no such kernel PPS device`,
      'add `dtoverlay=pps-gpio,gpiopin=18` (your pin) to config.txt and reboot, or `modprobe pps-gpio`; `ls /sys/class/pps` lists the devices');
  }
  if (code === 'EACCES' || code === 'EPERM') {
    return new PpsDriverError(PpsErrorCode.DeviceAccess, `${path}: permission denied`,
      'install the udev rule that gives the gnomon group read access to pps devices, and add the daemon user to that group');
  }
  return new PpsDriverError(PpsErrorCode.DeviceError, `${path}: ${(err as Error).message}`);
}

export class PpsSysfsDriver implements RefclockDriver {
  readonly path: string;
  private readonly edge: PpsEdge;
  private readonly timers: PpsTimers;
  private readonly sequence = new SequenceTracker();
  private readonly now = newTimeSpec();
  private ctx: DriverContext | null = null;
  private timer: unknown = null;
  private reading: Promise<void> | null = null;
  private lastPulseNs: bigint | null = null;
  /** Realtime of the last new pulse, or of start/reconnect: the no-signal timer counts from it. */
  private lastProgressNs = 0n;
  private lost = false;
  private backoffMs: number;
  private closed = false;
  private readonly counts = { pulses: 0, missedPulses: 0, sequenceResets: 0, reads: 0, readErrors: 0 };

  constructor(private readonly options: PpsSysfsOptions) {
    this.edge = options.edge ?? 'assert';
    this.path = `${options.sysfsRoot ?? DEFAULT_PPS_SYSFS_ROOT}/${options.device}/${this.edge}`;
    this.timers = options.timers ?? systemTimers;
    this.backoffMs = options.initialBackoffMs ?? 250;
  }

  /** Rejects with PPS_DEVICE_MISSING / PPS_DEVICE_ACCESS / PPS_EDGE_NOT_CAPTURED / PPS_BAD_FORMAT at start-up. */
  async init(ctx: DriverContext): Promise<void> {
    this.ctx = ctx;
    ctx.state('starting');
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (err) {
      throw this.fail(classifySysfsError(this.path, err));
    }
    const first = parsePpsSysfs(text);
    if (first.kind === 'empty') {
      throw this.fail(new PpsDriverError(PpsErrorCode.EdgeNotCaptured, `${this.path} is empty: the device does not capture the ${this.edge} edge`,
        this.edge === 'clear' ? 'add `capture_clear` to the pps-gpio overlay, or use edge assert' : 'use edge clear, or check the overlay parameters'));
    }
    if (first.kind === 'bad') throw this.fail(new PpsDriverError(PpsErrorCode.BadFormat, `${this.path}: unexpected content "${first.text}"`));
    // The pulse already there is a baseline: it may be minutes old and was not seen to change.
    this.sequence.observe(first.kind === 'pulse' ? first.sequence : 0);
    this.lastProgressNs = this.nowNs();
    ctx.state('waiting', PpsErrorCode.NoSignal, 'waiting for the first pulse');
    this.schedule(this.options.schedule?.huntMs ?? DEFAULT_READ_SCHEDULE.huntMs);
  }

  /** Read now; harmless to call at any time (the sequence number de-duplicates). */
  poll(): void {
    void this.readNow();
  }

  /** One read of the sysfs file; resolves when it has been reported. Tests await it. */
  readNow(): Promise<void> {
    if (this.closed || this.ctx === null) return Promise.resolve();
    this.reading ??= this.readOnce().finally(() => (this.reading = null));
    return this.reading;
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.timer !== null) this.timers.clearTimeout(this.timer);
    this.timer = null;
    await this.reading;
    this.ctx?.state('stopped');
  }

  private async readOnce(): Promise<void> {
    const ctx = this.ctx!;
    let text: string;
    this.counts.reads++;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (err) {
      this.counts.readErrors++;
      if (this.closed) return;
      const e = classifySysfsError(this.path, err);
      if (!this.lost) this.backoffMs = this.options.initialBackoffMs ?? 250;
      this.lost = true;
      this.sequence.clear();
      ctx.state('reconnecting', e.code === PpsErrorCode.DeviceError ? PpsErrorCode.Disconnected : e.code, e.message);
      ctx.counters(this.counts);
      this.schedule(this.nextBackoff());
      return;
    }
    if (this.closed) return;
    if (this.lost) {
      this.lost = false;
      this.lastProgressNs = this.nowNs();
      ctx.state('waiting', PpsErrorCode.NoSignal, `${this.path} is back; waiting for a pulse`);
    }
    const reading = parsePpsSysfs(text);
    let foundNew = false;
    if (reading.kind === 'pulse' || reading.kind === 'none') {
      const step = this.sequence.observe(reading.kind === 'pulse' ? reading.sequence : 0);
      if (step.reset) this.counts.sequenceResets++;
      if (step.isNew && reading.kind === 'pulse') {
        foundNew = true;
        this.counts.pulses++;
        this.counts.missedPulses += step.missed;
        this.lastPulseNs = timeSpecToUnixNs(reading.time);
        this.lastProgressNs = this.nowNs();
        ctx.pulse({ systemTime: reading.time, edge: this.edge, sequence: reading.sequence });
        ctx.state('running');
        ctx.counters(this.counts);
      }
    }
    if (reading.kind === 'empty') {
      ctx.state('waiting', PpsErrorCode.EdgeNotCaptured, `${this.path} is empty`);
    } else if (reading.kind === 'bad') {
      ctx.state('waiting', PpsErrorCode.BadFormat, `${this.path}: unexpected content "${reading.text}"`);
    } else if (!foundNew && this.nowNs() - this.lastProgressNs > BigInt(this.options.noSignalMs ?? 2500) * 1_000_000n) {
      ctx.state('waiting', PpsErrorCode.NoSignal, `no new pulse in ${this.path}`);
    }
    this.schedule(nextReadDelayMs(this.lastPulseNs, this.nowNs(), foundNew, this.options.schedule));
  }

  private schedule(ms: number): void {
    if (this.closed) return;
    if (this.timer !== null) this.timers.clearTimeout(this.timer);
    this.timer = this.timers.setTimeout(() => {
      this.timer = null;
      this.poll();
    }, ms);
  }

  private nextBackoff(): number {
    const ms = this.backoffMs;
    this.backoffMs = Math.min(this.backoffMs * 2, this.options.maxBackoffMs ?? 4000);
    return ms;
  }

  private nowNs(): bigint {
    this.ctx!.realtime.read(this.now);
    return timeSpecToUnixNs(this.now);
  }

  private fail(err: PpsDriverError): PpsDriverError {
    this.ctx?.state('stopped', err.code, err.message);
    return err;
  }
}
