/**
 * The appliance's systemd units (image/rootfs/usr/lib/systemd/system): `systemd-analyze verify` passes
 * with no output, on the very files, in a throwaway root (--root) that has the host's systemd units and
 * stand-ins for the programs the units start; the security-relevant lines are there, and agree with the
 * paths the code uses (control socket, config store, password file, driftfile, statsdir).
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync, chmodSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { APPLIANCE_CONTROL_SOCKET } from '../../../src/control/local.js';
import { defaultPasswordFile } from '../../../src/web/password.js';
import { loadConfig } from '../../../src/config/load.js';
import { output, requireTools, ROOTFS, run } from './tools.js';

const UNITS = ['gnomon.service', 'gnomon-firstboot.service', 'gnomon-bootpassword.service'];
const UNIT_DIR = `${ROOTFS}/usr/lib/systemd/system`;
const CONFIG = '/etc/gnomon/ntp.conf';
/** The daemon's node flags (its memory budget): the first line of src/cli/main.ts, the one source. */
const NODE_FLAGS = /^#!\/usr\/bin\/env -S node (.*)$/m.exec(readFileSync(join(ROOTFS, '../../src/cli/main.ts'), 'utf8').split('\n')[0]!)?.[1] ?? 'no flags in the shebang';

/** [Section] → key → values (in order; a key may repeat). Comments and blank lines dropped. */
export function parseUnit(text: string): Map<string, Map<string, string[]>> {
  const sections = new Map<string, Map<string, string[]>>();
  let current: Map<string, string[]> | undefined;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const section = /^\[(.+)\]$/.exec(line);
    if (section) {
      current = new Map();
      sections.set(section[1]!, current);
      continue;
    }
    const eq = line.indexOf('=');
    if (!current || eq < 0) throw new Error(`not a unit line: ${raw}`);
    const key = line.slice(0, eq).trim();
    current.set(key, [...(current.get(key) ?? []), line.slice(eq + 1).trim()]);
  }
  return sections;
}

const service = parseUnit(readFileSync(`${UNIT_DIR}/gnomon.service`, 'utf8')).get('Service')!;
const one = (key: string): string | undefined => service.get(key)?.at(-1);
const words = (key: string): string[] => (service.get(key) ?? []).flatMap((v) => v.split(/\s+/)).filter((w) => w !== '');

describe('systemd-analyze', () => {
  let root: string;
  let tools: Record<string, string>;

  beforeAll(() => {
    tools = requireTools('systemd-analyze');
    root = mkdtempSync(join(tmpdir(), 'gnomon-units-'));
    // The host's units (targets, ssh.service if present, ...) first, then the overlay over them.
    mkdirSync(`${root}/usr/lib/systemd`, { recursive: true });
    for (const dir of ['/lib/systemd/system', '/usr/lib/systemd/system']) {
      const r = run('cp', ['-a', '--no-target-directory', dir, `${root}/usr/lib/systemd/system`]);
      if (r.status === 0) break;
    }
    const copy = run('cp', ['-a', `${ROOTFS}/.`, `${root}/`]);
    expect(copy.status, output(copy)).toBe(0);
    // What ExecStart/ExecReload run, as the image has them (verify checks they are executable).
    for (const program of ['usr/bin/node', 'bin/sh']) {
      mkdirSync(dirname(`${root}/${program}`), { recursive: true });
      writeFileSync(`${root}/${program}`, '#!/bin/sh\n');
      chmodSync(`${root}/${program}`, 0o755);
    }
  });
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  test('verify passes with no output for every unit', () => {
    const r = run(tools['systemd-analyze']!, ['verify', `--root=${root}`, ...UNITS], { cwd: '/' });
    expect(output(r), `systemd-analyze verify --root=${root} ${UNITS.join(' ')}`).toBe('');
    expect(r.status).toBe(0);
  });

  test('verify does catch a mistake (the check is not vacuous)', () => {
    const bad = readFileSync(`${UNIT_DIR}/gnomon.service`, 'utf8').replace(/^ProtectSystem=strict$/m, 'ProtectSytem=strict');
    writeFileSync(`${root}/usr/lib/systemd/system/gnomon-typo.service`, bad);
    const r = run(tools['systemd-analyze']!, ['verify', `--root=${root}`, 'gnomon-typo.service'], { cwd: '/' });
    expect(output(r)).toContain("Unknown key 'ProtectSytem'");
  });

  test('security --offline: the exposure score, printed, at most 3.0', () => {
    const r = run(tools['systemd-analyze']!, ['security', '--offline=yes', `--root=${root}`, '--no-pager', 'gnomon.service'], { cwd: '/' });
    const m = /Overall exposure level for gnomon\.service: ([\d.]+) (\S+)/.exec(r.stdout);
    expect(m, output(r)).not.toBeNull();
    console.log(`systemd-analyze security gnomon.service: ${m![1]} ${m![2]}`);
    expect(Number(m![1])).toBeLessThanOrEqual(3.0);
  });
});

