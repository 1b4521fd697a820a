// The built Gnomon daemon as a child process:
//   node dist/src/cli/main.js serve --config FILE --listen ADDR:PORT
// Ready when it logs (pino: one JSON object per stdout line) {"msg":"listening","address":...,"port":...}.
// Stopped with SIGTERM; it must exit 0 within 5 s.
// The server path (issue 9) comes from the environment: GNOMON_SERVER_PATH (auto|fast|dgram) set for the
// test process reaches every daemon it starts (vitest.config.ts runs the server-facing files once more
// with dgram); `env` overrides it for one daemon.
// Also: a scripted fake responder (fake-server.mjs) started the same way, to check how peers classify replies.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Netns } from './netns.js';
import { LongRunning, TempDir, run, type Teardown } from './process.js';
import type { StatusReport } from '../../../src/daemon/status.js';

export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
export const GNOMON_MAIN = fileURLToPath(new URL('../../../dist/src/cli/main.js', import.meta.url));
const FAKE_SERVER = fileURLToPath(new URL('./fake-server.mjs', import.meta.url));

export type LogLine = Record<string, unknown> & { msg?: unknown };

/** The stdout lines that parse as JSON objects (pino's log lines). */
export function parseLogLines(stdout: string): LogLine[] {
  const lines: LogLine[] = [];
  for (const text of stdout.split('\n')) {
    if (!text.startsWith('{')) continue;
    try {
      const value: unknown = JSON.parse(text);
      if (typeof value === 'object' && value !== null) lines.push(value as LogLine);
    } catch {
      // a partial or non-JSON line
    }
  }
  return lines;
}

function isListeningLine(text: string): boolean {
  return parseLogLines(text)[0]?.msg === 'listening';
}

/** Starts `node ARGS` (in `ns` when given) and waits for its {"msg":"listening"} line; throws with its output if not. */
async function startListening(what: string, args: readonly string[], ns: Netns | undefined, timeoutMs: number,
  context: string, env?: Readonly<Record<string, string>>): Promise<{ proc: LongRunning; line: LogLine }> {
  const options = { cwd: REPO_ROOT, ...(env ? { env: { ...process.env, ...env } } : {}) };
  const proc = ns === undefined ? await LongRunning.start(process.execPath, args, options)
    : await ns.start(process.execPath, args, options);
  const text = await proc.waitForStdoutLine(isListeningLine, timeoutMs);
  if (text === undefined) {
    const why = proc.exitStatus !== undefined ? 'exited before logging "listening"'
      : `logged no "listening" within ${timeoutMs} ms`;
    await proc.stop('SIGKILL', 2000);
    throw new Error(`${what} ${why}${context}\n${proc.describe()}`);
  }
  return { proc, line: parseLogLines(text)[0] ?? {} };
}

export interface GnomonOptions {
  /** ntp.conf text; written to a private temp dir. */
  config: string;
  /** ADDR:PORT for --listen, e.g. "127.0.0.1:11200" (inside a namespace: "127.0.0.1:123"). */
  listen: string;
  ns?: Netns;
  /** More --listen values (a daemon on several addresses). */
  extraListen?: readonly string[];
  /** How long to wait for the "listening" line (default 10 s). */
  readyTimeoutMs?: number;
  /** node flags before the script (e.g. productNodeFlags(): the daemon as the product starts it). */
  nodeArgs?: readonly string[];
  /** More `gnomon serve` arguments (e.g. --web ADDR:PORT, --server-workers 2). */
  serveArgs?: readonly string[];
  /** Environment for this daemon on top of the test process's (e.g. GNOMON_SERVER_PATH: 'fast'). */
  env?: Readonly<Record<string, string>>;
}

/** The node flags the product starts the daemon with: the `#!/usr/bin/env -S node FLAGS` line of dist/src/cli/main.js. */
export function productNodeFlags(): string[] {
  const first = readFileSync(GNOMON_MAIN, 'utf8').split('\n', 1)[0] ?? '';
  return /^#!\/usr\/bin\/env -S node (.*)$/.exec(first)?.[1]?.split(/\s+/).filter(Boolean) ?? [];
}

/** The server path the test process asks for (GNOMON_SERVER_PATH; auto when unset), for test names. */
export const SERVER_PATH = process.env.GNOMON_SERVER_PATH || 'auto';

/**
 * The path a daemon started with SERVER_PATH must report in `server.path`: dgram when asked for, else fast
 * (auto picks it on this Linux machine; fastpath.test.ts proves the fast path is available here).
 */
export const EXPECTED_PATH = SERVER_PATH === 'dgram' ? 'dgram' : 'fast';

export class GnomonDaemon {
  private constructor(readonly proc: LongRunning, readonly dir: TempDir, readonly configFile: string,
    readonly address: string, readonly port: number) {}

  static async start(options: GnomonOptions): Promise<GnomonDaemon> {
    if (!existsSync(GNOMON_MAIN)) {
      throw new Error(`${GNOMON_MAIN} does not exist: build first (npx tsc -p tsconfig.build.json)`);
    }
    const dir = new TempDir('gnm-daemon-');
    const configFile = dir.file('ntp.conf');
    writeFileSync(configFile, options.config.endsWith('\n') ? options.config : `${options.config}\n`);
    // Each daemon its own control socket: parallel test files must not meet at the default path.
    const args = [...(options.nodeArgs ?? []), GNOMON_MAIN, 'serve', '--config', configFile, '--listen', options.listen, '--control', dir.file('control.sock'),
      ...(options.extraListen ?? []).flatMap((l) => ['--listen', l]), ...(options.serveArgs ?? [])];
    let started;
    try {
      started = await startListening('gnomon', args, options.ns, options.readyTimeoutMs ?? 10_000,
        ` (config:\n${options.config}\n)`, options.env);
    } catch (err) {
      dir.remove();
      throw err;
    }
    const [fallbackAddress, fallbackPort] = splitListen(options.listen);
    const { address, port } = started.line;
    return new GnomonDaemon(started.proc, dir, configFile, typeof address === 'string' ? address : fallbackAddress,
      typeof port === 'number' ? port : fallbackPort);
  }

