/**
 * The virtual rig: the same runner and thresholds against `gnomon demo` on this machine.
 *
 * - The box is a network namespace (`gnm-hil-PID-box`) running `gnomon demo` on 127.0.0.1:123 and on
 *   a veth address, so `ntpq -pn 127.0.0.1` and `ntpdig` talk to port 123 exactly as on a Pi.
 * - The client is a second namespace (`gnm-hil-PID-cli`) on the other end of the veth pair:
 *   "a client on another host".
 * - The simulator's pty and PPS file stand in for /dev/serial0 and /sys/class/pps/pps0/assert.
 * - The operator is the simulator's fault schedule: faults can only be given at start
 *   (`--fault NAME@START+DURATION`, seconds from the first pulse), so the rig schedules them for
 *   the scenarios chosen and "performs" a step by waiting until the simulator reaches its second
 *   (read from the PPS sequence). A step asked for after its second has passed means the run fell
 *   behind its schedule: it is refused with a message naming the option to raise.
 * - Reboot = SIGTERM the demo and start it again (without faults), with a new boot id.
 *
 * Needs root (namespaces, port 123) and the built CLI (dist/src/cli/main.js).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { peersCommand, type Box, type Operator, type OperatorAction } from './box.js';
import { parseAssert } from './parse.js';
import { sleep } from './observe.js';
import type { ScenarioName } from './scenarios.js';
import { LocalTransport, shellQuote, spawnCollect } from './transport.js';

export interface VirtualRigOptions {
  /** The built CLI, dist/src/cli/main.js. */
  readonly gnomonMain: string;
  /** Scenarios to schedule faults for. */
  readonly scenarios: readonly ScenarioName[];
  /**
   * The box's `tos holdover`, s (default 12). It counts from the last sample, and the PPS estimate
   * stays "tracking" until it is stale (8 s): below ~10 s the holdover state is never seen.
   */
  readonly holdoverS?: number;
  /** /24 prefix of the veth link, box .1, client .2 (default 10.250.130). */
  readonly subnet?: string;
  /**
   * Simulated second at which the first scenario's fault starts (default 31: PPS selected at ~9 s,
   * 8 pulses used at ~17 s, an 8 s window, ~2 s of ntpq and ntpdig, slack).
   */
  readonly firstFaultAtS?: number;
  /** Extra simulator options (e.g. --receiver mtk). */
  readonly simArgs?: readonly string[];
  readonly log?: (line: string) => void;
}

interface Window {
  readonly start: number;
  readonly end: number;
}

/** The fault schedule for the chosen scenarios (pure): antenna first, then unplug, each with room to recover. */
export function faultSchedule(scenarios: readonly ScenarioName[], holdoverS: number, firstAtS: number):
  { args: string[]; antenna?: Window; unplug?: Window } {
  let at = firstAtS;
  const out: { args: string[]; antenna?: Window; unplug?: Window } = { args: [] };
  if (scenarios.includes('antenna')) {
    // Fix lost at once; the PPS estimate stays fresh 8 s after its last sample, holdover ends
    // holdoverS after that sample; 6 s more to see the change.
    const duration = Math.max(holdoverS, 8) + 6;
    out.antenna = { start: at, end: at + duration };
    out.args.push('--fault', `antenna-unplugged@${at}+${duration}`);
    // The pairing relocks ~3 s after the fix returns; the unplug's first pty loss is 4 s into its window.
    at += duration + 2;
  }
  if (scenarios.includes('unplug')) {
    // unplug@S+10: the pty is gone in seconds S+4..S+6 and back (a new pty) at S+7.
    out.unplug = { start: at + 4, end: at + 7 };
    out.args.push('--fault', `unplug@${at}+10`);
  }
  return out;
}

export interface VirtualRig {
  readonly box: Box;
  readonly client: LocalTransport;
  readonly operator: Operator;
  /** `node MAIN` for gnomon query on the client host. */
  readonly clientGnomon: string;
  readonly describe: string;
  /** The demo's output so far (for failure messages). */
  output(): string;
  stop(): Promise<void>;
}

function ip(args: string[]): void {
  const r = spawnSync('ip', args, { encoding: 'utf8', timeout: 10_000 });
  if (r.status !== 0) throw new Error(`ip ${args.join(' ')}: ${(r.stderr ?? '').trim() || r.error?.message || `exit ${r.status}`}`);
}