describe('gnomon.service', () => {
  test('the node flags (memory budget) are the same wherever the daemon starts', () => {
    expect(NODE_FLAGS).toMatch(/^--max-semi-space-size=\d+( --[a-z0-9-]+(=\d+)?)*$/);
    const pkg = JSON.parse(readFileSync(join(ROOTFS, '../../package.json'), 'utf8')) as { scripts: Record<string, string> };
    expect(pkg.scripts['start']).toBe(`node ${NODE_FLAGS} dist/src/cli/main.js demo`);
    const install = readFileSync(join(ROOTFS, '../pi5/install-on-raspios.sh'), 'utf8');
    expect(install).toContain(`exec $NODE ${NODE_FLAGS} /opt/gnomon/dist/src/cli/main.js "\\$@"`);
    expect(install).toContain(`ExecStart=$NODE ${NODE_FLAGS} /opt/gnomon/dist/src/cli/main.js serve`);
  });

  test('runs the daemon from /opt/gnomon with the appliance config', () => {
    expect(one('ExecStart')).toBe(`/usr/bin/node ${NODE_FLAGS} /opt/gnomon/dist/src/cli/main.js serve --config /etc/gnomon/ntp.conf --web \${GNOMON_WEB} $GNOMON_ARGS`);
    expect(service.get('Environment')?.join(' ')).toContain('GNOMON_WEB=127.0.0.1:8123');
    expect(one('EnvironmentFile')).toBe('-/etc/default/gnomon');
    expect(one('Restart')).toBe('on-failure');
    // SIGHUP reloads; /bin/kill (procps) is not in a minimal Debian, the shell's kill is. ${MAINPID}
    // inside a word is substituted by systemd ($MAINPID only as a word of its own).
    expect(one('ExecReload')).toBe("/bin/sh -c 'kill -HUP ${MAINPID}'");
  });

  test('unprivileged, with exactly CAP_SYS_TIME and CAP_NET_BIND_SERVICE', () => {
    expect(one('User')).toBe('gnomon');
    expect(one('Group')).toBe('gnomon');
    expect(words('SupplementaryGroups')).toContain('dialout');
    expect(words('AmbientCapabilities').sort()).toEqual(['CAP_NET_BIND_SERVICE', 'CAP_SYS_TIME']);
    expect(words('CapabilityBoundingSet').sort()).toEqual(['CAP_NET_BIND_SERVICE', 'CAP_SYS_TIME']);
    expect(one('NoNewPrivileges')).toBe('yes');
  });

  test('hardened, read-only but for its own folders', () => {
    expect(one('ProtectSystem')).toBe('strict');
    for (const [key, value] of Object.entries({
      PrivateTmp: 'yes', ProtectHome: 'yes', ProtectKernelModules: 'yes', ProtectKernelLogs: 'yes', ProtectKernelTunables: 'yes',
      ProtectControlGroups: 'yes', RestrictSUIDSGID: 'yes', LockPersonality: 'yes', RestrictNamespaces: 'yes', DevicePolicy: 'closed',
    })) expect(one(key), key).toBe(value);
    expect(words('SystemCallFilter')).toEqual(expect.arrayContaining(['@system-service', '@clock']));
  });

  test('nothing that blocks adjtimex, the capabilities or the GPS devices', () => {
    for (const key of ['ProtectClock', 'PrivateUsers', 'PrivateDevices', 'MemoryDenyWriteExecute', 'DynamicUser', 'PrivateNetwork']) {
      expect(service.has(key), `${key} must not be set`).toBe(false);
    }
    expect(words('SystemCallFilter').filter((w) => w.startsWith('~'))).toEqual([]);
    const devices = (service.get('DeviceAllow') ?? []).map((v) => v.split(/\s+/)[0]);
    expect(devices).toEqual(expect.arrayContaining(['char-ttyAMA', 'char-pps', 'char-gpiochip']));
  });

  test('the writable paths are the ones the code writes', async () => {
    const writable = words('ReadWritePaths');
    const under = (path: string) => writable.some((w) => path === w || path.startsWith(`${w}/`));
    // The control socket: systemd's RuntimeDirectory=gnomon is /run/gnomon.
    expect(`/run/${one('RuntimeDirectory')}`).toBe(dirname(APPLIANCE_CONTROL_SOCKET));
    // The config service writes ntp.conf.tmp, .prev, .lock and ntp.conf.history/ beside the config;
    // gnomon passwd the password file.
    expect(under(dirname(CONFIG))).toBe(true);
    expect(under(dirname(defaultPasswordFile(CONFIG)))).toBe(true);
    // The appliance config's driftfile and statsdir.
    const { config } = await loadConfig(`${ROOTFS}${CONFIG}`);
    expect(config?.driftfile).toBeDefined();
    expect(under(dirname(config!.driftfile!))).toBe(true);
    expect(under(config!.stats!.dir)).toBe(true);
    expect(`/var/lib/${one('StateDirectory')}`).toBe(dirname(config!.driftfile!));
    expect(`/var/log/${one('LogsDirectory')}`).toBe(config!.stats!.dir);
  });
});

