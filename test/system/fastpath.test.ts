// The batched fast path (src/server/fast/, issue 9), selected with GNOMON_FAST_PATH=1 in the daemon's
// environment (set for this file's children below): status proves it is the path in use with kernel stamps;
// real clients (chronyd -Q, ntpdig, NTPsec's ntpq) are answered through it; a subset of restrict.test.ts's
// cases (ignore, notrust, kod limited, nopeer / mode 1 passive) gives the same answers as on the dgram path;
// SIGTERM under a closed-loop flood from bench/loadgen.c ends the daemon within 1 s.
// SIGHUP reaches the worker's restrict table; signed requests (MD5, AES-CMAC) answered and a wrong MAC counted.
// Ports: 12810-12818 on loopback; 123 in this file's namespace.
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHRONYD, chronydOneShot } from './harness/chrony.js';
import { GnomonDaemon, localClockConfig, startDaemonsPerCase } from './harness/daemon.js';
import { ntpdig } from './harness/ntpsec.js';
import { gnomonSuite } from './harness/suite.js';
import { pollUntil, run, Teardown, TempDir } from './harness/process.js';
import { buildNtpPacket, describeReplies, exchange, kissCode, MODE, type Reply } from './harness/udp.js';

process.env.GNOMON_FAST_PATH = '1';

const STRATUM = 3;
const FAST = 'recvmmsg worker';
const FAST_RX = 'kernel (SCM_TIMESTAMPING, recvmmsg worker)';

function config(port: number, lines: readonly string[]): string {
  return ['server 127.127.1.0', `fudge 127.127.1.0 stratum ${STRATUM}`, ...lines, `port ${port}`, 'interface listen 127.0.0.1'].join('\n');
}

const CASES = {
  ignore: { port: 12811, lines: ['restrict default ignore', 'restrict 127.0.0.2'] },
  notrust: { port: 12812, lines: ['restrict default notrust', 'restrict 127.0.0.2'] },
  kodLimited: { port: 12813, lines: ['restrict default kod limited', 'discard average 3 minimum 1'] },
  nopeer: { port: 12814, lines: ['restrict default nopeer'] },
  open: { port: 12815, lines: ['restrict default'] },
} as const;
type CaseName = keyof typeof CASES;

describe('fast path on loopback: selected, reported, answering chronyd', () => {
  const suite = gnomonSuite(localClockConfig(12810, STRATUM), '127.0.0.1:12810');

  it('status reports the recvmmsg worker and kernel receive stamps; chronyd -Q is answered through it', async () => {
    const before = await suite.gnomon.status();
    expect(before.server.path, suite.gnomon.describe()).toBe(FAST);
    expect(before.server.rxTimestamps).toBe(FAST_RX);
    const q = await chronydOneShot('127.0.0.1', 12810, { samples: 4, poll: -4, timeoutS: 10 });
    expect(q.ok, `${q.log}\n${suite.gnomon.describe()}`).toBe(true);
    expect(q.samples.length).toBeGreaterThanOrEqual(1);
    for (const s of q.samples) {
      expect(s.stratum).toBe(STRATUM);
      expect(Math.abs(s.offset), q.log).toBeLessThan(0.001);
    }
    // The worker's counts reach the daemon's counters (posted every 250 ms); every stamp the kernel's.
    const after = await pollUntil(async () => {
      const s = await suite.gnomon.status();
      return (s.counters.processed ?? 0) >= q.samples.length ? s : undefined;
    }, 3000, 100);
    expect(after?.counters.processed, suite.gnomon.describe()).toBeGreaterThanOrEqual(q.samples.length);
    expect(after?.server.rxTimestampStats?.kernel).toBeGreaterThanOrEqual(q.samples.length);
    expect(after?.server.rxTimestampStats?.ioctlFailed).toBe(0);
  });
});

