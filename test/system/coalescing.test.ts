// Receive coalescing on the fast path (issue 9; src/server/fast/coalescing.ts, `--rx-coalesce-us`): under
// a steady 60,000 requests/s from bench/loadgen.c (above the default 50 µs's engage rate of 20,000/s) the
// worker waits after short batches (status counters.rxCoalesced), answers every request, and a chronyd
// client measuring during the load sees offsets as consistent as ever: the wait is inside T3 − T2, which
// the client subtracts. With `--rx-coalesce-us 0` the same load gets no waits. Nothing here is timed.
// Ports: 12855-12856 on loopback.
import { afterAll, describe, expect, it } from 'vitest';
import { ChronydClient, inconsistentSamples } from './harness/chrony.js';
import { GnomonDaemon, localClockConfig } from './harness/daemon.js';
import { loadgenBurst } from './harness/loadgen.js';
import { pollUntil, Teardown } from './harness/process.js';

const RATE = 60_000;
const SECONDS = 4;
const teardown = new Teardown();
afterAll(() => teardown.run());

async function loaded(port: number, serveArgs: readonly string[]) {
  const gnomon = await GnomonDaemon.start({ config: localClockConfig(port, 2), listen: `127.0.0.1:${port}`, serveArgs: ['--server-path', 'fast', ...serveArgs] });
  teardown.add(`gnomon ${port}`, () => gnomon.stop());
  // A chronyd client (noselect: its clock stays the system clock) measuring 16 times a second before and during the load.
  const client = await ChronydClient.start({ host: '127.0.0.1', port, extra: ['noselect'] });
  teardown.add(`chronyd client ${port}`, () => client.stop());
  const atStart = (await client.waitForSamples(2, 10_000)).length;
  const before = await gnomon.status();
  const r = await loadgenBurst(port, SECONDS, ['--rate', String(RATE), '--window', '256', '--sockets', '8'], 'coalescing-test');
  const during = (await client.measurements()).slice(atStart);
  await client.stop();
  // The worker hands its counters over every 250 ms: wait (bounded) until the load's replies are in.
  const status = await pollUntil(async () => {
    const st = await gnomon.status();
    return (st.counters.processed ?? 0) - (before.counters.processed ?? 0) >= r.matched ? st : undefined;
  }, 5000, 200) ?? await gnomon.status();
  const why = `loadgen ${JSON.stringify({ sent: r.sent, matched: r.matched, lost: r.lost, kod: r.kod, wrong: r.wrong_origin })}; ` +
    `server ${JSON.stringify(status.server)}; rxCoalesced ${status.counters.rxCoalesced}\n` +
    `samples during the load: ${JSON.stringify(during.map((m) => [m.offset, m.peerDelay]))}\n${gnomon.describe().slice(-1500)}`;
  return { gnomon, before, status, r, during, why };
}

describe('fast path under 60,000 requests/s', () => {
  it('default (50 µs): coalesces, answers every request, and a chronyd client measuring meanwhile sees consistent offsets', async () => {
    const { before, status, r, during, why } = await loaded(12855, []);
    expect(status.server.path, why).toBe('fast');
    expect(status.server.rxCoalesceUs, why).toBe(50);
    expect(r.sent, why).toBeGreaterThan(0.5 * RATE * SECONDS);
    // Loopback with the socket's default buffer: a handful lost at most if the worker was descheduled under CI load.
    expect(r.lost, why).toBeLessThanOrEqual(0.01 * r.sent);
    expect(r.wrong_origin + r.kod, why).toBe(0);
    expect((status.counters.rxCoalesced ?? 0) - (before.counters.rxCoalesced ?? 0), why).toBeGreaterThan(0);
    // ~16 a second for 4 s; each within 100 µs of 0 plus half its delay (one machine: the true offset is 0).
    expect(during.length, why).toBeGreaterThanOrEqual(16);
    expect(inconsistentSamples(during, 100e-6), why).toEqual([]);
  }, 60_000);

  it('--rx-coalesce-us 0: the same load, no waits', async () => {
    const { before, status, r, why } = await loaded(12856, ['--rx-coalesce-us', '0']);
    expect(status.server.rxCoalesceUs, why).toBe(0);
    expect(r.matched, why).toBeGreaterThan(0.5 * RATE * SECONDS);
    expect((status.counters.rxCoalesced ?? 0) - (before.counters.rxCoalesced ?? 0), why).toBe(0);
  }, 60_000);

  it('a bad value is refused before start: what, where and the range', async () => {
    await expect(GnomonDaemon.start({ config: localClockConfig(12856, 2), listen: '127.0.0.1:12856', serveArgs: ['--rx-coalesce-us', '2ms'] }))
      .rejects.toThrow(/--rx-coalesce-us "2ms": expected a whole number of microseconds 0-1000 \(0 = off\)/);
  });
});
