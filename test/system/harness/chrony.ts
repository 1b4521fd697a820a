// chronyd as a peer (one-shot query, long-running client) and as a reference server.
// chronyd always runs with -x (never touches the host clock) and -u root (the _chrony user does not exist when
// the package is only unpacked into /opt/chrony; see ../shared/PEERS.md).
import { writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { requireRoot, udpPortBound, type Netns } from './netns.js';
import { LongRunning, pollUntil, run, TempDir, type RunResult } from './process.js';

export const CHRONYD = '/opt/chrony/usr/sbin/chronyd';
export const CHRONYC = '/opt/chrony/usr/bin/chronyc';

/** One line of chronyd's measurements log (`log measurements`), see chrony.conf(5) "log". */
export interface Measurement {
  date: string;
  ip: string;
  /** Leap status of the reply: N (normal), + (insert), - (delete), ? (unsynchronised). */
  leap: string;
  stratum: number;
  /** Test results as printed: "111" (tests 1-3), "111" (5-7), "1111" (A-D). */
  tests123: string;
  tests567: string;
  testsABCD: string;
  localPoll: number;
  remotePoll: number;
  score: number;
  /** Seconds; + means the server is ahead of this machine's clock. */
  offset: number;
  peerDelay: number;
  peerDispersion: number;
  rootDelay: number;
  rootDispersion: number;
  refid: string;
  /** Mode, interleaving and timestamp sources, e.g. "4B K K". */
  modeTxRx: string;
}

export function parseMeasurementsLog(text: string): Measurement[] {
  const out: Measurement[] = [];
  for (const line of text.split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f.length < 18 || !/^\d{4}-\d\d-\d\d$/.test(f[0] ?? '')) continue;
    const at = (i: number): string => f[i] ?? '';
    out.push({
      date: `${at(0)} ${at(1)}`, ip: at(2), leap: at(3), stratum: Number(at(4)),
      tests123: at(5), tests567: at(6), testsABCD: at(7),
      localPoll: Number(at(8)), remotePoll: Number(at(9)), score: Number(at(10)), offset: Number(at(11)),
      peerDelay: Number(at(12)), peerDispersion: Number(at(13)), rootDelay: Number(at(14)),
      rootDispersion: Number(at(15)), refid: at(16), modeTxRx: f.slice(17).join(' '),
    });
  }
  return out;
}

/** The sample with the smallest round-trip delay: the most accurate one (the NTP clock-filter idea). */
export function bestSample(samples: readonly Measurement[]): Measurement | undefined {
  return samples.reduce<Measurement | undefined>((best, s) => (best === undefined || s.peerDelay < best.peerDelay ? s : best),
    undefined);
}

/** The median of the samples' offsets (seconds), NaN for none. */
export function medianOffset(samples: readonly Measurement[]): number {
  const sorted = samples.map((s) => s.offset).sort((a, b) => a - b);
  if (sorted.length === 0) return NaN;
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid] ?? NaN : ((sorted[mid - 1] ?? NaN) + (sorted[mid] ?? NaN)) / 2;
}

/**
 * Samples whose offset is further from 0 than `boundS` plus half their round-trip delay. On one machine the true
 * offset is 0, and path asymmetry can shift a measured offset by at most half the delay, so a correct server
 * yields none, however slow a particular exchange was.
 */
export function inconsistentSamples(samples: readonly Measurement[], boundS: number): Measurement[] {
  return samples.filter((s) => Math.abs(s.offset) > boundS + s.peerDelay / 2);
}

/** A chronyc duration such as "+40ns", "-12us", "4000ms", "1.5s" in seconds (NaN if unparsable). */
export function parseChronyDuration(text: string): number {
  const m = /^([-+]?[\d.]+)(ns|us|ms|s)$/.exec(text.trim());
  if (m === null) return NaN;
  const scale = { ns: 1e-9, us: 1e-6, ms: 1e-3, s: 1 }[m[2] as 'ns' | 'us' | 'ms' | 's'];
  return Number(m[1]) * scale;
}

