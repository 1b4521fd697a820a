// Acceptance (issue 7, associations): Gnomon as a client of real servers, and selection across GPS and servers.
// - a real chronyd (`local stratum 1`) and a real NTPsec ntpd (stratum 1 from an NMEA refclock): Gnomon syncs at
//   stratum 2 within 10 s of `iburst` (after the server itself is synchronised), its served time within 1 ms of
//   theirs (they all read this host's clock, so the truth is 0); NTPsec's `ntpq -p` shows the associations with
//   sane columns; `key N` against chronyd's keyfile authenticates, a wrong secret gives no time and is counted.
// - falsetickers: the GPS simulator a second off (`gnomon demo --offset-ms 1000`) against two agreeing servers:
//   the GPS is marked `x` and served time stays right; with the GPS right and one server 300 ms off, that server is.
// Layout: harness/upstream.ts's UpstreamLab (Gnomon in the client namespace, each server in its own on a veth link,
// 10.123.N.0/24). Ports: 123 inside the namespaces only.
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeServer, GNOMON_MAIN, GnomonDaemon } from './harness/daemon.js';
import { startDemo, type Demo } from './harness/demo.js';
import { ntpdig } from './harness/ntpsec.js';
import { bestSample, chronydOneShot } from './harness/chrony.js';
import { pollUntil, sleep, Teardown, TempDir } from './harness/process.js';
import { NTPQ, startChronydUpstream, startNtpsecUpstream, UpstreamLab, type ChronydUpstream, type NtpsecUpstream } from './harness/upstream.js';
import type { StatusReport } from '../../src/daemon/status.js';

const teardown = new Teardown();
let lab: UpstreamLab;
let chrony: ChronydUpstream;
let ntpsec: NtpsecUpstream;
let wrong: ChronydUpstream;

const dir = new TempDir('gnm-upstream-');
teardown.add('temp dir', () => dir.remove());
const SECRET = '00112233445566778899aabbccddeeff01234567';
const NTP_KEYS = dir.file('ntp.keys');
writeFileSync(NTP_KEYS, `1 SHA1 ${SECRET}\n2 SHA1 ${SECRET.replace(/.$/, '8')}\n3 SHA1 ${SECRET}\n`, { mode: 0o600 });
const CHRONY_KEYS = dir.file('chrony.keys');
writeFileSync(CHRONY_KEYS, `1 SHA1 HEX:${SECRET}\n2 SHA1 HEX:${SECRET}\n`, { mode: 0o600 });

beforeAll(async () => {
  lab = await UpstreamLab.create(teardown);
  const [h1, h2, h3] = [await lab.addHost(), await lab.addHost(), await lab.addHost()];
  [chrony, ntpsec, wrong] = await Promise.all([
    startChronydUpstream({ ns: h1.ns, address: h1.address, stratum: 1, extra: [`keyfile ${CHRONY_KEYS}`] }),
    startNtpsecUpstream({ ns: h2.ns, address: h2.address }),
    startChronydUpstream({ ns: h3.ns, address: h3.address, stratum: 1, offsetS: 0.3 }),
  ]);
  for (const u of [chrony, ntpsec, wrong]) teardown.add(`upstream ${u.address}`, () => u.stop());
  // ~13-16 s on a quiet machine (harness/upstream.ts); seen over 60 s while an image build loaded both cores.
  await ntpsec.waitSynchronised(150_000);
}, 240_000);
afterAll(() => teardown.run(), 60_000);

/** Each Gnomon (daemon or demo) of this file on its own loopback address: 127.0.0.10, .11, ... */
let nextHost = 10;
const nextListen = (): string => `127.0.0.${nextHost++}`;

async function gnomon(lines: readonly string[]): Promise<GnomonDaemon & { host: string }> {
  const host = nextListen();
  const d = Object.assign(await GnomonDaemon.start({ config: ['restrict default', ...lines].join('\n'), listen: `${host}:123`, ns: lab.client }), { host });
  teardown.add('gnomon', () => d.stop().catch(() => undefined));
  return d;
}

