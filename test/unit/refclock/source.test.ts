// RefclockSource: timecode-only and pulse estimates, time1/time2, labelling by another source,
// staleness, and the reasons a pulse is refused.
import { describe, expect, it } from 'vitest';
import type { FixMode, RefclockPulse, RefclockSample } from '../../../drivers/driver.js';
import { ESTIMATE_MAX_AGE_NS, RefclockSource, type RefclockSourceConfig } from '../../../src/refclock/source.js';
import { planRefclocks } from '../../../src/refclock/plan.js';
import { parseConfigText } from '../../../src/config/parse.js';

const T0 = 1_800_000_000;
const MS = 1_000_000;
const S = 1_000_000_000n;

function ts(ns: bigint): { sec: number; nsec: number } {
  return { sec: Number(ns / S), nsec: Number(ns % S) };
}
function sample(atNs: bigint, second: number, fix: FixMode = '3d'): RefclockSample {
  return { systemTime: ts(atNs), referenceTime: { sec: second, nsec: 0 }, leap: 'none', fix: { mode: fix, satellitesUsed: 9, satellitesVisible: 12, hdop: 0.8 } };
}
function pulse(atNs: bigint, sequence: number): RefclockPulse {
  return { systemTime: ts(atNs), edge: 'assert', sequence };
}
const base: RefclockSourceConfig = { name: 'GPS_NMEA(0)', time1Ns: 0, time2Ns: 0, timecodes: true, pulses: false, prefer: false, noselect: false, stratum: 0 };

/** n seconds: edge at second + aheadNs, timecode delayNs after it. */
function run(nmea: RefclockSource, pps: RefclockSource | null, n: number, aheadNs: bigint, delayNs: bigint, from = 0): bigint {
  let last = 0n;
  for (let i = from; i < from + n; i++) {
    const edge = BigInt(T0 + i) * S + aheadNs;
    if (pps) pps.addPulse(pulse(edge, i + 1));
    nmea.addSample(sample(edge + delayNs, T0 + i), pps && pps !== nmea ? [pps] : []);
    last = edge + delayNs;
  }
  return last;
}

describe('RefclockSource', () => {
  it('timecodes alone: offset = arrival − label − time2 − time1, refid GPS, + = local clock ahead', () => {
    const src = new RefclockSource({ ...base, time2Ns: 480 * MS, time1Ns: 5 * MS });
    const now = run(src, null, 10, 3n * BigInt(MS), 500n * BigInt(MS));
    const e = src.estimate(now);
    expect(e).toMatchObject({ basis: 'timecode', refid: 'GPS', jitterNs: 0 });
    expect(e!.offsetNs).toBe(3 * MS + 500 * MS - 480 * MS - 5 * MS);
  });

  it('a PPS source labelled by another source\'s timecodes: pulse estimate, refid PPS, time1 applied', () => {
    const nmea = new RefclockSource(base);
    const pps = new RefclockSource({ ...base, name: 'PPS(0)', timecodes: false, pulses: true, time1Ns: 1_000 });
    pps.labeller = nmea;
    const now = run(nmea, pps, 20, 12_345n, 500n * BigInt(MS));
    expect(pps.estimate(now)).toMatchObject({ basis: 'pulse', refid: 'PPS', offsetNs: 12_345 - 1_000 });
    expect(pps.status(now)).toMatchObject({ phase: { state: 'ok', phaseNs: 500 * MS } });
    pps.reach.poll();
    expect(pps.reach.octal).toBe('1');
  });

  it('NMEA with its own PPS (flag1): pulses lead once paired; the configured refid wins', () => {
    const src = new RefclockSource({ ...base, pulses: true, refid: 'GPSa' });
    const now = run(src, src, 20, -40_000n, 120n * BigInt(MS));
    expect(src.estimate(now)).toMatchObject({ basis: 'pulse', offsetNs: -40_000, refid: 'GPSa' });
  });

  it('an estimate goes stale: nothing after ESTIMATE_MAX_AGE_NS', () => {
    const src = new RefclockSource(base);
    const now = run(src, null, 5, 0n, 100n * BigInt(MS));
    expect(src.estimate(now + ESTIMATE_MAX_AGE_NS)).not.toBeNull();
    expect(src.estimate(now + ESTIMATE_MAX_AGE_NS + 1n)).toBeNull();
  });

  it('no fix: no estimate and no reach', () => {
    const src = new RefclockSource(base);
    let now = 0n;
    for (let i = 0; i < 5; i++) {
      now = BigInt(T0 + i) * S + 100n * BigInt(MS);
      src.addSample(sample(now, T0 + i, 'none'));
    }
    expect(src.estimate(now)).toBeNull();
    src.reach.poll();
    expect(src.reach.octal).toBe('0');
  });

  it('a PPS without a labeller refuses every pulse with noLabeller', () => {
    const pps = new RefclockSource({ ...base, name: 'PPS(0)', timecodes: false, pulses: true });
    for (let i = 0; i < 3; i++) pps.addPulse(pulse(BigInt(T0 + i) * S, i + 1));
    const st = pps.status(BigInt(T0 + 3) * S);
    expect(st.lastRejectReason).toBe('noLabeller');
    expect(st.counters.noLabeller).toBe(3);
    expect(st.estimate).toBeNull();
  });

  it('an ambiguous phase (NMEA 995 ms after the edge) refuses with phaseNearBoundary, never estimates from pulses', () => {
    const nmea = new RefclockSource(base);
    const pps = new RefclockSource({ ...base, name: 'PPS(0)', timecodes: false, pulses: true });
    pps.labeller = nmea;
    const now = run(nmea, pps, 30, 0n, 995n * BigInt(MS));
    const st = pps.status(now);
    expect(st.estimate).toBeNull();
    expect(st.phase?.state).toBe('phaseNearBoundary');
    expect(st.lastRejectReason).toBe('phaseNearBoundary');
  });
});

