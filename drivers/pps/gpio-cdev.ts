/**
 * PPS from a GPIO character device line (`/dev/gpiochipN`, uapi v2): kernel interrupt timestamps
 * like pps-gpio, but with no overlay, and on kernels where sysfs GPIO is gone (Pi 5, Raspberry Pi
 * OS bookworm/trixie). The line is requested with EVENT_CLOCK_REALTIME (Linux 5.11+), so each
 * event's timestamp_ns is the CLOCK_REALTIME of the edge and is reported as the pulse's systemTime.
 * Missed events (kernel queue overflow while the daemon was stalled) show as line_seqno gaps.
 */
import { systemTimers } from '../reconnect.js';
import { newTimeSpec, timeSpecFromUnixNs, timeSpecToUnixNs } from '../../src/clock/clock.js';
import type { DriverContext, RefclockDriver } from '../driver.js';
import { PpsDriverError, PpsErrorCode, errnoName, type PpsEdge, type PpsTimers } from './errors.js';
import { koffiGpioChipApi, type GpioChipApi } from './gpio-chip.js';
import { GPIO_V2_GET_LINE_IOCTL, LINE_EVENT_SIZE, LineEventId, decodeLineEvents, decodeRequestFd, encodeLineRequest, ppsLineFlags } from './gpio-v2.js';
import { SequenceTracker } from './sequence.js';

export interface PpsGpioCdevOptions {
  /** `gpiochip0` (under `devRoot`) or an absolute path. */
  readonly chip: string;
  /** Line offset on that chip: the BCM GPIO number on a Pi (18 for the usual PPS pin). */
  readonly line: number;
  readonly edge?: PpsEdge;
  readonly activeLow?: boolean;
  /** Default `/dev`. */
  readonly devRoot?: string;
  /** Consumer label `gpioinfo` shows (default "gnomon"). */
  readonly consumer?: string;
  /** Default: libc through koffi. */
  readonly api?: GpioChipApi;
  /** poll() timeout per read, ms (default 1000): bounds how long close() waits. */
  readonly readTimeoutMs?: number;
  readonly noSignalMs?: number;
  readonly initialBackoffMs?: number;
  readonly maxBackoffMs?: number;
  readonly timers?: PpsTimers;
}

export function classifyGpioError(chipPath: string, line: number, err: unknown): PpsDriverError {
  const code = errnoName(err);
  const what = `${chipPath} line ${line}`;
  if (code === 'ENOENT' || code === 'ENODEV' || code === 'ENXIO') {
    return new PpsDriverError(PpsErrorCode.ChipMissing, `${chipPath}: no such GPIO chip`,
      '`gpiodetect` (or `ls /dev/gpiochip*`) lists the chips; the 40-pin header is the one labelled pinctrl-bcm2711, pinctrl-bcm2835 or pinctrl-rp1');
  }
  if (code === 'EACCES' || code === 'EPERM') {
    return new PpsDriverError(PpsErrorCode.DeviceAccess, `${chipPath}: permission denied`,
      'install the udev rule that gives the gnomon group access to /dev/gpiochip*, and add the daemon user to that group');
  }
  if (code === 'EBUSY') {
    return new PpsDriverError(PpsErrorCode.LineBusy, `${what} is in use by another consumer`,
      '`gpioinfo` shows who holds it; a pps-gpio overlay on the same pin owns it (then use the kernel PPS driver), or stop gpiomon/another daemon');
  }
  if (code === 'EINVAL') {
    return new PpsDriverError(PpsErrorCode.LineInvalid, `${what}: request refused (EINVAL)`,
      'the line offset may be out of range for this chip, or the kernel is older than 5.11 (no realtime event timestamps): use the kernel PPS driver');
  }
  return new PpsDriverError(PpsErrorCode.DeviceError, `${what}: ${(err as Error).message}`);
}

export class PpsGpioCdevDriver implements RefclockDriver {
  readonly chipPath: string;
  private readonly edge: PpsEdge;
  private readonly timers: PpsTimers;
  private readonly sequence = new SequenceTracker();
  private readonly now = newTimeSpec();
  private readonly events = Buffer.alloc(LINE_EVENT_SIZE * 16);
  private api: GpioChipApi | null;
  private ctx: DriverContext | null = null;
  private lineFd: number | null = null;
  private loop: Promise<void> | null = null;
  private retryTimer: unknown = null;
  private lastProgressNs = 0n;
  private backoffMs: number;
  private closed = false;
  private readonly counts = { pulses: 0, missedPulses: 0, otherEdges: 0, readErrors: 0 };

  constructor(private readonly options: PpsGpioCdevOptions) {
    this.edge = options.edge ?? 'assert';
    this.chipPath = options.chip.startsWith('/') ? options.chip : `${options.devRoot ?? '/dev'}/${options.chip}`;
    this.timers = options.timers ?? systemTimers;
    this.api = options.api ?? null;
    this.backoffMs = options.initialBackoffMs ?? 250;
  }

