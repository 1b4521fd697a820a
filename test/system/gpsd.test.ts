// Gnomon's gpsd driver against a real gpsd (Debian's, on a socat pty fed with receiver logs from
// ../shared/nmea-corpus): the driver must report exactly the times gpsd reports to an independent client
// (`gpspipe -w`), survive a gpsd restart, and fail loudly when there is no gpsd. Ports 12900-12999.
import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { systemRealtimeClock } from '../../src/clock/posix.js';
import { timeSpecToUnixNs } from '../../src/clock/clock.js';
import { recordingContext } from '../support/driver-context.js';
import { GpsdDriver } from '../../drivers/gpsd/io.js';
import { GpsdOnPty, logSentences, tcpPortOpen, timeOfDay, tpvTimes } from './harness/gpsd.js';
import { pollUntil, sleep, Teardown } from './harness/process.js';

const CORPUS = new URL('../../../shared/nmea-corpus/', import.meta.url);
const realtime = systemRealtimeClock();

function nowNs(): bigint {
  const t = { sec: 0, nsec: 0 };
  realtime.read(t);
  return timeSpecToUnixNs(t);
}

function recorder() {
  const r = recordingContext(realtime, 'GPSD(0)');
  return { ...r, states: r.logged };
}

async function waitForState(states: readonly string[], wanted: string, timeoutMs: number): Promise<void> {
  if (await pollUntil(() => states.at(-1) === wanted || undefined, timeoutMs) === undefined) {
    throw new Error(`the driver did not reach "${wanted}" within ${timeoutMs} ms; its states: ${states.join(' → ')}`);
  }
}

// Per test, so that each test's gpsd, socat and gpspipe are gone before the next starts.
const teardown = new Teardown();
afterEach(() => teardown.run());

describe('gpsd driver against a real gpsd on a pty', () => {
  const cases = [
    { log: 'mt3339.log', port: 12901 },
    { log: 'ublox-neo-m9n-nmea.log', port: 12902 },
  ];

  for (const { log, port } of cases) {
    it(`reports the times gpsd reports (${log})`, async () => {
      const gpsd = await GpsdOnPty.start(port);
      teardown.add(`gpsd on ${port}`, () => gpsd.stop());
      const pipe = await gpsd.gpspipe();
      teardown.add('gpspipe', () => pipe.stop('SIGTERM', 3000));
      const rec = recorder();
      const driver = new GpsdDriver({ port });
      teardown.add('driver', () => driver.close());
      await driver.init(rec.ctx);
      await waitForState(rec.states, 'running', 5000);

      const startNs = nowNs();
      await gpsd.replay(logSentences(new URL(log, CORPUS).pathname));
      // gpsd reports an epoch when the next one starts or its cycle timer fires: give it a moment, then wait until
      // the driver and gpspipe agree on how many there were.
      await sleep(1500);
      await pollUntil(() => rec.samples.length === tpvTimes(pipe.stdout).length || undefined, 3000);
      const expected = tpvTimes(pipe.stdout);
      const endNs = nowNs();

      const why = `gpsd:\n${gpsd.gpsd.describe()}\ngpspipe:\n${pipe.describe()}`;
      expect(rec.samples.map((s) => timeSpecToUnixNs(s.referenceTime)), why)
        .toEqual(expected.map((t) => BigInt(Date.parse(t.time)) * 1_000_000n));
      expect(rec.samples.map((s) => s.fix.mode)).toEqual(expected.map((t) => ({ 0: 'none', 1: 'none', 2: '2d', 3: '3d' })[t.mode]));

      // The replay reached gpsd and gpsd decoded it as it did for the corpus (.chk: gpsd's own regression output).
      // Dates are compared by time of day: gpsd 3.22 moves these 2015/2021 captures 1024 weeks on (its WKRO check).
      const chk = new Set(tpvTimes(readFileSync(new URL(`${log}.chk`, CORPUS), 'utf8')).map((t) => timeOfDay(t.time)));
      expect(expected.length, why).toBeGreaterThanOrEqual(Math.floor(chk.size * 0.8));
      expect(expected.map((t) => timeOfDay(t.time)).filter((t) => !chk.has(t))).toEqual([]);

      // Every sample is stamped with gpsd's TOFF clock of the same second, read on this machine during the replay.
      expect(rec.counters()).toMatchObject({ samples: expected.length, samplesStampedByToff: expected.length, garbage: 0 });
      for (const s of rec.samples) {
        const sys = timeSpecToUnixNs(s.systemTime);
        expect(sys >= startNs && sys <= endNs, `systemTime ${sys} outside the replay [${startNs}, ${endNs}]`).toBe(true);
      }
      expect(rec.pulses).toEqual([]); // a pty has no PPS line
    });
  }

  it('reconnects after gpsd restarts and reports again', async () => {
    const port = 12903;
    const gpsd = await GpsdOnPty.start(port);
    teardown.add(`gpsd on ${port}`, () => gpsd.stop());
    const rec = recorder();
    const driver = new GpsdDriver({ port, initialBackoffMs: 100, maxBackoffMs: 400 });
    teardown.add('driver', () => driver.close());
    await driver.init(rec.ctx);
    await waitForState(rec.states, 'running', 5000);

    await gpsd.stopGpsd();
    await waitForState(rec.states, 'reconnecting GPSD_UNREACHABLE', 3000);
    await gpsd.restartGpsd();
    await waitForState(rec.states, 'running', 3000);
    expect(rec.states).toEqual(['starting', 'running', 'reconnecting GPSD_DISCONNECTED', 'reconnecting GPSD_UNREACHABLE', 'running']);

    await gpsd.replay(logSentences(new URL('mt3339.log', CORPUS).pathname).slice(0, 60));
    const got = await pollUntil(() => rec.samples.length >= 5 || undefined, 3000);
    expect(got, `samples after the restart: ${rec.samples.length}\n${gpsd.gpsd.describe()}`).toBe(true);
    expect(rec.counters()).toMatchObject({ connects: 2 });
  });

  it('fails init with GPSD_UNREACHABLE when nothing listens', async () => {
    const port = 12999;
    expect(await tcpPortOpen(port), `port ${port} should be free`).toBe(false);
    const rec = recorder();
    const driver = new GpsdDriver({ port });
    await expect(driver.init(rec.ctx)).rejects.toMatchObject({ code: 'GPSD_UNREACHABLE' });
    expect(rec.states).toEqual(['starting', 'stopped GPSD_UNREACHABLE']);
    await driver.close();
  });
});