async function statusUntil(get: () => Promise<StatusReport>, ok: (s: StatusReport) => boolean, timeoutMs: number): Promise<{ s: StatusReport; ms: number }> {
  const t0 = Date.now();
  let last: StatusReport | undefined;
  await pollUntil(async () => {
    last = await get();
    return ok(last) || undefined;
  }, timeoutMs, 250);
  return { s: last ?? await get(), ms: Date.now() - t0 };
}

/**
 * Served time against the host clock (they share it: the truth is 0), s, as a real client measures it from Gnomon's
 * namespace: chronyd -Q's 8 samples, the one with the smallest delay (the clock-filter idea; a loaded event loop
 * delays single replies), and ntpdig for the stratum.
 */
async function servedOffsetS(host: string): Promise<{ offset: number; stratum: number }> {
  const q = await chronydOneShot(host, 123, { ns: lab.client, samples: 8, poll: -4 });
  const best = bestSample(q.samples);
  if (!best) throw new Error(`chronyd -Q got no sample from Gnomon at ${host}:\n${q.log}`);
  const r = await ntpdig(lab.client, host);
  if (!r.answer) throw new Error(`ntpdig got no answer from Gnomon: ${r.run.stderr} ${r.dropped.join('; ')}`);
  console.log(`served time of ${host} seen by chronyd -Q: offset ${(best.offset * 1e6).toFixed(0)} µs, delay ${(best.peerDelay * 1e6).toFixed(0)} µs (best of ${q.samples.length})`);
  return { offset: best.offset, stratum: r.answer.stratum };
}

describe('Gnomon as a client of real servers', () => {
  it('chronyd (local stratum 1) with iburst and key 1: stratum 2 within 10 s, served time within 1 ms; ntpq -p shows it', async () => {
    const stats = dir.file('stats');
    mkdirSync(stats);
    const g = await gnomon([`keys ${NTP_KEYS}`, 'trustedkey 1 2', `server ${chrony.address} iburst key 1`, `statsdir ${stats}/`, 'statistics peerstats']);
    const { s, ms } = await statusUntil(() => g.status(), (x) => x.server.selected === chrony.address, 15_000);
    expect(s.server, g.describe()).toMatchObject({ synchronised: true, stratum: 2, refid: chrony.address, state: 'tracking' });
    expect(ms, 'iburst: synchronised within 10 s').toBeLessThan(10_000);
    const a = s.associations[0]!;
    expect(a).toMatchObject({ hmode: 3, pmode: 4, keyId: 1, upstream: { stratum: 1 } });
    expect(a.rejects.badMac ?? 0).toBe(0);
    const served = await servedOffsetS(g.host);
    expect(served.stratum).toBe(2);
    expect(Math.abs(served.offset)).toBeLessThan(0.001);

    // NTPsec's ntpq -p against Gnomon: remote, refid, st 1, t u, poll, reach, delay/offset/jitter in ms.
    const p = await lab.client.run(NTPQ, ['-pn', g.host], { timeoutMs: 20_000 });
    const row = p.stdout.split('\n').find((l) => l.includes(chrony.address));
    expect(row, p.stdout + p.stderr).toBeDefined();
    const [remote, refid, st, t, when, poll, reach, delay, offset, jitter] = row!.trim().split(/\s+/);
    expect(remote).toBe(`*${chrony.address}`);
    // chronyd's local reference's refid is 127.127.1.1 (0x7f7f0101), unprintable as ASCII at stratum 1.
    expect(refid).toMatch(/^\..*\.$/);
    expect([st, t]).toEqual(['1', 'u']);
    expect(when === '-' ? 0 : Number(when), `when: ${when}`).toBeLessThan(64); // ntpq prints '-' under one second
    expect(poll).toBe('64');
    expect(parseInt(reach!, 8)).toBeGreaterThan(0);
    expect(Number(delay)).toBeGreaterThan(0);
    expect(Number(delay)).toBeLessThan(5);
    expect(Math.abs(Number(offset))).toBeLessThan(1);
    // The association's own receive stamps are user-space (an own issue): under a full test run one iburst sample
    // can be a millisecond late, and the filter's jitter (RMS over the stages) shows it; a sanity bound here.
    expect(Number(jitter)).toBeLessThan(5);

    // peerstats in ntpd's format: one line per sample of the server, its address in the second column.
    const lines = readdirSync(stats).filter((f) => f.startsWith('peerstats')).flatMap((f) => readFileSync(`${stats}/${f}`, 'utf8').split('\n'))
      .filter((l) => l.split(' ')[2] === chrony.address);
    expect(lines.length, readdirSync(stats).join(' ')).toBeGreaterThan(0);
    expect(lines[0]!.split(' ')).toHaveLength(8);
  }, 60_000);

  it('a wrong secret (key 2) to chronyd, a key NTPsec ntpd does not have (3): no answer, so no time; Gnomon shows the silence', async () => {
    // Both real servers drop a request whose MAC they cannot verify, without a crypto-NAK (seen here: chrony 4.3,
    // NTPsec 1.2.2); Gnomon's handling of a crypto-NAK is covered against its own server in test/unit/assoc.
    for (const [server, key] of [[chrony.address, 2], [ntpsec.address, 3]] as const) {
      const g = await gnomon([`keys ${NTP_KEYS}`, 'trustedkey 1 2 3', `server ${server} iburst key ${key}`]);
      const { s } = await statusUntil(() => g.status(), (x) => (x.associations[0]?.sent ?? 0) >= 6, 20_000);
      const a = s.associations[0]!;
      expect(s.server.synchronised, JSON.stringify(a)).toBe(false);
      expect(a).toMatchObject({ keyId: key, reach: 0, received: 0, filter: null });
      expect(a.sent).toBeGreaterThanOrEqual(6);
      // gnomon status names the silence for the operator.
      const text = await lab.client.run(process.execPath, [GNOMON_MAIN, 'status', '--control', g.controlSocket], { timeoutMs: 10_000 });
      expect(text.stdout).toMatch(new RegExp(`${server.replace(/\./g, '\\.')} \\(server, key ${key}\\) reach +0 .* no samples`));
      await g.stop();
    }
  }, 90_000);

  it('NTPsec ntpd (stratum 1 from its NMEA refclock): stratum 2 within 10 s, served time within 1 ms', async () => {
    const g = await gnomon([`server ${ntpsec.address} iburst`]);
    const { s, ms } = await statusUntil(() => g.status(), (x) => x.server.selected === ntpsec.address, 15_000);
    expect(s.server, `${g.describe()}\n${ntpsec.describe()}`).toMatchObject({ synchronised: true, stratum: 2, refid: ntpsec.address });
    expect(ms).toBeLessThan(10_000);
    expect(s.associations[0]).toMatchObject({ upstream: { stratum: 1 } });
    const served = await servedOffsetS(g.host);
    expect(served.stratum).toBe(2);
    expect(Math.abs(served.offset)).toBeLessThan(0.001);
  }, 60_000);
});

