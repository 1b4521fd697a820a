// The server path (issue 9): what only the choice of path and the fast path's workers can show. Everything
// both paths must do alike (restrict, KoD, mode 6, keys, clients) is in the other files, which run on both
// paths (vitest.config.ts); this file runs in both passes too: its SIGTERM and reload cases on the path the
// environment asks for, the others on the path each daemon is given explicitly.
// - auto picks the fast path on this machine: status `server.path`, mode 6 `serverpath` read by NTPsec's ntpq;
// - auto falls back to dgram, saying why, for a config the fast path cannot serve (multicastclient: it joins
//   no groups yet), and `fast` refuses to start with it, saying what, why and how to fix;
// - SIGTERM under a bench/loadgen.c flood exits within 1 s: on the default (no worker thread), with 1 and with 2 workers per address;
// - a worker that dies is restarted (back-off 1 s, then 2 s), counted in status, and with 2 workers the
//   other one answers meanwhile. The death is caused through the daemon's test-only fault hook
//   (GNOMON_TEST_FAULTS=worker-crash: SIGUSR2 makes a worker throw from its loop, as a bug would).
// - a SIGHUP reload reaches the server's restrict table (on the fast path: the workers').
// - the default (--server-workers 0) answers on the main thread; with --server-workers 1 a worker thread does
//   (status, chronyd, reload, SIGTERM under flood).
// Ports: 12810, 12813-12819 on loopback; 123 (and 124) in this file's namespaces.
import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { writeFileSync } from 'node:fs';
import { FastPathServer } from '../../src/server/fast/fast-server.js';
import { chronydOneShot } from './harness/chrony.js';
import { EXPECTED_PATH, GNOMON_MAIN, GnomonDaemon, localClockConfig, SERVER_PATH, type LogLine } from './harness/daemon.js';
import { gnomonSuite } from './harness/suite.js';
import { pollUntil, run, TempDir } from './harness/process.js';
import { buildNtpPacket, exchange } from './harness/udp.js';

const STRATUM = 3;
const FAST_RX = 'kernel (SCM_TIMESTAMPING, recvmmsg on the main thread)';
const WORKER_RX = 'kernel (SCM_TIMESTAMPING, recvmmsg worker)';
const AUTO = { GNOMON_SERVER_PATH: 'auto' };
const FAST = { GNOMON_SERVER_PATH: 'fast' };

function config(port: number, lines: readonly string[]): string {
  return ['server 127.127.1.0', `fudge 127.127.1.0 stratum ${STRATUM}`, ...lines, `port ${port}`, 'interface listen 127.0.0.1'].join('\n');
}

describe('auto picks the fast path where it can run', () => {
  const suite = gnomonSuite(localClockConfig(12810, STRATUM), '127.0.0.1:12810', { env: AUTO });

  it('this machine can run it; status reports path "fast" with kernel stamps; chronyd -Q is answered through it', async () => {
    // The premise: on this Linux machine the fast path is available (else auto rightly serves dgram).
    expect(FastPathServer.unavailableReason()).toBeUndefined();
    const before = await suite.gnomon.status();
    expect(before.server, suite.gnomon.describe()).toMatchObject({ path: 'fast', rxTimestamps: FAST_RX, workersPerAddress: 0, workersServing: 0, workerRestarts: 0 });
    expect(before.server.pathReason).toBeUndefined();
    expect(suite.gnomon.logs.find((l) => l.msg === 'server path'), suite.gnomon.describe()).toMatchObject({ requested: 'auto', path: 'fast' });
    const q = await chronydOneShot('127.0.0.1', 12810, { samples: 4, poll: -4, timeoutS: 10 });
    expect(q.ok, `${q.log}\n${suite.gnomon.describe()}`).toBe(true);
    for (const s of q.samples) {
      expect(s.stratum).toBe(STRATUM);
      expect(Math.abs(s.offset), q.log).toBeLessThan(0.001);
    }
    // The workers' counts reach the daemon's counters (posted every 250 ms); every stamp the kernel's.
    const after = await pollUntil(async () => {
      const s = await suite.gnomon.status();
      return (s.counters.processed ?? 0) >= q.samples.length ? s : undefined;
    }, 3000, 100);
    expect(after?.server.rxTimestampStats?.kernel, suite.gnomon.describe()).toBeGreaterThanOrEqual(q.samples.length);
    expect(after?.server.rxTimestampStats?.ioctlFailed).toBe(0);
  });

  it('a second daemon on the same port fails with EADDRINUSE on the fast path too (its SO_REUSEPORT sockets do not share the port)', async () => {
    const dir = new TempDir('gnm-fast-twice-');
    try {
      writeFileSync(dir.file('ntp.conf'), `${localClockConfig(12810, STRATUM)}\n`);
      const r = await run(process.execPath, [GNOMON_MAIN, 'serve', '--config', dir.file('ntp.conf'), '--listen', '127.0.0.1:12810',
        '--control', dir.file('control.sock'), '--web', 'off', '--server-path', 'fast'], { timeoutMs: 10_000 });
      expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(1);
      expect(r.stderr).toContain('cannot listen on 127.0.0.1:12810: bind EADDRINUSE');
      expect((await suite.gnomon.status()).server.path, suite.gnomon.describe()).toBe('fast');
      expect(await chronydOneShot('127.0.0.1', 12810, { poll: -4, timeoutS: 5 }).then((q) => q.ok), suite.gnomon.describe()).toBe(true);
    } finally {
      dir.remove();
    }
  });
});

