// NTP interleaved mode on the fast path (src/server/interleave, src/server/fast/txstamp.ts; issue 9):
// a real chronyd client with `xleave` gets interleaved replies carrying the kernel's transmit stamps
// ("4I" in its measurements log, "Interleaved : Yes" in `chronyc ntpdata`), with sane offsets; the
// daemon counts them in `gnomon status`. A basic client of the same daemon is answered as before, and
// the dgram path (no error queue) keeps an xleave client in basic mode.
// Ports: 12840-12841 on loopback; 12842 (the fast daemon's web page and /metrics, TCP).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChronydClient, inconsistentSamples, type Measurement } from './harness/chrony.js';
import { GNOMON_MAIN, GnomonDaemon, localClockConfig } from './harness/daemon.js';
import { Teardown, pollUntil, run } from './harness/process.js';
import { buildNtpPacket, exchange, MODE } from './harness/udp.js';

const FAST_PORT = 12840;
const FAST_WEB_PORT = 12842;
const DGRAM_PORT = 12841;
/** Offsets on one machine are 0 up to half the round trip; this bound only catches a wrong timestamp (ms, not µs). */
const SANITY_S = 0.0005;

const interleaved = (s: Measurement): boolean => s.modeTxRx.startsWith('4I');
const table = (samples: readonly Measurement[]): string => samples.map((s) => `${s.modeTxRx} ${s.offset} ${s.peerDelay}`).join('\n');

