// Acceptance (issue 5, broadcast part): Gnomon in one namespace sends mode 5 to an IPv4 subnet broadcast address,
// the IPv4 NTP multicast group and the IPv6 site-local NTP group over a veth pair; tshark in the other namespace
// captures every packet. Each one is decoded twice, independently of Gnomon's code: by tshark's NTP dissector and
// by hand-checked offsets of the UDP payload (the layout chronyd 4.3 broadcasts; see
// test/unit/server/broadcast-packet.test.ts). Then Gnomon loses sync (SIGHUP, config without the local clock):
// the broadcasts stop; it regains it (SIGHUP back): they resume.
// Network: only the two namespaces this file creates (10.250.123.0/24 on the veth pair). Ports: 123 inside them.
import { writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GnomonDaemon } from './harness/daemon.js';
import { Netns, vethPair } from './harness/netns.js';
import { LongRunning, Teardown, pollUntil, runOk, sleep } from './harness/process.js';

/** The veth pair's /24: the sender (Gnomon) is .1, the listener .2 (vethPair). */
const NET = '10.250.123';
const SENDER = `${NET}.1`;
const SUBNET_BROADCAST = '10.250.123.255';
const DESTINATIONS = [SUBNET_BROADCAST, '224.0.1.1', 'ff05::101'] as const;
const INTERVAL_S = 2; // minpoll 1

const BROADCAST_LINES = [
  `broadcast ${SUBNET_BROADCAST} minpoll 1`,
  'broadcast 224.0.1.1 ttl 1 minpoll 1 version 3',
  'broadcast ff05::101 minpoll 1',
];
const SYNCED = ['server 127.127.1.0', 'fudge 127.127.1.0 stratum 5', 'restrict default', ...BROADCAST_LINES].join('\n');
const UNSYNCED = ['restrict default', ...BROADCAST_LINES].join('\n');

const FIELDS = ['frame.time_epoch', 'ip.src', 'ipv6.src', 'ip.dst', 'ipv6.dst', 'ip.ttl', 'ipv6.hlim', 'udp.dstport',
  'ntp.flags.li', 'ntp.flags.vn', 'ntp.flags.mode', 'ntp.stratum', 'ntp.ppoll', 'udp.payload'] as const;

interface Captured {
  /** Capture time, Unix seconds (the namespaces share this host's clock). */
  readonly atS: number;
  readonly src: string;
  readonly dst: string;
  readonly ttl: number;
  readonly dstPort: number;
  /** tshark's NTP dissector. */
  readonly tshark: { li: number; vn: number; mode: number; stratum: number; poll: number };
  readonly payload: Buffer;
}

function parseCapture(stdout: string): Captured[] {
  const out: Captured[] = [];
  for (const text of stdout.split('\n')) {
    const f = text.split('|');
    if (f.length !== FIELDS.length) continue;
    const get = (name: (typeof FIELDS)[number]): string => f[FIELDS.indexOf(name)] ?? '';
    out.push({
      atS: Number(get('frame.time_epoch')),
      src: get('ip.src') || get('ipv6.src'),
      dst: get('ip.dst') || get('ipv6.dst'),
      ttl: Number(get('ip.ttl') || get('ipv6.hlim')),
      dstPort: Number(get('udp.dstport')),
      tshark: {
        li: Number(get('ntp.flags.li')), vn: Number(get('ntp.flags.vn')), mode: Number(get('ntp.flags.mode')),
        stratum: Number(get('ntp.stratum')), poll: Number(get('ntp.ppoll')),
      },
      payload: Buffer.from(get('udp.payload').replace(/:/g, ''), 'hex'),
    });
  }
  return out;
}

/** The payload by hand (RFC 5905 fig. 8): not Gnomon's decoder, not tshark's. */
function decodeByHand(p: Buffer) {
  return {
    length: p.length,
    li: p[0]! >> 6, vn: (p[0]! >> 3) & 7, mode: p[0]! & 7, stratum: p[1]!, poll: p.readInt8(2), precision: p.readInt8(3),
    refid: p.subarray(12, 16).toString('latin1'),
    originAndReceiveZero: p.subarray(24, 40).every((b) => b === 0),
    /** Transmit timestamp as Unix seconds. */
    transmitUnixS: p.readUInt32BE(40) - 2_208_988_800 + p.readUInt32BE(44) / 2 ** 32,
  };
}

function logTimeS(line: Record<string, unknown>): number {
  return Date.parse(String(line.time)) / 1000;
}

