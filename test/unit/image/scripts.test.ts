/**
 * The image's shell scripts: POSIX sh (`sh -n`) and shellcheck-clean; setup-image.sh run on a throwaway
 * root tree (the overlay over a minimal /etc), twice; firstboot.sh's password steps with the real
 * `gnomon passwd` (dist/, built by pretest) on temp folders. SSH keys and the root partition are the
 * host's, so those steps are left to the QEMU boot smoke test.
 */
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, test } from 'vitest';
import { parsePasswordRecord, verifyPassword } from '../../../src/web/password.js';
import { output, PI5, REPO, requireTools, ROOTFS, run } from './tools.js';

const SCRIPTS = [
  `${ROOTFS}/usr/lib/gnomon/setup-image.sh`,
  `${ROOTFS}/usr/lib/gnomon/firstboot.sh`,
  `${ROOTFS}/etc/kernel/postinst.d/z51-gnomon-overlays`,
  `${PI5}/install-on-raspios.sh`,
  `${PI5}/boot-config.sh`,
  `${PI5}/make-release.sh`,
];
const CLI = `${process.execPath} ${REPO}dist/src/cli/main.js`;

const temps: string[] = [];
function temp(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), `gnomon-${prefix}-`));
  temps.push(dir);
  return dir;
}
afterEach(() => {
  for (const dir of temps.splice(0)) rmSync(dir, { recursive: true, force: true });
});

describe('shell scripts', () => {
  let tools: Record<string, string>;
  beforeAll(() => {
    tools = requireTools('shellcheck');
  });

  test.each(SCRIPTS)('%s parses as POSIX sh (sh -n)', (script) => {
    const r = run('/bin/sh', ['-n', script]);
    expect(output(r)).toBe('');
    expect(r.status).toBe(0);
  });

  test('shellcheck finds nothing, at any severity', () => {
    const r = run(tools.shellcheck!, ['--shell=sh', '--external-sources', '--severity=style', ...SCRIPTS]);
    expect(output(r), `shellcheck ${SCRIPTS.join(' ')}`).toBe('');
    expect(r.status).toBe(0);
  });

  test('the ones that run are executable in the repository', () => {
    for (const script of SCRIPTS.filter((s) => !s.endsWith('boot-config.sh'))) {
      expect(statSync(script).mode & 0o111, script).not.toBe(0);
    }
  });
});

/** A root tree: the overlay over a minimal /etc, as after debootstrap, raspi-firmware and openssh-server. */
function fakeRoot(): string {
  const root = temp('root');
  mkdirSync(`${root}/etc/ssh`, { recursive: true });
  mkdirSync(`${root}/etc/default`, { recursive: true });
  mkdirSync(`${root}/usr/bin`, { recursive: true });
  writeFileSync(`${root}/etc/passwd`, 'root:x:0:0:root:/root:/bin/bash\n');
  writeFileSync(`${root}/etc/group`, 'root:x:0:\ndialout:x:20:\n');
  writeFileSync(`${root}/etc/shadow`, 'root:*:19000:0:99999:7:::\n', { mode: 0o640 });
  writeFileSync(`${root}/etc/gshadow`, 'root:*::\ndialout:*::\n', { mode: 0o640 });
  for (const key of ['ssh_host_ed25519_key', 'ssh_host_ed25519_key.pub', 'ssh_host_rsa_key']) writeFileSync(`${root}/etc/ssh/${key}`, 'x');
  // raspi-firmware's conffile, as the package ships it (the settings commented out).
  writeFileSync(`${root}/etc/default/raspi-firmware`, '# CMA=64M\n#ROOTPART=/dev/mmcblk0p2\n#KERNEL="auto"\n#CONSOLES="auto"\n');
  const r = run('cp', ['-a', `${ROOTFS}/.`, `${root}/`]);
  expect(r.status, output(r)).toBe(0);
  return root;
}

