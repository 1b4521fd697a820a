/**
 * The simulator's IO shell: turns scenario.ts's plan into a pty and a PPS file on the host's clock.
 *
 * It creates `DIR/gps0` (a symlink to the pty it writes NMEA to) and `DIR/pps0/{assert,clear}`
 * (the kernel PPS sysfs format), and the daemon reads them with its ordinary NMEA and kernel-PPS
 * drivers (see `configLines()`). It never changes the host clock: the host's offset from the
 * simulated GPS time is what the scenario says, by construction.
 *
 * Scheduling: every event (a PPS edge, an NMEA chunk, an unplug) has a host CLOCK_REALTIME due
 * time; one timer is armed for the earliest, its delay computed from the clock each time, so timer
 * error never accumulates. A PPS edge is written a few ms after its time, with the timestamp the
 * kernel would have taken at the edge; an NMEA chunk is written when its last byte would have
 * crossed a 9600-baud line.
 */
import { lstatSync, mkdirSync, rmdirSync, unlinkSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { newTimeSpec, timeSpecToUnixNs, type RealtimeClock } from '../../src/clock/clock.js';
import { systemRealtimeClock } from '../../src/clock/posix.js';
import { PpsFile } from './pps-file.js';
import { Pty, PtyError, replaceSymlink } from './pty.js';
import { Scenario, type ScenarioOptions, type SimSecond } from './scenario.js';

export interface SimOptions extends ScenarioOptions {
  /** Where `gps0` and `pps0/` are created (made if missing). */
  readonly dir: string;
  /** Default: CLOCK_REALTIME through koffi (src/clock/posix.ts). */
  readonly clock?: RealtimeClock;
  /** How long after an edge its sysfs file changes, ms (the interrupt-to-sysfs path; default 3). */
  readonly ppsWriteDelayMs?: number;
  /** Called as each second is planned (before any of it is written): for logs and tests. */
  readonly onSecond?: (second: SimSecond) => void;
}

/** Stable names, absolute values. */
export interface SimCounters {
  pulses: number;
  nmeaBursts: number;
  sentences: number;
  garbageBursts: number;
  bytesWritten: number;
  /** NMEA bytes nobody took: no reader had the port open, or its buffer was full. */
  bytesDropped: number;
  /** Ptys created (1 + one per `unplug` return). */
  ptyOpens: number;
  unplugs: number;
  /** Failed PPS file or pty operations (directory removed under us, out of ptys); never fatal. */
  ioErrors: number;
}

export interface RunningSimulator {
  readonly dir: string;
  /** `DIR/gps0`. */
  readonly gpsPath: string;
  /** `DIR/pps0/assert`. */
  readonly ppsPath: string;
  /** The GPS second (Unix s) of the first simulated pulse. */
  readonly startGpsSec: number;
  /** The config lines that make the daemon read this simulator. */
  configLines(): string[];
  readonly counters: Readonly<SimCounters>;
  /** Stops writing and removes `gps0` and `pps0/` (and DIR if the simulator made it). */
  stop(): Promise<void>;
}

export class SimError extends Error {
  constructor(readonly code: 'SIM_DIR' | 'SIM_PTY', message: string) {
    super(message);
    this.name = 'SimError';
  }
}

/** `refclock nmea unit 0 path DIR/gps0 baud 9600` and `refclock pps-sysfs unit 0 path DIR/pps0`. */
export function simConfigLines(dir: string): string[] {
  const abs = resolve(dir);
  return [`refclock nmea unit 0 path ${join(abs, 'gps0')} baud 9600`, `refclock pps-sysfs unit 0 path ${join(abs, 'pps0')}`];
}

interface SimEvent {
  readonly atNs: bigint;
  readonly run: () => void;
}

const NS_PER_S = 1_000_000_000n;
/** Plan this far ahead of the clock, ns: a whole burst is always queued before it is due. */
const LOOKAHEAD_NS = 2n * NS_PER_S;

export async function startSimulator(options: SimOptions): Promise<RunningSimulator> {
  const dir = resolve(options.dir);
  const gpsPath = join(dir, 'gps0');
  // Only DIR itself is made, not its parents: a typo should fail, not build a tree (and Node's
  // recursive mkdir spins on some pseudo file systems such as /proc).
  let madeDir = false;
  try {
    mkdirSync(dir);
    madeDir = true;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'error';
    if (code !== 'EEXIST') throw new SimError('SIM_DIR', `${dir}: cannot create directory (${code})`);
  }
  try {
    if (!lstatSync(gpsPath).isSymbolicLink()) throw new SimError('SIM_DIR', `${gpsPath} exists and is not a symlink; not replacing it`);
  } catch (err) {
    if (err instanceof SimError) throw err;
  }
  let pps: PpsFile;
  try {
    pps = new PpsFile(dir, 'pps0');
  } catch (err) {
    throw new SimError('SIM_DIR', `${dir}: cannot write the PPS files (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  const counters: SimCounters = {
    pulses: 0, nmeaBursts: 0, sentences: 0, garbageBursts: 0, bytesWritten: 0, bytesDropped: 0, ptyOpens: 0, unplugs: 0, ioErrors: 0,
  };
  let pty: Pty | null = null;
  const plug = (): void => {
    const p = new Pty(counters);
    try {
      replaceSymlink(p.slavePath, gpsPath);
    } catch (err) {
      p.close();
      throw err;
    }
    pty = p;
    counters.ptyOpens++;
  };
  const unplug = (): void => {
    pty?.close();
    pty = null;
    try {
      unlinkSync(gpsPath);
    } catch {
      // already gone
    }
  };
  try {
    plug();
  } catch (err) {
    pps.remove();
    if (err instanceof PtyError) throw new SimError('SIM_PTY', `cannot create a pty: ${err.message}`);
    throw new SimError('SIM_DIR', `${gpsPath}: cannot create the symlink (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }

  const clock = options.clock ?? systemRealtimeClock();
  const now = newTimeSpec();
  const nowNs = (): bigint => {
    clock.read(now);
    return timeSpecToUnixNs(now);
  };
  // The first pulse: the first GPS second whose edge is at least 200 ms away on the host clock.
  const offset0Ns = BigInt(Math.round(options.offsetMs * 1e6));
  let startGpsSec = Number((nowNs() - offset0Ns) / NS_PER_S) + 1;
  if (BigInt(startGpsSec) * NS_PER_S + offset0Ns < nowNs() + 200_000_000n) startGpsSec++;
  const scenario = new Scenario(options, startGpsSec);
  const ppsWriteDelayNs = BigInt(Math.round((options.ppsWriteDelayMs ?? 3) * 1e6));

  const queue: SimEvent[] = [];
  let plannedUntilNs = 0n;
  let timer: ReturnType<typeof setTimeout> | null = null;
  let stopped = false;

  const at = (atNs: bigint, run: () => void): void => {
    queue.push({ atNs, run });
  };
  const guarded = (fn: () => void) => (): void => {
    try {
      fn();
    } catch {
      counters.ioErrors++;
    }
  };

  const plan = (): void => {
    while (plannedUntilNs < nowNs() + LOOKAHEAD_NS) {
      const s = scenario.next();
      options.onSecond?.(s);
      const secondNs = BigInt(s.gpsSec) * NS_PER_S + BigInt(Math.round(s.offsetNs));
      plannedUntilNs = secondNs;
      // Each second makes the device state what the plan says; a failed replug is retried the next second.
      at(secondNs, guarded(() => {
        if (s.unplugged && pty !== null) {
          unplug();
          counters.unplugs++;
        } else if (!s.unplugged && pty === null) {
          plug();
        }
      }));
      if (s.edge !== null) {
        const { hostNs, sequence } = s.edge;
        at(hostNs + ppsWriteDelayNs, guarded(() => { pps.pulse(hostNs, sequence); counters.pulses++; }));
      }
      if (s.chunks.length > 0) at(s.nmeaStartNs, () => { counters.nmeaBursts++; });
      for (const chunk of s.chunks) {
        at(chunk.hostNs, () => {
          if (chunk.kind === 'garbage') counters.garbageBursts++;
          else counters.sentences++;
          if (pty === null) counters.bytesDropped += chunk.bytes.length;
          else pty.write(chunk.bytes);
        });
      }
    }
    queue.sort((a, b) => (a.atNs < b.atNs ? -1 : a.atNs > b.atNs ? 1 : 0));
  };

  const tick = (): void => {
    timer = null;
    if (stopped) return;
    const t = nowNs();
    let due = 0;
    while (due < queue.length && queue[due]!.atNs <= t) due++;
    for (const event of queue.splice(0, due)) event.run();
    plan();
    arm();
  };
  const arm = (): void => {
    if (stopped || queue.length === 0) return;
    const delayMs = Number(queue[0]!.atNs - nowNs()) / 1e6;
    // Timers may fire up to a millisecond early (libuv rounds): an early tick finds nothing due and re-arms.
    timer = setTimeout(tick, Math.max(0, Math.ceil(delayMs)));
  };
  plan();
  arm();

  return {
    dir,
    gpsPath,
    ppsPath: pps.assertPath,
    startGpsSec,
    configLines: () => simConfigLines(dir),
    counters,
    stop: async () => {
      if (stopped) return;
      stopped = true;
      if (timer !== null) clearTimeout(timer);
      unplug();
      pps.remove();
      if (madeDir) {
        try {
          rmdirSync(dir);
        } catch {
          // not empty: the user put something there
        }
      }
    },
  };
}
