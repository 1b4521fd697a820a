// Acceptance: an unsynchronised Gnomon (a config with no reference) answers LI=3 stratum 16, and real clients
// report it as unsynchronised / unusable, NOT as a kiss-o'-death.
// Reference (harness.test.ts): ntpdig drops stratum 16 with "stratum too high" but stratum 0 with
// "probable KOD packet" (what chronyd 4.3 and NTPsec ntpd send when unsynchronised); chronyd logs
// "Received KoD RATE" for a RATE kiss, and fails its test 6 ("NTP tests : 111 101 ...") for an unsynchronised server.
// Ports: 11210 on loopback; 123 inside this file's namespace.
import { describe, expect, it } from 'vitest';
import { ChronydClient, chronydOneShot } from './harness/chrony.js';
import { unsynchronisedConfig } from './harness/daemon.js';
import { gnomonSuite } from './harness/suite.js';
import { ntpdateQuery, ntpdig, type SntpResult } from './harness/ntpsec.js';
import { describeRun } from './harness/process.js';
import { buildNtpPacket, describeReplies, kissCode, MODE, query } from './harness/udp.js';

const PORT = 11210;

describe('unsynchronised Gnomon on loopback', () => {
  const suite = gnomonSuite(unsynchronisedConfig(PORT), `127.0.0.1:${PORT}`);

  it('answers a client request with LI=3 (alarm), stratum 16, and no kiss code', async () => {
    const request = buildNtpPacket();
    const replies = await query('127.0.0.1', PORT, request);
    expect(replies, `${describeReplies(replies)}\n${suite.gnomon.describe()}`).toHaveLength(1);
    const header = replies[0]?.header;
    expect(header, describeReplies(replies)).toMatchObject({ leap: 3, version: 4, mode: MODE.server, stratum: 16 });
    expect(header?.origin).toBe(request.readBigUInt64BE(40));
    expect(header === undefined ? 'no header' : kissCode(header)).toBeUndefined();
  });

  it('chronyd -Q finds no suitable source and reports no KoD', async () => {
    const result = await chronydOneShot('127.0.0.1', PORT, { timeoutS: 10, poll: -4 });
    const why = `${describeRun(result.run)}\n${suite.gnomon.describe()}`;
    expect(result.ok, why).toBe(false);
    expect(result.samples, why).toEqual([]);
    expect(result.run.stderr, why).toMatch(/No suitable source for synchronisation/);
    expect(result.run.stderr, why).not.toMatch(/KoD/);
  });

  it('a chronyd client sees "Not synchronised", fails test 6, never selects it, and reports no KoD', async () => {
    const client = await ChronydClient.start({ host: '127.0.0.1', port: PORT });
    try {
      const fields = await client.waitForReplies(4, 10_000);
      const data = await client.ntpData();
      const why = `${data.text}\n${client.describe()}\n${suite.gnomon.describe()}`;
      expect(Number(fields.get('Total RX')), why).toBeGreaterThanOrEqual(4);
      expect(data.fields.get('Leap status'), why).toBe('Not synchronised');
      expect(data.fields.get('Stratum'), why).toBe('16');
      expect(data.fields.get('NTP tests'), why).toMatch(/^111 101 /);
      expect(data.fields.get('Total good RX'), why).toBe('0');
      expect(await client.measurements(), why).toEqual([]);
      const sources = await client.sources();
      expect(sources.rows[0]?.state, sources.text).toBe('?');
      expect(client.describe(), why).not.toMatch(/KoD/);
    } finally {
      await client.stop();
    }
  });
});

describe('unsynchronised Gnomon on port 123 inside a namespace, against ntpdig and ntpdate', () => {
  const suite = gnomonSuite(unsynchronisedConfig(123), 'port123');

  function expectUnsynchronisedNotKod(result: SntpResult): void {
    const why = `${describeRun(result.run)}\n${suite.gnomon.describe()}`;
    expect(result.answer, why).toBeUndefined();
    expect(result.noEligibleServers, why).toBe(true);
    expect(result.dropped.length, why).toBeGreaterThan(0);
    for (const reason of result.dropped) expect(['stratum too high', 'leap not in sync'], why).toContain(reason);
    expect(result.run.stderr, why).not.toMatch(/KOD/i);
  }

  it('ntpdig -j drops it as unsynchronised ("stratum too high"), not as a KoD', async () => {
    expectUnsynchronisedNotKod(await ntpdig(suite.ns, '127.0.0.1'));
  });

  it('ntpdate -q drops it as unsynchronised, not as a KoD', async () => {
    expectUnsynchronisedNotKod(await ntpdateQuery(suite.ns, '127.0.0.1'));
  });
});
