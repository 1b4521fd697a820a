// Acceptance: real NTP clients accept Gnomon as a server (a synchronised one, local clock at stratum 3).
// - chronyd -Q and chronyd clients (-x) on loopback, NTPv4 and NTPv3 requests: stratum 3, selected; a noselect
//   client's median and best sample |offset| < 1 ms; every sample within 1 ms plus half its round-trip delay.
// - ntpdig -j and ntpdate -q (port 123 only) inside a namespace, with Gnomon started in the same namespace
//   (best of five runs under 1 ms, every run under 10 ms: these Python tools timestamp in user space).
//   Both send NTPv4 only (NTPsec's ntpdig has no version option and its ntpdate ignores -o), so NTPv3 on port 123
//   is covered by chronyd `version 3` in the same namespace.
// Ports: 11200 on loopback; 123 inside this file's namespace.
import { describe, expect, it } from 'vitest';
import { bestSample, ChronydClient, chronydOneShot, inconsistentSamples, medianOffset, parseChronyDuration }
  from './harness/chrony.js';
import { localClockConfig } from './harness/daemon.js';
import { gnomonSuite } from './harness/suite.js';
import { ntpdateBestOf, ntpdig } from './harness/ntpsec.js';
import { describeRun, pollUntil, Teardown } from './harness/process.js';
import { buildNtpPacket, describeReplies, MODE, ntpDiffSeconds, ntpNow, query } from './harness/udp.js';

const PORT = 11200;
const STRATUM = 3;
const MAX_OFFSET_S = 0.001;
// ntpdig and ntpdate (Python) timestamp in user space: on a busy machine a single run alone can be ~2 ms off, also
// against chronyd (seen in harness.test.ts). For them every run must be free of gross errors (10 ms) and the best of
// five runs must meet the 1 ms; chronyd, which timestamps in the kernel, carries 1 ms on every sample.
const SNTP_SANITY_S = 0.01;

describe('Gnomon (local clock, stratum 3) on loopback, against chronyd', () => {
  const suite = gnomonSuite(localClockConfig(PORT, STRATUM), `127.0.0.1:${PORT}`);

  it('logs "listening" with the address and port it serves on', () => {
    expect(suite.gnomon.address).toBe('127.0.0.1');
    expect(suite.gnomon.port).toBe(PORT);
  });

  it.each([4, 3])('answers an NTPv%i client request with a mode 4 reply of the same version', async (version) => {
    const request = buildNtpPacket({ version });
    const before = ntpNow();
    const replies = await query('127.0.0.1', PORT, request);
    expect(replies, `${describeReplies(replies)}\n${suite.gnomon.describe()}`).toHaveLength(1);
    const reply = replies[0];
    expect(reply?.header).toMatchObject({ leap: 0, version, mode: MODE.server, stratum: STRATUM });
    expect(reply?.header?.origin).toBe(request.readBigUInt64BE(40));
    expect(reply?.data.length).toBeLessThanOrEqual(request.length);
    // Served time is this machine's time (the local clock): receive timestamp within 1 s of our clock.
    expect(Math.abs(ntpDiffSeconds(reply?.header?.receive ?? 0n, before))).toBeLessThan(1);
  });

  it.each([4, 3])('chronyd -Q (NTPv%i) accepts it: stratum 3, leap normal, offsets within 1 ms + delay/2', async (version) => {
    const result = await chronydOneShot('127.0.0.1', PORT, { version, samples: 4, poll: -4 });
    const why = `${describeRun(result.run)}\nsamples: ${JSON.stringify(result.samples)}\n${suite.gnomon.describe()}`;
    expect(result.ok, why).toBe(true);
    expect(result.samples.length, why).toBeGreaterThanOrEqual(1);
    for (const sample of result.samples) {
      expect(sample, why).toMatchObject({ stratum: STRATUM, leap: 'N', tests123: '111', tests567: '111' });
    }
    // A few samples within ~0.2 s can all be slow on a busy machine (seen: 3 of 3 at 2 ms offset and more delay),
    // so here each must be within 1 ms plus half its delay; the client test below holds the median and best to 1 ms.
    expect(inconsistentSamples(result.samples, MAX_OFFSET_S), why).toEqual([]);
  });

  // Two chronyd clients per version, run together. chronyd -x never touches the system clock, but once it selects a
  // source it corrects its own virtual clock towards it ("System time" in `chronyc tracking`), and later samples are
  // measured from that corrected clock: they would read ~0 even from a server that is 5 ms off. So one client
  // checks acceptance (selection), and one with `noselect`, whose clock stays the system clock, measures offsets.
  it.each([4, 3])('chronyd clients (-x, NTPv%i, poll 1/16 s) select it, and measure |offset| < 1 ms', async (version) => {
    const teardownClients = new Teardown();
    try {
      const selecting = await ChronydClient.start({ host: '127.0.0.1', port: PORT, version });
      teardownClients.add('selecting chronyd client', () => selecting.stop());
      const measuring = await ChronydClient.start({ host: '127.0.0.1', port: PORT, version, extra: ['noselect'] });
      teardownClients.add('measuring chronyd client', () => measuring.stop());

      const samples = await measuring.waitForSamples(16, 10_000);
      const why = `samples: ${JSON.stringify(samples)}\n${measuring.describe()}\n${suite.gnomon.describe()}`;
      expect(samples.length, why).toBeGreaterThanOrEqual(16);
      for (const s of samples) {
        expect(s, why).toMatchObject({ stratum: STRATUM, leap: 'N', tests123: '111', tests567: '111' });
      }
      // The typical and the best sample under 1 ms, and none further off than its own delay allows (path asymmetry
      // can shift a sample by at most half its delay; a slow exchange on a busy machine is delay, not offset).
      expect(Math.abs(medianOffset(samples)), why).toBeLessThan(MAX_OFFSET_S);
      expect(Math.abs(bestSample(samples)?.offset ?? Infinity), why).toBeLessThan(MAX_OFFSET_S);
      expect(inconsistentSamples(samples, MAX_OFFSET_S), why).toEqual([]);
      const stats = await measuring.sourceStats();
      expect(Math.abs(parseChronyDuration(stats.rows[0]?.offset ?? '')), stats.text).toBeLessThan(MAX_OFFSET_S);

      const selected = await pollUntil(async () => {
        const { rows } = await selecting.sources();
        return rows[0]?.state === '*' ? rows[0] : undefined;
      }, 5000, 200);
      const sources = await selecting.sources();
      expect(selected, `${sources.text}\n${selecting.describe()}`).toMatchObject({ mode: '^', stratum: STRATUM });
      const data = await selecting.ntpData();
      expect(data.fields.get('Leap status'), data.text).toBe('Normal');
      expect(data.fields.get('Version'), data.text).toBe(String(version));
      expect(data.fields.get('Stratum'), data.text).toBe(String(STRATUM));
      // Tests 1-3 (packet) and 5-7 (authentication, server synchronised, sane root distance) must pass. Tests A-D
      // judge the delay against the recent ones; chronyd rightly drops one slow exchange on a busy machine.
      expect(data.fields.get('NTP tests'), data.text).toMatch(/^111 111 /);
    } finally {
      await teardownClients.run();
    }
  });
});

