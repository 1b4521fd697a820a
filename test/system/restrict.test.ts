// Acceptance: ntpd-style `restrict` rules, checked with real datagrams from the raw UDP client to Gnomon on loopback.
// Where a rule silences 127.0.0.1, the same config has `restrict 127.0.0.2` (full service), and a request sent
// from source address 127.0.0.2 must be answered: that proves the daemon is up and it is the rule that is silent.
// Runs on both server paths (issue 9): the daemons take GNOMON_SERVER_PATH from the environment; `npm test`
// runs this file on auto (the fast path here) and again on dgram (vitest.config.ts), and the first test
// checks which path the daemons are on.
// Ports: 11220-11227 on loopback.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXPECTED_PATH, GnomonDaemon, SERVER_PATH, startDaemonsPerCase } from './harness/daemon.js';
import { ChronydClient } from './harness/chrony.js';
import { pollUntil, Teardown } from './harness/process.js';
import { buildNtpPacket, describeReplies, exchange, kissCode, MODE, type Reply } from './harness/udp.js';

const STRATUM = 3;

/** A synchronised (local clock, stratum 3) config listening on 127.0.0.1:port with the given access lines. */
function config(port: number, lines: readonly string[]): string {
  return ['server 127.127.1.0', `fudge 127.127.1.0 stratum ${STRATUM}`, ...lines, `port ${port}`,
    'interface listen 127.0.0.1'].join('\n');
}

const CASES = {
  ignore: { port: 11220, lines: ['restrict default ignore', 'restrict 127.0.0.2'] },
  noserve: { port: 11221, lines: ['restrict default noserve', 'restrict 127.0.0.2'] },
  kodLimited: { port: 11222, lines: ['restrict default kod limited', 'discard average 3 minimum 1'] },
  version: { port: 11223, lines: ['restrict default version'] },
  notrust: { port: 11224, lines: ['restrict default notrust', 'restrict 127.0.0.2'] },
  nopeer: { port: 11225, lines: ['restrict default nopeer'] },
  open: { port: 11226, lines: ['restrict default'] },
  kodForChronyd: { port: 11227, lines: ['restrict default kod limited', 'discard average 3 minimum 1'] },
} as const;
type CaseName = keyof typeof CASES;

let daemons = new Map<CaseName, GnomonDaemon>();
const teardown = new Teardown();

beforeAll(async () => {
  daemons = await startDaemonsPerCase(CASES, config, teardown);
});
afterAll(() => teardown.run());

function daemon(name: CaseName): GnomonDaemon {
  const d = daemons.get(name);
  if (d === undefined) throw new Error(`daemon ${name} did not start`);
  return d;
}

/** Sends requests from `from` to the case's daemon and returns the replies, with a message for failures. */
async function send(name: CaseName, requests: Buffer[], options: { from?: string; waitMs?: number } = {}):
  Promise<{ replies: Reply[]; why: string }> {
  const replies = await exchange({
    host: '127.0.0.1', port: CASES[name].port, requests, bindAddress: options.from ?? '127.0.0.1',
    waitMs: options.waitMs ?? 400,
  });
  return { replies, why: `${name} (${CASES[name].lines.join('; ')}) from ${options.from ?? '127.0.0.1'}:\n` +
    `${describeReplies(replies)}\n${daemon(name).describe()}` };
}

function expectNormalReply(reply: Reply | undefined, request: Buffer, mode: number, why: string): void {
  expect(reply?.header, why).toMatchObject({ leap: 0, mode, stratum: STRATUM, version: (request[0] ?? 0) >> 3 & 7 });
  expect(reply?.header?.origin, why).toBe(request.readBigUInt64BE(40));
  expect(reply?.data.length, why).toBeLessThanOrEqual(request.length);
}

describe(`server path ${SERVER_PATH}`, () => {
  it(`every case's daemon serves on the ${EXPECTED_PATH} path`, async () => {
    for (const [name, d] of daemons) expect((await d.status()).server.path, `${name}\n${d.describe()}`).toBe(EXPECTED_PATH);
  });
});