describe('setup-image.sh on a root tree', () => {
  beforeAll(() => {
    requireTools('systemd-sysusers');
  });

  test('user, folders, units, masks, host keys, raspi-firmware defaults; a second run changes nothing', () => {
    const root = fakeRoot();
    const first = run('/bin/sh', [`${root}/usr/lib/gnomon/setup-image.sh`, root]);
    expect(first.status, output(first)).toBe(0);

    const passwd = readFileSync(`${root}/etc/passwd`, 'utf8');
    const entry = passwd.split('\n').find((l) => l.startsWith('gnomon:'))!.split(':');
    expect(entry[5]).toBe('/var/lib/gnomon');
    expect(entry[6]).toBe('/usr/sbin/nologin');
    expect(Number(entry[2])).toBeLessThan(1000); // a system user
    const group = readFileSync(`${root}/etc/group`, 'utf8');
    expect(group).toMatch(/^dialout:x:20:gnomon$/m);
    expect(group).toMatch(new RegExp(`^gnomon:x:${entry[3]}:`, 'm'));

    for (const [path, mode] of [['etc/gnomon', 0o750], ['var/lib/gnomon', 0o750], ['var/log/ntpstats', 0o755], ['etc/gnomon/ntp.conf', 0o640]] as const) {
      const s = statSync(`${root}/${path}`);
      expect([s.uid, s.gid, s.mode & 0o7777], path).toEqual([Number(entry[2]), Number(entry[3]), mode]);
    }

    const link = (path: string) => readlinkSync(`${root}/${path}`);
    for (const unit of ['gnomon.service', 'gnomon-firstboot.service', 'gnomon-bootpassword.service']) {
      expect(link(`etc/systemd/system/multi-user.target.wants/${unit}`)).toBe(`/usr/lib/systemd/system/${unit}`);
    }
    for (const masked of ['systemd-timesyncd.service', 'serial-getty@ttyAMA0.service', 'serial-getty@serial0.service']) {
      expect(link(`etc/systemd/system/${masked}`), masked).toBe('/dev/null');
    }
    expect(link('usr/bin/gnomon')).toBe('/opt/gnomon/dist/src/cli/main.js');
    expect(link('etc/issue.d/gnomon-password.issue')).toBe('/run/gnomon-firstboot/password.issue');
    expect(existsSync(`${root}/etc/ssh/ssh_host_ed25519_key`) || existsSync(`${root}/etc/ssh/ssh_host_rsa_key`)).toBe(false);

    const defaults = readFileSync(`${root}/etc/default/raspi-firmware`, 'utf8');
    expect(defaults.match(/^CONSOLES=.*$/gm)).toEqual(['CONSOLES="tty0"']);
    expect(defaults.match(/^ROOTPART=.*$/gm)).toEqual(['ROOTPART=LABEL=RASPIROOT']);

    const snapshot = () => ['etc/passwd', 'etc/group', 'etc/default/raspi-firmware'].map((p) => readFileSync(`${root}/${p}`, 'utf8'));
    const before = snapshot();
    const second = run('/bin/sh', [`${root}/usr/lib/gnomon/setup-image.sh`, root]);
    expect(second.status, output(second)).toBe(0);
    expect(snapshot()).toEqual(before);
  });

  test('keeps a ROOTPART the build set, and refuses a root without the overlay', () => {
    const root = fakeRoot();
    writeFileSync(`${root}/etc/default/raspi-firmware`, 'ROOTPART=LABEL=OTHER\nCONSOLES="auto"\n');
    const r = run('/bin/sh', [`${root}/usr/lib/gnomon/setup-image.sh`, root]);
    expect(r.status, output(r)).toBe(0);
    expect(readFileSync(`${root}/etc/default/raspi-firmware`, 'utf8')).toBe('ROOTPART=LABEL=OTHER\nCONSOLES="tty0"\n');

    const empty = temp('empty');
    const refused = run('/bin/sh', [`${root}/usr/lib/gnomon/setup-image.sh`, empty]);
    expect(refused.status).toBe(1);
    expect(refused.stderr).toContain('copy image/rootfs/ over the root first');
  });
});