describe('broadcast and multicast over a veth pair between two namespaces', () => {
  const teardown = new Teardown();
  let sender: Netns;
  let listener: Netns;
  let tshark: LongRunning;
  let gnomon: GnomonDaemon;
  const captured = (): Captured[] => parseCapture(tshark.stdout);
  const to = (dst: string, afterS = 0): Captured[] => captured().filter((c) => c.dst === dst && c.atS > afterS);

  beforeAll(async () => {
    sender = await Netns.create();
    teardown.add(`namespace ${sender.name}`, () => sender.destroy());
    listener = await Netns.create();
    teardown.add(`namespace ${listener.name}`, () => listener.destroy());
    // No IPv6 duplicate address detection on the link-local addresses (vethPair): the ff05::101 packets need a source at once.
    const { aDev: a, bDev: b } = await vethPair(sender, listener, NET);
    const ip = (...args: string[]) => runOk('ip', args, { timeoutMs: 10_000 });
    // The sender namespace has no default route: IPv4 multicast needs one for 224.0.0.0/4 (docs/broadcast.md).
    await ip('-n', sender.name, 'route', 'add', '224.0.0.0/4', 'dev', a);

    tshark = await listener.start('tshark', ['-i', b, '-l', '-n', '-f', 'udp dst port 123', '-T', 'fields', '-E', 'separator=|',
      ...FIELDS.flatMap((f) => ['-e', f])]);
    teardown.add('tshark', () => tshark.stop('SIGTERM', 5000));
    const capturing = await pollUntil(() => (/Capturing on/.test(tshark.stderr) ? true : undefined), 15_000);
    expect(capturing, tshark.describe()).toBe(true);

    gnomon = await GnomonDaemon.start({ config: SYNCED, listen: '127.0.0.1:123', ns: sender });
    teardown.add('gnomon', () => gnomon.stop());
  }, 60_000);
  afterAll(() => teardown.run(), 30_000);

  const why = (): string => `${tshark.describe()}\n${gnomon.describe()}`;

  it('sends mode 5 to each destination; tshark and a hand decode both read Gnomon\'s state', async () => {
    const enough = await pollUntil(() => (DESTINATIONS.every((d) => to(d).length >= 2) ? true : undefined), 20_000, 100);
    expect(enough, why()).toBe(true);
    for (const c of captured()) {
      const h = decodeByHand(c.payload);
      const version = c.dst === '224.0.1.1' ? 3 : 4;
      const context = `${JSON.stringify({ ...c, payload: c.payload.toString('hex') })}\n${why()}`;
      expect(DESTINATIONS as readonly string[], context).toContain(c.dst);
      expect(c.dstPort, context).toBe(123);
      expect(c.tshark, context).toEqual({ li: 0, vn: version, mode: 5, stratum: 5, poll: 1 });
      expect(h, context).toMatchObject({
        length: 48, li: 0, vn: version, mode: 5, stratum: 5, poll: 1, refid: 'LOCL', originAndReceiveZero: true,
      });
      expect(h.precision, context).toBeLessThan(0);
      // served time = this host's clock (no reference correction on the local clock): the transmit stamp is
      // taken just before the send, so it is within a second of the capture.
      expect(Math.abs(h.transmitUnixS - c.atS), context).toBeLessThan(1);
      if (c.dst === SUBNET_BROADCAST) expect(c.src, context).toBe(SENDER);
      if (c.dst === '224.0.1.1') expect([c.src, c.ttl], context).toEqual([SENDER, 1]);
      if (c.dst === 'ff05::101') {
        expect(c.src, context).toMatch(/^fe80::/); // the veth's link-local address: the only IPv6 address it has
        expect(c.ttl, context).toBe(1);
      }
    }
    // At the configured interval, never faster (2^minpoll s; timers do not fire early).
    for (const d of DESTINATIONS) {
      const times = to(d).map((c) => c.atS);
      for (let i = 1; i < times.length; i++) expect(times[i]! - times[i - 1]!, why()).toBeGreaterThan(INTERVAL_S * 0.9);
    }
  }, 40_000);

  it('stops when Gnomon loses sync and resumes when it regains it (SIGHUP, no restart)', async () => {
    const logged = (msg: string, n: number) => pollUntil(() => {
      const lines = gnomon.logs.filter((l) => l.msg === msg);
      return lines.length >= n ? lines[n - 1] : undefined;
    }, 15_000, 50);

    writeFileSync(gnomon.configFile, `${UNSYNCED}\n`);
    process.kill(gnomon.proc.pid, 'SIGHUP');
    const paused = await logged('broadcast: not synchronised; broadcasts paused until the server is synchronised again', 1);
    expect(paused, why()).toBeDefined();
    const pausedS = logTimeS(paused!);
    const before = captured().length;
    await sleep(INTERVAL_S * 1000 * 3); // three intervals in which each destination would have sent
    // Nothing after the pause (0.3 s of slack for a packet already in the capture pipeline).
    expect(captured().filter((c) => c.atS > pausedS + 0.3), why()).toEqual([]);
    expect(captured().length, why()).toBe(before);

    writeFileSync(gnomon.configFile, `${SYNCED}\n`);
    process.kill(gnomon.proc.pid, 'SIGHUP');
    const resumed = await logged('broadcast: synchronised; sending', 2); // the first one is at start-up
    expect(resumed, why()).toBeDefined();
    const resumedS = logTimeS(resumed!) - 0.3;
    const again = await pollUntil(() => (DESTINATIONS.every((d) => to(d, resumedS).length >= 2) ? true : undefined), 20_000, 100);
    expect(again, why()).toBe(true);
    for (const c of captured().filter((x) => x.atS > resumedS)) {
      expect(decodeByHand(c.payload), why()).toMatchObject({ mode: 5, stratum: 5, li: 0, refid: 'LOCL' });
    }
    expect(gnomon.logs.filter((l) => typeof l.msg === 'string' && l.msg.startsWith('broadcast: sending to') && l.msg.endsWith('failed (logged once until it changes)')), why()).toEqual([]);
  }, 60_000);
});