describe('planRefclocks', () => {
  const plan = (text: string) => planRefclocks(parseConfigText(text, 't.conf').config!.refclocks);

  it('ntpd NMEA + PPS: names as ntpq shows them; PPS labelled by the NMEA source; time1/time2 in ns', () => {
    const p = plan('server 127.127.20.0 mode 16\nfudge 127.127.20.0 time2 0.35\nserver 127.127.22.0\nfudge 127.127.22.0 time1 0.000002\n');
    expect(p.map((x) => x.source.name)).toEqual(['GPS_NMEA(0)', 'PPS(0)']);
    expect(p[0]!.source).toMatchObject({ timecodes: true, pulses: false, time2Ns: 350 * MS });
    expect(p[1]).toMatchObject({ labeller: 0, source: { timecodes: false, pulses: true, time1Ns: 2_000 } });
  });

  it('the prefer timecode source labels the pulses; NMEA with flag1 has pulses of its own', () => {
    const p = plan('refclock nmea unit 0 path /dev/ttyAMA0 baud 9600 flag1 1\nrefclock gpsd unit 1 prefer\nrefclock pps-gpio unit 0 chip 0 line 18\n');
    expect(p.map((x) => [x.source.name, x.source.pulses, x.labeller])).toEqual([
      ['GPS_NMEA(0)', true, null], ['GPSD_JSON(1)', true, null], ['PPS(0)', true, 1],
    ]);
  });
});

describe('a receiver in the wrong GPS week epoch', () => {
  const WEEKS_1024_NS = 1024n * 7n * 86_400n * S;
  it('timecodes ~20 years off a local clock past the build date are refused (wrongWeek): no estimate, no labels', () => {
    const nmea = new RefclockSource(base);
    const pps = new RefclockSource({ ...base, name: 'PPS(0)', timecodes: false, pulses: true });
    pps.labeller = nmea;
    for (let i = 0; i < 20; i++) {
      const edge = BigInt(T0 + i) * S;
      pps.addPulse(pulse(edge, i + 1));
      const s = sample(edge + 200n * BigInt(MS), T0 + i);
      nmea.addSample({ ...s, referenceTime: ts(timeSpecToNs(s.referenceTime) + WEEKS_1024_NS) }, [pps]);
    }
    const now = BigInt(T0 + 20) * S;
    expect(nmea.estimate(now)).toBeNull();
    expect(pps.estimate(now)).toBeNull();
    expect(nmea.status(now)).toMatchObject({ lastRejectReason: 'wrongWeek', counters: { wrongWeek: 20 } });
  });

  it('a local clock before the build date (a Pi without RTC booting at 1970) trusts the GPS whatever it says', () => {
    const nmea = new RefclockSource(base);
    const at = 5n * S; // 1970-01-01T00:00:05Z
    nmea.addSample({ ...sample(at, T0), systemTime: ts(at) });
    expect(nmea.estimate(at)).not.toBeNull();
  });
});

function timeSpecToNs(t: { sec: number; nsec: number }): bigint {
  return BigInt(t.sec) * S + BigInt(t.nsec);
}
