// `gnomon config` (the built CLI) against a running daemon: edits are validated, written atomically and reloaded
// over the daemon's control socket; a config the daemon refuses is rolled back (exit 3); `config diff` compares
// the file with the daemon's running-config. The reload acceptance: while a UDP load loop queries the daemon, 50
// restrict changes go through the CLI; every load request gets exactly one well-formed reply, and each change is
// seen by a real client sending from 127.0.0.3.
// Ports: 12500 (the harness daemon) and 12501 (a daemon that reads its addresses from the file) on loopback.
import { readFileSync, writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { GNOMON_MAIN, GnomonDaemon, localClockConfig, REPO_ROOT } from './harness/daemon.js';
import { LongRunning, run, Teardown, TempDir, type RunResult } from './harness/process.js';
import { buildNtpPacket, exchange, MODE } from './harness/udp.js';

const PORT = 12500;
const teardown = new Teardown();
let daemon: GnomonDaemon;
let original: string;

beforeAll(async () => {
  daemon = await GnomonDaemon.start({
    config: localClockConfig(PORT, 3, ['# hand-written comment: keep', 'driftfile /nonexistent-dir/gnomon.drift  # unrelated']),
    listen: `127.0.0.1:${PORT}`,
    readyTimeoutMs: 30_000,
  });
  teardown.add('gnomon', () => daemon.stop());
  original = readFileSync(daemon.configFile, 'utf8');
}, 60_000);
afterAll(() => teardown.run());

function cli(...args: string[]): Promise<RunResult> {
  return run(process.execPath, [GNOMON_MAIN, 'config', ...args, '--config', daemon.configFile, '--control', daemon.controlSocket], { timeoutMs: 20_000 });
}

/** Replies from the daemon to one request sent from `source`. */
async function answered(source: string, waitMs = 400): Promise<boolean> {
  const replies = await exchange({ host: '127.0.0.1', port: PORT, requests: [buildNtpPacket()], waitMs, bindAddress: source });
  return replies.some((r) => r.header?.mode === MODE.server);
}

describe('gnomon config with a running daemon', () => {
  test('restrict add/list/remove round trip; each change is reloaded and seen from 127.0.0.3', async () => {
    expect(await answered('127.0.0.3')).toBe(true);
    const add = await cli('restrict', 'add', '127.0.0.3', 'ignore');
    expect(add.code, add.stderr).toBe(0);
    expect(add.stdout).toMatch(/saved; the daemon reloaded it/);
    expect(await answered('127.0.0.3')).toBe(false);
    expect(await answered('127.0.0.1')).toBe(true);

    const list = await cli('restrict', 'list', '--json');
    expect(list.code).toBe(0);
    const rules = (JSON.parse(list.stdout) as { restrict: { address?: string; flags: string[]; kind: string }[] }).restrict;
    expect(rules.map((r) => [r.kind, r.address, r.flags])).toEqual([['default', undefined, []], ['address', '127.0.0.3', ['ignore']]]);
    expect((await cli('restrict', 'list')).stdout).toMatch(/127\.0\.0\.3\s+ignore/);

    const remove = await cli('restrict', 'remove', '127.0.0.3');
    expect(remove.code, remove.stderr).toBe(0);
    expect(await answered('127.0.0.3')).toBe(true);
    expect(readFileSync(daemon.configFile, 'utf8')).toBe(original);

    const history = await cli('history', '--json');
    expect((JSON.parse(history.stdout) as { history: unknown[] }).history.length).toBeGreaterThanOrEqual(2);
  }, 60_000);

  test('broadcast add/list/remove; a host address is refused (exit 1, file unchanged)', async () => {
    const before = readFileSync(daemon.configFile);
    const refused = await cli('broadcast', 'add', '192.0.2.7');
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/CONFIG_INVALID[\s\S]*address: 192\.0\.2\.7 is not a broadcast address/);
    expect(readFileSync(daemon.configFile).equals(before)).toBe(true);

    const add = await cli('broadcast', 'add', '224.0.1.1', 'ttl', '1', 'minpoll', '4');
    expect(add.code, add.stderr).toBe(0);
    const list = await cli('broadcast', 'list');
    expect(list.stdout).toMatch(/224\.0\.1\.1\s+multicast ttl 1 minpoll 4 version 4/);
    expect((await cli('broadcast', 'remove', '224.0.1.1')).code).toBe(0);
    expect(readFileSync(daemon.configFile, 'utf8')).toBe(original);
  }, 60_000);

  test('invalid input: bad CIDR, unknown flag, hostile value → exit 1 with a message, file unchanged', async () => {
    const before = readFileSync(daemon.configFile);
    for (const [args, message] of [
      [['restrict', 'add', '10.0.0.0/33', 'ignore'], /prefix length "\/33" is not 0 to 32/],
      [['restrict', 'add', '10.0.0.0/8', 'nosuchflag'], /"nosuchflag" is not a restrict flag/],
      [['restrict', 'add', '10.0.0.1"\nserver evil', 'ignore'], /is not an IP address/],
      [['restrict', 'add', '10.0.0.0/8', '<b>x</b>'], /is not a restrict flag/],
    ] as const) {
      const r = await cli(...args);
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(1);
      expect(r.stderr).toMatch(message);
      expect(readFileSync(daemon.configFile).equals(before)).toBe(true);
    }
    const usage = await cli('restrict', 'add');
    expect(usage.code).toBe(2);
  }, 60_000);

  test('config diff shows the file against what the daemon runs', async () => {
    expect((await cli('diff')).stdout).toBe('');
    writeFileSync(daemon.configFile, `${original}restrict 10.9.0.0/16 noquery\n`); // a hand edit, not reloaded
    const diff = await cli('diff');
    expect(diff.code).toBe(0);
    expect(diff.stdout).toMatch(/^--- running\n\+\+\+ .*ntp\.conf\n@@ [^\n]+@@\n/);
    expect(diff.stdout).toMatch(/^\+restrict 10\.9\.0\.0\/16 noquery$/m);
    // The next change through the CLI reloads, so nothing is pending any more.
    expect((await cli('restrict', 'remove', '10.9.0.0/16')).code).toBe(0);
    expect((await cli('diff', '--json')).stdout).toMatch(/"pending":false/);
  }, 60_000);

  test('a config the daemon refuses: exit 3, the file restored to the previous bytes, the daemon keeps serving', async () => {
    // A daemon that takes its addresses from the file (no --listen), so a hand edit naming an address this
    // machine does not have compiles (the CLI accepts it) but cannot be applied (RELOAD_LISTEN_FAILED).
    const dir = new TempDir('gnm-config-cli-');
    const file = dir.file('ntp.conf');
    const socket = dir.file('control.sock');
    const text = localClockConfig(PORT + 1, 3);
    writeFileSync(file, `${text}\n`);
    const proc = await LongRunning.start(process.execPath, [GNOMON_MAIN, 'serve', '--config', file, '--control', socket], { cwd: REPO_ROOT });
    try {
      const ready = await proc.waitForStdoutLine((line) => line.includes('"msg":"listening"'), 10_000);
      expect(ready, proc.describe()).toBeDefined();
      const handEdited = `${text}\ninterface listen 192.0.2.123\n`;
      writeFileSync(file, handEdited);
      const r = await run(process.execPath, [GNOMON_MAIN, 'config', 'restrict', 'add', '10.0.0.0/8', 'noquery', '--config', file, '--control', socket], { timeoutMs: 20_000 });
      expect(r.code, `${r.stderr}\n${proc.describe()}`).toBe(3);
      expect(r.stderr).toMatch(/CONFIG_RELOAD_REFUSED/);
      expect(r.stderr).toMatch(/RELOAD_LISTEN_FAILED/);
      expect(readFileSync(file, 'utf8')).toBe(handEdited);
      const replies = await exchange({ host: '127.0.0.1', port: PORT + 1, requests: [buildNtpPacket()], waitMs: 400 });
      expect(replies.some((reply) => reply.header?.mode === MODE.server)).toBe(true);
    } finally {
      const end = await proc.stop('SIGTERM', 5000);
      dir.remove();
      expect(end.code, proc.describe()).toBe(0);
    }
  }, 60_000);

  test('rollback restores the previous version and reloads it', async () => {
    expect((await cli('restrict', 'add', '127.0.0.3', 'ignore')).code).toBe(0);
    expect(await answered('127.0.0.3')).toBe(false);
    const r = await cli('rollback');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/the daemon reloaded it/);
    expect(readFileSync(daemon.configFile, 'utf8')).toBe(original);
    expect(await answered('127.0.0.3')).toBe(true);
  }, 60_000);
});

