/**
 * The refclock shell: starts the drivers the config names, feeds what they report into the
 * core's sources (src/refclock), keeps their state for status, and keeps retrying a driver
 * whose device is missing at start-up.
 *
 * A missing GPS at boot is not fatal: the error is logged loudly once with its fix (the
 * driver's coded message), the server keeps serving from whatever else it has (local clock,
 * or unsynchronised), and the device is retried with backoff, so plugging the receiver in
 * later is enough. That is what ntpd and chronyd do with a missing refclock device.
 *
 * Each driver's code is imported when its refclock starts, not with this module: a daemon loads
 * the drivers its config names (serialport only at the first NMEA device, as drivers/nmea/io.ts
 * does), and the others' code never takes heap (docs/server.md, memory).
 */
import { existsSync, realpathSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { RealtimeClock } from '../clock/clock.js';
import { newTimeSpec, timeSpecToUnixNs } from '../clock/clock.js';
import type { RefclockConfig } from '../config/model.js';
import { type DriverContext, type DriverState, type RefclockDriver, stateChangeFilter } from '../../drivers/driver.js';
import { DEFAULT_PPS_SYSFS_ROOT } from '../../drivers/pps/sysfs-format.js';
import { DEFAULT_GPIO_SYSFS_ROOT } from '../../drivers/pps/gpio-base.js';
import { RefclockSource, type RefclockSourceStatus } from '../refclock/source.js';
import { planRefclocks, refclockAddress } from '../refclock/plan.js';
import type { Candidate } from '../discipline/select.js';
import type { ClockChange } from '../discipline/steer.js';
import type { Logger } from './log.js';

/** Start-up retry of a driver whose init failed: 1 s doubling to 30 s (a replugged GPS is picked up within 30 s). */
const INIT_RETRY_FIRST_MS = 1000;
const INIT_RETRY_MAX_MS = 30_000;
/** First reach-register shift after start, ms (then every 2^poll s). */
const FIRST_REACH_POLL_MS = 10_000;
/** Reach register shift interval when the config sets no minpoll: 2^4 = 16 s, chrony's refclock default. */
const DEFAULT_REFCLOCK_POLL_LOG2_S = 4;

export interface DriverStatus {
  readonly driver: string;
  readonly device: string;
  state: DriverState;
  code?: string;
  detail?: string;
  counters: Readonly<Record<string, number>>;
}

export interface RefclockStatus extends RefclockSourceStatus {
  /** ntpd's pseudo-address, "127.127.22.0". */
  readonly address: string;
  /** The latest sentence as received ("" before any): ntpq's timecode. */
  readonly timecode: string;
  /** Reach polls that found no usable sample (ntpd's noreply). */
  readonly noreply: number;
  readonly drivers: readonly DriverStatus[];
  readonly prefer: boolean;
  readonly noselect: boolean;
  readonly pollLog2S: number;
  /** Whose timecodes label this source's pulses. */
  readonly labelledBy: string | null;
  /** Rejected by the majority of the other receivers (src/discipline/intersect.ts); ntpq's `x`. */
  readonly falseticker?: boolean;
}

interface Running {
  readonly source: RefclockSource;
  readonly config: RefclockConfig;
  readonly dependants: RefclockSource[];
  /**
   * `driver`: null until its code is loaded and it is constructed (at its first start).
   * `changed`: one log line per change of state, kept across init retries (each retry gets a new context).
   */
  readonly drivers: { driver: RefclockDriver | null; readonly load: () => Promise<RefclockDriver>; readonly status: DriverStatus; readonly changed: ReturnType<typeof stateChangeFilter> }[];
  readonly pollLog2S: number;
  timecode: string;
}

/** Where a kernel PPS device's sysfs folder is: /dev/ppsN (or a symlink to it, /dev/gpsppsN) → /sys/class/pps/ppsN; a folder holding `assert` is used as it is (the simulator's DIR/pps0). */
export function ppsSysfsLocation(path: string): { sysfsRoot: string; device: string } {
  if (existsSync(join(path, 'assert')) || (existsSync(path) && statSync(path).isDirectory())) {
    return { sysfsRoot: dirname(path), device: basename(path) };
  }
  let target = path;
  try {
    target = realpathSync(path);
  } catch {
    // A missing /dev/ppsN: the sysfs driver reports PPS_DEVICE_MISSING with the overlay hint.
  }
  return { sysfsRoot: DEFAULT_PPS_SYSFS_ROOT, device: basename(target) };
}

/** A driver of a refclock: its name and device for status, and how to load its code and build it. */
interface DriverSpec {
  readonly name: string;
  readonly device: string;
  readonly load: () => Promise<RefclockDriver>;
}

function driversFor(r: RefclockConfig, log: Logger): DriverSpec[] {
  const pps = (path: string): DriverSpec => ({
    name: 'pps-sysfs', device: path,
    load: async () => new (await import('../../drivers/pps/sysfs.js')).PpsSysfsDriver({ ...ppsSysfsLocation(path), edge: r.edge }),
  });
  switch (r.kind) {
    case 'nmea': {
      const out: DriverSpec[] = [{
        name: 'nmea', device: r.path!,
        load: async () => new (await import('../../drivers/nmea/io.js')).NmeaDriver({ path: r.path!, baud: r.baudBps ?? 4800 }),
      }];
      if (r.usePps && r.ppsPath) out.push(pps(r.ppsPath));
      return out;
    }
    case 'pps-kernel':
    case 'pps-sysfs':
      return [pps(r.path!)];
    case 'gpsd':
      return [{
        name: 'gpsd', device: `${r.host}:${r.port} ${r.path}`,
        load: async () => new (await import('../../drivers/gpsd/io.js')).GpsdDriver({ host: r.host, port: r.port, device: r.path }),
      }];
    case 'pps-gpio': {
      const chip = r.chip!;
      const line = r.line!;
      // The character device first (kernel timestamps; the only GPIO interface on current Pi
      // kernels); onoff's sysfs GPIO only where the chip device is absent but sysfs GPIO exists
      // (old kernels), since its timestamps come from JavaScript (tens of µs or worse).
      if (!existsSync(chip.startsWith('/') ? chip : join('/dev', chip)) && existsSync(join(DEFAULT_GPIO_SYSFS_ROOT, 'export'))) {
        log.warn({ chip, line }, 'no GPIO character device; using sysfs GPIO (onoff): pulse timestamps from JavaScript, tens of µs');
        return [{ name: 'pps-onoff', device: `gpio ${line}`, load: async () => new (await import('../../drivers/pps/onoff.js')).PpsOnoffDriver({ line, edge: r.edge }) }];
      }
      return [{
        name: 'pps-gpio', device: `${chip} line ${line}`,
        load: async () => new (await import('../../drivers/pps/gpio-cdev.js')).PpsGpioCdevDriver({ chip, line, edge: r.edge }),
      }];
    }
  }
}

export class RefclockSet {
  private readonly running: Running[] = [];
  private readonly timers = new Set<NodeJS.Timeout>();
  private stopped = false;

  constructor(refclocks: readonly RefclockConfig[], private readonly realtime: RealtimeClock, private readonly log: Logger) {
    const plan = planRefclocks(refclocks);
    const sources = plan.map((p) => new RefclockSource(p.source));
    plan.forEach((p, i) => {
      const source = sources[i]!;
      const dependants = plan.flatMap((q, j) => (q.labeller === i ? [sources[j]!] : []));
      if (p.labeller !== null) source.labeller = sources[p.labeller] ?? null;
      const drivers = driversFor(p.config, log).map(({ load, name, device }) => ({
        driver: null, load, status: { driver: name, device, state: 'starting' as DriverState, counters: {} } satisfies DriverStatus,
        changed: stateChangeFilter(),
      }));
      this.running.push({ source, config: p.config, dependants, drivers, pollLog2S: p.config.minpoll ?? DEFAULT_REFCLOCK_POLL_LOG2_S, timecode: '' });
    });
    for (const r of this.running) {
      if (r.source.config.pulses && !r.source.config.timecodes && r.source.labeller === null) {
        log.warn({ refclock: r.source.config.name, at: r.config.at },
          'PPS has no timecode source to name its seconds: add an NMEA or gpsd refclock (ntpd: server 127.127.20.0), or its pulses stay unused');
      }
    }
  }

  get size(): number {
    return this.running.length;
  }

  /** Starts every driver; never rejects (a failed start is retried in the background). */
  start(): void {
    for (const r of this.running) {
      for (const d of r.drivers) this.startDriver(r, d, INIT_RETRY_FIRST_MS);
      // The first shift soon after start (a receiver that locks shows reach 1 within seconds, not
      // one poll later), then one every 2^poll s, as the "reach" column counts polls.
      const first = setTimeout(() => {
        this.timers.delete(first);
        if (this.stopped) return;
        r.source.reach.poll();
        const timer = setInterval(() => r.source.reach.poll(), 1000 * 2 ** r.pollLog2S);
        timer.unref();
        this.timers.add(timer);
      }, FIRST_REACH_POLL_MS);
      first.unref();
      this.timers.add(first);
    }
  }

  private startDriver(r: Running, d: Running['drivers'][number], retryMs: number): void {
    const ctx = this.context(r, d.status, d.changed);
    this.driverOf(d, ctx).then((driver) => (this.stopped ? undefined : driver.init(ctx))).catch((err: Error & { code?: string }) => {
      if (this.stopped) return;
      // The context has logged the failure (state 'stopped' with the code) once; retry quietly.
      const timer = setTimeout(() => {
        this.timers.delete(timer);
        if (!this.stopped) this.startDriver(r, d, Math.min(retryMs * 2, INIT_RETRY_MAX_MS));
      }, retryMs);
      timer.unref();
      this.timers.add(timer);
      d.status.detail = `${err.message}; retrying every ${Math.round(Math.min(retryMs, INIT_RETRY_MAX_MS) / 1000)} s`;
    });
  }

  /**
   * The driver, its code loaded and the driver built at the first start. A module that does not
   * load or options a driver refuses (a bad baud rate) are reported as the driver stopping with
   * that error, as a failed init is, and retried the same way.
   */
  private async driverOf(d: Running['drivers'][number], ctx: DriverContext): Promise<RefclockDriver> {
    if (d.driver) return d.driver;
    try {
      d.driver = await d.load();
      return d.driver;
    } catch (err) {
      const e = err as Error & { code?: string };
      ctx.state('stopped', typeof e.code === 'string' ? e.code : 'REFCLOCK_DRIVER_LOAD', e.message);
      throw err;
    }
  }

  private context(r: Running, status: DriverStatus, changed: ReturnType<typeof stateChangeFilter>): DriverContext {
    const name = r.source.config.name;
    return {
      name,
      realtime: this.realtime,
      sample: (s) => r.source.addSample(s, r.dependants),
      pulse: (p) => r.source.addPulse(p),
      state: (state, code, detail) => {
        status.state = state;
        if (code === undefined) delete status.code;
        else status.code = code;
        if (detail === undefined) delete status.detail;
        else status.detail = detail;
        // 'starting' precedes every (re)try of init; logging it would turn a retried failure
        // into a starting/stopped pair every 30 s instead of one line.
        if (state === 'starting' || !changed(state, code)) return;
        const fields = { refclock: name, driver: status.driver, device: status.device, state, code };
        if (state === 'stopped' && code !== undefined) this.log.error(fields, detail ?? code);
        else if (state === 'reconnecting') this.log.warn(fields, detail ?? 'reconnecting');
        else this.log.info(fields, detail ?? state);
      },
      counters: (values) => {
        status.counters = { ...values };
      },
      timecode: (text) => {
        r.timecode = text;
      },
    };
  }

  /** The sources as the selection sees them at local (raw clock) time nowNs. */
  candidates(nowNs: bigint): Candidate[] {
    return this.running.map((r) => ({
      name: r.source.config.name, estimate: r.source.estimate(nowNs),
      prefer: r.source.config.prefer, noselect: r.source.config.noselect, stratum: r.source.config.stratum,
      group: r.source.labeller?.config.name ?? r.source.config.name,
    }));
  }

  status(nowNs: bigint): RefclockStatus[] {
    return this.running.map((r) => ({
      ...r.source.status(nowNs),
      drivers: r.drivers.map((d) => ({ ...d.status })),
      prefer: r.source.config.prefer,
      noselect: r.source.config.noselect,
      pollLog2S: r.pollLog2S,
      labelledBy: r.source.labeller?.config.name ?? null,
      address: refclockAddress(r.config),
      timecode: r.timecode,
      noreply: r.source.reach.misses,
    }));
  }

  /** A clock change (a kernel step, a leap's reference step): every source's stored offsets move by stepNs. */
  referenceStepped(stepNs: number): void {
    for (const r of this.running) r.source.referenceStepped(stepNs);
  }

  /** Gnomon changed the system clock (kernel steering): every source re-expresses its samples. */
  clockChanged(change: ClockChange): void {
    for (const r of this.running) r.source.clockChanged(change);
  }

  /** Raw-clock now, ns: the clock the drivers stamp with. */
  nowNs(): bigint {
    const t = newTimeSpec();
    this.realtime.read(t);
    return timeSpecToUnixNs(t);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    await Promise.all(this.running.flatMap((r) => r.drivers.map((d) => d.driver?.close().catch(() => undefined) ?? Promise.resolve())));
  }
}
