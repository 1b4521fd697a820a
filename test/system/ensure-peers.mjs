#!/usr/bin/env node
// Makes sure the real NTP peers the system tests talk to are installed (run by `npm test`'s pretest).
//
// - All present: exit 0, print nothing.
// - Missing, on Debian, as root: install them the way ../shared/PEERS.md says, printing each step, then check again.
// - Otherwise: exit 1 with one line naming what to install.
//
// Installing must not start any daemon (an ntpd started by its package would steer the host clock): while
// apt-get runs, a policy-rc.d that refuses every service start is put in place unless one already exists.
import { spawnSync } from 'node:child_process';
import { accessSync, chmodSync, constants, existsSync, mkdtempSync, readdirSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';

const CHRONY_ROOT = '/opt/chrony';

/** Each peer: how to find it, and which Debian package provides it. */
const PEERS = [
  { name: 'chronyd', path: `${CHRONY_ROOT}/usr/sbin/chronyd`, pkg: 'chrony, unpacked' },
  { name: 'chronyc', path: `${CHRONY_ROOT}/usr/bin/chronyc`, pkg: 'chrony, unpacked' },
  { name: 'ntpdig', pkg: 'ntpsec-ntpdig' },
  { name: 'ntpdate', pkg: 'ntpsec-ntpdate' },
  { name: 'ntpq', pkg: 'ntpsec' },
  { name: 'ntpstat', pkg: 'ntpstat' },
  { name: 'socat', pkg: 'socat' },
  { name: 'gpsd', pkg: 'gpsd' },
  { name: 'gpspipe', pkg: 'gpsd-clients' },
  { name: 'gpsfake', pkg: 'gpsd-clients' },
  { name: 'ip', pkg: 'iproute2' },
  { name: 'tcpdump', pkg: 'tcpdump' },
  { name: 'tshark', pkg: 'tshark' }, // broadcast.test.ts: decodes the captured mode 5 packets
  { name: 'chromium', pkg: 'chromium' }, // web.test.ts: the web page in a real browser (playwright-core, headless)
  // test/unit/image: the appliance's units, scripts and device-tree overlays
  { name: 'systemd-analyze', pkg: 'systemd' },
  { name: 'shellcheck', pkg: 'shellcheck' },
  { name: 'dtc', pkg: 'device-tree-compiler' },
];

// The package list of ../shared/PEERS.md, "Install".
const APT_PACKAGES = ['ntpsec', 'ntpsec-ntpdig', 'ntpsec-ntpdate', 'ntpstat', 'socat', 'gpsd', 'gpsd-tools',
  'gpsd-clients', 'pps-tools', 'iproute2', 'tcpdump', 'tshark', 'chromium', 'systemd', 'shellcheck', 'device-tree-compiler'];
const APT_LINE = `apt-get install -y --no-install-recommends ${APT_PACKAGES.join(' ')}`;
const CHRONY_LINE = `cd "$(mktemp -d)" && apt-get download chrony && dpkg -x chrony_*.deb ${CHRONY_ROOT}`;

// Where the tools live on Debian, also when the caller's PATH lacks the sbin directories.
const SEARCH_DIRS = [...(process.env.PATH ?? '').split(delimiter), '/usr/local/sbin', '/usr/local/bin', '/usr/sbin',
  '/usr/bin', '/sbin', '/bin'].filter((d) => d !== '');

function isExecutable(file) {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function findPeer(peer) {
  if (peer.path !== undefined) return isExecutable(peer.path) ? peer.path : undefined;
  return SEARCH_DIRS.map((dir) => join(dir, peer.name)).find(isExecutable);
}

function missingPeers() {
  return PEERS.filter((peer) => findPeer(peer) === undefined);
}

function run(cmd, args, options = {}) {
  console.log(`ensure-peers: $ ${[cmd, ...args].join(' ')}${options.cwd ? `   (in ${options.cwd})` : ''}`);
  const result = spawnSync(cmd, args, {
    stdio: ['ignore', 'inherit', 'inherit'],
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    timeout: 15 * 60_000,
    ...options,
  });
  if (result.error) throw new Error(`${cmd} could not run: ${result.error.message}`);
  if (result.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited with ${result.status ?? result.signal}`);
}

/** Refuse service starts during the install (see the header); returns a function that undoes it. */
function blockServiceStarts() {
  const policy = '/usr/sbin/policy-rc.d';
  if (existsSync(policy)) return () => {};
  console.log(`ensure-peers: writing ${policy} (exit 101) so that installing starts no daemon`);
  writeFileSync(policy, '#!/bin/sh\n# Temporary, from gnomon test/system/ensure-peers.mjs\nexit 101\n', { mode: 0o755 });
  return () => {
    console.log(`ensure-peers: removing ${policy}`);
    unlinkSync(policy);
  };
}

function install(missing) {
  const needApt = missing.some((peer) => peer.path === undefined);
  const needChrony = missing.some((peer) => peer.path !== undefined);
  console.log(`ensure-peers: missing ${missing.map((p) => p.name).join(', ')}; installing (../shared/PEERS.md)`);
  run('apt-get', ['update']);
  if (needApt) {
    const unblock = blockServiceStarts();
    try {
      run('apt-get', ['install', '-y', '--no-install-recommends', ...APT_PACKAGES]);
    } finally {
      unblock();
    }
  }
  if (needChrony) {
    // chrony conflicts with ntpsec as a package: unpack it instead of installing it.
    const dir = mkdtempSync(join(tmpdir(), 'gnomon-chrony-'));
    chmodSync(dir, 0o755); // apt-get downloads as the _apt user when it can
    try {
      run('apt-get', ['download', 'chrony'], { cwd: dir });
      const deb = readdirSync(dir).find((f) => /^chrony_.*\.deb$/.test(f));
      if (deb === undefined) throw new Error(`apt-get download chrony left no chrony_*.deb in ${dir}`);
      run('dpkg', ['-x', join(dir, deb), CHRONY_ROOT]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
}

function howToInstall(missing) {
  const parts = ['apt-get update'];
  if (missing.some((peer) => peer.path === undefined)) parts.push(APT_LINE);
  if (missing.some((peer) => peer.path !== undefined)) parts.push(CHRONY_LINE);
  return `ensure-peers: missing ${missing.map((p) => `${p.name} (${p.pkg})`).join(', ')}; as root on Debian run: ` +
    `${parts.join(' && ')}   (see ../shared/PEERS.md)`;
}

function main() {
  let missing = missingPeers();
  if (missing.length === 0) return 0;

  const isDebian = existsSync('/etc/debian_version');
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  if (!isDebian || !isRoot) {
    console.error(howToInstall(missing));
    return 1;
  }
  try {
    install(missing);
  } catch (err) {
    console.error(`ensure-peers: install failed: ${err instanceof Error ? err.message : String(err)}`);
    console.error(howToInstall(missingPeers()));
    return 1;
  }
  missing = missingPeers();
  if (missing.length > 0) {
    console.error(howToInstall(missing));
    return 1;
  }
  console.log('ensure-peers: all peers present');
  return 0;
}

process.exitCode = main();
