// Child processes for system tests: run-to-completion commands with a hard time limit, and long-running
// processes whose output is kept for failure messages and which are always stopped, also when a test fails.
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface RunResult {
  /** The command line, for messages. */
  command: string;
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

export interface RunOptions {
  /** Hard limit; the process gets SIGKILL after it. */
  timeoutMs: number;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}

/** Every process started here that has not been seen to exit, so that a dying test worker can still kill it. */
const livePids = new Set<number>();
/** Cleanups that must run even when the worker exits without running afterAll (e.g. deleting namespaces). */
const exitCleanups = new Set<() => void>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const pid of livePids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    for (const cleanup of exitCleanups) {
      try {
        cleanup();
      } catch {
        // best effort at exit
      }
    }
  });
}

/** Registers a synchronous cleanup to run at worker exit if it has not been removed before. */
export function onExitCleanup(cleanup: () => void): () => void {
  installExitHook();
  exitCleanups.add(cleanup);
  return () => exitCleanups.delete(cleanup);
}

export function commandLine(cmd: string, args: readonly string[]): string {
  return [cmd, ...args].map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(' ');
}

/** Runs a command to completion (stdin closed), never longer than `timeoutMs`. Never rejects for a non-zero exit. */
export function run(cmd: string, args: readonly string[], options: RunOptions): Promise<RunResult> {
  installExitHook();
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: options.env ?? process.env,
      cwd: options.cwd,
    });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => { stdout += chunk; });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => { stderr += chunk; });
    if (child.pid !== undefined) livePids.add(child.pid);
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, options.timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      if (child.pid !== undefined) livePids.delete(child.pid);
      reject(new Error(`could not start ${commandLine(cmd, args)}: ${err.message}`));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (child.pid !== undefined) livePids.delete(child.pid);
      resolve({ command: commandLine(cmd, args), code, signal, stdout, stderr, timedOut });
    });
  });
}

/** A run result as text for an assertion message. */
export function describeRun(result: RunResult): string {
  const status = result.timedOut ? 'timed out' : result.signal !== null ? `killed by ${result.signal}` : `exit ${result.code}`;
  return `$ ${result.command}\n[${status}]\n--- stdout ---\n${result.stdout}--- stderr ---\n${result.stderr}`;
}

/** Like run, but throws with the full output unless the command exits 0. */
export async function runOk(cmd: string, args: readonly string[], options: RunOptions): Promise<RunResult> {
  const result = await run(cmd, args, options);
  if (result.code !== 0) throw new Error(`command failed:\n${describeRun(result)}`);
  return result;
}

export interface LongRunningOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}

/** A process that runs until stopped; its whole output is kept. */
export class LongRunning {
  readonly command: string;
  readonly pid: number;
  private out = '';
  private err = '';
  private exited: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  private readonly exitWaiters: Array<() => void> = [];

