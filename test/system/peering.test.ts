// Acceptance (issue 7): two Gnomon boxes peer symmetrically (mode 1 both ways, with a key), each sees the other in
// NTPsec's `ntpq -p` as a symmetric association; stopping one leaves the other serving. And a Gnomon broadcast
// client hears another Gnomon's mode 5 across a veth pair, calibrates the delay with a client volley and syncs;
// signed broadcasts are accepted with the right key and ignored with a wrong one.
// And a multicast client joins 224.0.1.1 and syncs to a signed multicast server.
// Network: only the namespaces this file creates (10.250.124-126.0/24 on veth pairs). Ports: 123 inside them.
import { existsSync, writeFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { GnomonDaemon } from './harness/daemon.js';
import { Netns, vethPair } from './harness/netns.js';
import { pollUntil, runOk, Teardown, TempDir } from './harness/process.js';
import { ntpdig } from './harness/ntpsec.js';
import { buildNtpPacket, exchange, MODE } from './harness/udp.js';
import type { StatusReport } from '../../src/daemon/status.js';

const NTPQ = '/usr/bin/ntpq';
const teardown = new Teardown();
afterAll(() => teardown.run(), 60_000);

const dir = new TempDir('gnm-peering-');
teardown.add('temp dir', () => dir.remove());
const KEYS = dir.file('ntp.keys');
writeFileSync(KEYS, '1 SHA1 8b3f3c1e0a7d4f6b9e2c5a1d7f0b3e6c9a2d5f81\n2 MD5 wrongwrongwrong\n', { mode: 0o600 });
const OTHER_KEYS = dir.file('other.keys');
writeFileSync(OTHER_KEYS, '1 SHA1 00000000000000000000000000000000000000aa\n', { mode: 0o600 });

async function pair(prefix: string): Promise<{ a: Netns; b: Netns; aAddr: string; bAddr: string; aDev: string; bDev: string }> {
  const a = await Netns.create();
  teardown.add(`namespace ${a.name}`, () => a.destroy());
  const b = await Netns.create();
  teardown.add(`namespace ${b.name}`, () => b.destroy());
  return { a, b, ...await vethPair(a, b, prefix) };
}

async function start(ns: Netns, lines: readonly string[]): Promise<GnomonDaemon> {
  const d = await GnomonDaemon.start({ config: lines.join('\n'), listen: '0.0.0.0:123', ns });
  teardown.add('gnomon', () => d.stop().catch(() => undefined));
  return d;
}

/** Polls `gnomon status` until `ok` holds (bounded); returns the last report either way. */
async function statusUntil(d: GnomonDaemon, ok: (s: StatusReport) => boolean, timeoutMs: number): Promise<StatusReport> {
  let last: StatusReport | undefined;
  await pollUntil(async () => {
    last = await d.status();
    return ok(last) || undefined;
  }, timeoutMs, 500);
  return last ?? await d.status();
}

describe('two Gnomon peers (mode 1 both ways, key 1)', () => {
  it('each sees the other as a symmetric association; B follows A; B keeps serving when A stops', async () => {
    if (!existsSync(NTPQ)) throw new Error(`${NTPQ} is missing: run \`node test/system/ensure-peers.mjs\` as root (ntpsec). Not skipping.`);
    const { a, b, aAddr, bAddr } = await pair('10.250.124');
    const auth = [`keys ${KEYS}`, 'trustedkey 1', 'restrict default'];
    // A has a reference (the local clock at stratum 3); B only its peer.
    const gA = await start(a, ['server 127.127.1.0', 'fudge 127.127.1.0 stratum 3', `peer ${bAddr} key 1 minpoll 1 maxpoll 1`, ...auth]);
    const gB = await start(b, [`peer ${aAddr} key 1 minpoll 1 maxpoll 1`, ...auth]);

    const sB = await statusUntil(gB, (s) => s.server.stratum === 4 && s.server.selected === aAddr, 40_000);
    expect(sB.server, gB.describe()).toMatchObject({ synchronised: true, stratum: 4, refid: aAddr, selected: aAddr, state: 'tracking' });
    const peerOfB = sB.associations.find((x) => x.address === aAddr);
    expect(peerOfB).toMatchObject({ hmode: 1, pmode: 1, keyId: 1 });
    expect(peerOfB!.rejects.badMac ?? 0).toBe(0);

    // A hears B (stratum 4, reachable) but does not follow it: B's refid is A's own address (a timing loop).
    const sA = await statusUntil(gA, (s) => (s.associations.find((x) => x.address === bAddr)?.reach ?? 0) !== 0, 20_000);
    expect(sA.server, gA.describe()).toMatchObject({ stratum: 3, selected: 'LOCAL(0)' });
    expect(sA.associations.find((x) => x.address === bAddr)).toMatchObject({ hmode: 1 });

    // NTPsec's ntpq on each side: a symmetric association ("s" in the t column) with the other's address.
    for (const [ns, other] of [[a, bAddr], [b, aAddr]] as const) {
      const p = await ns.run(NTPQ, ['-pn', '127.0.0.1'], { timeoutMs: 20_000 });
      const row = p.stdout.split('\n').find((l) => l.includes(other));
      expect(row, `ntpq -pn in ${ns.name}:\n${p.stdout}${p.stderr}`).toBeDefined();
      expect(row!.trim().split(/\s+/)[3], row).toBe('s');
      const rv = await ns.run(NTPQ, ['-c', 'as', '127.0.0.1'], { timeoutMs: 20_000 });
      expect(rv.code, rv.stderr).toBe(0);
    }
    const star = (await b.run(NTPQ, ['-pn', '127.0.0.1'], { timeoutMs: 20_000 })).stdout.split('\n').find((l) => l.includes(aAddr));
    expect(star?.startsWith('*'), star).toBe(true);

    // Stop A: B goes on serving (holdover on the line it learnt), stratum 4, a client in B's namespace still gets time.
    await gA.stop();
    const held = await statusUntil(gB, (s) => s.server.state === 'holdover', 30_000);
    expect(held.server).toMatchObject({ synchronised: true, stratum: 4, state: 'holdover' });
    const r = await ntpdig(b, '127.0.0.1');
    expect(r.answer?.stratum, JSON.stringify(r)).toBe(4);
    expect(Math.abs(r.answer!.offset)).toBeLessThan(0.005);
  }, 120_000);
});

describe('broadcast client (mode 5 over a veth pair)', () => {
  it('syncs to a signed broadcaster after a client volley; a wrong key is ignored', async () => {
    const { a, b, aAddr } = await pair('10.250.125');
    await start(a, ['server 127.127.1.0', 'fudge 127.127.1.0 stratum 3', 'broadcast 10.250.125.255 minpoll 1 key 1',
      `keys ${KEYS}`, 'trustedkey 1', 'restrict default']);
    const good = await start(b, ['broadcastclient', `keys ${KEYS}`, 'trustedkey 1', 'restrict default']);
    const s = await statusUntil(good, (x) => x.server.selected === aAddr, 40_000);
    expect(s.server, good.describe()).toMatchObject({ synchronised: true, stratum: 4, refid: aAddr, state: 'tracking' });
    const assoc = s.associations.find((x) => x.address === aAddr)!;
    expect(assoc).toMatchObject({ hmode: 6, keyId: 1 });
    // The volley measured the delay: a veth round trip is well under a millisecond, and not zero.
    expect(assoc.filter!.delayNs).toBeGreaterThan(0);
    expect(assoc.filter!.delayNs).toBeLessThan(5e6);
    const r = await ntpdig(b, '127.0.0.1');
    expect(r.answer?.stratum, JSON.stringify(r)).toBe(4);
    expect(Math.abs(r.answer!.offset)).toBeLessThan(0.005);
    await good.stop();

    // Same key id, another secret: the broadcasts do not verify, so no association and no time.
    const wrong = await start(b, ['broadcastclient', `keys ${OTHER_KEYS}`, 'trustedkey 1', 'restrict default']);
    await new Promise((resolve) => setTimeout(resolve, 8000));
    const w = await wrong.status();
    expect(w.server.synchronised, JSON.stringify(w.associations)).toBe(false);
    expect(w.associations).toEqual([]);
    expect(wrong.logs.some((l) => String(l.msg).includes('without a MAC under a trusted key')), wrong.describe()).toBe(true);
  }, 120_000);
});

describe('multicast client (mode 5 to 224.0.1.1 over a veth pair)', () => {
  it('multicastclient joins the group and syncs to a signed multicast server', async () => {
    const { a, b, aAddr, aDev, bDev } = await pair('10.250.126');
    // Neither namespace has a default route: IPv4 multicast needs one for 224.0.0.0/4 on both sides (docs/broadcast.md).
    await runOk('ip', ['-n', a.name, 'route', 'add', '224.0.0.0/4', 'dev', aDev], { timeoutMs: 10_000 });
    await runOk('ip', ['-n', b.name, 'route', 'add', '224.0.0.0/4', 'dev', bDev], { timeoutMs: 10_000 });
    await start(a, ['server 127.127.1.0', 'fudge 127.127.1.0 stratum 3', 'broadcast 224.0.1.1 ttl 1 minpoll 1 key 1',
      `keys ${KEYS}`, 'trustedkey 1', 'restrict default']);
    const client = await start(b, ['multicastclient 224.0.1.1', `keys ${KEYS}`, 'trustedkey 1', 'restrict default']);
    const s = await statusUntil(client, (x) => x.server.selected === aAddr, 40_000);
    expect(s.server, client.describe()).toMatchObject({ synchronised: true, stratum: 4, refid: aAddr, state: 'tracking' });
    expect(s.associations.find((x) => x.address === aAddr)).toMatchObject({ hmode: 6, keyId: 1 });
  }, 90_000);
});

describe('broadcast client limits (loopback, port 12420)', () => {
  it('follows at most 8 broadcasters: spoofed mode 5 from a ninth address is ignored and logged once', async () => {
    const d = await GnomonDaemon.start({ config: ['broadcastclient', 'restrict default', 'port 12420'].join('\n'), listen: '127.0.0.1:12420' });
    teardown.add('gnomon', () => d.stop().catch(() => undefined));
    for (let i = 11; i <= 19; i++) {
      await exchange({ host: '127.0.0.1', port: 12420, requests: [buildNtpPacket({ mode: MODE.broadcast, stratum: 2 })], waitMs: 0, bindAddress: `127.0.0.${i}` });
    }
    const s = await statusUntil(d, (x) => x.associations.length >= 8, 10_000);
    expect(s.associations.map((a) => a.address).sort(), d.describe()).toEqual(Array.from({ length: 8 }, (_, k) => `127.0.0.${11 + k}`).sort());
    await pollUntil(() => d.logs.some((l) => String(l.msg).includes('already following 8 broadcasters')) || undefined, 5000);
    expect(d.logs.filter((l) => String(l.msg).includes('already following 8 broadcasters')), d.describe()).toHaveLength(1);
  }, 30_000);
});