function killNetnsPids(name: string): void {
  const r = spawnSync('ip', ['netns', 'pids', name], { encoding: 'utf8', timeout: 5000 });
  for (const pid of (r.stdout ?? '').split(/\s+/).filter((p) => /^\d+$/.test(p))) {
    try {
      process.kill(Number(pid), 'SIGKILL');
    } catch {
      // gone
    }
  }
}

let rigCounter = 0;

/** The virtual box's `tos holdover` unless told otherwise. */
export const VIRTUAL_HOLDOVER_S = 12;
/**
 * How late (simulated seconds) an operator step may be asked for: durations are measured from the
 * scheduled second, so a little lateness changes nothing; more could miss a short state.
 */
const LATE_TOLERANCE_S = 3;

export async function startVirtualRig(options: VirtualRigOptions): Promise<VirtualRig> {
  const log = options.log ?? (() => undefined);
  const holdoverS = options.holdoverS ?? VIRTUAL_HOLDOVER_S;
  const subnet = options.subnet ?? '10.250.130';
  rigCounter += 1;
  const tag = `${process.pid}-${rigCounter}`;
  const boxNs = `gnm-hil-${tag}-box`;
  const cliNs = `gnm-hil-${tag}-cli`;
  const dir = mkdtempSync(join(tmpdir(), 'gnm-hil-'));
  const simDir = join(dir, 'sim');
  const schedule = faultSchedule(options.scenarios, holdoverS, options.firstFaultAtS ?? 31);
  let demo: ChildProcess | undefined;
  let output = '';
  let bootCount = 0;
  const cleanups: Array<() => void> = [];
  const cleanupAll = () => {
    for (const c of cleanups.splice(0).reverse()) {
      try {
        c();
      } catch {
        // best effort
      }
    }
  };
  process.once('exit', cleanupAll);
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));

  const startDemo = async (faults: readonly string[]) => {
    bootCount += 1;
    writeFileSync(join(dir, 'boot-id'), `virtual-${tag}-${bootCount}\n`);
    mkdirSync(simDir, { recursive: true });
    const argv = ['netns', 'exec', boxNs, process.execPath, options.gnomonMain, 'demo', '--dir', simDir,
      '--listen', '127.0.0.1:123', '--listen', `${subnet}.1:123`, '--control', join(dir, 'control.sock'), '--web', 'off',
      '--config', join(dir, 'extra.conf'), ...(options.simArgs ?? []), ...faults];
    const child = spawn('ip', argv, { stdio: ['ignore', 'pipe', 'pipe'] });
    demo = child;
    output += `--- boot ${bootCount}: ip ${argv.join(' ')}\n`;
    child.stdout.setEncoding('utf8').on('data', (c: string) => { output += c; });
    child.stderr.setEncoding('utf8').on('data', (c: string) => { output += c; });
    const deadline = Date.now() + 15_000;
    while (!output.slice(output.lastIndexOf('--- boot')).includes('"listening"')) {
      if (child.exitCode !== null || Date.now() > deadline) throw new Error(`gnomon demo did not start:\n${output}`);
      await sleep(50);
    }
    log(`virtual box booted (${bootCount}): gnomon demo pid ${child.pid} in ${boxNs}`);
  };
  const stopDemo = async () => {
    const child = demo;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGTERM');
    const ok = await Promise.race([exited.then(() => true), sleep(5000).then(() => false)]);
    if (!ok) {
      child.kill('SIGKILL');
      await exited;
    }
  };

  try {
    ip(['netns', 'add', boxNs]);
    cleanups.push(() => {
      killNetnsPids(boxNs);
      spawnSync('ip', ['netns', 'del', boxNs], { timeout: 10_000 });
    });
    ip(['netns', 'add', cliNs]);
    cleanups.push(() => {
      killNetnsPids(cliNs);
      spawnSync('ip', ['netns', 'del', cliNs], { timeout: 10_000 });
    });
    const [aDev, bDev] = [`gh${tag}a`.slice(0, 15), `gh${tag}b`.slice(0, 15)];
    ip(['link', 'add', aDev, 'netns', boxNs, 'type', 'veth', 'peer', 'name', bDev, 'netns', cliNs]);
    for (const [ns, dev, addr] of [[boxNs, aDev, `${subnet}.1`], [cliNs, bDev, `${subnet}.2`]] as const) {
      ip(['-n', ns, 'link', 'set', 'lo', 'up']);
      ip(['-n', ns, 'addr', 'add', `${addr}/24`, 'dev', dev]);
      ip(['-n', ns, 'link', 'set', dev, 'up']);
    }
    writeFileSync(join(dir, 'extra.conf'), [
      '# The virtual rig: hold over for a few seconds (the appliance: an hour), so the antenna scenario sees the end.',
      `tos holdover ${holdoverS}`,
      '',
    ].join('\n'));
    await startDemo(schedule.args);
    cleanups.push(() => {
      if (demo && demo.exitCode === null) demo.kill('SIGKILL');
    });
  } catch (err) {
    cleanupAll();
    throw err;
  }

  const assertPath = join(simDir, 'pps0', 'assert');
  const gnomon = `${shellQuote(process.execPath)} ${shellQuote(options.gnomonMain)}`;
  const transport = new LocalTransport(boxNs);
  const box: Box = {
    transport,
    paths: { serial: join(simDir, 'gps0'), ppsAssert: assertPath },
    commands: {
      status: `${gnomon} status --json --control ${shellQuote(join(dir, 'control.sock'))}`,
      peers: peersCommand(gnomon),
      bootId: `cat ${shellQuote(join(dir, 'boot-id'))}`,
    },
    ntpHost: `${subnet}.1`,
    async reboot() {
      await stopDemo();
      // The box is "down" for a moment, as a real one would be.
      await sleep(500);
      await startDemo([]);
    },
  };

  /** The simulated second now (0 = the first pulse) and the wall time (ms) of second `index`. */
  const simClock = (): { index: number; msOf: (index: number) => number } => {
    const a = parseAssert(readFileSync(assertPath, 'utf8'));
    const edgeMs = Number(a.ns / 1_000_000n);
    return { index: a.seq - 1, msOf: (i: number) => edgeMs + (i - (a.seq - 1)) * 1000 };
  };
  const windows: Partial<Record<OperatorAction, { second: number; what: string }>> = {
    ...(schedule.antenna && { 'pull-antenna': { second: schedule.antenna.start, what: 'antenna' },
      'restore-antenna': { second: schedule.antenna.end, what: 'antenna' } }),
    ...(schedule.unplug && { 'unplug-gps': { second: schedule.unplug.start, what: 'unplug' },
      'replug-gps': { second: schedule.unplug.end, what: 'unplug' } }),
  };
  const operator: Operator = {
    async perform(action) {
      const w = windows[action];
      if (!w) throw new Error(`virtual rig: no fault scheduled for ${action} (scenario not given to startVirtualRig)`);
      let c = simClock();
      const lateS = c.index - w.second;
      if (lateS > LATE_TOLERANCE_S) {
        throw new Error(`virtual rig behind schedule: ${action} due at simulated second ${w.second}, now ${c.index}; `
          + 'raise firstFaultAtS or shorten the window');
      }
      while (c.index < w.second) {
        await sleep(100);
        c = simClock();
      }
      log(`virtual operator: ${action} at simulated second ${w.second}`);
      return c.msOf(w.second);
    },
  };

  return {
    box,
    client: new LocalTransport(cliNs),
    operator,
    clientGnomon: gnomon,
    describe: `virtual (${boxNs})`,
    output: () => output,
    async stop() {
      await stopDemo();
      process.removeListener('exit', cleanupAll);
      cleanupAll();
    },
  };
}

/** For a CLI run of the virtual rig: is everything it needs here? One line per missing piece. */
export async function virtualRigPrerequisites(gnomonMain: string): Promise<string[]> {
  const missing: string[] = [];
  if (typeof process.getuid === 'function' && process.getuid() !== 0) missing.push('root (network namespaces, port 123)');
  const r = await spawnCollect([process.execPath, gnomonMain, '--version'], 10_000);
  if (r.code !== 0) missing.push(`${gnomonMain} (build first: npx tsc -p tsconfig.build.json)`);
  return missing;
}