describe('fast path: restrict, rate limit, KoD and mode 1 as on the dgram path (cases of restrict.test.ts)', () => {
  let daemons = new Map<CaseName, GnomonDaemon>();
  const teardown = new Teardown();
  beforeAll(async () => {
    daemons = await startDaemonsPerCase(CASES, config, teardown);
  });
  afterAll(() => teardown.run());

  async function send(name: CaseName, requests: Buffer[], options: { from?: string; waitMs?: number } = {}) {
    const replies = await exchange({ host: '127.0.0.1', port: CASES[name].port, requests, bindAddress: options.from ?? '127.0.0.1', waitMs: options.waitMs ?? 400 });
    return { replies, why: `${name} from ${options.from ?? '127.0.0.1'}:\n${describeReplies(replies)}\n${daemons.get(name)?.describe() ?? ''}` };
  }
  function expectNormalReply(reply: Reply | undefined, request: Buffer, mode: number, why: string): void {
    expect(reply?.header, why).toMatchObject({ leap: 0, mode, stratum: STRATUM, version: (request[0] ?? 0) >> 3 & 7 });
    expect(reply?.header?.origin, why).toBe(request.readBigUInt64BE(40));
  }

  it('every case runs on the fast path', async () => {
    for (const [name, d] of daemons) expect((await d.status()).server.path, name).toBe(FAST);
  });

  it.each(['ignore', 'notrust'] as const)('restrict default %s: no reply to 127.0.0.1; 127.0.0.2 (own line) answered', async (name) => {
    const silent = await send(name, [buildNtpPacket(), buildNtpPacket({ version: 3 })]);
    expect(silent.replies, silent.why).toEqual([]);
    const request = buildNtpPacket();
    const answered = await send(name, [request], { from: '127.0.0.2' });
    expect(answered.replies, answered.why).toHaveLength(1);
    expectNormalReply(answered.replies[0], request, MODE.server, answered.why);
  });

  it('kod limited: the first answered, a burst of 20 rate-limited with RATE kisses that carry the request\'s origin', async () => {
    const requests = Array.from({ length: 20 }, () => buildNtpPacket());
    const { replies, why } = await send('kodLimited', requests, { waitMs: 600 });
    const kisses = replies.filter((r) => r.header !== undefined && kissCode(r.header) !== undefined);
    const normal = replies.filter((r) => r.header?.stratum === STRATUM);
    expect(normal.length, why).toBeGreaterThanOrEqual(1);
    expect(normal.length, why).toBeLessThan(requests.length);
    expect(kisses.length, why).toBeGreaterThanOrEqual(1);
    const origins = requests.map((r) => r.readBigUInt64BE(40));
    for (const kiss of kisses) {
      expect(kiss.header, why).toMatchObject({ stratum: 0, refidAscii: 'RATE', mode: MODE.server, leap: 3 });
      expect(origins, why).toContain(kiss.header?.origin);
      // The batch's transmit restamp (worker.ts) leaves kisses alone: they carry the client's own timestamp.
      expect(kiss.header?.transmit, why).toBe(kiss.header?.origin);
    }
    for (const r of normal) expect(r.header!.transmit >= r.header!.receive, why).toBe(true);
    expect(replies.length, why).toBe(normal.length + kisses.length);
  });

  it('mode 1 (forwarded to the main thread): dropped with nopeer, a mode 2 reply without; mode 3 still served with nopeer', async () => {
    const refused = await send('nopeer', [buildNtpPacket({ mode: MODE.symmetricActive, stratum: 2 })]);
    expect(refused.replies, refused.why).toEqual([]);
    const m3 = buildNtpPacket();
    const served = await send('nopeer', [m3]);
    expect(served.replies, served.why).toHaveLength(1);
    expectNormalReply(served.replies[0], m3, MODE.server, served.why);
    const m1 = buildNtpPacket({ mode: MODE.symmetricActive, stratum: 2 });
    const passive = await send('open', [m1]);
    expect(passive.replies, passive.why).toHaveLength(1);
    expectNormalReply(passive.replies[0], m1, MODE.symmetricPassive, passive.why);
  });
});

describe('fast path: symmetric keys reach the worker (cases of auth.test.ts)', () => {
  const dir = new TempDir('gnm-fast-auth-');
  afterAll(() => dir.remove());
  const ntpKeys = dir.file('ntp.keys');
  writeFileSync(ntpKeys, '1 MD5 gnomonMD5secret\n3 AES128CMAC 2b7e151628aed2a6abf7158809cf4f3c\n', { mode: 0o600 });
  const chronyKeys = (name: string, aes: string) => {
    const path = dir.file(name);
    writeFileSync(path, `1 MD5 HEX:${Buffer.from('gnomonMD5secret').toString('hex')}\n3 AES128 HEX:${aes}\n`, { mode: 0o600 });
    return path;
  };
  const right = chronyKeys('right.keys', '2b7e151628aed2a6abf7158809cf4f3c');
  const wrong = chronyKeys('wrong.keys', '2b7e151628aed2a6abf7158809cf4f3d');
  const suite = gnomonSuite(localClockConfig(12818, STRATUM, [`keys ${ntpKeys}`, 'trustedkey 1 3']), '127.0.0.1:12818');

  async function query(keyfile: string, key: number) {
    const d = new TempDir('gnm-fast-authq-');
    try {
      const r = await run(CHRONYD, ['-x', '-u', 'root', '-Q', '-t', '4', `server 127.0.0.1 port 12818 iburst maxsamples 1 minpoll -4 maxpoll -4 key ${key}`,
        `keyfile ${keyfile}`, `pidfile ${d.file('chronyd.pid')}`, `driftfile ${d.file('drift')}`], { timeoutMs: 15_000 });
      return { ok: r.code === 0, why: r.stderr };
    } finally {
      d.remove();
    }
  }
  /** The daemon's counters once the worker has posted `field` above `than` (every 250 ms). */
  const countersWhen = (field: string, than: number) => pollUntil(async () => {
    const c = (await suite.gnomon.status()).counters;
    return (c[field] ?? 0) > than ? c : undefined;
  }, 3000, 100);

  it('MD5 and AES128-CMAC: chronyd gets authenticated samples; a wrong AES secret gets none and is counted as authFailed', async () => {
    expect((await suite.gnomon.status()).server.path).toBe(FAST);
    for (const key of [1, 3]) {
      const q = await query(right, key);
      expect(q.ok, `key ${key}: ${q.why}\n${suite.gnomon.describe()}`).toBe(true);
    }
    const signed = await countersWhen('authenticated', 1);
    expect(signed?.authFailed, suite.gnomon.describe()).toBe(0);
    const bad = await query(wrong, 3);
    expect(bad.ok, bad.why).toBe(false);
    expect(await countersWhen('authFailed', 0), suite.gnomon.describe()).toBeDefined();
  });
});