export interface ServerLineOptions {
  /** NTP version of the requests (chronyd's `version` option; default 4). */
  version?: number;
  /** Extra options appended to the server line, e.g. ['xleave']. */
  extra?: readonly string[];
}

function serverLine(host: string, port: number, base: string, options: ServerLineOptions): string {
  const parts = [`server ${host} port ${port}`, base];
  if (options.version !== undefined) parts.push(`version ${options.version}`);
  parts.push(...(options.extra ?? []));
  return parts.join(' ');
}

export interface OneShotResult {
  run: RunResult;
  /** chronyd -Q exits 0 when it got a usable sample. */
  ok: boolean;
  samples: Measurement[];
  /** From "System clock wrong by X seconds (ignored)": + means the system clock is ahead of the server. */
  clockWrongBy: number | undefined;
  /** chronyd's own log text (stderr). */
  log: string;
}

/**
 * `chronyd -x -u root -Q -t T 'server HOST port P iburst maxsamples N'` (N = `samples`, default 1) with a
 * measurements log: a quick query, as chronyd's client code judges it. Runs in `ns` when given.
 * `poll` adds `minpoll P maxpoll P`: iburst then spaces its requests by 2^P s instead of 2 s (P = -4: 4 samples in
 * ~0.2 s, and an unusable server is given up after ~1.5 s instead of ~8 s).
 */
export async function chronydOneShot(host: string, port: number,
  options: ServerLineOptions & { timeoutS?: number; ns?: Netns; samples?: number; poll?: number } = {}):
  Promise<OneShotResult> {
  requireRoot('run chronyd -u root');
  const dir = new TempDir('gnm-chronyq-');
  try {
    const timeoutS = options.timeoutS ?? 10;
    const pollOptions = options.poll === undefined ? '' : ` minpoll ${options.poll} maxpoll ${options.poll}`;
    const args = ['-x', '-u', 'root', '-Q', '-t', String(timeoutS),
      serverLine(host, port, `iburst maxsamples ${options.samples ?? 1}${pollOptions}`, options),
      `logdir ${dir.path}`, 'log measurements', `pidfile ${dir.file('chronyd.pid')}`, `driftfile ${dir.file('drift')}`];
    const runOptions = { timeoutMs: (timeoutS + 5) * 1000 };
    const result = options.ns === undefined ? await run(CHRONYD, args, runOptions)
      : await options.ns.run(CHRONYD, args, runOptions);
    const log = await readIfExists(dir.file('measurements.log'));
    const wrong = /System clock wrong by (-?[\d.]+) seconds/.exec(result.stderr);
    return {
      run: result, ok: result.code === 0, samples: parseMeasurementsLog(log),
      clockWrongBy: wrong?.[1] === undefined ? undefined : Number(wrong[1]), log: result.stderr,
    };
  } finally {
    dir.remove();
  }
}

async function readIfExists(file: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch {
    return '';
  }
}

/** One row of `chronyc sources`. */
export interface SourceRow {
  /** ^ server, = peer, # local clock. */
  mode: string;
  /** * best, + combined, - not combined, x in error, ~ too variable, ? unusable. */
  state: string;
  name: string;
  stratum: number;
  poll: number;
  /** Octal reachability register as printed. */
  reach: string;
  lastRx: string;
  lastSample: string;
}