/**
 * The load generator: a child process with its own event loop (so this worker's CLI spawns cannot starve it), one
 * socket on 127.0.0.1 with a 4 MB receive buffer, PER_TICK requests every TICK_MS, each with a random transmit
 * timestamp. A reply counts when it is 48 bytes, mode 4, and its origin timestamp is an outstanding request's. On
 * SIGTERM it stops sending, waits (bounded) for the last replies and prints its counts as JSON, with the kernel's
 * drop counter for its socket (/proc/net/udp) so a loss can be told apart from the daemon's.
 */
const LOAD_SCRIPT = `
import { createSocket } from 'node:dgram';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
const [port, perTick, tickMs] = process.argv.slice(2).map(Number);
const socket = createSocket('udp4');
const outstanding = new Set();
let sent = 0, replies = 0;
const malformed = [];
socket.on('message', (data) => {
  const origin = data.length >= 32 ? data.subarray(24, 32).toString('hex') : '';
  if (data.length !== 48 || (data[0] & 7) !== 4 || !outstanding.delete(origin)) {
    malformed.push(data.length + ' bytes, first byte ' + data[0] + ', origin ' + origin);
    return;
  }
  replies++;
});
await new Promise((resolve) => socket.bind({ address: '127.0.0.1', port: 0 }, resolve));
socket.setRecvBufferSize(4 * 1024 * 1024);
const request = Buffer.alloc(48);
request[0] = (4 << 3) | 3;
const timer = setInterval(() => {
  for (let i = 0; i < perTick; i++) {
    const transmit = randomBytes(8);
    const packet = Buffer.from(request);
    transmit.copy(packet, 40);
    outstanding.add(transmit.toString('hex'));
    sent++;
    socket.send(packet, port, '127.0.0.1');
  }
}, tickMs);
const drops = (localPort) => {
  const hex = localPort.toString(16).toUpperCase().padStart(4, '0');
  const line = readFileSync('/proc/net/udp', 'utf8').split('\\n').find((l) => l.includes('0100007F:' + hex + ' '));
  return line ? Number(line.trim().split(/\\s+/).at(-1)) : -1;
};
process.once('SIGTERM', async () => {
  clearInterval(timer);
  for (let i = 0; i < 60 && outstanding.size > 0; i++) await new Promise((r) => setTimeout(r, 50));
  const report = { sent, replies, malformed: malformed.slice(0, 5), malformedCount: malformed.length, lost: outstanding.size,
    clientDrops: drops(socket.address().port), daemonDrops: drops(port) };
  process.stdout.write(JSON.stringify(report) + '\\n', () => process.exit(0));
});
process.stdout.write('ready\\n');
`;

