#!/usr/bin/env node
// The image's boot smoke test (`npm run image:test`, image/README.md "Boot smoke test"). Not part of
// `npm test`: it boots the built image in qemu-system-aarch64 (TCG, no KVM) and takes minutes.
//
// 1. A throw-away copy of image/out/gnomon-rpi-arm64.img, grown by 512 MiB (first boot grows the
//    root file system into it). Into the copy only: a probe unit that prints the guest's state on
//    the serial console (image/qemu/smoke-probe.*), written with debugfs (no mount).
// 2. The kernel and initrd are read from the image's own /boot; the device tree is QEMU virt's with
//    a pps-gpio node on the PL061 line `system_powerdown` pulses (image/qemu/make-dtb.sh).
// 3. Boot with user-mode networking forwarding 127.0.0.1:PORT/udp to the guest's port 123; checks:
//    gnomon.service active, running as gnomon with only CAP_SYS_TIME + CAP_NET_BIND_SERVICE, an NTP
//    reply on the forwarded port, pps_gpio loaded by udev from the device tree, and pulses sent from
//    the QEMU monitor counted by the kernel (/sys/class/pps/pps0) and by Gnomon (`gnomon status`).
//
// Environment: GNOMON_IMAGE (image path), GNOMON_IMAGE_TEST_PORT (host UDP port, default 11230),
// GNOMON_IMAGE_TEST_SSH_PORT (host TCP port forwarded to 22, default 10022), GNOMON_IMAGE_TEST_PULSES
// (default 5), GNOMON_IMAGE_TEST_TIMEOUT (seconds to wait for the boot, default 600),
// GNOMON_IMAGE_TEST_APPEND (more kernel command line), GNOMON_IMAGE_TEST_KEEP=1 (leave QEMU's work dir).
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';

const REPO = fileURLToPath(new URL('../..', import.meta.url));
const IMAGE = process.env.GNOMON_IMAGE ?? join(REPO, 'image/out/gnomon-rpi-arm64.img');
const WORK = join(REPO, 'image/out/test');
const NTP_PORT = Number(process.env.GNOMON_IMAGE_TEST_PORT ?? 11230);
const SSH_PORT = Number(process.env.GNOMON_IMAGE_TEST_SSH_PORT ?? 10022);
const PULSES = Number(process.env.GNOMON_IMAGE_TEST_PULSES ?? 5);
const BOOT_TIMEOUT_S = Number(process.env.GNOMON_IMAGE_TEST_TIMEOUT ?? 600);
const ROOT_LABEL = 'RASPIROOT';
const MACHINE = ['-M', 'virt', '-cpu', 'cortex-a72', '-smp', '2', '-m', '2048'];
// CAP_NET_BIND_SERVICE (10) and CAP_SYS_TIME (25), nothing else.
const EXPECTED_CAPS = (1n << 10n) | (1n << 25n);

const T0 = Date.now();
const elapsed = () => `${((Date.now() - T0) / 1000).toFixed(1)} s`;
const results = [];
const timings = [];

function check(name, ok, detail = '') {
  results.push({ name, ok });
  console.log(`${ok ? 'PASS' : 'FAIL'} ${name}${detail ? `: ${detail}` : ''}`);
  return ok;
}
function note(line) {
  console.log(`[image:test ${elapsed()}] ${line}`);
}
function mark(what) {
  timings.push([what, elapsed()]);
  note(what);
}