describe('auto on port 123 in a namespace: NTPsec ntpq -c rv', () => {
  const suite = gnomonSuite(localClockConfig(123, STRATUM), 'port123', { env: AUTO });

  it('rv shows serverpath="fast" and the fast path\'s receive stamps; sysstats counts the forwarded control requests', async () => {
    const rv = await suite.ns.run('ntpq', ['-c', 'rv', '127.0.0.1'], { timeoutMs: 20_000 });
    const why = `${rv.stdout}\n${rv.stderr}\n${suite.gnomon.describe()}`;
    expect(rv.code, why).toBe(0);
    expect(rv.stdout, why).toMatch(/stratum=3/);
    expect(rv.stdout, why).toMatch(/serverpath="fast"/);
    expect(rv.stdout, why).toContain(FAST_RX);
    // Mode 6 is handed from the fast path's responder to the daemon's control responder: ntpq's requests are counted.
    const counted = await pollUntil(async () => {
      const r = await suite.ns.run('ntpq', ['-c', 'sysstats', '127.0.0.1'], { timeoutMs: 20_000 });
      return /^control requests:\s+[1-9]/m.test(r.stdout) ? r.stdout : undefined;
    }, 5000, 200);
    expect(counted, suite.gnomon.describe()).toBeDefined();
  });
});

describe('a config the fast path cannot serve (multicastclient), in a namespace (the group join stays there)', () => {
  const text = localClockConfig(123, STRATUM, ['multicastclient 224.0.1.1']);
  const suite = gnomonSuite(text, 'port123', { env: AUTO });

  it('auto serves with dgram and says why: status pathReason, one "server path: dgram" log line, ntpq rv serverpath="dgram"', async () => {
    const s = await suite.gnomon.status();
    expect(s.server.path, suite.gnomon.describe()).toBe('dgram');
    expect(s.server.pathReason, suite.gnomon.describe()).toMatch(/^multicastclient needs node:dgram/);
    const lines = suite.gnomon.logs.filter((l) => typeof l.msg === 'string' && l.msg.startsWith('server path: dgram'));
    expect(lines, suite.gnomon.describe()).toHaveLength(1);
    expect(lines[0]?.reason).toBe(s.server.pathReason);
    const rv = await suite.ns.run('ntpq', ['-c', 'rv', '127.0.0.1'], { timeoutMs: 20_000 });
    expect(rv.stdout, `${rv.stdout}\n${rv.stderr}\n${suite.gnomon.describe()}`).toMatch(/serverpath="dgram"/);
    expect(rv.stdout).toMatch(/stratum=3/);
  });

  it('--server-path fast refuses to start: what, why, how to fix; exit 1', async () => {
    const dir = new TempDir('gnm-fast-refuse-');
    try {
      writeFileSync(dir.file('ntp.conf'), `${text.replace('port 123', 'port 124')}\n`);
      const r = await suite.ns.run(process.execPath, [GNOMON_MAIN, 'serve', '--config', dir.file('ntp.conf'), '--listen', '127.0.0.1:124',
        '--control', dir.file('control.sock'), '--web', 'off', '--server-path', 'fast'], { timeoutMs: 10_000 });
      expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(1);
      expect(r.stderr).toContain('gnomon: --server-path fast: the fast path cannot run: multicastclient needs node:dgram');
      expect(r.stderr).toContain('run with --server-path auto (the default: falls back to node:dgram) or --server-path dgram');
    } finally {
      dir.remove();
    }
  });
});