describe('interleaved mode: chronyd xleave against Gnomon', () => {
  const teardown = new Teardown();
  let fast: GnomonDaemon;
  let dgram: GnomonDaemon;
  beforeAll(async () => {
    fast = await GnomonDaemon.start({
      config: localClockConfig(FAST_PORT, 3), listen: `127.0.0.1:${FAST_PORT}`, env: { GNOMON_SERVER_PATH: 'fast' },
      serveArgs: ['--web', `127.0.0.1:${FAST_WEB_PORT}`, '--web-public-status'],
    });
    teardown.add('gnomon (fast path)', () => fast.stop());
    dgram = await GnomonDaemon.start({ config: localClockConfig(DGRAM_PORT, 3), listen: `127.0.0.1:${DGRAM_PORT}`, env: { GNOMON_SERVER_PATH: 'dgram' } });
    teardown.add('gnomon (dgram)', () => dgram.stop());
  });
  afterAll(() => teardown.run());

  it('fast path: an xleave client is answered interleaved with kernel transmit stamps, offsets sane; a basic client beside it stays basic', async () => {
    expect((await fast.status()).server.path, fast.describe()).toBe('fast');
    // noselect: offsets against the system clock, not chronyd's corrected virtual one.
    const x = await ChronydClient.start({ host: '127.0.0.1', port: FAST_PORT, poll: -5, extra: ['xleave', 'noselect'] });
    teardown.add('chronyd xleave', () => x.stop());
    const b = await ChronydClient.start({ host: '127.0.0.1', port: FAST_PORT, poll: -5, extra: ['noselect'] });
    teardown.add('chronyd basic', () => b.stop());
    const xs = await x.waitForSamples(40, 20_000);
    const bs = await b.waitForSamples(20, 20_000);
    const why = `xleave:\n${table(xs)}\nbasic:\n${table(bs)}\n${fast.describe()}`;
    expect(xs.length, why).toBeGreaterThanOrEqual(40);
    // A client's first two exchanges are basic by the protocol; after that every one should be interleaved
    // (a lost datagram or a client-side timeout could make one basic: allow a few).
    const later = xs.slice(3);
    expect(later.filter(interleaved).length, why).toBeGreaterThanOrEqual(later.length - 3);
    expect(inconsistentSamples(xs.filter(interleaved), SANITY_S), why).toEqual([]);
    const data = (await x.ntpData()).fields;
    expect(data.get('Interleaved'), (await x.ntpData()).text).toBe('Yes');

    expect(bs.length, why).toBeGreaterThanOrEqual(20);
    expect(bs.filter(interleaved), why).toEqual([]);
    expect(inconsistentSamples(bs, SANITY_S), why).toEqual([]);

    // The daemon counts them: interleaved replies, kernel stamps recorded, none missing on loopback (the
    // stamp is read right after the send, before the next request can be read).
    const s = await pollUntil(async () => {
      const st = await fast.status();
      return (st.counters.interleaved ?? 0) >= later.length - 3 ? st : undefined;
    }, 3000, 100);
    const c = s?.counters ?? (await fast.status()).counters;
    expect(c.interleaved, JSON.stringify(c)).toBeGreaterThanOrEqual(later.length - 3);
    expect(c.txStampKernel, JSON.stringify(c)).toBeGreaterThanOrEqual(c.interleaved ?? 0);
    expect(c.txStampMissing, JSON.stringify(c)).toBe(0);
    // ... and `gnomon status` (text) says so.
    const text = await run(process.execPath, [GNOMON_MAIN, 'status', '--control', fast.controlSocket], { timeoutMs: 10_000 });
    expect(text.stdout).toMatch(/^interleaved mode: [1-9]\d* replies; kernel transmit stamps [1-9]\d* recorded, 0 missing/m);
    // ... and so does /metrics, as a Prometheus scraper reads it (up to 250 ms behind the workers: polled).
    const metric = (body: string, name: string): number => Number(new RegExp(`^${name.replace(/[{}"]/g, (ch) => `\\${ch}`)} (\\S+)$`, 'm').exec(body)?.[1] ?? NaN);
    const scraped = await pollUntil(async () => {
      const body = await (await fetch(`http://127.0.0.1:${FAST_WEB_PORT}/metrics`)).text();
      return metric(body, 'gnomon_ntp_interleaved_total') >= later.length - 3 ? body : undefined;
    }, 3000, 200);
    expect(scraped, 'gnomon_ntp_interleaved_total never reached the interleaved count').toBeDefined();
    expect(metric(scraped!, 'gnomon_ntp_tx_timestamps_total{result="kernel"}')).toBeGreaterThanOrEqual(later.length - 3);
    expect(metric(scraped!, 'gnomon_ntp_tx_timestamps_total{result="missing"}')).toBe(0);
    expect(metric(scraped!, 'gnomon_server_path_info{path="fast"}')).toBe(1);
  });

  it('fast path, raw request with origin 0 (ntpdig\'s basic form): the reply\'s origin is the request\'s transmit timestamp', async () => {
    const req = buildNtpPacket({ mode: MODE.client, version: 4 });
    const [reply] = await exchange({ host: '127.0.0.1', port: FAST_PORT, requests: [req], waitMs: 500 });
    expect(reply?.header?.origin).toBe(req.readBigUInt64BE(40));
    expect(reply?.header?.receive === undefined ? -1 : Number(reply.header.receive & 1n)).toBe(1); // chrony's mark: a receive timestamp ends in 1
  });

  it('dgram path (no error queue): an xleave client stays in basic mode and is answered normally', async () => {
    expect((await dgram.status()).server.path, dgram.describe()).toBe('dgram');
    const x = await ChronydClient.start({ host: '127.0.0.1', port: DGRAM_PORT, poll: -5, extra: ['xleave', 'noselect'] });
    teardown.add('chronyd xleave (dgram)', () => x.stop());
    const xs = await x.waitForSamples(10, 15_000);
    const why = `${table(xs)}\n${dgram.describe()}`;
    expect(xs.length, why).toBeGreaterThanOrEqual(10);
    expect(xs.filter(interleaved), why).toEqual([]);
    expect(inconsistentSamples(xs, SANITY_S), why).toEqual([]);
    expect((await x.ntpData()).fields.get('Interleaved')).toBe('No');
  });
});