  /** Rejects with PPS_GPIO_CHIP_MISSING / PPS_DEVICE_ACCESS / PPS_GPIO_LINE_BUSY / PPS_GPIO_LINE_INVALID at start-up. */
  async init(ctx: DriverContext): Promise<void> {
    this.ctx = ctx;
    ctx.state('starting');
    if (this.api === null) {
      try {
        this.api = koffiGpioChipApi();
      } catch (err) {
        const e = new PpsDriverError(PpsErrorCode.DeviceError, `koffi could not load libc: ${(err as Error).message}`, 'use the kernel PPS driver');
        ctx.state('stopped', e.code, e.message);
        throw e;
      }
    }
    const err = this.request();
    if (err !== null) {
      ctx.state('stopped', err.code, err.message);
      throw err;
    }
    ctx.state('waiting', PpsErrorCode.NoSignal, 'waiting for the first edge');
    this.loop = this.readLoop();
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.retryTimer !== null) this.timers.clearTimeout(this.retryTimer);
    this.retryTimer = null;
    await this.loop;
    this.releaseLine();
    this.ctx?.state('stopped');
  }

  /** Open the chip, request the line, keep only the line fd (it outlives the chip fd). */
  private request(): PpsDriverError | null {
    const api = this.api!;
    let chipFd: number;
    try {
      chipFd = api.open(this.chipPath);
    } catch (err) {
      return classifyGpioError(this.chipPath, this.options.line, err);
    }
    try {
      const req = encodeLineRequest({
        offset: this.options.line,
        consumer: this.options.consumer ?? 'gnomon',
        flags: ppsLineFlags(this.edge, this.options.activeLow),
        eventBufferSize: 16,
      });
      api.ioctl(chipFd, GPIO_V2_GET_LINE_IOCTL, req);
      this.lineFd = decodeRequestFd(req);
    } catch (err) {
      return classifyGpioError(this.chipPath, this.options.line, err);
    } finally {
      api.close(chipFd);
    }
    // line_seqno counts from 1 for a fresh request: 0 is the baseline, so the first edge is new.
    this.sequence.clear();
    this.sequence.observe(0);
    this.lastProgressNs = this.nowNs();
    this.backoffMs = this.options.initialBackoffMs ?? 250;
    return null;
  }

  private async readLoop(): Promise<void> {
    const ctx = this.ctx!;
    while (!this.closed && this.lineFd !== null) {
      let n: number;
      try {
        n = await this.api!.read(this.lineFd, this.events, this.options.readTimeoutMs ?? 1000);
      } catch (err) {
        if (this.closed) return;
        this.counts.readErrors++;
        this.releaseLine();
        ctx.state('reconnecting', PpsErrorCode.Disconnected, `${this.chipPath} line ${this.options.line}: ${(err as Error).message}`);
        ctx.counters(this.counts);
        this.scheduleRetry();
        return;
      }
      if (this.closed) return;
      let found = false;
      for (const e of decodeLineEvents(this.events, n)) found = this.report(e.id, e.timestampNs, e.lineSeqno) || found;
      if (found) {
        ctx.state('running');
        ctx.counters(this.counts);
      } else if (this.nowNs() - this.lastProgressNs > BigInt(this.options.noSignalMs ?? 2500) * 1_000_000n) {
        ctx.state('waiting', PpsErrorCode.NoSignal, `no edge on ${this.chipPath} line ${this.options.line}`);
      }
    }
  }

  private report(id: number, timestampNs: bigint, lineSeqno: number): boolean {
    const edge = id === LineEventId.RisingEdge ? 'assert' : 'clear';
    const step = this.sequence.observe(lineSeqno);
    this.counts.missedPulses += step.missed;
    // Only the requested edge is enabled; anything else is counted, not reported.
    if (edge !== this.edge) {
      this.counts.otherEdges++;
      return false;
    }
    if (!step.isNew) return false;
    this.counts.pulses++;
    this.lastProgressNs = this.nowNs();
    const systemTime = timeSpecFromUnixNs(timestampNs);
    this.ctx!.pulse({ systemTime, edge, sequence: lineSeqno });
    return true;
  }

  private scheduleRetry(): void {
    if (this.closed) return;
    const delay = this.backoffMs;
    this.backoffMs = Math.min(this.backoffMs * 2, this.options.maxBackoffMs ?? 4000);
    this.retryTimer = this.timers.setTimeout(() => {
      this.retryTimer = null;
      if (this.closed) return;
      const err = this.request();
      if (err !== null) {
        this.ctx!.state('reconnecting', err.code, err.message);
        this.scheduleRetry();
        return;
      }
      this.ctx!.state('waiting', PpsErrorCode.NoSignal, 'line requested again; waiting for an edge');
      this.loop = this.readLoop();
    }, delay);
  }

  private releaseLine(): void {
    if (this.lineFd !== null) this.api?.close(this.lineFd);
    this.lineFd = null;
  }

  private nowNs(): bigint {
    this.ctx!.realtime.read(this.now);
    return timeSpecToUnixNs(this.now);
  }
}