export function parseSources(text: string): SourceRow[] {
  const rows: SourceRow[] = [];
  for (const line of text.split('\n')) {
    const m = /^([\^=#])(.)\s+(\S+)\s+(\d+)\s+(-?\d+)\s+([0-7]+)\s+(\S+)\s+(.*)$/.exec(line);
    if (m === null) continue;
    rows.push({
      mode: m[1] ?? '', state: m[2] ?? '', name: m[3] ?? '', stratum: Number(m[4]), poll: Number(m[5]),
      reach: m[6] ?? '', lastRx: m[7] ?? '', lastSample: (m[8] ?? '').trim(),
    });
  }
  return rows;
}

/** One row of `chronyc sourcestats`. */
export interface SourceStatsRow {
  name: string;
  np: number;
  nr: number;
  span: string;
  frequency: number;
  freqSkew: number;
  offset: string;
  stdDev: string;
}

export function parseSourceStats(text: string): SourceStatsRow[] {
  const rows: SourceStatsRow[] = [];
  for (const line of text.split('\n')) {
    const m = /^(\S+)\s+(\d+)\s+(\d+)\s+(\S+)\s+([-+]?[\d.]+)\s+([\d.]+)\s+(\S+)\s+(\S+)\s*$/.exec(line);
    if (m === null || m[1] === 'Name/IP') continue;
    rows.push({
      name: m[1] ?? '', np: Number(m[2]), nr: Number(m[3]), span: m[4] ?? '', frequency: Number(m[5]),
      freqSkew: Number(m[6]), offset: m[7] ?? '', stdDev: m[8] ?? '',
    });
  }
  return rows;
}

/** `chronyc ntpdata` as "Field name" → value (text after the colon, trimmed). */
export function parseNtpData(text: string): Map<string, string> {
  const fields = new Map<string, string>();
  for (const line of text.split('\n')) {
    const m = /^([A-Za-z][A-Za-z /]*?)\s*:\s(.*)$/.exec(line);
    if (m?.[1] !== undefined && m[2] !== undefined && !fields.has(m[1])) fields.set(m[1], m[2].trim());
  }
  return fields;
}

/** A chronyd started in the foreground (-d) with a generated config in a private temp dir. */
abstract class ChronydProcess {
  protected constructor(readonly proc: LongRunning, readonly dir: TempDir) {}

  /** chronyd's stderr log and stdout, for assertion messages. */
  describe(): string {
    return this.proc.describe();
  }

  /** SIGTERM, up to 5 s, then SIGKILL; removes the temp dir. Returns the exit code. */
  async stop(): Promise<number | null> {
    const end = await this.proc.stop('SIGTERM', 5000);
    this.dir.remove();
    return end.code;
  }

  protected static async launch(dir: TempDir, config: readonly string[], ns: Netns | undefined): Promise<LongRunning> {
    requireRoot('run chronyd -u root');
    const conf = dir.file('chronyd.conf');
    writeFileSync(conf, [...config, `pidfile ${dir.file('chronyd.pid')}`, `driftfile ${dir.file('drift')}`, '']
      .join('\n'));
    const args = ['-x', '-u', 'root', '-d', '-f', conf];
    return ns === undefined ? LongRunning.start(CHRONYD, args) : ns.start(CHRONYD, args);
  }
}

export interface ChronydServerOptions {
  /** Port to serve on (default 123, only sensible inside a namespace). */
  port?: number;
  address?: string;
  /** `local stratum N`; undefined = no reference at all (unsynchronised server). */
  localStratum?: number;
  /** Extra chrony.conf lines, e.g. ['ratelimit interval -4 burst 2']. */
  extra?: readonly string[];
  ns?: Netns;
}

/** chronyd as a reference NTP server, to validate the harness and compare Gnomon's answers to. */
export class ChronydServer extends ChronydProcess {
  private constructor(proc: LongRunning, dir: TempDir, readonly address: string, readonly port: number) {
    super(proc, dir);
  }

  static async start(options: ChronydServerOptions = {}): Promise<ChronydServer> {
    const dir = new TempDir('gnm-chronyds-');
    const port = options.port ?? 123;
    const address = options.address ?? '127.0.0.1';
    const config = [`port ${port}`, `bindaddress ${address}`, 'allow', 'cmdport 0',
      `bindcmdaddress ${dir.file('chronyd.sock')}`];
    if (options.localStratum !== undefined) config.push(`local stratum ${options.localStratum}`);
    config.push(...(options.extra ?? []));
    const proc = await ChronydProcess.launch(dir, config, options.ns);
    const server = new ChronydServer(proc, dir, address, port);
    const bound = await pollUntil(async () => (await udpPortBound(port, options.ns)) || undefined, 5000);
    if (bound === undefined) {
      await server.stop();
      throw new Error(`chronyd server did not bind UDP port ${port} within 5 s:\n${proc.describe()}`);
    }
    return server;
  }
}

export interface ChronydClientOptions extends ServerLineOptions {
  host: string;
  port: number;
  /** minpoll = maxpoll (log2 seconds); default -4 (16 requests/s). */
  poll?: number;
  ns?: Netns;
}

/**
 * A long-running chronyd client of one server, queried through chronyc on a Unix socket.
 * Mind the frame of its offsets: with -x chronyd leaves the system clock alone but, once it selects the source,
 * corrects a virtual clock towards it ("System time" in `chronyc tracking`), and measures later samples from that.
 * For offsets against the system clock, pass `extra: ['noselect']`.
 */
export class ChronydClient extends ChronydProcess {
  private constructor(proc: LongRunning, dir: TempDir, readonly ns: Netns | undefined) {
    super(proc, dir);
  }

  static async start(options: ChronydClientOptions): Promise<ChronydClient> {
    const dir = new TempDir('gnm-chronydc-');
    const poll = options.poll ?? -4;
    const config = [
      serverLine(options.host, options.port, `minpoll ${poll} maxpoll ${poll}`, options),
      'port 0', // client only: no NTP server socket
      'cmdport 0',
      `bindcmdaddress ${dir.file('chronyd.sock')}`,
      `logdir ${dir.path}`,
      'log measurements',
    ];
    const proc = await ChronydProcess.launch(dir, config, options.ns);
    const client = new ChronydClient(proc, dir, options.ns);
    const ready = await pollUntil(async () => ((await client.chronyc('tracking')).code === 0 ? true : undefined), 5000,
      100);
    if (ready === undefined) {
      await client.stop();
      throw new Error(`chronyd client did not answer chronyc within 5 s:\n${proc.describe()}`);
    }
    return client;
  }

  /** Runs `chronyc -n -h SOCK ARGS...` (in the client's namespace). */
  chronyc(...args: string[]): Promise<RunResult> {
    const argv = ['-n', '-h', this.dir.file('chronyd.sock'), ...args];
    return this.ns === undefined ? run(CHRONYC, argv, { timeoutMs: 5000 })
      : this.ns.run(CHRONYC, argv, { timeoutMs: 5000 });
  }

  async sources(): Promise<{ text: string; rows: SourceRow[] }> {
    const r = await this.chronyc('sources', '-v');
    return { text: r.stdout, rows: parseSources(r.stdout) };
  }

  async sourceStats(): Promise<{ text: string; rows: SourceStatsRow[] }> {
    const r = await this.chronyc('sourcestats');
    return { text: r.stdout, rows: parseSourceStats(r.stdout) };
  }

  async ntpData(): Promise<{ text: string; fields: Map<string, string> }> {
    const r = await this.chronyc('ntpdata');
    return { text: r.stdout, fields: parseNtpData(r.stdout) };
  }

  async measurements(): Promise<Measurement[]> {
    return parseMeasurementsLog(await readIfExists(this.dir.file('measurements.log')));
  }

  /** Waits until the measurements log has at least `count` samples (at most `timeoutMs`); returns them all. */
  async waitForSamples(count: number, timeoutMs: number): Promise<Measurement[]> {
    const enough = await pollUntil(async () => {
      const samples = await this.measurements();
      return samples.length >= count ? samples : undefined;
    }, timeoutMs, 100);
    return enough ?? this.measurements();
  }

  /** Waits until ntpdata shows at least `count` received packets (valid or not); returns the fields. */
  async waitForReplies(count: number, timeoutMs: number): Promise<Map<string, string>> {
    const enough = await pollUntil(async () => {
      const { fields } = await this.ntpData();
      return Number(fields.get('Total RX') ?? 0) >= count ? fields : undefined;
    }, timeoutMs, 100);
    return enough ?? (await this.ntpData()).fields;
  }
}