/** Floods the daemon with bench/loadgen.c (closed loop, bounded: 6 s), SIGTERMs it under load; the ms it took to exit 0. */
async function sigtermUnderFlood(d: GnomonDaemon, port: number): Promise<number> {
  const { compileLoadgen } = await import('../../bench/runner/loadgen.mjs' as string) as { compileLoadgen: () => void };
  compileLoadgen();
  const loadgen = spawn('bench/build/loadgen', ['--port', String(port), '--duration', '6', '--window', '128', '--sockets', '16', '--label', 'sigterm'],
    { stdio: 'ignore' });
  try {
    const loaded = await pollUntil(async () => ((await d.status()).counters.processed ?? 0) > 5000 ? true : undefined, 5000, 100);
    expect(loaded, d.describe()).toBe(true);
    const t0 = performance.now();
    const end = await d.proc.stop('SIGTERM', 5000);
    const ms = performance.now() - t0;
    expect(end, d.describe()).toMatchObject({ code: 0, killed: false });
    return ms;
  } finally {
    loadgen.kill('SIGKILL');
    await d.stop().catch(() => undefined);
  }
}

describe('SIGTERM under load', () => {
  it(`${SERVER_PATH} path: a daemon flooded by bench/loadgen.c (128 in flight) exits 0 within 1 s of SIGTERM`, async () => {
    const d = await GnomonDaemon.start({ config: config(12816, ['restrict default']), listen: '127.0.0.1:12816' });
    expect(d.serverPath, d.describe()).toBe(EXPECTED_PATH);
    expect(await sigtermUnderFlood(d, 12816), d.describe()).toBeLessThan(1000);
  });

  it('fast path, 2 workers per address: exits 0 within 1 s of SIGTERM under the same flood', async () => {
    const d = await GnomonDaemon.start({ config: config(12813, ['restrict default']), listen: '127.0.0.1:12813', env: FAST, serveArgs: ['--server-workers', '2'] });
    expect((await d.status()).server, d.describe()).toMatchObject({ path: 'fast', workersPerAddress: 2, workersServing: 2 });
    expect(await sigtermUnderFlood(d, 12813), d.describe()).toBeLessThan(1000);
  });
});

describe('a fast-path worker that dies is restarted', () => {
  const env = { ...FAST, GNOMON_TEST_FAULTS: 'worker-crash' };
  const died = (d: GnomonDaemon): LogLine[] => d.logs.filter((l) => l.msg === 'fast-path worker died; restarting it');
  const restarted = (d: GnomonDaemon): LogLine[] => d.logs.filter((l) => l.msg === 'fast-path worker restarted');
  /** `n` requests, each from its own socket (own source port: SO_REUSEPORT spreads them over the workers); the replies' count. */
  const answeredOf = async (port: number, n: number): Promise<number> => {
    const each = await Promise.all(Array.from({ length: n }, () => exchange({ host: '127.0.0.1', port, requests: [buildNtpPacket()], bindAddress: '127.0.0.1', waitMs: 300 })));
    return each.filter((r) => r[0]?.header?.stratum === STRATUM).length;
  };

  it('2 workers: one dies (logged once with the reason), the other answers every client meanwhile; restarted after 1 s, counted', async () => {
    const d = await GnomonDaemon.start({ config: config(12814, ['restrict default']), listen: '127.0.0.1:12814', env, serveArgs: ['--server-workers', '2'] });
    try {
      expect((await d.status()).server, d.describe()).toMatchObject({ path: 'fast', workersServing: 2, workerRestarts: 0 });
      process.kill(d.proc.pid, 'SIGUSR2');
      const death = await pollUntil(() => died(d)[0], 3000, 20);
      expect(death, d.describe()).toMatchObject({ reason: expect.stringContaining('test fault injected'), restartInMs: 1000 });
      // Within the 1 s back-off: the dead socket is closed, so the kernel sends every client to the survivor.
      const answered = await answeredOf(12814, 8);
      const answeredAt = Date.now();
      expect(answered, d.describe()).toBe(8);
      const back = await pollUntil(() => restarted(d)[0], 5000, 50);
      expect(back, d.describe()).toBeDefined();
      // Those requests were sent while the worker was down (the restart's log line is later).
      expect(Date.parse(String(back?.time)), d.describe()).toBeGreaterThan(answeredAt - 300);
      expect((await d.status()).server, d.describe()).toMatchObject({ workersServing: 2, workerRestarts: 1 });
      expect(died(d), d.describe()).toHaveLength(1);
      expect(await answeredOf(12814, 8), d.describe()).toBe(8);
    } finally {
      await d.stop();
    }
  });

  it('1 worker: answered again after the restart; a second death backs off 2 s', async () => {
    const d = await GnomonDaemon.start({ config: config(12815, ['restrict default']), listen: '127.0.0.1:12815', env, serveArgs: ['--server-workers', '1'] });
    try {
      for (const [n, backoffMs] of [[1, 1000], [2, 2000]] as const) {
        process.kill(d.proc.pid, 'SIGUSR2');
        const death = await pollUntil(() => died(d)[n - 1], 3000, 20);
        expect(death, d.describe()).toMatchObject({ restartInMs: backoffMs });
        expect(await pollUntil(() => restarted(d)[n - 1], 6000, 50), d.describe()).toBeDefined();
        expect((await d.status()).server, d.describe()).toMatchObject({ workersServing: 1, workerRestarts: n });
        expect(await answeredOf(12815, 2), d.describe()).toBe(2);
      }
    } finally {
      await d.stop();
    }
  });
});

