// `npm start` = `gnomon demo`: the simulator and the daemon together, observed through the real
// interfaces only: NTP replies (Gnomon's own query and a real chronyd client) and `gnomon status`.
// Ports: 11123 (npm start's), 12110-12119.
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { GNOMON_MAIN, productNodeFlags, REPO_ROOT } from './harness/daemon.js';
import { ChronydClient } from './harness/chrony.js';
import { startDemo, waitForPps } from './harness/demo.js';
import { pollUntil, run, Teardown, TempDir } from './harness/process.js';
import type { StatusReport } from '../../src/daemon/status.js';
import type { RefclockStatus } from '../../src/daemon/refclocks.js';
import { PULSE_REJECT_REASONS } from '../../src/refclock/source.js';

const teardown = new Teardown();
afterAll(() => teardown.run());

const refclock = (s: StatusReport, name: string): RefclockStatus | undefined => s.refclocks.find((r) => r.name === name);

/** Pulses refused so far, for every reason. */
const refused = (r: RefclockStatus): number => PULSE_REJECT_REASONS.reduce((sum, k) => sum + (r.counters[k] ?? 0), 0);

/** `gnomon query --json` (the lowest-delay of 4 samples); offsetS = server − local, as ntpdate prints it. */
async function queryJson(port: number): Promise<{ ok: boolean; stratum: number; refid: string; offsetS: number }> {
  const r = await run(process.execPath, [GNOMON_MAIN, 'query', '127.0.0.1', '--port', String(port), '--json'], { timeoutMs: 20_000 });
  return (JSON.parse(r.stdout) as { ok: boolean; stratum: number; refid: string; offsetS: number }[])[0]!;
}

