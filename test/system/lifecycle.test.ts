// The daemon's lifecycle through its real interfaces: the gnomon command, signals, UDP.
import { writeFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { GNOMON_MAIN, GnomonDaemon, REPO_ROOT, localClockConfig } from './harness/daemon.js';
import { describeRun, LongRunning, pollUntil, run, TempDir } from './harness/process.js';
import { query } from './harness/udp.js';
import { Netns } from './harness/netns.js';
import { readFileSync } from 'node:fs';

const PORT = 11900;
const gnomon = (args: string[]) => run(process.execPath, [GNOMON_MAIN, ...args], { timeoutMs: 20_000, cwd: REPO_ROOT });
const daemons: GnomonDaemon[] = [];
afterAll(async () => {
  for (const d of daemons) await d.stop().catch(() => undefined);
});

describe('gnomon command', () => {
  it('npx gnomon --help works from the installed package (compiled JS)', async () => {
    // npx itself takes seconds to start on a loaded 2-core machine (seen: over 30 s with CI and an image build running).
    const r = await run('npx', ['--no-install', 'gnomon', '--help'], { timeoutMs: 90_000, cwd: REPO_ROOT });
    expect(r.code, describeRun(r)).toBe(0);
    expect(r.stdout).toMatch(/usage: gnomon <command>/);
    expect(r.stdout).toMatch(/serve/);
    expect(r.stdout).toMatch(/query/);
  }, 100_000);

  it('an unknown command is a usage error (exit 2)', async () => {
    const r = await gnomon(['frobnicate']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/unknown command "frobnicate"/);
  });

  it('refuses to start on a config with errors, listing every one with file:line:column', async () => {
    const dir = new TempDir('gnm-life-');
    const file = dir.file('bad.conf');
    writeFileSync(file, 'server 127.127.1.0\nrestrict 10.0.0.0 mask 255.0.255.0\nsrever pool.ntp.org\nport 99999\n');
    const r = await gnomon(['serve', '--config', file, '--listen', `127.0.0.1:${PORT + 9}`]);
    dir.remove();
    expect(r.code, describeRun(r)).toBe(1);
    expect(r.stderr).toMatch(new RegExp(`${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:2:\\d+: error`));
    expect(r.stderr).toMatch(/:3:1: error/);
    expect(r.stderr).toMatch(/:4:\d+: error/);
    expect(r.stderr).toMatch(/not starting/);
  });

  it('a missing config file is one clear line, not a stack trace', async () => {
    const r = await gnomon(['serve', '--config', '/nonexistent/gnomon.conf']);
    expect(r.code, describeRun(r)).toBe(1);
    expect(r.stderr).toMatch(/^\/nonexistent\/gnomon\.conf:1:1: error: cannot read .*CONFIG_READ_FAILED/m);
    expect(r.stderr).not.toMatch(/\bat .*\.js:\d+/);
  });

  it('names the address and the likely cause when the port is taken', async () => {
    const first = await GnomonDaemon.start({ config: localClockConfig(PORT + 1, 3), listen: `127.0.0.1:${PORT + 1}` });
    daemons.push(first);
    const r = await gnomon(['serve', '--config', first.configFile, '--listen', `127.0.0.1:${PORT + 1}`]);
    expect(r.code, describeRun(r)).toBe(1);
    expect(r.stderr).toMatch(/cannot listen on 127\.0\.0\.1:11901: .*EADDRINUSE.*another NTP server/);
  });
});

describe('gnomon query', () => {
  it('queries a running server from an ephemeral port, text and JSON, and fails clearly without one', async () => {
    const d = await GnomonDaemon.start({ config: localClockConfig(PORT + 2, 4), listen: `127.0.0.1:${PORT + 2}` });
    daemons.push(d);
    const text = await gnomon(['query', '127.0.0.1', '--port', String(PORT + 2)]);
    expect(text.code, describeRun(text)).toBe(0);
    expect(text.stdout).toMatch(/^server 127\.0\.0\.1:11902, stratum 4, offset [+-]0\.000\d+, delay 0\.\d+, refid \S+, leap 0$/m);
    const json = await gnomon(['query', '127.0.0.1', '--port', String(PORT + 2), '--json', '--samples', '2', '--ntp-version', '3']);
    const [r] = JSON.parse(json.stdout) as { ok: boolean; stratum: number; version: number; offsetS: number; samples: number }[];
    expect(r).toMatchObject({ ok: true, stratum: 4, version: 3, samples: 2 });
    expect(Math.abs(r!.offsetS)).toBeLessThan(0.001);
    const none = await gnomon(['query', '127.0.0.1', '--port', String(PORT + 8), '--timeout', '0.3', '--samples', '1']);
    expect(none.code).toBe(1);
    expect(none.stdout).toMatch(/no reply \(timeout\)/);
    expect(none.stderr).toMatch(/no server suitable for synchronization found/);
  });
});

describe('SIGHUP', () => {
  it('applies a new config without closing the socket, and refuses a broken one while still serving', async () => {
    const port = PORT + 3;
    const d = await GnomonDaemon.start({ config: localClockConfig(port, 2), listen: `127.0.0.1:${port}` });
    daemons.push(d);
    const stratum = async () => (await query('127.0.0.1', port))[0]?.header?.stratum;
    expect(await stratum()).toBe(2);

    writeFileSync(d.configFile, localClockConfig(port, 7));
    process.kill(d.proc.pid, 'SIGHUP');
    expect(await pollUntil(async () => ((await stratum()) === 7 ? true : undefined), 5000), d.describe()).toBe(true);

    writeFileSync(d.configFile, localClockConfig(port, 7, ['restrict 127.0.0.1 ignore']));
    process.kill(d.proc.pid, 'SIGHUP');
    expect(await pollUntil(() => (d.logs.filter((l) => l.msg === 'configuration reloaded').length >= 2 ? true : undefined), 5000)).toBe(true);
    expect((await query('127.0.0.1', port)).length).toBe(0);

    writeFileSync(d.configFile, localClockConfig(port, 9, ['restrict 127.0.0.1 bogusflag']));
    process.kill(d.proc.pid, 'SIGHUP');
    const refused = await pollUntil(() => d.logs.find((l) => typeof l.msg === 'string' && l.msg.startsWith('reload refused')), 5000);
    expect(refused, d.describe()).toBeDefined();
    expect(JSON.stringify(refused)).toMatch(/bogusflag/);
    expect((await query('127.0.0.1', port)).length).toBe(0); // the previous (ignore) config still runs
    expect(d.logs.filter((l) => l.msg === 'listening').length).toBe(1); // never re-bound
  });
});

describe('port 123 and privileges', () => {
  it('binds port 123 as root, then runs as the configured user and keeps serving', async () => {
    const ns = await Netns.create();
    try {
      const d = await GnomonDaemon.start({ config: localClockConfig(123, 3, ['user nobody']), listen: '127.0.0.1:123', ns });
      try {
        const status = readFileSync(`/proc/${d.proc.pid}/status`, 'utf8');
        const nobody = readFileSync('/etc/passwd', 'utf8').split('\n').find((l) => l.startsWith('nobody:'))!.split(':')[2];
        expect(status).toMatch(new RegExp(`^Uid:\\s+${nobody}\\s+${nobody}\\s+${nobody}\\s+${nobody}$`, 'm'));
        expect(d.logs.some((l) => l.msg === 'dropped privileges')).toBe(true);
        const r = await ns.run(process.execPath, [GNOMON_MAIN, 'query', '127.0.0.1', '--samples', '1'], { timeoutMs: 20_000, cwd: REPO_ROOT });
        expect(r.code, describeRun(r)).toBe(0);
        expect(r.stdout).toMatch(/stratum 3/);
      } finally {
        await d.stop();
      }
    } finally {
      await ns.destroy();
    }
  });
});

describe('IPv6', () => {
  it('serves on ::1 and 127.0.0.1 at once (--listen twice), each reply on its own family', async () => {
    const port = PORT + 4;
    const d = await GnomonDaemon.start({ config: localClockConfig(port, 3), listen: `[::1]:${port}`, extraListen: [`127.0.0.1:${port}`] });
    daemons.push(d);
    for (const host of ['::1', '127.0.0.1']) {
      const r = await gnomon(['query', host, '--port', String(port), '--samples', '1', '--json']);
      expect(r.code, describeRun(r)).toBe(0);
      expect(JSON.parse(r.stdout)[0]).toMatchObject({ address: host, stratum: 3, ok: true });
    }
  });
});

describe('logging', () => {
  it('writes JSON lines to the `logfile` of the config instead of stdout', async () => {
    const dir = new TempDir('gnm-log-');
    const logfile = dir.file('sub/gnomon.log');
    const port = PORT + 5;
    // The harness waits for "listening" on stdout; with a logfile, stdout stays empty, so run it by hand.
    const config = dir.file('ntp.conf');
    writeFileSync(config, localClockConfig(port, 3, [`logfile ${logfile}`]) + '\n');
    const proc = await LongRunning.start(process.execPath, [GNOMON_MAIN, 'serve', '--config', config], { cwd: REPO_ROOT });
    try {
      const line = await pollUntil(() => {
        try {
          return readFileSync(logfile, 'utf8').split('\n').find((l) => l.includes('"listening"'));
        } catch {
          return undefined;
        }
      }, 10_000);
      expect(line, proc.describe()).toBeDefined();
      expect(JSON.parse(line!)).toMatchObject({ msg: 'listening', address: '127.0.0.1', port });
      expect(proc.stdout).toBe('');
    } finally {
      const end = await proc.stop('SIGTERM', 5000);
      expect(end.code).toBe(0);
      dir.remove();
    }
  });
});
