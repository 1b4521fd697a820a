// Memory under many clients (issue 9), the bounded version of bench/memory.mjs (600 s, 1,000,000
// addresses): the daemon started as the product starts it (the node flags of dist/src/cli/main.js's
// first line, its web page on) takes a burst of 240,000 requests from 200,000 distinct client
// addresses (bench/loadgen.c --addresses: 127.1.0.0 + k mod N, set per message with IP_PKTINFO) at
// 20,000/s, on each server path. Checked: the replies went back to the very address each request came
// from (so the server really answered ~200,000 distinct clients: not vacuous), the daemon counted
// them (on the dgram path its client table, `gnomon status`, stays at capacity and evicted ~190,000),
// it still answers chronyd afterwards, and its resident memory (VmRSS, all threads) stays
// within bounds — absolute, and growth over its idle size, which a per-client leak of even 50 bytes
// (10 MB for 200,000 clients) would break.
// Ports: 12850-12851 (NTP), 12852-12853 (web, TCP) on loopback.
import { readFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { chronydOneShot } from './harness/chrony.js';
import { GNOMON_MAIN, GnomonDaemon, localClockConfig, productNodeFlags } from './harness/daemon.js';
import { loadgenBurst, type LoadgenResult } from './harness/loadgen.js';
import { pollUntil, run, Teardown } from './harness/process.js';

const ADDRESSES = 200_000;
const RATE = 20_000;
const SECONDS = 12;
/**
 * Bounds, MiB. Measured here (bench/memory.mjs, docs/benchmarks.md "Memory"): after such a burst the
 * dgram path is at ~59-62 MiB and the fast path (no worker thread, the default) at ~59-61; with a
 * worker thread (a second V8 isolate) it was ~68-70. The margin covers GC timing (old-space garbage
 * not yet collected varies by a few MiB).
 */
const BOUND = {
  dgram: { rssMiB: 72, growthMiB: 14 },
  fast: { rssMiB: 72, growthMiB: 14 },
} as const;

function rssKiB(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(m[1]);
}

async function serverPathArgs(which: 'fast' | 'dgram'): Promise<string[]> {
  const help = await run(process.execPath, [GNOMON_MAIN, 'serve', '--help'], { timeoutMs: 10_000 });
  if (help.stdout.includes('--server-path')) return ['--server-path', which];
  return which === 'fast' ? ['--fast-path'] : [];
}

/** bench/loadgen.c: 240,000 requests from 200,000 addresses at 20,000/s. */
function burst(port: number): Promise<LoadgenResult> {
  return loadgenBurst(port, SECONDS, ['--addresses', String(ADDRESSES), '--rate', String(RATE), '--window', '512', '--sockets', '16'], 'memory-test');
}

const teardown = new Teardown();
afterAll(() => teardown.run());

describe.each([
  { path: 'dgram' as const, port: 12850, web: 12852, reported: 'dgram' },
  { path: 'fast' as const, port: 12851, web: 12853, reported: 'fast' },
])('$path path: 200,000 client addresses in 12 s', ({ path, port, web, reported }) => {
  it('answers each at its own address, keeps answering, and stays within its memory bounds', async () => {
    expect(productNodeFlags()).toContain('--max-semi-space-size=1');
    const gnomon = await GnomonDaemon.start({
      config: localClockConfig(port, 2), listen: `127.0.0.1:${port}`, nodeArgs: productNodeFlags(),
      serveArgs: ['--web', `127.0.0.1:${web}`, ...await serverPathArgs(path)],
    });
    teardown.add(`gnomon ${path}`, () => gnomon.stop());
    const before = await gnomon.status();
    expect(before.server.path).toBe(reported);
    const pid = before.daemon.pid;
    const idleKiB = rssKiB(pid);

    const r = await burst(port);
    const afterKiB = rssKiB(pid);
    // The fast path's worker hands its counters to the main thread periodically: wait (bounded) until they are in.
    const counted = async () => {
      const st = await gnomon.status();
      return (st.counters.processed ?? 0) - (before.counters.processed ?? 0) >= r.matched ? st : undefined;
    };
    const status = await pollUntil(counted, 5000, 200) ?? await gnomon.status();
    const summary = `loadgen ${JSON.stringify({ sent: r.sent, matched: r.matched, lost: r.lost, checked: r.reply_addr_checked, mismatch: r.reply_addr_mismatch })}; RSS idle ${(idleKiB / 1024).toFixed(1)} MiB, after ${(afterKiB / 1024).toFixed(1)} MiB\n${gnomon.describe().slice(-2000)}`;
    console.log(`memory.test ${path}: ${summary.split('\n')[0]}`);

    // Distinct clients really answered: every matched reply was addressed to its request's own source,
    // and requests k and k + 200,000 share an address, so at least matched − (sent − 200,000) distinct ones.
    expect(r.addresses, summary).toBe(ADDRESSES);
    expect(r.reply_addr_checked, summary).toBe(r.matched);
    expect(r.reply_addr_mismatch, summary).toBe(0);
    expect(r.matched, summary).toBeGreaterThan(0.9 * r.sent);
    const distinctAnswered = r.matched - Math.max(0, r.sent - ADDRESSES);
    expect(distinctAnswered, summary).toBeGreaterThan(150_000);
    expect((status.counters.processed ?? 0) - (before.counters.processed ?? 0), summary).toBeGreaterThanOrEqual(r.matched);
    // The per-client table stays at its fixed capacity, and the daemon itself saw the strangers: each new
    // address past the capacity evicted one. (One table in shared memory: the fast path's worker counts in it too.)
    const table = status.server.rateTable;
    expect(table, JSON.stringify(status.server)).toBeDefined();
    expect(table!.capacity).toBe(8192);
    expect(table!.entries).toBeLessThanOrEqual(table!.capacity);
    expect(table!.entries).toBeGreaterThan(0.9 * table!.capacity);
    expect(table!.evictions, summary).toBeGreaterThan(distinctAnswered - table!.capacity);

    // Still serving after the burst (the rate table is full of strangers; a real client is new and served).
    const q = await chronydOneShot('127.0.0.1', port);
    expect(q.ok, q.log).toBe(true);

    expect(afterKiB / 1024, summary).toBeLessThanOrEqual(BOUND[path].rssMiB);
    expect((afterKiB - idleKiB) / 1024, summary).toBeLessThanOrEqual(BOUND[path].growthMiB);
  }, 90_000);
});