describe('Gnomon on port 123 inside a namespace, against ntpdig, ntpdate and chronyd', () => {
  const suite = gnomonSuite(localClockConfig(123, STRATUM), 'port123');

  it('ntpdig -j accepts it: stratum 3, no-leap, not adjusted; best of 5 runs |offset| < 1 ms, none > 10 ms', async () => {
    const runs = [];
    for (let i = 0; i < 5; i++) runs.push(await ntpdig(suite.ns, '127.0.0.1', { samples: 3 }));
    const why = `${runs.map((r) => describeRun(r.run)).join('\n')}\n${suite.gnomon.describe()}`;
    for (const dig of runs) {
      expect(dig.dropped, why).toEqual([]);
      expect(dig.answer, why).toMatchObject({ stratum: STRATUM, leap: 'no-leap', ip: '127.0.0.1', adjusted: false });
      expect(Math.abs(dig.answer?.offset ?? Infinity), why).toBeLessThan(SNTP_SANITY_S);
    }
    expect(Math.min(...runs.map((r) => Math.abs(r.answer?.offset ?? Infinity))), why).toBeLessThan(MAX_OFFSET_S);
  });

  it('ntpdate -q accepts it every time: stratum 3, no-leap; best of 5 |offset| < 1 ms, none > 10 ms', async () => {
    const { all } = await ntpdateBestOf(suite.ns, '127.0.0.1', 5);
    const why = `${all.map((r) => describeRun(r.run)).join('\n')}\n${suite.gnomon.describe()}`;
    for (const date of all) {
      expect(date.run.code, why).toBe(0);
      expect(date.answer, why).toMatchObject({ stratum: STRATUM, leap: 'no-leap', ip: '127.0.0.1' });
      expect(Math.abs(date.answer?.offset ?? Infinity), why).toBeLessThan(SNTP_SANITY_S);
    }
    expect(Math.min(...all.map((r) => Math.abs(r.answer?.offset ?? Infinity))), why).toBeLessThan(MAX_OFFSET_S);
  });

  it.each([4, 3])('chronyd -Q with NTPv%i requests to port 123 accepts it', async (version) => {
    const result = await chronydOneShot('127.0.0.1', 123, { version, ns: suite.ns, samples: 4, poll: -4 });
    const why = `${describeRun(result.run)}\nsamples: ${JSON.stringify(result.samples)}\n${suite.gnomon.describe()}`;
    expect(result.ok, why).toBe(true);
    expect(result.samples[0], why).toMatchObject({ stratum: STRATUM, leap: 'N' });
    expect(inconsistentSamples(result.samples, MAX_OFFSET_S), why).toEqual([]);
  });
});
