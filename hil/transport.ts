/**
 * How the runner runs a shell command "on the box". On hardware: `ssh -o BatchMode=yes TARGET CMD`.
 * On the virtual rig: `sh -c CMD` on this machine, optionally inside a network namespace. The
 * checks only ever see this interface, so both rigs run the same code.
 */
import { spawn } from 'node:child_process';

export interface CommandResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly timedOut: boolean;
}

export interface Transport {
  /** Where commands run, for messages ("pi@gnomon.local", "local netns gnm-hil-1-box"). */
  readonly describe: string;
  /** Runs `command` with a POSIX shell; never rejects for a non-zero exit; SIGKILL after `timeoutMs`. */
  run(command: string, timeoutMs: number): Promise<CommandResult>;
}

/** Quotes one word for a POSIX shell. */
export function shellQuote(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

/** Spawns argv, collects output, kills it at the deadline. */
export function spawnCollect(argv: readonly string[], timeoutMs: number): Promise<CommandResult> {
  return new Promise((resolve) => {
    const [cmd, ...args] = argv;
    const child = spawn(cmd!, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout.setEncoding('utf8').on('data', (c: string) => { stdout += c; });
    child.stderr.setEncoding('utf8').on('data', (c: string) => { stderr += c; });
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      resolve({ code: null, stdout, stderr: `${stderr}${err.message}`, timedOut });
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, timedOut });
    });
  });
}

/** The ssh command line for TARGET (user@host[:port] is not ssh syntax: use `-p` in extraArgs). */
export function sshArgv(target: string, command: string, extraArgs: readonly string[] = []): string[] {
  return ['ssh', '-o', 'BatchMode=yes', '-o', 'ConnectTimeout=10', '-o', 'ServerAliveInterval=5', '-o', 'ServerAliveCountMax=2',
    ...extraArgs, target, command];
}

export class SshTransport implements Transport {
  readonly describe: string;

  constructor(readonly target: string, private readonly extraArgs: readonly string[] = []) {
    this.describe = target;
  }

  run(command: string, timeoutMs: number): Promise<CommandResult> {
    return spawnCollect(sshArgv(this.target, command, this.extraArgs), timeoutMs);
  }
}

export class LocalTransport implements Transport {
  readonly describe: string;

  /** `netns`: run inside `ip netns exec NAME` (the virtual rig's box and client hosts). */
  constructor(private readonly netns?: string) {
    this.describe = netns === undefined ? 'local shell' : `local netns ${netns}`;
  }

  run(command: string, timeoutMs: number): Promise<CommandResult> {
    const argv = this.netns === undefined ? ['sh', '-c', command] : ['ip', 'netns', 'exec', this.netns, 'sh', '-c', command];
    return spawnCollect(argv, timeoutMs);
  }
}
