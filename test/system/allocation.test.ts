// The fast path allocates nothing per request (ARCHITECTURE.md: no per-packet allocation in the hot
// path). The daemon runs as the product starts it (its node flags: a 1 MiB young generation) plus V8's
// --trace-gc, and answers a closed-loop burst from bench/loadgen.c; the young-generation collections
// (scavenges) during the burst are counted from its output. Each one follows ~1 MiB of allocation, so
// one number boxed on the heap per request (16 bytes: e.g. NTP seconds, which are not a small integer,
// passed to a call the JIT did not inline, as `writeUInt32BE(rxSeconds)` and the rate table's
// monotonic seconds once were: ~30 bytes a request, 55 scavenges per 1.4 M replies) would be one scavenge
// per ~65,000 replies. The limit allows 4 bytes a reply plus two for the daemon's own timers.
// Ports: 12860 on loopback.
import { afterAll, describe, expect, it } from 'vitest';
import { GnomonDaemon, localClockConfig, productNodeFlags } from './harness/daemon.js';
import { loadgenBurst } from './harness/loadgen.js';
import { Teardown } from './harness/process.js';

const teardown = new Teardown();
afterAll(() => teardown.run());

const scavenges = (stdout: string): number => stdout.split('\n').filter((l) => l.includes(': Scavenge ')).length;

describe('the fast path under a closed-loop burst', () => {
  it('answers without allocating per request: young-generation collections stay within 4 bytes a reply', async () => {
    const port = 12860;
    const gnomon = await GnomonDaemon.start({
      config: localClockConfig(port, 2), listen: `127.0.0.1:${port}`, serveArgs: ['--server-path', 'fast'],
      nodeArgs: [...productNodeFlags(), '--trace-gc'],
    });
    teardown.add(`gnomon ${port}`, () => gnomon.stop());
    expect(productNodeFlags()).toContain('--max-semi-space-size=1');
    expect(gnomon.serverPath, gnomon.describe()).toBe('fast');
    // Warm-up: the per-request code is optimised (an interpreted or baseline-compiled function boxes freely).
    await loadgenBurst(port, 2, ['--window', '128', '--sockets', '16'], 'allocation-warmup');
    const before = scavenges(gnomon.proc.stdout);
    const r = await loadgenBurst(port, 3, ['--window', '128', '--sockets', '16'], 'allocation-test');
    const during = scavenges(gnomon.proc.stdout) - before;
    const why = `${r.matched} replies, ${during} scavenges during the burst\n${gnomon.describe().slice(-2000)}`;
    expect(r.matched, why).toBeGreaterThan(100_000);
    expect(r.wrong_origin + r.kod, why).toBe(0);
    const allowed = 2 + Math.floor((r.matched * 4) / (1 << 20));
    expect(during, why).toBeLessThanOrEqual(allowed);
  }, 60_000);
});
