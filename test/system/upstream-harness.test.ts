// The upstream-server harness (harness/upstream.ts) on its own, before any Gnomon client test relies on it:
// from the lab's client namespace (where Gnomon will run), ntpdig and chronyd -Q see
//   - chronyd `local stratum 1` at 10.123.1.2: stratum 1, offset < 1 ms;
//   - the wrong chronyd at 10.123.2.2: offset +0.3 s ± 20 ms, with a normal (sub-ms) round-trip delay;
//   - the wrong chronyd at 10.123.3.2: -1 s, then +0.5 s after setOffset;
//   - NTPsec ntpd (NMEA refclock) at 10.123.4.2: leap 00 / stratum 1 / rootdisp < 100 ms within 25 s of start
//     (measured 13-16 s on this machine), then ntpdig there: stratum 1, offset < 1 ms (it serves the host clock);
//   - two chronyd upstreams sharing one namespace at 127.0.0.2 and 127.0.0.3.
// All upstreams start in parallel in beforeAll; the file takes ~20 s. Ports: 123 inside its namespaces only.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bestSample, chronydOneShot } from './harness/chrony.js';
import { Netns } from './harness/netns.js';
import { ntpdig } from './harness/ntpsec.js';
import { describeRun, Teardown } from './harness/process.js';
import {
  describeSntp, startChronydUpstream, startNtpsecUpstream, UpstreamLab, type ChronydUpstream, type NtpsecUpstream,
} from './harness/upstream.js';

const teardown = new Teardown();
let lab: UpstreamLab;
let good: ChronydUpstream;
let wrongPlus: ChronydUpstream;
let wrongMinus: ChronydUpstream;
let ntpsec: NtpsecUpstream;
const startMs: Record<string, number> = {};

async function timed<T>(what: string, start: () => Promise<T>): Promise<T> {
  const t0 = Date.now();
  const value = await start();
  startMs[what] = Date.now() - t0;
  return value;
}

beforeAll(async () => {
  lab = await UpstreamLab.create(teardown);
  const [h1, h2, h3, h4] = [await lab.addHost(), await lab.addHost(), await lab.addHost(), await lab.addHost()];
  // ntpd first: it takes longest to synchronise, the chronyds start meanwhile.
  ntpsec = await timed('ntpsec', () => startNtpsecUpstream({ ns: h4.ns, address: h4.address }));
  teardown.add('ntpsec upstream', () => ntpsec.stop());
  [good, wrongPlus, wrongMinus] = await Promise.all([
    timed('good', () => startChronydUpstream({ ns: h1.ns, address: h1.address, stratum: 1 })),
    timed('wrong+0.3', () => startChronydUpstream({ ns: h2.ns, address: h2.address, stratum: 1, offsetS: 0.3 })),
    timed('wrong-1', () => startChronydUpstream({ ns: h3.ns, address: h3.address, stratum: 1, offsetS: -1 })),
  ]);
  for (const u of [good, wrongPlus, wrongMinus]) teardown.add(`chronyd upstream ${u.address}`, () => u.stop());
}, 60_000);

afterAll(() => teardown.run());

/** ntpdig -j -p 4 from the client namespace; the answer (best of 4) or a failure with everything seen. */
async function seen(address: string, what: string): Promise<{ offset: number; stratum: number; leap: string; log: string }> {
  const r = await ntpdig(lab.client, address, { timeoutS: 2, samples: 4 });
  const log = `${describeSntp([r])}\n${describeRun(r.run)}\nstart times (ms): ${JSON.stringify(startMs)}\n${what}`;
  expect(r.answer, log).toBeDefined();
  return { offset: r.answer!.offset, stratum: r.answer!.stratum, leap: r.answer!.leap, log };
}

