// Served time follows the GPS, not the local clock: `gnomon demo --offset-ms 3 --drift-ppm 20` makes
// the host clock 3 ms ahead of the simulated GPS at the start and gaining 20 ppm; a real chronyd client
// (noselect, -x: it measures against the host clock and never touches it) must see Gnomon's time 3 ms
// behind at the start (within 300 µs) and a drift of 20 ppm over a minute (within 3 ppm). With no
// injected error the offsets are noise around 0. Ports 12120-12121.
import { afterAll, describe, expect, it } from 'vitest';
import { ChronydClient, type Measurement } from './harness/chrony.js';
import { startDemo, waitForPps } from './harness/demo.js';
import { Teardown } from './harness/process.js';

const teardown = new Teardown();
afterAll(() => teardown.run());

/** Least-squares line offset(t) = a + b·t over the samples, t in s since `t0Ms`; b in s/s. */
function fit(samples: readonly Measurement[], t0Ms: number): { a: number; b: number; rms: number } {
  const xs = samples.map((s) => (Date.parse(`${s.date.replace(' ', 'T')}Z`) - t0Ms) / 1000);
  const ys = samples.map((s) => s.offset);
  const n = xs.length;
  const xm = xs.reduce((p, x) => p + x, 0) / n;
  const ym = ys.reduce((p, y) => p + y, 0) / n;
  let sxx = 0;
  let sxy = 0;
  for (let i = 0; i < n; i++) {
    sxx += (xs[i]! - xm) ** 2;
    sxy += (xs[i]! - xm) * (ys[i]! - ym);
  }
  const b = sxy / sxx;
  const a = ym - b * xm;
  const rms = Math.sqrt(ys.reduce((p, y, i) => p + (y - (a + b * xs[i]!)) ** 2, 0) / n);
  return { a, b, rms };
}

/** The quicker half of the exchanges: a slow one is event-loop delay, not clock error. */
function quickHalf(samples: readonly Measurement[]): Measurement[] {
  const delays = samples.map((s) => s.peerDelay).sort((x, y) => x - y);
  const median = delays[delays.length >> 1] ?? Infinity;
  return samples.filter((s) => s.peerDelay <= median);
}

async function measure(args: string[], port: number): Promise<{ line: ReturnType<typeof fit>; count: number; describe: string }> {
  const demo = await startDemo([...args, '--listen', `127.0.0.1:${port}`], teardown);
  await waitForPps(demo, 40_000);
  const chronyd = await ChronydClient.start({ host: '127.0.0.1', port, poll: -2, extra: ['noselect'] });
  teardown.add('chronyd client', () => chronyd.stop());
  // A minute of samples at 4 per second.
  await new Promise((r) => setTimeout(r, 60_000));
  const samples = await chronyd.measurements();
  const used = quickHalf(samples.filter((s) => s.stratum === 1 && s.leap === 'N'));
  return { line: fit(used, demo.startedMs), count: used.length, describe: `${samples.length} samples\n${chronyd.describe()}\n${demo.proc.describe()}` };
}

describe('served time follows the GPS, not the host clock (real chronyd client)', () => {
  it.concurrent('host 3 ms ahead, gaining 20 ppm: Gnomon is seen 3 ms behind at the start (±300 µs), falling back 20 ppm (±3 ppm)', async () => {
    const m = await measure(['--offset-ms', '3', '--drift-ppm', '20'], 12120);
    expect(m.count, m.describe).toBeGreaterThanOrEqual(60);
    // chronyd's offset: + = the server is ahead of this machine's clock.
    expect(Math.abs(m.line.a - -0.003), `${JSON.stringify(m.line)}\n${m.describe}`).toBeLessThan(300e-6);
    expect(Math.abs(m.line.b * 1e6 - -20), `${JSON.stringify(m.line)}\n${m.describe}`).toBeLessThan(3);
    console.log(`discipline e2e (3 ms, 20 ppm): intercept ${(m.line.a * 1e3).toFixed(4)} ms, slope ${(m.line.b * 1e6).toFixed(3)} ppm, rms ${(m.line.rms * 1e6).toFixed(1)} µs, n=${m.count}`);
  }, 150_000);

  it.concurrent('no injected error: offsets are noise around 0 and show no drift', async () => {
    const m = await measure([], 12121);
    expect(m.count, m.describe).toBeGreaterThanOrEqual(60);
    // Not 0: the dgram path stamps a request when the event loop gets to it, so replies look
    // ~50-100 µs early on an idle machine, more under load (docs/benchmarks.md; issue 9's kernel
    // timestamps remove it). 250 µs is that bias with margin, still 12× smaller than the 3 ms above.
    expect(Math.abs(m.line.a), `${JSON.stringify(m.line)}\n${m.describe}`).toBeLessThan(250e-6);
    expect(Math.abs(m.line.b * 1e6), `${JSON.stringify(m.line)}\n${m.describe}`).toBeLessThan(3);
    console.log(`discipline e2e (no error): intercept ${(m.line.a * 1e6).toFixed(1)} µs, slope ${(m.line.b * 1e6).toFixed(3)} ppm, rms ${(m.line.rms * 1e6).toFixed(1)} µs, n=${m.count}`);
  }, 150_000);
});