describe('falsetickers: GPS against upstream servers', () => {
  async function demo(offsetMs: number, servers: readonly string[], more: readonly string[] = []): Promise<Demo & { host: string }> {
    const extra = dir.file(`extra-${offsetMs}.conf`);
    // The demo's own restrict lines keep mode 6 to 127.0.0.1; this file's demos listen elsewhere on lo.
    writeFileSync(extra, ['restrict 127.0.0.0 mask 255.0.0.0', ...servers.map((a) => `server ${a} iburst`), ...more].join('\n') + '\n');
    const host = nextListen();
    return Object.assign(await startDemo(['--listen', `${host}:123`, '--offset-ms', String(offsetMs), '--config', extra, '--web', 'off'], teardown, lab.client), { host });
  }

  it('the GPS a second off, two servers agreeing: the GPS is marked x, a server followed, served time right', async () => {
    const d = await demo(1000, [chrony.address, ntpsec.address]);
    // Both GPS sources judged: the NMEA at once, the PPS once paired (the wrong second pairs like any other).
    const { s } = await statusUntil(() => d.status(), (x) => (x.server.selected === chrony.address || x.server.selected === ntpsec.address)
      && x.refclocks.every((r) => r.estimate !== null && r.falseticker), 40_000);
    expect(s.server, d.proc.describe()).toMatchObject({ synchronised: true, stratum: 2 });
    expect(s.refclocks.filter((r) => r.falseticker).map((r) => r.name).sort(), JSON.stringify(s.refclocks.map((r) => [r.name, r.estimate]))).toEqual(['GPS_NMEA(0)', 'PPS(0)']);
    expect(s.associations.filter((a) => a.falseticker)).toEqual([]);
    const p = await lab.client.run(NTPQ, ['-pn', d.host], { timeoutMs: 20_000 });
    for (const name of ['GPS_NMEA(0)', 'PPS(0)']) expect(p.stdout.split('\n').find((l) => l.includes(name))?.startsWith('x'), p.stdout).toBe(true);
    const served = await servedOffsetS(d.host);
    expect(Math.abs(served.offset), 'served time follows the servers, not the GPS').toBeLessThan(0.002);
  }, 90_000);

  it('the GPS right, one server right and one 300 ms off: the bad server is marked x, PPS followed at stratum 1', async () => {
    const stats = dir.file('stats-falseticker');
    mkdirSync(stats);
    // Polled every 2 s, so peerstats gets lines after the verdict too (a 64 s poll would write the next one a minute later).
    const d = await demo(0, [], [`server ${chrony.address} iburst minpoll 1 maxpoll 1`, `server ${wrong.address} iburst minpoll 1 maxpoll 1`,
      `statsdir ${stats}/`, 'statistics peerstats']);
    const { s } = await statusUntil(() => d.status(),
      (x) => x.server.selected === 'PPS(0)' && x.associations.some((a) => a.address === wrong.address && a.falseticker), 40_000);
    expect(s.server, d.proc.describe()).toMatchObject({ synchronised: true, stratum: 1, selected: 'PPS(0)' });
    expect(s.associations.filter((a) => a.falseticker).map((a) => a.address)).toEqual([wrong.address]);
    expect(s.refclocks.filter((r) => r.falseticker)).toEqual([]);
    const p = await lab.client.run(NTPQ, ['-pn', d.host], { timeoutMs: 20_000 });
    expect(p.stdout.split('\n').find((l) => l.includes(wrong.address))?.startsWith('x'), p.stdout).toBe(true);
    const served = await servedOffsetS(d.host);
    expect(Math.abs(served.offset)).toBeLessThan(0.002);
    // peerstats: the bad server's lines since the verdict have ntpd's falseticker selection code (status 0x91nn:
    // configured, reachable, 1); before the GPS locked, two voters could not tell who was wrong.
    await sleep(5000);
    await pollUntil(() => readdirSync(stats).some((f) => f.startsWith('peerstats')) || undefined, 10_000);
    const statuses = readdirSync(stats).filter((f) => f.startsWith('peerstats'))
      .flatMap((f) => readFileSync(`${stats}/${f}`, 'utf8').split('\n')).filter((l) => l.split(' ')[2] === wrong.address).map((l) => l.split(' ')[3]);
    expect(statuses.at(-1), statuses.join(' ')).toMatch(/^91/);
  }, 90_000);
});

