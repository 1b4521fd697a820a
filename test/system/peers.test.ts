// `gnomon peers` (the ntpq -p table over mode 6) against a real NTPsec ntpd, side by side with NTPsec's ntpq.
// ntpd runs in this file's network namespace on port 123, WITHOUT CAP_SYS_TIME (setpriv drops it from the
// bounding and inheritable sets, ../shared/PEERS.md): it cannot touch the host clock. Its peers are the local
// clock (127.127.1.0, fudged to stratum 10) and an NMEA refclock (127.127.20.0) reading a socat pty that this
// test feeds with one $GPRMC a second. `restrict ::1 noquery` makes ::1 a server that does not answer mode 6.
// Ports: 123 inside the namespaces only.
import { existsSync, openSync, closeSync, writeFileSync, writeSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GNOMON_MAIN } from './harness/daemon.js';
import { SOCAT } from './harness/gpsd.js';
import { Netns } from './harness/netns.js';
import { describeRun, LongRunning, pollUntil, Teardown, TempDir, type RunResult } from './harness/process.js';
import { sentence as nmeaSentence } from '../unit/drivers/nmea/sentences.js';
import type { PeersJsonEntry } from '../../src/cli/peers.js';

const NTPD = '/usr/sbin/ntpd';
const NTPQ = '/usr/bin/ntpq';
const SETPRIV = '/usr/bin/setpriv';

const teardown = new Teardown();
let ns: Netns;
let ntpd: LongRunning;
let dir: TempDir;

const pad = (n: number): string => String(n).padStart(2, '0');

/** One RMC for the current UTC second (valid fix), as a GPS would send it just after the second. */
function rmcNow(): string {
  const d = new Date();
  const t = `${pad(d.getUTCHours())}${pad(d.getUTCMinutes())}${pad(d.getUTCSeconds())}.00`;
  const date = `${pad(d.getUTCDate())}${pad(d.getUTCMonth() + 1)}${pad(d.getUTCFullYear() % 100)}`;
  return `${nmeaSentence(`GPRMC,${t},A,4807.038,N,01131.000,E,0.0,0.0,${date},,,A`)}\r\n`;
}

function ntpq(args: string[]): Promise<RunResult> {
  return ns.run(NTPQ, args, { timeoutMs: 20_000 });
}

function gnomon(args: string[], namespace: Netns = ns): Promise<RunResult> {
  return namespace.run(process.execPath, [GNOMON_MAIN, ...args], { timeoutMs: 20_000 });
}

/** The table's lines, with the time-dependent `when` column (4 characters under "when") blanked. */
function masked(stdout: string): string[] {
  const lines = stdout.split('\n').filter((l) => l !== '');
  const at = lines[0]?.indexOf('when') ?? -1;
  return lines.map((l, i) => (i < 2 || at < 0 ? l : l.slice(0, at) + '....' + l.slice(at + 4)));
}

beforeAll(async () => {
  for (const bin of [NTPD, NTPQ, SETPRIV, SOCAT]) {
    if (!existsSync(bin)) throw new Error(`${bin} is missing: run \`node test/system/ensure-peers.mjs\` as root (ntpsec, socat). Not skipping.`);
  }
  ns = await Netns.create();
  teardown.add('namespace', () => ns.destroy());
  dir = new TempDir('gnm-peers-');
  teardown.add('temp dir', () => dir.remove());

  const writer = dir.file('gps0');
  const device = dir.file('gps1');
  const socat = await LongRunning.start(SOCAT, ['-d', '-d', `pty,raw,echo=0,link=${writer}`, `pty,raw,echo=0,link=${device}`]);
  teardown.add('socat', () => socat.stop('SIGTERM', 2000));
  if (await pollUntil(() => (existsSync(writer) && existsSync(device)) || undefined, 5000) === undefined) {
    throw new Error(`socat made no pty pair within 5 s:\n${socat.describe()}`);
  }
  // One sentence a second, 50 ms after the second, for at most 10 minutes.
  const fd = openSync(writer, 'w');
  let written = 0;
  let timer: NodeJS.Timeout | undefined;
  const tick = (): void => {
    try {
      writeSync(fd, rmcNow());
    } catch {
      return; // pty gone: teardown
    }
    if (++written < 600) timer = setTimeout(tick, 1050 - (Date.now() % 1000));
  };
  timer = setTimeout(tick, 1050 - (Date.now() % 1000));
  teardown.add('nmea writer', () => {
    if (timer) clearTimeout(timer);
    closeSync(fd);
  });

  const conf = dir.file('ntp.conf');
  writeFileSync(conf, [
    'server 127.127.1.0 minpoll 4 maxpoll 4',
    'fudge 127.127.1.0 stratum 10',
    `refclock nmea unit 0 path ${device} baud 4800 minpoll 4 maxpoll 4`,
    'restrict default',
    'restrict 127.0.0.1',
    'restrict ::1 noquery',
    `driftfile ${dir.file('drift')}`,
    `statsdir ${dir.path}/`,
    '',
  ].join('\n'));
  // Without CAP_SYS_TIME in the bounding and inheritable sets: ntpd's clock calls fail (EPERM), the host clock stays.
  ntpd = await ns.start(SETPRIV, ['--bounding-set', '-sys_time', '--inh-caps', '-sys_time', NTPD, '-n', '-c', conf]);
  teardown.add('ntpd', () => ntpd.stop('SIGTERM', 5000));

  // Both associations reached at least once (reach != 0) in ntpq's own view.
  const ready = await pollUntil(async () => {
    const r = await ntpq(['-pn', '127.0.0.1']);
    const rows = r.stdout.split('\n').slice(2).filter((l) => l.trim() !== '');
    const reached = rows.filter((l) => /^.(LOCAL\(0\)|NMEA\(0\))\s/.test(l) && l.trim().split(/\s+/).at(-4) !== '0');
    return reached.length === 2 ? r : undefined;
  }, 45_000, 500);
  if (!ready) throw new Error(`ntpd did not reach LOCAL(0) and NMEA(0) within 45 s:\n${ntpd.describe()}\n${describeRun(await ntpq(['-pn', '127.0.0.1']))}`);
}, 60_000);