describe('fast path: reload', () => {
  it('SIGHUP with a new restrict line reaches the worker: 127.0.0.1 answered before, ignored after; 127.0.0.2 still answered', async () => {
    const d = await GnomonDaemon.start({ config: config(12817, ['restrict default']), listen: '127.0.0.1:12817' });
    try {
      const ask = (from: string) => exchange({ host: '127.0.0.1', port: 12817, requests: [buildNtpPacket()], bindAddress: from, waitMs: 400 });
      expect(await ask('127.0.0.1'), d.describe()).toHaveLength(1);
      writeFileSync(d.configFile, `${config(12817, ['restrict default ignore', 'restrict 127.0.0.2'])}\n`);
      process.kill(d.proc.pid, 'SIGHUP');
      const reloaded = await pollUntil(() => (d.logs.some((l) => l.msg === 'configuration reloaded') ? true : undefined), 5000);
      expect(reloaded, d.describe()).toBe(true);
      // The worker applies it at its next loop turn (≤ one 50 ms receive timeout).
      const ignored = await pollUntil(async () => ((await ask('127.0.0.1')).length === 0 ? true : undefined), 3000, 100);
      expect(ignored, d.describe()).toBe(true);
      expect(await ask('127.0.0.2'), d.describe()).toHaveLength(1);
    } finally {
      await d.stop();
    }
  });
});

describe('fast path: SIGTERM under load', () => {
  it('a daemon flooded by bench/loadgen.c (closed loop, 128 in flight) exits 0 within 1 s of SIGTERM', async () => {
    const { compileLoadgen } = await import('../../bench/runner/loadgen.mjs' as string) as { compileLoadgen: () => void };
    compileLoadgen();
    const d = await GnomonDaemon.start({ config: config(12816, ['restrict default']), listen: '127.0.0.1:12816' });
    const loadgen = spawn('bench/build/loadgen', ['--port', '12816', '--duration', '6', '--window', '128', '--sockets', '16', '--label', 'sigterm'], { stdio: 'ignore' });
    try {
      // Under load: the worker has answered a good many requests.
      const loaded = await pollUntil(async () => ((await d.status()).counters.processed ?? 0) > 5000 ? true : undefined, 5000, 100);
      expect(loaded, d.describe()).toBe(true);
      const t0 = performance.now();
      const end = await d.proc.stop('SIGTERM', 5000);
      const ms = performance.now() - t0;
      expect(end, d.describe()).toMatchObject({ code: 0, killed: false });
      expect(ms, d.describe()).toBeLessThan(1000);
    } finally {
      loadgen.kill('SIGKILL');
      await d.stop().catch(() => undefined);
    }
  });
});

describe('fast path on port 123 in a namespace: ntpdig and ntpq', () => {
  const suite = gnomonSuite(localClockConfig(123, STRATUM), 'port123');

  it('ntpdig is answered (stratum 3, offset < 10 ms: it stamps in user space)', async () => {
    const r = await ntpdig(suite.ns, '127.0.0.1');
    expect(r.answer?.stratum, `${r.run.stdout}\n${r.run.stderr}\n${suite.gnomon.describe()}`).toBe(STRATUM);
    expect(Math.abs(r.answer?.offset ?? 1)).toBeLessThan(0.01);
  });

  it('ntpq -c rv (mode 6, forwarded to the main thread) reports the fast path\'s receive stamps; sysstats counts the worker\'s replies', async () => {
    const rv = await suite.ns.run('ntpq', ['-c', 'rv', '127.0.0.1'], { timeoutMs: 20_000 });
    const why = `${rv.stdout}\n${rv.stderr}\n${suite.gnomon.describe()}`;
    expect(rv.code, why).toBe(0);
    expect(rv.stdout, why).toMatch(/stratum=3/);
    expect(rv.stdout, why).toContain(FAST_RX);
    // ntpdig's requests above were answered by the worker; its counts reach mode 6 (posted every 250 ms).
    const counted = await pollUntil(async () => {
      const r = await suite.ns.run('ntpq', ['-c', 'sysstats', '127.0.0.1'], { timeoutMs: 20_000 });
      const m = /^processed for time:\s+(\d+)/m.exec(r.stdout);
      return m && Number(m[1]) >= 1 ? r.stdout : undefined;
    }, 5000, 200);
    expect(counted, suite.gnomon.describe()).toMatch(/^control requests:\s+[1-9]/m);
  });
});