describe('reload', () => {
  it('SIGHUP with a changed server line: the old association goes, the new one syncs; an unchanged config keeps it', async () => {
    const g = await gnomon([`server ${chrony.address} iburst`]);
    await statusUntil(() => g.status(), (x) => x.server.selected === chrony.address, 15_000);
    const sentBefore = (await g.status()).associations[0]!.sent;
    process.kill(g.proc.pid, 'SIGHUP'); // same config: nothing restarts
    await pollUntil(() => g.logs.filter((l) => l.msg === 'configuration reloaded').length >= 1 || undefined, 10_000);
    const same = await g.status();
    expect(same.associations.map((a) => a.address)).toEqual([chrony.address]);
    expect(same.associations[0]!.sent, 'the association kept its state').toBeGreaterThanOrEqual(sentBefore);
    expect(same.server.selected).toBe(chrony.address);

    writeFileSync(g.configFile, ['restrict default', `server ${ntpsec.address} iburst`].join('\n') + '\n');
    process.kill(g.proc.pid, 'SIGHUP');
    const { s } = await statusUntil(() => g.status(), (x) => x.server.selected === ntpsec.address, 20_000);
    expect(s.associations.map((a) => a.address), g.describe()).toEqual([ntpsec.address]);
    expect(s.server.stratum).toBe(2);
  }, 60_000);
});

