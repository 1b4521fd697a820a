// The discipline's states and snapshots: tracking follows the source's line, holdover extrapolates
// it with growing dispersion and ends at the limit or at maxdist, then local or unsynchronised.
import { describe, expect, it } from 'vitest';
import { Discipline, PHI_S_PER_S, TIMECODE_DISPERSION_S, estimateDispersionS, snapshotForState } from '../../../src/discipline/discipline.js';
import type { Candidate } from '../../../src/discipline/select.js';
import { LeapIndicator, STRATUM_UNSYNCHRONISED, asciiRefId } from '../../../src/ntp/constants.js';
import { est } from './estimates.js';

const S = 1_000_000_000n;
const T = 10n ** 18n;
const LOCAL5 = { stratum: 5, orphan: false };
const ref = { seconds: 0xeead11a1, fraction: 0 };
const pps = (e = est('pulse', 2000)): Candidate => ({ name: 'PPS(0)', estimate: e, prefer: false, noselect: false, stratum: 0 });
const gone: Candidate = { name: 'PPS(0)', estimate: null, prefer: false, noselect: false, stratum: 0 };

describe('Discipline', () => {
  it('tracking: the correction is the source\'s line (offset, frequency, t0)', () => {
    const d = new Discipline();
    const e = est('pulse', 2000, { model: { t0Ns: T, offsetNs: 5000, freqPpm: 12.5, offsetSdNs: 100, freqSdPpm: 0.01, jitterNs: 2000, samples: 32, lastSampleNs: T } });
    expect(d.update(T + S, [pps(e)], undefined, -20)).toMatchObject({ kind: 'tracking', name: 'PPS(0)', stratum: 1 });
    expect(d.correctionModel).toEqual({ t0Ns: T, offsetNs: 5000, freqPpm: 12.5 });
  });

  it('holdover: same stratum, dispersion grows at least PHI per second, ends after holdoverS; then the local clock', () => {
    const d = new Discipline({ holdoverS: 600 });
    const e = est('pulse', 2000, { model: { t0Ns: T, offsetNs: 0, freqPpm: 3, offsetSdNs: 100, freqSdPpm: 0.001, jitterNs: 2000, samples: 32, lastSampleNs: T } });
    d.update(T, [pps(e)], LOCAL5, -20);
    const h1 = d.update(T + 100n * S, [gone], LOCAL5, -20);
    expect(h1).toMatchObject({ kind: 'holdover', name: 'PPS(0)', stratum: 1 });
    // The held estimate's offset is the line extrapolated: 3 ppm × 100 s = 300 µs.
    expect(h1.kind === 'holdover' && h1.estimate.offsetNs).toBeCloseTo(300_000, 3);
    const d100 = snapshotForState(h1, -20, ref, T + 100n * S).rootDispersionS;
    const h2 = d.update(T + 500n * S, [gone], LOCAL5, -20);
    const d500 = snapshotForState(h2, -20, ref, T + 500n * S).rootDispersionS;
    expect(d500 - d100).toBeGreaterThanOrEqual(400 * PHI_S_PER_S);
    expect(d.update(T + 601n * S, [gone], LOCAL5, -20)).toEqual({ kind: 'local', stratum: 5 });
    // After holdover the correction is frozen where it was, without frequency.
    expect(d.correctionModel!.freqPpm).toBe(0);
    expect(d.correctionModel!.offsetNs).toBeCloseTo(3 * 601 * 1000, 0);
    // The source back: tracking again.
    expect(d.update(T + 700n * S, [pps(est('pulse', 2000, { atNs: T + 700n * S }))], LOCAL5, -20).kind).toBe('tracking');
  });

  it('holdover ends early once the root distance passes maxdist; no local clock → unsynchronised', () => {
    const d = new Discipline({ holdoverS: 1e6, maxDistanceS: 0.01 });
    d.update(T, [pps()], undefined, -20);
    expect(d.update(T + 100n * S, [gone], undefined, -20).kind).toBe('holdover');
    // 15 ppm × 700 s = 10.5 ms > 10 ms.
    expect(d.update(T + 700n * S, [gone], undefined, -20)).toEqual({ kind: 'none' });
    expect(snapshotForState({ kind: 'none' }, -20, ref, T)).toMatchObject({ stratum: STRATUM_UNSYNCHRONISED, leap: LeapIndicator.Unsynchronised });
  });

  it('holdoverS 0: a lost reference is dropped at the next update', () => {
    const d = new Discipline({ holdoverS: 0 });
    d.update(T, [pps()], undefined, -20);
    expect(d.update(T + S, [gone], undefined, -20).kind).toBe('none');
  });

  it('a step of the local clock moves the followed line with it', () => {
    const d = new Discipline();
    d.update(T, [pps()], undefined, -20);
    d.referenceStepped(-1000);
    expect(d.correctionModel!.offsetNs).toBe(0);
  });
});

describe('snapshotForState', () => {
  it('refclock: refid from the estimate, dispersion = jitter + model error + precision + PHI × age, leap passed on', () => {
    const e = est('pulse', 2000, { leap: 'insert' });
    const s = snapshotForState({ kind: 'tracking', name: 'PPS(0)', estimate: e, stratum: 1 }, -20, ref, e.atNs + 4n * S);
    expect(s).toMatchObject({ stratum: 1, leap: LeapIndicator.AddSecond, referenceId: asciiRefId('PPS'), rootDelayS: 0, referenceTime: ref });
    expect(s.rootDispersionS).toBeCloseTo(2e-6 + 2 ** -20 + 4 * PHI_S_PER_S, 12);
  });

  it('timecode-only: the stated 10 ms floor on top', () => {
    const e = est('timecode', 2000);
    expect(estimateDispersionS(e, -20, e.atNs)).toBeCloseTo(2e-6 + 2 ** -20 + TIMECODE_DISPERSION_S, 12);
  });

  it('local clock: LOCL at its stratum', () => {
    expect(snapshotForState({ kind: 'local', stratum: 5 }, -20, ref, 0n)).toMatchObject({ stratum: 5, referenceId: asciiRefId('LOCL') });
  });
});

describe('Discipline: a PPS that stops', () => {
  it('is held over rather than swapped for its NMEA alone while the held line promises less error; then the NMEA takes over', () => {
    const d = new Discipline();
    d.update(T, [pps()], undefined, -20);
    const nmea = (atNs: bigint): Candidate => ({ name: 'GPS_NMEA(0)', estimate: est('timecode', 3_000_000, { atNs }), prefer: false, noselect: false, stratum: 0 });
    // Seconds later: PPS stale, NMEA fresh. 15 ppm × 10 s = 150 µs ≪ the NMEA's 10 ms floor.
    expect(d.update(T + 10n * S, [gone, nmea(T + 10n * S)], undefined, -20)).toMatchObject({ kind: 'holdover', name: 'PPS(0)' });
    // After ~11 minutes the held line's dispersion passes the NMEA's: the NMEA is followed.
    expect(d.update(T + 900n * S, [gone, nmea(T + 900n * S)], undefined, -20)).toMatchObject({ kind: 'tracking', name: 'GPS_NMEA(0)' });
  });
});