afterAll(() => teardown.run());

/**
 * ntpq, gnomon, ntpq again: gnomon's table must equal one of ntpq's (when blanked). A poll between two runs may
 * change reach/offset, so up to 4 rounds are tried; every round is shown if none matches.
 */
async function compareWithNtpq(ntpqArgs: string[], gnomonArgs: string[]): Promise<{ table: string[]; rounds: string }> {
  let log = '';
  for (let round = 0; round < 4; round++) {
    const before = await ntpq(ntpqArgs);
    const ours = await gnomon(gnomonArgs);
    const after = await ntpq(ntpqArgs);
    log += `--- round ${round}\n${describeRun(before)}\n${describeRun(ours)}\n${describeRun(after)}\n`;
    expect(ours.code, log).toBe(0);
    expect(before.code, log).toBe(0);
    const mine = masked(ours.stdout);
    if ([before, after].some((r) => JSON.stringify(masked(r.stdout)) === JSON.stringify(mine))) return { table: mine, rounds: log };
  }
  throw new Error(`gnomon's table never equalled ntpq's (when column excluded):\n${log}\n${ntpd.describe()}`);
}

describe('gnomon peers against NTPsec ntpd (local clock + NMEA refclock) in a namespace', () => {
  it('prints the same table as `ntpq -p 127.0.0.1` (every column but when)', async () => {
    const { table, rounds } = await compareWithNtpq(['-p', '127.0.0.1'], ['peers']);
    expect(table[0], rounds).toBe('     remote           refid      st t when poll reach   delay   offset   jitter');
    expect(table[1], rounds).toBe('='.repeat(79));
    expect(table.slice(2).map((l) => l.slice(1, 33)), rounds).toEqual(['LOCAL(0)        .LOCL.          ', 'NMEA(0)         .GPS.           ']);
    expect(table.slice(2).map((l) => l.slice(33, 37)), rounds).toEqual(['10 l', ' 0 l']);
  });

  it('`gnomon ntpq -n` equals `ntpq -pn 127.0.0.1`', async () => {
    await compareWithNtpq(['-pn', '127.0.0.1'], ['ntpq', '-n', '127.0.0.1']);
  });

  it('--json parses: one object per association with the columns and ntpd\'s variables', async () => {
    const r = await gnomon(['peers', '--json']);
    expect(r.code, describeRun(r)).toBe(0);
    const rows = JSON.parse(r.stdout) as PeersJsonEntry[];
    expect(rows.map((x) => [x.remote, x.refid, x.stratum, x.type, x.poll]), r.stdout)
      .toEqual([['LOCAL(0)', '.LOCL.', 10, 'l', 16], ['NMEA(0)', '.GPS.', 0, 'l', 16]]);
    for (const x of rows) {
      expect(x.status, r.stdout).toMatch(/^[0-9a-f]{4}$/);
      expect(Number.isInteger(x.reach) && x.reach >= 0 && x.reach <= 255, r.stdout).toBe(true);
      expect(typeof x.delay, r.stdout).toBe('number');
      expect(typeof x.offset, r.stdout).toBe('number');
      expect(x.line.startsWith(x.tally + x.remote), r.stdout).toBe(true);
    }
    expect(rows.map((x) => x.variables.srcadr)).toEqual(['127.127.1.0', '127.127.20.0']);
    expect(rows[1]!.variables.srchost).toBe('NMEA(0)');
    expect(rows[1]!.variables.refid).toBe('GPS');
    expect(typeof rows[1]!.variables.rec).toBe('string');
  });

  it('a server whose restrict says noquery (::1): no answer within the timeout and retry, exit 2 with the message', async () => {
    const r = await gnomon(['peers', '::1', '--timeout', '1']);
    expect(r.code, describeRun(r)).toBe(2);
    expect(r.stderr).toBe('gnomon peers: [::1]:123: no answer (is an NTP server running there and does `restrict ... noquery` cover you?)\n');
    expect(r.stdout).toBe('');
  });

  it('no server at all (an empty namespace): exit 2 with the message, at once (port unreachable)', async () => {
    const empty = await Netns.create();
    try {
      const r = await gnomon(['peers'], empty);
      expect(r.code, describeRun(r)).toBe(2);
      expect(r.stderr).toBe('gnomon peers: 127.0.0.1:123: no answer (is an NTP server running there and does `restrict ... noquery` cover you?)\n');
    } finally {
      await empty.destroy();
    }
  });
});