  private constructor(private readonly child: ChildProcess, command: string) {
    this.command = command;
    if (child.pid === undefined) throw new Error(`could not start ${command}`);
    this.pid = child.pid;
    livePids.add(this.pid);
    child.stdout?.setEncoding('utf8').on('data', (chunk: string) => { this.out += chunk; });
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => { this.err += chunk; });
    child.on('exit', (code, signal) => {
      livePids.delete(this.pid);
      this.exited = { code, signal };
      for (const waiter of this.exitWaiters.splice(0)) waiter();
    });
  }

  /** Starts the process; rejects if it cannot be spawned at all (e.g. missing binary). */
  static start(cmd: string, args: readonly string[], options: LongRunningOptions = {}): Promise<LongRunning> {
    installExitHook();
    const child = spawn(cmd, args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: options.env ?? process.env,
      cwd: options.cwd,
    });
    return new Promise((resolve, reject) => {
      child.once('error', (err) => reject(new Error(`could not start ${commandLine(cmd, args)}: ${err.message}`)));
      child.once('spawn', () => resolve(new LongRunning(child, commandLine(cmd, args))));
    });
  }

  get stdout(): string {
    return this.out;
  }

  get stderr(): string {
    return this.err;
  }

  get exitStatus(): { code: number | null; signal: NodeJS.Signals | null } | undefined {
    return this.exited;
  }

  /** Output so far, for assertion messages. */
  describe(): string {
    const status = this.exited === undefined ? `running, pid ${this.pid}`
      : this.exited.signal !== null ? `killed by ${this.exited.signal}` : `exited ${this.exited.code}`;
    return `$ ${this.command}\n[${status}]\n--- stdout ---\n${this.out}--- stderr ---\n${this.err}`;
  }

  /**
   * Waits until a complete stdout line satisfies `match` (checked every 20 ms), the process exits, or `timeoutMs`
   * passes. Returns the line, or undefined.
   */
  async waitForStdoutLine(match: (line: string) => boolean, timeoutMs: number): Promise<string | undefined> {
    let found: string | undefined;
    await pollUntil(() => {
      const complete = this.out.slice(0, this.out.lastIndexOf('\n') + 1);
      found = complete.split('\n').find((line) => line !== '' && match(line));
      return found !== undefined || this.exited !== undefined ? true : undefined;
    }, timeoutMs, 20);
    return found;
  }

  /** Resolves true when the process exits within `timeoutMs`, false otherwise. */
  waitForExit(timeoutMs: number): Promise<boolean> {
    if (this.exited !== undefined) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), timeoutMs);
      this.exitWaiters.push(() => {
        clearTimeout(timer);
        resolve(true);
      });
    });
  }

  /**
   * Sends `signal` and waits up to `graceMs` for the exit; SIGKILLs it after that.
   * Returns how it ended and whether it needed the SIGKILL.
   */
  async stop(signal: NodeJS.Signals = 'SIGTERM', graceMs = 5000):
    Promise<{ code: number | null; signal: NodeJS.Signals | null; killed: boolean }> {
    let killed = false;
    if (this.exited === undefined) {
      this.child.kill(signal);
      if (!(await this.waitForExit(graceMs))) {
        killed = true;
        this.child.kill('SIGKILL');
        await this.waitForExit(5000);
      }
    }
    const end = this.exitStatus;
    return { code: end?.code ?? null, signal: end?.signal ?? null, killed };
  }
}

/** Polls `probe` every `intervalMs` until it returns a value other than undefined, at most `timeoutMs`. */
export async function pollUntil<T>(probe: () => Promise<T | undefined> | T | undefined, timeoutMs: number,
  intervalMs = 50): Promise<T | undefined> {
  const deadline = Date.now() + timeoutMs;
  const maxRounds = Math.ceil(timeoutMs / intervalMs) + 1;
  for (let round = 0; round < maxRounds && Date.now() <= deadline; round++) {
    const value = await probe();
    if (value !== undefined) return value;
    await sleep(intervalMs);
  }
  return undefined;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** A private (mode 700) temporary directory, as chronyd requires for its state; removed by `remove()` or at exit. */
export class TempDir {
  readonly path: string;
  private readonly forget: () => void;

  constructor(prefix = 'gnm-') {
    this.path = mkdtempSync(join(tmpdir(), prefix));
    chmodSync(this.path, 0o700);
    const path = this.path;
    this.forget = onExitCleanup(() => rmSync(path, { recursive: true, force: true }));
  }

  file(name: string): string {
    return join(this.path, name);
  }

  remove(): void {
    this.forget();
    rmSync(this.path, { recursive: true, force: true });
  }
}

/**
 * Cleanups for afterAll/finally: `add` as resources are created, `run` undoes them in reverse order, runs every one
 * even when some fail, and then throws the failures together (so a daemon that stops badly still fails the test).
 */
export class Teardown {
  private readonly steps: Array<{ what: string; fn: () => Promise<unknown> | unknown }> = [];

  add(what: string, fn: () => Promise<unknown> | unknown): void {
    this.steps.push({ what, fn });
  }

  async run(): Promise<void> {
    const failures: string[] = [];
    for (const step of this.steps.splice(0).reverse()) {
      try {
        await step.fn();
      } catch (err) {
        failures.push(`${step.what}: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
    if (failures.length > 0) throw new Error(`teardown failed:\n${failures.join('\n')}`);
  }
}