describe('firstboot.sh: the web admin password', () => {
  function env(dir: string): NodeJS.ProcessEnv {
    mkdirSync(`${dir}/boot`, { recursive: true });
    mkdirSync(`${dir}/etc`, { recursive: true });
    return {
      ...process.env, GNOMON_BOOT: `${dir}/boot`, GNOMON_ETC: `${dir}/etc`, GNOMON_FIRSTBOOT_RUN: `${dir}/run`,
      GNOMON_FIRSTBOOT_DONE: `${dir}/done`, GNOMON_OWNER: 'root', GNOMON_CLI: CLI,
    };
  }
  const firstboot = (e: NodeJS.ProcessEnv, step: string) => run('/bin/sh', [`${ROOTFS}/usr/lib/gnomon/firstboot.sh`, step], { env: e });
  const record = (dir: string) => parsePasswordRecord(readFileSync(`${dir}/etc/web-password`, 'utf8'), 'web-password');

  test('from gnomon-password.txt on the FAT partition (CRLF from Windows), which is deleted', async () => {
    const dir = temp('fb');
    const e = env(dir);
    writeFileSync(`${dir}/boot/gnomon-password.txt`, 'correct horse battery\r\n');
    const r = firstboot(e, 'web-password');
    expect(r.status, output(r)).toBe(0);
    expect(r.stdout).toContain('web admin password set from');
    expect(existsSync(`${dir}/boot/gnomon-password.txt`)).toBe(false);
    expect(statSync(`${dir}/etc/web-password`).mode & 0o777).toBe(0o600);
    expect(await verifyPassword('correct horse battery', record(dir))).toBe(true);
    expect(existsSync(`${dir}/run/password.issue`)).toBe(false); // nothing to show: the user chose it
  });

  test('else generated, printed once (console/journal and the login banner), never a default', async () => {
    const dir = temp('fb');
    const r = firstboot(env(dir), 'web-password');
    expect(r.status, output(r)).toBe(0);
    const printed = /web admin password \(generated\): (\S+)/.exec(r.stdout)?.[1];
    expect(printed).toMatch(/^[a-km-zA-HJ-NP-Z2-9]{16}$/);
    expect(await verifyPassword(printed!, record(dir))).toBe(true);
    expect(readFileSync(`${dir}/run/password.issue`, 'utf8')).toContain(`    ${printed}\n`);
    expect(statSync(`${dir}/run/password.issue`).mode & 0o777).toBe(0o600);

    // Another card, another password.
    const other = temp('fb');
    const again = firstboot(env(other), 'web-password');
    expect(/web admin password \(generated\): (\S+)/.exec(again.stdout)?.[1]).not.toBe(printed);
  });

  test('a password that is too short is deleted and a generated one set instead', () => {
    const dir = temp('fb');
    const e = env(dir);
    writeFileSync(`${dir}/boot/gnomon-password.txt`, 'short\n');
    const r = firstboot(e, 'web-password');
    expect(r.status, output(r)).toBe(0);
    expect(r.stdout).toContain('was refused (at least 8 characters)');
    expect(r.stdout).toMatch(/web admin password \(generated\): \S{16}/);
    expect(existsSync(`${dir}/boot/gnomon-password.txt`)).toBe(false);
  });

  test('an existing password is kept; password-from-boot replaces it only with a file, and fails without', async () => {
    const dir = temp('fb');
    const e = env(dir);
    writeFileSync(`${dir}/boot/gnomon-password.txt`, 'first password\n');
    expect(firstboot(e, 'web-password').status).toBe(0);
    const kept = firstboot(e, 'web-password');
    expect(kept.stdout).toContain('already set');
    expect(await verifyPassword('first password', record(dir))).toBe(true);

    expect(firstboot(e, 'password-from-boot').status).toBe(1);
    writeFileSync(`${dir}/boot/gnomon-password.txt`, 'second password\n');
    const reset = firstboot(e, 'password-from-boot');
    expect(reset.status, output(reset)).toBe(0);
    expect(await verifyPassword('second password', record(dir))).toBe(true);
    expect(lstatSync(`${dir}/etc/web-password`).isFile()).toBe(true);
  });

  test('an unknown step is a usage error', () => {
    const r = firstboot(env(temp('fb')), 'bogus');
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('usage:');
  });
});