describe.each(['ignore', 'noserve', 'notrust'] as const)('restrict default %s', (name) => {
  it('sends no reply to an unauthenticated client request', async () => {
    const { replies, why } = await send(name, [buildNtpPacket(), buildNtpPacket({ version: 3 })]);
    expect(replies, why).toEqual([]);
  });

  it('still answers 127.0.0.2, which has its own unrestricted line (the daemon is up)', async () => {
    const request = buildNtpPacket();
    const { replies, why } = await send(name, [request], { from: '127.0.0.2' });
    expect(replies, why).toHaveLength(1);
    expectNormalReply(replies[0], request, MODE.server, why);
  });
});

describe('restrict default kod limited, discard average 3 minimum 1', () => {
  it('answers the first request normally, then rate-limits a burst of 20 with at least one RATE kiss', async () => {
    const requests = Array.from({ length: 20 }, () => buildNtpPacket());
    const { replies, why } = await send('kodLimited', requests, { waitMs: 600 });
    const kisses = replies.filter((r) => r.header !== undefined && kissCode(r.header) !== undefined);
    const normal = replies.filter((r) => r.header?.stratum === STRATUM);
    expect(normal.length, why).toBeGreaterThanOrEqual(1);
    expect(normal.length, why).toBeLessThan(requests.length);
    expect(kisses.length, why).toBeGreaterThanOrEqual(1);
    for (const kiss of kisses) {
      // LI=3 as ntpd sends it; chronyd only recognises a kiss with LI=3 (see harness.test.ts).
      expect(kiss.header, why).toMatchObject({ stratum: 0, refidAscii: 'RATE', mode: MODE.server, leap: 3 });
      // A client accepts a kiss only if it answers one of its requests.
      const origins = requests.map((r) => r.readBigUInt64BE(40));
      expect(origins, why).toContain(kiss.header?.origin);
      // Its transmit timestamp is the client's own (the fast path's batch restamp leaves kisses alone).
      expect(kiss.header?.transmit, why).toBe(kiss.header?.origin);
      expect(kiss.data.length, why).toBeLessThanOrEqual(48);
    }
    for (const r of normal) expect(r.header!.transmit >= r.header!.receive, why).toBe(true);
    expect(replies.length, why).toBe(normal.length + kisses.length);
    const first = replies[0];
    expect(first?.header?.stratum, why).toBe(STRATUM);
  });

  it('a chronyd client polling 16 times a second recognises the kiss ("Received KoD RATE")', async () => {
    const client = await ChronydClient.start({ host: '127.0.0.1', port: CASES.kodForChronyd.port });
    try {
      const seen = await pollUntil(() => (/Received KoD RATE/.test(client.describe()) ? true : undefined), 5000, 100);
      expect(seen, `${client.describe()}\n${(await client.ntpData()).text}\n${daemon('kodForChronyd').describe()}`)
        .toBe(true);
    } finally {
      await client.stop();
    }
  });
});

describe('restrict default version', () => {
  it('answers NTPv4 and ignores NTPv3', async () => {
    const v4 = buildNtpPacket({ version: 4 });
    const answered = await send('version', [v4]);
    expect(answered.replies, answered.why).toHaveLength(1);
    expectNormalReply(answered.replies[0], v4, MODE.server, answered.why);
    const ignored = await send('version', [buildNtpPacket({ version: 3 })]);
    expect(ignored.replies, ignored.why).toEqual([]);
  });
});

describe('symmetric active (mode 1) from an unconfigured peer', () => {
  it('gets no reply with restrict default nopeer', async () => {
    const { replies, why } = await send('nopeer', [buildNtpPacket({ mode: MODE.symmetricActive, stratum: 2 })]);
    expect(replies, why).toEqual([]);
  });

  it('still gets client service with nopeer (mode 3 is answered)', async () => {
    const request = buildNtpPacket();
    const { replies, why } = await send('nopeer', [request]);
    expect(replies, why).toHaveLength(1);
    expectNormalReply(replies[0], request, MODE.server, why);
  });

  it('gets a mode 2 (symmetric passive) reply without nopeer', async () => {
    const request = buildNtpPacket({ mode: MODE.symmetricActive, stratum: 2 });
    const { replies, why } = await send('open', [request]);
    expect(replies, why).toHaveLength(1);
    expectNormalReply(replies[0], request, MODE.symmetricPassive, why);
  });
});