function run(cmd, args, { input, env, allowFail = false } = {}) {
  const r = spawnSync(cmd, args, { input, encoding: 'utf8', maxBuffer: 64 << 20, env: { ...process.env, ...env } });
  if (r.error) throw new Error(`${cmd}: ${r.error.message}`);
  if (r.status !== 0 && !allowFail) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}: ${r.stderr.trim()}`);
  return r.stdout;
}

/** debugfs on the root partition inside the disk image (`FILE?offset=N`: no loop device, no mount). */
function debugfs(disk, offset, commands, write = false) {
  return run('debugfs', [...(write ? ['-w'] : []), '-f', '-', `${disk}?offset=${offset}`], { input: commands.join('\n') + '\n' });
}

// ------------------------------------------------------------------------------------------------
function prepare() {
  for (const tool of ['qemu-system-aarch64', 'debugfs', 'sfdisk', 'dtc', 'mtype']) {
    if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) throw new Error(`${tool} is missing (apt-get install qemu-system-arm e2fsprogs fdisk device-tree-compiler mtools)`);
  }
  if (!existsSync(IMAGE)) throw new Error(`${IMAGE} does not exist: run \`npm run image:build\` first`);
  rmSync(WORK, { recursive: true, force: true });
  mkdirSync(WORK, { recursive: true });
  const disk = join(WORK, 'disk.img');
  run('cp', ['--sparse=always', IMAGE, disk]);
  truncateSync(disk, statSync(disk).size + 512 * 1024 * 1024);
  const table = JSON.parse(run('sfdisk', ['-J', disk])).partitiontable;
  const sector = table.sectorsize ?? 512;
  const [bootPart, rootPart] = table.partitions;
  if (!bootPart || !rootPart) throw new Error('the image does not have a boot and a root partition');
  const offset = rootPart.start * sector;
  // The image's own kernel command line (cmdline.txt on the FAT partition, read with mtools).
  const cmdline = run('mtype', ['-i', `${disk}@@${bootPart.start * sector}`, '::cmdline.txt'], { env: { MTOOLS_SKIP_CHECK: '1' } }).trim();

  // The image's own kernel and initrd (the newest version in /boot).
  const boot = debugfs(disk, offset, ['ls -p /boot']);
  const names = [...boot.matchAll(/^\/\d+\/\d+\/\d+\/\d+\/([^/]+)\//gm)].map((m) => m[1]);
  const version = names.filter((n) => n.startsWith('vmlinuz-')).map((n) => n.slice('vmlinuz-'.length))
    .sort((a, b) => a.localeCompare(b, 'en', { numeric: true })).pop();
  if (!version || !names.includes(`initrd.img-${version}`)) throw new Error(`no vmlinuz/initrd.img pair in the image's /boot: ${names.join(' ')}`);
  const kernel = join(WORK, `vmlinuz-${version}`);
  const initrd = join(WORK, `initrd.img-${version}`);
  debugfs(disk, offset, [`dump /boot/vmlinuz-${version} ${kernel}`, `dump /boot/initrd.img-${version} ${initrd}`]);
  note(`kernel ${version} (${(statSync(kernel).size / 2 ** 20).toFixed(1)} MiB), initrd ${(statSync(initrd).size / 2 ** 20).toFixed(1)} MiB from the image`);

  // The test-only probe, into the copy.
  const q = join(REPO, 'image/qemu');
  const out = debugfs(disk, offset, [
    'cd /etc/systemd/system',
    `write ${join(q, 'smoke-probe.service')} gnomon-smoke-probe.service`,
    'cd /usr/local/sbin',
    `write ${join(q, 'smoke-probe.sh')} gnomon-smoke-probe`,
    'sif /usr/local/sbin/gnomon-smoke-probe mode 0100755',
    'mkdir /etc/systemd/system/multi-user.target.wants',
    'symlink /etc/systemd/system/multi-user.target.wants/gnomon-smoke-probe.service /etc/systemd/system/gnomon-smoke-probe.service',
    'stat /usr/local/sbin/gnomon-smoke-probe',
  ], true);
  if (!/Mode:\s+0755/.test(out)) throw new Error(`the probe was not written into the copy: ${out}`);
  const fsck = spawnSync('e2fsck', ['-fn', `${disk}?offset=${offset}`], { encoding: 'utf8' });
  if (fsck.status !== 0) note(`e2fsck -fn after the probe was written: exit ${fsck.status}\n${fsck.stdout}`);

  const dtb = join(WORK, 'virt-pps.dtb');
  run('sh', [join(q, 'make-dtb.sh'), dtb, ...MACHINE]);
  return { disk, kernel, initrd, dtb, version, cmdline, rootSizeMib: Math.round(rootPart.size * sector / 2 ** 20) };
}

// ------------------------------------------------------------------------------------------------
/** The probe's blocks from the serial log: [{ n, lines: Map(key → [values]) }]. */
function probeBlocks(consoleText) {
  const blocks = [];
  let cur = null;
  for (const raw of consoleText.split(/\r?\n/)) {
    const line = raw.replace(/^.*?(SMOKE)/, '$1');
    let m;
    if ((m = /^SMOKE-BEGIN (\d+)/.exec(line))) cur = { n: Number(m[1]), entries: [], complete: false };
    else if (/^SMOKE-END/.test(line) && cur) {
      cur.complete = true;
      blocks.push(cur);
      cur = null;
    } else if ((m = /^SMOKE (\S+) ?(.*)$/.exec(line)) && cur) cur.entries.push([m[1], m[2]]);
  }
  return blocks;
}
const values = (block, key) => block.entries.filter(([k]) => k === key).map(([, v]) => v);
const first = (block, key) => values(block, key)[0] ?? '';
function ppsSeq(block) {
  const m = /assert=\d+\.\d+#(\d+)/.exec(first(block, 'pps'));
  return m ? Number(m[1]) : null;
}
function gnomonPulses(block) {
  const m = /pulses (\d+)/.exec(values(block, 'status').join('\n'));
  return m ? Number(m[1]) : 0;
}

/** One command on QEMU's human monitor (unix socket): wait for the prompt, send, wait for the next prompt. */
function monitor(sock, command) {
  return new Promise((resolve) => {
    const c = connect(sock);
    let buf = '';
    let sent = false;
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      c.destroy();
      resolve(buf);
    };
    c.on('data', (d) => {
      buf += d;
      if (!sent && buf.includes('(qemu)')) {
        sent = true;
        c.write(`${command}\n`);
      } else if (sent && buf.split('(qemu)').length > 2) finish();
    });
    c.on('error', finish);
    c.on('close', finish);
    setTimeout(finish, 5000);
  });
}