describe('first boot units', () => {
  const firstboot = parseUnit(readFileSync(`${UNIT_DIR}/gnomon-firstboot.service`, 'utf8'));
  const bootpw = parseUnit(readFileSync(`${UNIT_DIR}/gnomon-bootpassword.service`, 'utf8'));

  test('gnomon-firstboot runs once, before sshd and the daemon, and prints to the console', () => {
    expect(firstboot.get('Unit')?.get('ConditionPathExists')).toEqual(['!/var/lib/misc/gnomon-firstboot.done']);
    expect(firstboot.get('Unit')?.get('Before')?.join(' ').split(/\s+/)).toEqual(expect.arrayContaining(['ssh.service', 'gnomon.service']));
    expect(firstboot.get('Service')?.get('Type')).toEqual(['oneshot']);
    expect(firstboot.get('Service')?.get('StandardOutput')).toEqual(['journal+console']);
    expect(firstboot.get('Service')?.get('ExecStart')).toEqual(['/usr/lib/gnomon/firstboot.sh']);
  });

  test('gnomon-bootpassword runs when the FAT partition has gnomon-password.txt', () => {
    expect(bootpw.get('Unit')?.get('ConditionPathExists')).toEqual(['/boot/firmware/gnomon-password.txt']);
    expect(bootpw.get('Service')?.get('ExecStart')).toEqual(['/usr/lib/gnomon/firstboot.sh password-from-boot']);
  });

  test('the preset enables the units setup-image.sh enables', () => {
    const preset = readFileSync(`${ROOTFS}/usr/lib/systemd/system-preset/20-gnomon.preset`, 'utf8');
    for (const u of UNITS) expect(preset).toContain(`enable ${u}`);
    expect(preset).toContain('disable systemd-timesyncd.service');
  });
});