interface LoadReport {
  sent: number; replies: number; malformed: string[]; malformedCount: number; lost: number; clientDrops: number; daemonDrops: number;
}

describe('reload under load', () => {
  test('50 restrict changes through the CLI while ~2000 req/s are served: no lost or malformed reply; each change takes effect', async () => {
    const dir = new TempDir('gnm-config-load-');
    writeFileSync(dir.file('load.mjs'), LOAD_SCRIPT);
    const load = await LongRunning.start(process.execPath, [dir.file('load.mjs'), String(PORT), '10', '5']);
    const seen: boolean[] = [];
    let report: LoadReport | undefined;
    try {
      expect(await load.waitForStdoutLine((line) => line === 'ready', 10_000), load.describe()).toBeDefined();
      for (let i = 0; i < 50; i++) {
        const adding = i % 2 === 0;
        const r = adding ? await cli('restrict', 'add', '127.0.0.3', 'ignore') : await cli('restrict', 'remove', '127.0.0.3');
        expect(r.code, `change ${i}: ${r.stderr}`).toBe(0);
        expect(r.stdout, `change ${i}`).toMatch(/the daemon reloaded it/);
        seen.push(await answered('127.0.0.3', 300));
      }
    } finally {
      await load.stop('SIGTERM', 10_000);
      dir.remove();
      const line = load.stdout.split('\n').find((l) => l.startsWith('{'));
      report = line ? JSON.parse(line) as LoadReport : undefined;
      console.log(`reload under load: ${line ?? load.describe()}`);
    }
    expect(report, load.describe()).toBeDefined();
    if (!report) return;
    expect(report.malformed, `${report.malformedCount} malformed`).toEqual([]);
    expect(report.lost, `${report.lost} of ${report.sent} load requests got no reply (${JSON.stringify(report)})`).toBe(0);
    expect(report.sent).toBeGreaterThan(1000);
    expect(report.replies).toBe(report.sent);
    expect(seen).toEqual(Array.from({ length: 50 }, (_, i) => i % 2 === 1));
    expect(readFileSync(daemon.configFile, 'utf8')).toBe(original);
  }, 180_000);
});