  get controlSocket(): string {
    return this.dir.file('control.sock');
  }

  /** `gnomon status --json` through the real CLI and control socket. */
  async status(): Promise<StatusReport> {
    const r = await run(process.execPath, [GNOMON_MAIN, 'status', '--json', '--control', this.controlSocket], { timeoutMs: 10_000 });
    if (r.code !== 0 && r.code !== 1) throw new Error(`gnomon status exited ${r.code}: ${r.stderr}`);
    try {
      return JSON.parse(r.stdout) as StatusReport;
    } catch (err) {
      // Seen once under a loaded CI run (exit 0/1, empty stdout): say everything the CLI said.
      throw new Error(`gnomon status --json printed no JSON (${(err as Error).message}); exit ${r.code}, signal ${r.signal}\n` +
        `--- stdout ---\n${r.stdout}\n--- stderr ---\n${r.stderr}\n--- daemon ---\n${this.describe().slice(-3000)}`);
    }
  }

  /** The path this daemon serves on (its "server path" log line, logged before "listening"). */
  get serverPath(): string | undefined {
    const line = this.logs.find((l) => l.msg === 'server path');
    return typeof line?.path === 'string' ? line.path : undefined;
  }

  /** Every JSON log line so far. */
  get logs(): LogLine[] {
    return parseLogLines(this.proc.stdout);
  }

  /** Output so far (logs and stderr) for assertion messages. */
  describe(): string {
    return this.proc.describe();
  }

  /**
   * SIGTERM; throws unless the daemon exits with code 0 within 5 s (it is SIGKILLed after that).
   * The temp dir is removed either way.
   */
  async stop(): Promise<void> {
    const end = await this.proc.stop('SIGTERM', 5000);
    this.dir.remove();
    if (end.killed || end.code !== 0) {
      const how = end.killed ? 'did not exit within 5 s of SIGTERM (SIGKILLed)'
        : `exited with ${end.code ?? end.signal} after SIGTERM, not 0`;
      throw new Error(`gnomon ${how}\n${this.proc.describe()}`);
    }
  }
}

function splitListen(listen: string): [string, number] {
  const i = listen.lastIndexOf(':');
  return [listen.slice(0, i).replace(/^\[|\]$/g, ''), Number(listen.slice(i + 1))];
}

/**
 * One daemon per case on 127.0.0.1:case.port, started together; if any fails to start, the others are
 * stopped and the failures thrown together. Each is stopped by `teardown`.
 */
export async function startDaemonsPerCase<K extends string>(cases: Readonly<Record<K, { readonly port: number; readonly lines: readonly string[] }>>,
  config: (port: number, lines: readonly string[]) => string, teardown: Teardown): Promise<Map<K, GnomonDaemon>> {
  const daemons = new Map<K, GnomonDaemon>();
  const started = await Promise.allSettled((Object.entries(cases) as [K, { port: number; lines: readonly string[] }][]).map(async ([name, c]) => {
    const d = await GnomonDaemon.start({ config: config(c.port, c.lines), listen: `127.0.0.1:${c.port}` });
    daemons.set(name, d);
    teardown.add(`gnomon (${name})`, () => d.stop());
  }));
  const failed = started.filter((x): x is PromiseRejectedResult => x.status === 'rejected');
  if (failed.length > 0) {
    await teardown.run().catch(() => undefined);
    throw new Error(failed.map((f) => String(f.reason)).join('\n'));
  }
  return daemons;
}

/** An ntp.conf for a synchronised server on the local clock driver at `stratum`, listening on 127.0.0.1:port. */
export function localClockConfig(port: number, stratum: number, extra: readonly string[] = []): string {
  return [
    'server 127.127.1.0',
    `fudge 127.127.1.0 stratum ${stratum}`,
    'restrict default',
    `port ${port}`,
    'interface listen 127.0.0.1',
    ...extra,
  ].join('\n');
}

/** An ntp.conf with no reference at all: the server answers unsynchronised (LI=3, stratum 16). */
export function unsynchronisedConfig(port: number, extra: readonly string[] = []): string {
  return ['restrict default', `port ${port}`, 'interface listen 127.0.0.1', ...extra].join('\n');
}

export type FakeReplyKind = 'kod-rate' | 'kod-deny' | 'unsync-stratum16' | 'unsync-stratum0';

/** The scripted responder of fake-server.mjs: answers every client request with one fixed kind of reply. */
export class FakeServer {
  private constructor(readonly proc: LongRunning) {}

  static async start(kind: FakeReplyKind, address: string, port: number, ns?: Netns): Promise<FakeServer> {
    const { proc } = await startListening(`fake NTP server (${kind})`, [FAKE_SERVER, address, String(port), kind], ns,
      5000, '');
    return new FakeServer(proc);
  }

  async stop(): Promise<void> {
    const end = await this.proc.stop('SIGTERM', 5000);
    if (end.killed || end.code !== 0) throw new Error(`fake server did not stop cleanly\n${this.proc.describe()}`);
  }
}