describe('one worker thread (--server-workers 1): the same batched socket read by a worker', () => {

  it('status says so; chronyd -Q is answered with kernel stamps; a reload is in effect in the worker once SIGHUP is reported done', async () => {
    const d = await GnomonDaemon.start({ config: config(12818, ['restrict default']), listen: '127.0.0.1:12818', env: FAST, serveArgs: ['--server-workers', '1'] });
    try {
      const before = await d.status();
      expect(before.server, d.describe()).toMatchObject({ path: 'fast', rxTimestamps: WORKER_RX, workersPerAddress: 1, workersServing: 1, workerRestarts: 0 });
      const q = await chronydOneShot('127.0.0.1', 12818, { samples: 4, poll: -4, timeoutS: 10 });
      expect(q.ok, `${q.log}\n${d.describe()}`).toBe(true);
      for (const s of q.samples) expect(Math.abs(s.offset), q.log).toBeLessThan(0.001);
      const after = await d.status();
      expect(after.counters.processed, d.describe()).toBeGreaterThanOrEqual(q.samples.length);
      expect(after.server.rxTimestampStats?.kernel, d.describe()).toBeGreaterThanOrEqual(q.samples.length);
      expect(after.server.rxTimestampStats?.ioctlFailed).toBe(0);

      const ask = (from: string) => exchange({ host: '127.0.0.1', port: 12818, requests: [buildNtpPacket()], bindAddress: from, waitMs: 400 });
      writeFileSync(d.configFile, `${config(12818, ['restrict default ignore', 'restrict 127.0.0.2'])}\n`);
      process.kill(d.proc.pid, 'SIGHUP');
      expect(await pollUntil(() => (d.logs.some((l) => l.msg === 'configuration reloaded') ? true : undefined), 5000), d.describe()).toBe(true);
      // The worker acknowledged the new rules before the reload was reported done (docs/server.md).
      expect(await ask('127.0.0.1'), d.describe()).toHaveLength(0);
      expect(await ask('127.0.0.2'), d.describe()).toHaveLength(1);
    } finally {
      await d.stop();
    }
  });

  it('a daemon flooded by bench/loadgen.c (128 in flight) exits 0 within 1 s of SIGTERM', async () => {
    const d = await GnomonDaemon.start({ config: config(12819, ['restrict default']), listen: '127.0.0.1:12819', env: FAST, serveArgs: ['--server-workers', '1'] });
    expect((await d.status()).server, d.describe()).toMatchObject({ path: 'fast', workersPerAddress: 1, workersServing: 1 });
    expect(await sigtermUnderFlood(d, 12819), d.describe()).toBeLessThan(1000);
  });
});

describe('reload', () => {
  it(`${SERVER_PATH} path: SIGHUP with a new restrict line takes effect: 127.0.0.1 answered before, ignored after; 127.0.0.2 still answered`, async () => {
    const d = await GnomonDaemon.start({ config: config(12817, ['restrict default']), listen: '127.0.0.1:12817' });
    try {
      expect(d.serverPath, d.describe()).toBe(EXPECTED_PATH);
      const ask = (from: string) => exchange({ host: '127.0.0.1', port: 12817, requests: [buildNtpPacket()], bindAddress: from, waitMs: 400 });
      expect(await ask('127.0.0.1'), d.describe()).toHaveLength(1);
      writeFileSync(d.configFile, `${config(12817, ['restrict default ignore', 'restrict 127.0.0.2'])}\n`);
      process.kill(d.proc.pid, 'SIGHUP');
      const reloaded = await pollUntil(() => (d.logs.some((l) => l.msg === 'configuration reloaded') ? true : undefined), 5000);
      expect(reloaded, d.describe()).toBe(true);
      // A worker applies it at its next loop turn (≤ one 50 ms receive timeout).
      const ignored = await pollUntil(async () => ((await ask('127.0.0.1')).length === 0 ? true : undefined), 3000, 100);
      expect(ignored, d.describe()).toBe(true);
      expect(await ask('127.0.0.2'), d.describe()).toHaveLength(1);
    } finally {
      await d.stop();
    }
  });
});
