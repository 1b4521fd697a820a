/**
 * The host tools the image tests run: systemd-analyze (systemd), shellcheck, dtc
 * (device-tree-compiler), systemd-sysusers. `npm test`'s pretest installs them
 * (test/system/ensure-peers.mjs); run on its own, a missing one is installed with apt-get when
 * running as root on Debian, otherwise the test fails naming the package. Nothing is skipped.
 */
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const REPO = fileURLToPath(new URL('../../../', import.meta.url));
export const ROOTFS = `${REPO}image/rootfs`;
export const PI5 = `${REPO}image/pi5`;

const PACKAGES: Readonly<Record<string, string>> = {
  'systemd-analyze': 'systemd', 'systemd-sysusers': 'systemd', shellcheck: 'shellcheck', dtc: 'device-tree-compiler',
};

function which(name: string): string | undefined {
  for (const dir of ['/usr/bin', '/usr/sbin', '/bin', '/sbin', '/usr/local/bin']) {
    try {
      accessSync(`${dir}/${name}`, constants.X_OK);
      return `${dir}/${name}`;
    } catch {
      // next
    }
  }
  return undefined;
}

/** The path of each tool, installing the missing ones (root on Debian) or throwing with the apt-get line. */
export function requireTools(...names: string[]): Record<string, string> {
  const missing = names.filter((n) => which(n) === undefined);
  if (missing.length > 0) {
    const pkgs = [...new Set(missing.map((n) => PACKAGES[n] ?? n))];
    const line = `apt-get install -y --no-install-recommends ${pkgs.join(' ')}`;
    if (process.getuid?.() === 0 && which('apt-get')) {
      // Another test file may be installing at the same time: wait for dpkg's lock instead of failing.
      const r = spawnSync('apt-get', ['-o', 'DPkg::Lock::Timeout=300', 'install', '-y', '--no-install-recommends', ...pkgs],
        { encoding: 'utf8', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' }, timeout: 600_000 });
      if (r.status !== 0) throw new Error(`${line} failed:\n${r.stdout}${r.stderr}`);
    }
    const still = names.filter((n) => which(n) === undefined);
    if (still.length > 0) throw new Error(`missing ${still.join(', ')}: run ${line}`);
  }
  return Object.fromEntries(names.map((n) => [n, which(n)!]));
}

export function run(cmd: string, args: readonly string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; input?: string } = {}): SpawnSyncReturns<string> {
  return spawnSync(cmd, args, { encoding: 'utf8', timeout: 60_000, ...opts, env: opts.env ?? process.env });
}

/** stdout and stderr together, for failure messages. */
export function output(r: SpawnSyncReturns<string>): string {
  return `${r.stdout ?? ''}${r.stderr ?? ''}${r.error ? String(r.error) : ''}`;
}