describe('npm start (gnomon demo)', () => {
  it('is `gnomon demo`; a real chronyd client sees stratum 1 with the refid Gnomon claims (PPS) on 127.0.0.1:11123', async () => {
    const pkg = JSON.parse(readFileSync(`${REPO_ROOT}/package.json`, 'utf8')) as { scripts: { start: string } };
    // With the daemon's node flags (its memory budget: the first line of dist/src/cli/main.js).
    expect(productNodeFlags().length).toBeGreaterThan(0);
    expect(pkg.scripts.start).toBe(`node ${productNodeFlags().join(' ')} dist/src/cli/main.js demo`);
    const demo = await startDemo([], teardown);
    expect(demo.proc.stdout).toMatch(/"address":"127\.0\.0\.1","port":11123,"msg":"listening"/);
    const st = await waitForPps(demo, 40_000);
    expect(st.server).toMatchObject({ synchronised: true, stratum: 1, refid: 'PPS' });

    const chronyd = await ChronydClient.start({ host: '127.0.0.1', port: 11123, extra: ['noselect'] });
    teardown.add('chronyd client', () => chronyd.stop());
    const samples = await chronyd.waitForSamples(8, 15_000);
    const why = `${JSON.stringify(samples)}\n${chronyd.describe()}`;
    expect(samples.length, why).toBeGreaterThanOrEqual(8);
    for (const s of samples) expect(s, why).toMatchObject({ stratum: 1, leap: 'N', refid: '50505300' });
    const { fields } = await chronyd.ntpData();
    expect(fields.get('Stratum'), why).toBe('1');
    expect(fields.get('Reference ID'), why).toMatch(/^50505300 \(PPS\)$/);
  }, 90_000);

  // The receiver styles' delays from the edge to the first NMEA byte, with the host clock 5 ms
  // ahead of GPS time: pulses are labelled with the right second (a wrong one would be ±1 s),
  // no configured offset anywhere, and served time is GPS time.
  it.concurrent.each([
    [100, 12110, 'ublox'], [500, 12111, 'mtk'], [900, 12112, 'ublox'],
  ])('NMEA %i ms after the edge: every pulse after learning labelled with its second, served time corrected by the 5 ms', async (delayMs, port, receiver) => {
    const demo = await startDemo(['--receiver', receiver, '--nmea-delay-ms', String(delayMs), '--offset-ms', '5', '--listen', `127.0.0.1:${port}`], teardown);
    await waitForPps(demo, 40_000);
    // Pulses left waiting while the phase was being learnt are given up within 1.5 s: let them go first.
    await new Promise((r) => setTimeout(r, 2000));
    const before = refclock(await demo.status(), 'PPS(0)')!;
    await new Promise((r) => setTimeout(r, 5000));
    const st = await demo.status();
    const pps = refclock(st, 'PPS(0)')!;
    const why = JSON.stringify(pps, null, 1);
    expect(pps.phase, why).toMatchObject({ state: 'ok' });
    expect(Math.abs(pps.phase!.phaseNs! - delayMs * 1e6), why).toBeLessThan(20e6);
    // Every pulse in the last 5 s was labelled (the phase was learnt before): none refused since.
    // (pulses − labelled is no measure: a pulse waits up to 900 ms for the NMEA that names it.)
    expect(pps.counters.labelled! - before.counters.labelled!, why).toBeGreaterThanOrEqual(4);
    // At most one refusal: on a loaded machine (the suite runs files in parallel) an event-loop stall
    // can hold a sentence past the ±150 ms window (outsideWindow). The exact counts are pinned by
    // test/sim/refclock-pairing.test.ts in virtual time; here what matters is no wrong second,
    // which would show as a 1 s offset below.
    expect(refused(pps) - refused(before), why).toBeLessThanOrEqual(1);
    expect(Math.abs(pps.estimate!.offsetNs - 5e6), why).toBeLessThan(0.2e6);
    // `gnomon query` offset = server − local: served time is 5 ms behind this (5 ms fast) host clock.
    const q = await queryJson(port);
    expect(q).toMatchObject({ ok: true, stratum: 1, refid: 'PPS' });
    expect(Math.abs(q.offsetS + 0.005), JSON.stringify(q)).toBeLessThan(0.001);
  }, 90_000);

  it('NMEA at the edge itself (ambiguous phase): pulses refused with phaseNearBoundary, visible in `gnomon status`; NMEA alone serves', async () => {
    const demo = await startDemo(['--nmea-delay-ms', '0', '--listen', '127.0.0.1:12113'], teardown);
    const st = await pollUntil(async () => {
      const s = await demo.status();
      return (refclock(s, 'PPS(0)')?.counters.phaseNearBoundary ?? 0) >= 3 ? s : undefined;
    }, 40_000, 500);
    expect(st, demo.proc.describe()).toBeDefined();
    const pps = refclock(st!, 'PPS(0)')!;
    expect(pps.phase?.state).toBe('phaseNearBoundary');
    expect(pps.estimate).toBeNull();
    expect(st!.server).toMatchObject({ selected: 'GPS_NMEA(0)', refid: 'GPS', stratum: 1 });
    const text = await run(process.execPath, [GNOMON_MAIN, 'status', '--control', demo.control], { timeoutMs: 10_000 });
    expect(text.stdout).toMatch(/PPS phase .* after the edge: phaseNearBoundary \(pulses are not labelled\)/);
    expect(text.stdout).toMatch(/refused: .*phaseNearBoundary \d+/);
  }, 60_000);

  it('antenna unplugged: the receiver\'s report is shown, no fix means no reference (unsynchronised, never stratum 1)', async () => {
    const demo = await startDemo(['--receiver', 'ublox', '--fault', 'antenna-unplugged', '--listen', '127.0.0.1:12114'], teardown);
    const st = await pollUntil(async () => {
      const s = await demo.status();
      return (refclock(s, 'GPS_NMEA(0)')?.counters.timecodes ?? 0) >= 3 && (refclock(s, 'PPS(0)')?.counters.noFix ?? 0) >= 1 ? s : undefined;
    }, 30_000, 500);
    expect(st, demo.proc.describe()).toBeDefined();
    expect(refclock(st!, 'GPS_NMEA(0)')!.fix).toMatchObject({ mode: 'none', antenna: 'open' });
    expect(st!.server).toMatchObject({ synchronised: false, stratum: 16, selected: 'none' });
    const text = await run(process.execPath, [GNOMON_MAIN, 'status', '--control', demo.control], { timeoutMs: 10_000 });
    expect(text.code).toBe(1);
    expect(text.stdout).toMatch(/fix none.*antenna open/);
    const q = await queryJson(12114);
    expect(q).toMatchObject({ stratum: 16 });
  }, 60_000);

  it.concurrent('GPS silent for 20 s: holdover at stratum 1 with growing root dispersion (gnomon status and NTP replies), then tracking again', async () => {
    const demo = await startDemo(['--fault', 'no-nmea@25+20,no-pps@25+20', '--listen', '127.0.0.1:12116'], teardown);
    await waitForPps(demo, 25_000);
    const held = await pollUntil(async () => {
      const s = await demo.status();
      return s.server.state === 'holdover' ? s : undefined;
    }, 30_000, 500);
    expect(held, demo.proc.describe()).toBeDefined();
    expect(held!.server).toMatchObject({ synchronised: true, stratum: 1, refid: 'PPS', selected: 'PPS(0)' });
    await new Promise((r) => setTimeout(r, 4000));
    const later = await demo.status();
    expect(later.server.state).toBe('holdover');
    // RFC 5905: at least PHI (15 µs/s) more dispersion per second.
    expect(later.server.rootDispersionS - held!.server.rootDispersionS).toBeGreaterThan(3.5 * 15e-6);
    const q = await queryJson(12116);
    expect(q).toMatchObject({ ok: true, stratum: 1, refid: 'PPS' });
    const text = await run(process.execPath, [GNOMON_MAIN, 'status', '--control', demo.control], { timeoutMs: 10_000 });
    expect(text.stdout).toMatch(/^holdover \(PPS\(0\) lost\), stratum 1/);
    const back = await pollUntil(async () => {
      const s = await demo.status();
      return s.server.state === 'tracking' && s.server.selected === 'PPS(0)' ? s : undefined;
    }, 30_000, 500);
    expect(back, demo.proc.describe()).toBeDefined();
    expect(demo.proc.stdout).toMatch(/"msg":"PPS\(0\) lost: holdover on its last frequency, dispersion growing"/);
  }, 90_000);

  it.concurrent('driftfile and ntpd statistics files (loopstats, peerstats, clockstats); `enable kernel` is ignored by the demo', async () => {
    const dir = new TempDir('gnm-demo-out-');
    teardown.add('outputs dir', () => dir.remove());
    mkdirSync(dir.file('stats'));
    const extra = dir.file('extra.conf');
    writeFileSync(extra, [
      `driftfile ${dir.file('ntp.drift')}`, `statsdir ${dir.file('stats')}/`, 'statistics loopstats peerstats clockstats',
      'filegen loopstats file loopstats type day enable', 'filegen peerstats file peerstats type day enable',
      'filegen clockstats file clockstats type day enable', 'enable kernel', '',
    ].join('\n'));
    const demo = await startDemo(['--config', extra, '--listen', '127.0.0.1:12117'], teardown);
    await waitForPps(demo, 40_000);
    await new Promise((r) => setTimeout(r, 12_000));
    const end = await demo.proc.stop('SIGTERM', 5000);
    expect(end.code, demo.proc.describe()).toBe(0);
    expect(demo.proc.stdout).toMatch(/"msg":"--no-kernel: the system clock is left alone"/);
    // ntpd's formats: MJD SOD offset freq jitter wander tc; MJD SOD srcadr status offset delay dispersion jitter.
    const day = readdirSync(dir.file('stats')).find((n) => /^loopstats\.\d{8}$/.test(n));
    expect(day, readdirSync(dir.file('stats')).join(' ')).toBeDefined();
    const loop = readFileSync(dir.file(`stats/${day}`), 'utf8').trim().split('\n');
    expect(loop.length).toBeGreaterThanOrEqual(5);
    for (const l of loop) expect(l).toMatch(/^\d{5} \d+\.\d{3} -?\d+\.\d{9} -?\d+\.\d{6} \d+\.\d{9} \d+\.\d{6} \d+$/);
    const peers = readFileSync(dir.file(`stats/${day!.replace('loop', 'peer')}`), 'utf8');
    expect(peers).toMatch(/^\d{5} \d+\.\d{3} 127\.127\.22\.0 9600 -?\d+\.\d{9} /m);
    // clockstats: MJD SOD srcadr timecode, the receiver's sentences as received.
    const clocks = readFileSync(dir.file(`stats/${day!.replace('loop', 'clock')}`), 'utf8');
    expect(clocks).toMatch(/^\d{5} \d+\.\d{3} 127\.127\.20\.0 \$G[NP](RMC|GGA|ZDA),.*\*[0-9A-F]{2}$/m);
    // Written at shutdown: the oscillator's frequency in ntpd's sign and format (the simulated host runs true: near 0).
    const drift = readFileSync(dir.file('ntp.drift'), 'utf8');
    expect(drift).toMatch(/^-?\d+\.\d{6}\n$/);
    expect(Math.abs(Number(drift))).toBeLessThan(5);
  }, 90_000);

  it.concurrent('old firmware (dates 1024 weeks back): the rollover is corrected and PPS served as usual', async () => {
    const demo = await startDemo(['--fault', 'week-rollover', '--listen', '127.0.0.1:12118'], teardown);
    const st = await waitForPps(demo, 40_000);
    const nmea = refclock(st, 'GPS_NMEA(0)')!;
    expect(nmea.drivers[0]!.counters.rolloverCorrections, JSON.stringify(nmea)).toBeGreaterThan(0);
    const q = await queryJson(12118);
    expect(q).toMatchObject({ ok: true, stratum: 1, refid: 'PPS' });
    expect(Math.abs(q.offsetS)).toBeLessThan(0.001);
  }, 60_000);

  it('--config EXTRA adds directives: `restrict 127.0.0.1 noserve` there silences the demo for this client', async () => {
    const dir = new TempDir('gnm-demo-extra-');
    teardown.add('extra config dir', () => dir.remove());
    const extra = dir.file('extra.conf');
    writeFileSync(extra, 'restrict 127.0.0.1 noserve\n');
    const demo = await startDemo(['--config', extra, '--listen', '127.0.0.1:12115'], teardown);
    const st = await demo.status();
    expect(st.daemon.config).toMatch(/ntp\.conf$/);
    const r = await run(process.execPath, [GNOMON_MAIN, 'query', '127.0.0.1', '--port', '12115', '--samples', '1', '--timeout', '1'], { timeoutMs: 20_000 });
    expect(r.stdout + r.stderr).toMatch(/no server suitable for synchronization found/);
  }, 30_000);
});