describe('upstream servers for Gnomon client tests (harness/upstream.ts)', () => {
  it('chronyd local stratum 1: ntpdig and chronyd -Q in the client namespace see stratum 1, offset < 1 ms', async () => {
    const dig = await seen(good.address, good.describe());
    expect(dig.stratum, dig.log).toBe(1);
    expect(dig.leap, dig.log).toBe('no-leap');
    expect(Math.abs(dig.offset), dig.log).toBeLessThan(0.001);
    const q = await chronydOneShot(good.address, 123, { ns: lab.client, samples: 4, poll: -4 });
    const best = bestSample(q.samples);
    expect(q.ok, q.log).toBe(true);
    expect(best?.stratum, q.log).toBe(1);
    expect(Math.abs(best?.offset ?? Infinity), q.log).toBeLessThan(0.001);
  });

  it('a wrong chronyd serves +0.3 s (±20 ms) with a normal delay (not the half offset of libfaketime)', async () => {
    const dig = await seen(wrongPlus.address, wrongPlus.describe());
    expect(dig.stratum, dig.log).toBe(1);
    expect(dig.leap, dig.log).toBe('no-leap');
    expect(Math.abs(dig.offset - 0.3), dig.log).toBeLessThan(0.02);
    const q = await chronydOneShot(wrongPlus.address, 123, { ns: lab.client, samples: 4, poll: -4 });
    const best = bestSample(q.samples);
    const log = `${q.log}\n${JSON.stringify(q.samples)}`;
    expect(q.ok, log).toBe(true);
    expect(Math.abs((best?.offset ?? Infinity) - 0.3), log).toBeLessThan(0.02);
    expect(best?.peerDelay, log).toBeLessThan(0.01);
    expect(best?.refid, log).toBe('47505300'); // "GPS"
  });

  it('a wrong chronyd serves -1 s, and +0.5 s after setOffset(0.5)', async () => {
    const before = await seen(wrongMinus.address, wrongMinus.describe());
    expect(before.stratum, before.log).toBe(1);
    expect(Math.abs(before.offset + 1), before.log).toBeLessThan(0.02);
    wrongMinus.setOffset(0.5);
    const switched = await wrongMinus.waitServing(10_000);
    expect(switched?.answer?.offset, `not serving +0.5 s within 10 s\n${wrongMinus.describe()}`).toBeDefined();
    const after = await seen(wrongMinus.address, wrongMinus.describe());
    expect(after.stratum, after.log).toBe(1);
    expect(Math.abs(after.offset - 0.5), after.log).toBeLessThan(0.02);
  });

  it('NTPsec ntpd (NMEA refclock, no CAP_SYS_TIME) is synchronised at stratum 1 within 25 s of start', async () => {
    const state = await ntpsec.waitSynchronised(30_000);
    const log = `${describeRun(state.rv)}\nsynchronised ${state.atMs} ms after start\n${ntpsec.describe()}`;
    console.info(`NTPsec upstream: leap 00 when first polled (${state.firstLeap00Ms} ms), rootdisp ${state.rootdispMs} ms (< 100) ` +
      `${state.atMs} ms after start; chronyd upstreams serving after (ms) ${JSON.stringify(startMs)}`);
    expect(state.atMs, log).toBeLessThan(25_000);
    const dig = await seen(ntpsec.address, log);
    expect(dig.stratum, dig.log).toBe(1);
    expect(dig.leap, dig.log).toBe('no-leap');
    expect(Math.abs(dig.offset), dig.log).toBeLessThan(0.001);
    const peers = await ntpsec.ntpq(['-pn']);
    expect(peers.stdout, describeRun(peers)).toMatch(/^\*NMEA\(0\)\s+\.GPS\.\s+0 l /m);
  }, 40_000);

  it('two chronyd upstreams share one namespace at 127.0.0.2 and 127.0.0.3 (port 123 each)', async () => {
    const ns = await Netns.create();
    const local = new Teardown();
    try {
      local.add('namespace', () => ns.destroy());
      const a = await startChronydUpstream({ ns, address: '127.0.0.2', stratum: 1 });
      local.add('a', () => a.stop());
      const b = await startChronydUpstream({ ns, address: '127.0.0.3', stratum: 2, offsetS: 0.3 });
      local.add('b', () => b.stop());
      const [ra, rb] = [await ntpdig(ns, '127.0.0.2'), await ntpdig(ns, '127.0.0.3')];
      const log = describeSntp([ra, rb]);
      expect(ra.answer?.stratum, log).toBe(1);
      expect(Math.abs(ra.answer?.offset ?? Infinity), log).toBeLessThan(0.001);
      expect(rb.answer?.stratum, log).toBe(2);
      expect(Math.abs((rb.answer?.offset ?? Infinity) - 0.3), log).toBeLessThan(0.02);
    } finally {
      await local.run();
    }
  });
});
