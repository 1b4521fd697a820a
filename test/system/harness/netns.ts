// Network namespaces for tests that need port 123 (ntpdig, ntpdate and ntpq have it hard-wired).
// A namespace is named gnm-<pid>-<counter>, has only `lo` (up), and is deleted by destroy() or at worker exit.
// Nothing here skips: without root or without `ip netns add`, creating one throws, and the test fails.
import { spawnSync } from 'node:child_process';
import { LongRunning, onExitCleanup, run, runOk, type LongRunningOptions, type RunOptions, type RunResult }
  from './process.js';

let counter = 0;

/** Throws a clear error unless running as root (namespaces, port 123 and `chronyd -u root` need it). */
export function requireRoot(what: string): void {
  const uid = typeof process.getuid === 'function' ? process.getuid() : -1;
  if (uid !== 0) {
    throw new Error(`system tests must run as root to ${what} (uid is ${uid}); ` +
      'run `npm test` as root on Debian (see ../shared/PEERS.md). Not skipping: a skipped system test is a failure.');
  }
}

export class Netns {
  private destroyed = false;
  private readonly forgetExitCleanup: () => void;

  private constructor(readonly name: string) {
    this.forgetExitCleanup = onExitCleanup(() => {
      killPidsSync(name);
      spawnSync('ip', ['netns', 'del', name], { stdio: 'ignore', timeout: 5000 });
    });
  }

  /** Creates a namespace with loopback up. Throws (never skips) if that is impossible here. */
  static async create(): Promise<Netns> {
    requireRoot('create a network namespace');
    counter += 1;
    const name = `gnm-${process.pid}-${counter}`;
    const add = await run('ip', ['netns', 'add', name], { timeoutMs: 10_000 });
    if (add.code !== 0) {
      throw new Error(`cannot create network namespace ${name} (\`ip netns add ${name}\` exited ${add.code}: ` +
        `${add.stderr.trim()}); the system tests need root with CAP_SYS_ADMIN and iproute2. Not skipping.`);
    }
    const ns = new Netns(name);
    try {
      await runOk('ip', ['-n', name, 'link', 'set', 'lo', 'up'], { timeoutMs: 10_000 });
    } catch (err) {
      await ns.destroy();
      throw err;
    }
    return ns;
  }

  /** The argv that runs `cmd args` inside this namespace (`ip netns exec` execs it: same PID). */
  wrap(cmd: string, args: readonly string[]): [string, string[]] {
    return ['ip', ['netns', 'exec', this.name, cmd, ...args]];
  }

  run(cmd: string, args: readonly string[], options: RunOptions): Promise<RunResult> {
    const [c, a] = this.wrap(cmd, args);
    return run(c, a, options);
  }

  start(cmd: string, args: readonly string[], options: LongRunningOptions = {}): Promise<LongRunning> {
    const [c, a] = this.wrap(cmd, args);
    return LongRunning.start(c, a, options);
  }

  /** Kills whatever still runs inside (all of it was started by this test), then deletes the namespace. */
  async destroy(): Promise<void> {
    if (this.destroyed) return;
    this.destroyed = true;
    killPidsSync(this.name);
    const del = await run('ip', ['netns', 'del', this.name], { timeoutMs: 10_000 });
    this.forgetExitCleanup();
    if (del.code !== 0) throw new Error(`could not delete network namespace ${this.name}: ${del.stderr.trim()}`);
  }
}

function killPidsSync(name: string): void {
  const pids = spawnSync('ip', ['netns', 'pids', name], { encoding: 'utf8', timeout: 5000 });
  for (const pid of (pids.stdout ?? '').split(/\s+/).filter((p) => /^\d+$/.test(p))) {
    try {
      process.kill(Number(pid), 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

/** Is something listening on UDP `port` (in `ns`, or in this namespace when ns is undefined)? Uses iproute2's ss. */
export async function udpPortBound(port: number, ns?: Netns): Promise<boolean> {
  const args = ['-H', '-l', '-u', '-n', `sport = :${port}`];
  const result = ns === undefined ? await run('ss', args, { timeoutMs: 5000 }) : await ns.run('ss', args, { timeoutMs: 5000 });
  return result.code === 0 && result.stdout.trim() !== '';
}

/**
 * Joins two namespaces with a veth pair and gives each end an address in `prefix` (".1" side A,
 * ".2" side B, /24), both up; IPv6 duplicate address detection off so link-local sources work at
 * once. Addresses exist only inside these namespaces. Returns the interface names.
 */
export async function vethPair(a: Netns, b: Netns, prefix: string): Promise<{ aDev: string; bDev: string; aAddr: string; bAddr: string }> {
  counter += 1;
  const aDev = `gv${process.pid % 100_000}${counter}a`;
  const bDev = `gv${process.pid % 100_000}${counter}b`;
  const [aAddr, bAddr] = [`${prefix}.1`, `${prefix}.2`];
  const ip = (...args: string[]) => runOk('ip', args, { timeoutMs: 10_000 });
  await ip('link', 'add', aDev, 'netns', a.name, 'type', 'veth', 'peer', 'name', bDev, 'netns', b.name);
  await a.run('sysctl', ['-qw', `net.ipv6.conf.${aDev}.accept_dad=0`], { timeoutMs: 5000 });
  await b.run('sysctl', ['-qw', `net.ipv6.conf.${bDev}.accept_dad=0`], { timeoutMs: 5000 });
  await ip('-n', a.name, 'addr', 'add', `${aAddr}/24`, 'dev', aDev);
  await ip('-n', b.name, 'addr', 'add', `${bAddr}/24`, 'dev', bDev);
  await ip('-n', a.name, 'link', 'set', aDev, 'up');
  await ip('-n', b.name, 'link', 'set', bDev, 'up');
  return { aDev, bDev, aAddr, bAddr };
}