describe('names: pool and a server that moves', () => {
  it('a pool name with two addresses mobilises both; a name whose server went silent is resolved again and follows the move', async () => {
    // `ip netns exec` bind-mounts /etc/netns/NS/hosts over /etc/hosts, so the names resolve inside the lab only.
    const etc = `/etc/netns/${lab.client.name}`;
    mkdirSync(etc, { recursive: true });
    teardown.add('netns hosts', () => rmSync(etc, { recursive: true, force: true }));
    const hosts = `${etc}/hosts`;
    const write = (moving: string) => writeFileSync(hosts, ['127.0.0.1 localhost', `${chrony.address} pool.gnomon.test`,
      `${ntpsec.address} pool.gnomon.test`, `${moving} moving.gnomon.test`].join('\n') + '\n');
    write('10.123.99.2'); // nobody there: no route, no answer
    const g = await gnomon(['pool pool.gnomon.test iburst', 'server moving.gnomon.test minpoll 1 maxpoll 1']);
    const { s } = await statusUntil(() => g.status(), (x) => x.server.stratum === 2
      && [chrony.address, ntpsec.address].every((a) => x.associations.some((y) => y.address === a && y.filter !== null)), 20_000);
    expect(s.associations.map((a) => a.address).sort(), g.describe()).toEqual([chrony.address, ntpsec.address, '10.123.99.2'].sort());

    // The name moves (in place: the bind mount keeps the inode); after 8 silent polls of 2 s (no iburst: a volley per poll while unreachable would make that 8 × 16 s) the name is looked up again.
    write(wrong.address);
    const { s: moved } = await statusUntil(() => g.status(), (x) => x.associations.some((y) => y.address === wrong.address && y.filter !== null), 60_000);
    expect(moved.associations.map((a) => a.address), g.describe()).not.toContain('10.123.99.2');
    expect(g.logs.some((l) => String(l.msg).includes('resolving moving.gnomon.test again'))).toBe(true);
    // And the server it moved to is 300 ms off: outvoted by the two pool members.
    const { s: judged } = await statusUntil(() => g.status(), (x) => x.associations.some((y) => y.address === wrong.address && y.falseticker), 20_000);
    expect(judged.associations.find((a) => a.address === wrong.address)?.falseticker).toBe(true);
  }, 120_000);
});

// NTPsec 1.2.2 sent no kiss-o'-death here, neither for `restrict ADDR kod limited` with iburst's 2 s spacing
// under `discard minimum 4` nor for `noserve kod` (silence both times), and chronyd sends none: the KoDs come
// from harness/fake-server.mjs (RFC 5905's layout: LI 3, stratum 0, the code as refid, origin = our transmit).
describe("kiss-o'-death", () => {
  it('RATE: the poll backs off and the KoD is counted; DENY: the association stops and the log says why', async () => {
    const rate = await FakeServer.start('kod-rate', '127.0.0.3', 123, lab.client);
    teardown.add('fake RATE server', () => rate.stop());
    const g = await gnomon(['server 127.0.0.3 iburst minpoll 3 maxpoll 6']);
    const { s } = await statusUntil(() => g.status(), (x) => (x.associations[0]?.kod.RATE ?? 0) >= 1 && x.associations[0]!.pollLog2S > 3, 20_000);
    const a = s.associations[0]!;
    expect(a.kod.RATE ?? 0, JSON.stringify(a)).toBeGreaterThanOrEqual(1);
    expect(a.pollLog2S).toBeGreaterThan(3);
    expect(a).toMatchObject({ demobilised: false, filter: null });

    const deny = await FakeServer.start('kod-deny', '127.0.0.4', 123, lab.client);
    teardown.add('fake DENY server', () => deny.stop());
    const h = await gnomon(['server 127.0.0.4 iburst']);
    const { s: t } = await statusUntil(() => h.status(), (x) => x.associations.length === 0, 20_000);
    expect(t.associations, h.describe()).toEqual([]);
    expect(h.logs.some((l) => /kiss-o'-death \(DENY\): no longer polled/.test(String(l.msg))), h.describe()).toBe(true);
  }, 60_000);
});