function ntpQuery() {
  const r = spawnSync(process.execPath, [join(REPO, 'dist/src/cli/main.js'), 'query', '127.0.0.1', '--port', String(NTP_PORT),
    '--samples', '1', '--timeout', '3', '--json'], { encoding: 'utf8' });
  try {
    return JSON.parse(r.stdout)[0];
  } catch {
    return { ok: false, error: `${r.stderr}${r.stdout}`.trim() };
  }
}

async function main() {
  if (!existsSync(join(REPO, 'dist/src/cli/main.js'))) run('npm', ['run', '--silent', 'build']);
  const { disk, kernel, initrd, dtb, cmdline, rootSizeMib } = prepare();
  mark('prepared: copy, kernel/initrd from the image, probe, device tree');
  note(`the image's cmdline.txt: ${cmdline}`);
  check(`cmdline.txt mounts the root by label (root=LABEL=${ROOT_LABEL}) and has no serial console`,
    cmdline.split(/\s+/).includes(`root=LABEL=${ROOT_LABEL}`) && !/console=(ttyAMA|ttyS|serial)/.test(cmdline), cmdline);

  const consoleLog = join(WORK, 'console.log');
  const monSock = join(WORK, 'monitor.sock');
  writeFileSync(consoleLog, '');
  // The image's command line with QEMU's serial port (the PL011, ttyAMA0) as the console instead of the screen.
  const append = [...cmdline.split(/\s+/).filter((w) => !w.startsWith('console=')), 'console=ttyAMA0',
    process.env.GNOMON_IMAGE_TEST_APPEND ?? ''].join(' ').trim();
  const args = [...MACHINE, '-accel', 'tcg,thread=multi', '-display', 'none', '-no-reboot',
    '-kernel', kernel, '-initrd', initrd, '-dtb', dtb, '-append', append,
    '-drive', `file=${disk},if=none,format=raw,id=disk0`, '-device', 'virtio-blk-pci,drive=disk0',
    '-netdev', `user,id=net0,hostfwd=udp:127.0.0.1:${NTP_PORT}-:123,hostfwd=tcp:127.0.0.1:${SSH_PORT}-:22`,
    '-device', 'virtio-net-pci,netdev=net0',
    '-serial', `file:${consoleLog}`, '-monitor', `unix:${monSock},server,nowait`];
  note(`qemu-system-aarch64 ${args.join(' ')}`);
  const qemu = spawn('qemu-system-aarch64', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let qemuOut = '';
  let qemuExit = null;
  qemu.stdout.on('data', (d) => (qemuOut += d));
  qemu.stderr.on('data', (d) => (qemuOut += d));
  qemu.on('exit', (code, signal) => (qemuExit = `${code ?? signal}`));
  const text = () => readFileSync(consoleLog, 'utf8');
  const latest = () => probeBlocks(text()).at(-1);

  try {
    // Boot until the probe reports gnomon.service active (or failed for good).
    const deadline = Date.now() + BOOT_TIMEOUT_S * 1000;
    let block;
    let sawUserspace = false;
    for (;;) {
      if (qemuExit !== null) throw new Error(`QEMU exited (${qemuExit}) during boot: ${qemuOut.trim()}`);
      const t = text();
      if (!sawUserspace && /systemd\[1\]: |Welcome to /.test(t)) {
        sawUserspace = true;
        mark('systemd started (serial console)');
      }
      block = latest();
      if (block && first(block, 'active') === 'active' && first(block, 'process')) break;
      if (block && block.n >= 40) break; // 2 minutes of probe blocks without an active service
      if (Date.now() > deadline) throw new Error(`no probe report with gnomon.service active within ${BOOT_TIMEOUT_S} s; see ${consoleLog}`);
      await sleep(1000);
    }
    mark(`probe block ${block.n}: gnomon.service ${first(block, 'active')}`);
    check('systemd starts gnomon.service', first(block, 'active') === 'active', first(block, 'active'));
    const proc = first(block, 'process');
    const [user, group] = proc.split(/\s+/);
    check('gnomon runs unprivileged as user gnomon', user === 'gnomon' && group === 'gnomon', proc);
    const eff = /CapEff:\s*([0-9a-f]+)/.exec(first(block, 'caps'));
    check('its capabilities are CAP_SYS_TIME and CAP_NET_BIND_SERVICE only', !!eff && BigInt(`0x${eff[1]}`) === EXPECTED_CAPS, first(block, 'caps'));

    // An NTP query from the host's loopback, forwarded to the guest's port 123.
    let reply;
    for (let i = 0; i < 20; i++) {
      reply = ntpQuery();
      if (reply && reply.stratum !== undefined) break;
      await sleep(2000);
    }
    mark('NTP query answered or given up');
    check(`an NTP query to 127.0.0.1:${NTP_PORT} (→ guest :123) is answered`, reply?.stratum !== undefined,
      JSON.stringify(reply));

    // pps-gpio from the device tree, loaded by udev.
    block = latest();
    check('udev loads pps_gpio for the device tree node', /^pps_gpio/.test(first(block, 'module')), first(block, 'module'));
    check('/sys/class/pps/pps0 is the pps-gpio device', /name=pps@|name=pps\b|name=pps-gpio|name=pps\./.test(first(block, 'pps')) || ppsSeq(block) !== null,
      `${first(block, 'pps')}; ${first(block, 'dev')}`);

    // Pulses from the QEMU monitor.
    const seq0 = ppsSeq(block) ?? 0;
    const counted0 = gnomonPulses(block);
    for (let i = 0; i < PULSES; i++) {
      await monitor(monSock, 'system_powerdown');
      await sleep(1500);
    }
    mark(`${PULSES} x system_powerdown sent`);
    const pulseDeadline = Date.now() + 90_000;
    let seq = seq0;
    let counted = counted0;
    let after;
    const sentAt = probeBlocks(text()).length;
    for (;;) {
      if (qemuExit !== null) throw new Error(`QEMU exited (${qemuExit}) after the pulses: the guest shut down?`);
      const blocks = probeBlocks(text());
      after = blocks.at(-1);
      seq = ppsSeq(after) ?? seq;
      counted = gnomonPulses(after);
      if (blocks.length > sentAt + 1 && seq - seq0 >= PULSES && counted - counted0 >= PULSES) break;
      if (Date.now() > pulseDeadline) break;
      await sleep(1000);
    }
    mark('pulses observed');
    check(`the kernel timestamps ${PULSES} pulses (/sys/class/pps/pps0/assert sequence)`, seq - seq0 === PULSES, `#${seq0} → #${seq}; ${first(after, 'pps')}`);
    check(`Gnomon's kernel-PPS driver counts them (gnomon status)`, counted - counted0 >= PULSES, `${counted0} → ${counted}`);
    check('the guest did not power off on system_powerdown', qemuExit === null && !/reboot: Power down|System is powering down/.test(text()), `probe block ${after.n} after the pulses`);
    const fb = first(after, 'firstboot');
    check('first boot succeeded (gnomon-firstboot.service)', /ActiveState=active/.test(fb) && /Result=success/.test(fb), fb);
    check('first boot made SSH host keys and sshd runs', Number(first(after, 'sshkeys')) >= 1 && first(after, 'ssh') === 'active',
      `${first(after, 'sshkeys')} keys, ssh.service ${first(after, 'ssh')}`);
    // The copy is 512 MiB larger than the image: the root partition and file system must have grown into it.
    const rootfs = first(after, 'rootfs');
    const m = /^\S+\s+(\d+)\s+\d+\s+\d+\s+\S+\s+\S+\s+disk-mib (\d+) part-mib (\d+)/.exec(rootfs);
    check('first boot grew the root partition and file system to the end of the disk',
      !!m && Number(m[3]) > rootSizeMib + 400 && Number(m[1]) > rootSizeMib + 300, `image's root partition ${rootSizeMib} MiB; now: ${rootfs}`);
    note(`system state: ${first(after, 'system')}`);

    console.log('\n--- gnomon and first-boot journal (from the probe) ---');
    for (const b of probeBlocks(text())) for (const j of values(b, 'journal')) console.log(j);
    console.log('--- gnomon status (last probe block) ---');
    for (const s of values(after, 'status')) console.log(s);
    console.log('---');
  } finally {
    if (qemuExit === null) {
      await monitor(monSock, 'quit').catch(() => {});
      await sleep(1000);
      if (qemuExit === null) qemu.kill('SIGKILL');
    }
    mark('QEMU stopped');
    if (process.env.GNOMON_IMAGE_TEST_KEEP !== '1') {
      for (const f of ['disk.img']) rmSync(join(WORK, f), { force: true });
    }
  }
}

let failed = false;
try {
  await main();
} catch (err) {
  failed = true;
  check('boot smoke test ran to the end', false, err.message);
}
console.log('\ntimings (since start):');
for (const [what, t] of timings) console.log(`  ${t.padStart(8)}  ${what}`);
const bad = results.filter((r) => !r.ok);
console.log(`\n${bad.length === 0 && !failed ? 'PASS' : 'FAIL'}: ${results.length - bad.length}/${results.length} checks passed in ${elapsed()} (console log: ${join(WORK, 'console.log')})`);
process.exitCode = bad.length === 0 && !failed ? 0 : 1;
