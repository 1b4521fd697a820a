import { describe, expect, it } from 'vitest';
import { type Candidate, PHI_S_PER_S, TIMECODE_DISPERSION_S, selectReference, snapshotForSelection } from '../../../src/discipline/select.js';
import type { SourceEstimate } from '../../../src/refclock/source.js';
import { LeapIndicator, STRATUM_UNSYNCHRONISED, asciiRefId } from '../../../src/ntp/constants.js';

const fix3d = { mode: '3d' as const, satellitesUsed: 9, satellitesVisible: 12, hdop: 0.8 };
function est(basis: 'pulse' | 'timecode', jitterNs: number, extra: Partial<SourceEstimate> = {}): SourceEstimate {
  return { basis, offsetNs: 1000, jitterNs, atNs: 10n ** 18n, leap: 'none', fix: fix3d, refid: basis === 'pulse' ? 'PPS' : 'GPS', ...extra };
}
function cand(name: string, estimate: SourceEstimate | null, extra: Partial<Candidate> = {}): Candidate {
  return { name, estimate, prefer: false, noselect: false, stratum: 0, ...extra };
}
const now = { seconds: 0xeead11a1, fraction: 0 };

describe('selectReference', () => {
  it('pulses before timecodes, then prefer, then lower jitter; stratum = fudge stratum + 1', () => {
    const nmea = cand('GPS_NMEA(0)', est('timecode', 10), { prefer: true });
    const pps = cand('PPS(0)', est('pulse', 5000));
    expect(selectReference([nmea, pps], 5)).toMatchObject({ kind: 'refclock', name: 'PPS(0)', stratum: 1 });
    const quiet = cand('PPS(1)', est('pulse', 100));
    expect(selectReference([pps, quiet], undefined)).toMatchObject({ name: 'PPS(1)' });
    expect(selectReference([pps, { ...quiet, stratum: 2 }, { ...pps, name: 'PPS(2)', prefer: true }], undefined)).toMatchObject({ name: 'PPS(2)' });
  });

  it('noselect, no fix and no estimate are never selected; then the local clock; then none', () => {
    const noFix = cand('GPS_NMEA(0)', est('timecode', 1, { fix: { ...fix3d, mode: 'none' } }));
    const noselect = cand('PPS(0)', est('pulse', 1), { noselect: true });
    expect(selectReference([noFix, noselect, cand('PPS(1)', null)], 5)).toEqual({ kind: 'local', stratum: 5 });
    expect(selectReference([noFix], undefined)).toEqual({ kind: 'none' });
  });
});

describe('snapshotForSelection', () => {
  it('refclock: refid from the estimate, dispersion = jitter + precision + PHI × age, leap passed on', () => {
    const e = est('pulse', 2000, { leap: 'insert' });
    const s = snapshotForSelection({ kind: 'refclock', name: 'PPS(0)', estimate: e, stratum: 1 }, -20, now, e.atNs + 4_000_000_000n);
    expect(s).toMatchObject({ stratum: 1, leap: LeapIndicator.AddSecond, referenceId: asciiRefId('PPS'), rootDelayS: 0, referenceTime: now });
    expect(s.rootDispersionS).toBeCloseTo(2e-6 + 2 ** -20 + 4 * PHI_S_PER_S, 12);
  });

  it('timecode-only: the stated 10 ms floor on top', () => {
    const e = est('timecode', 2000);
    const s = snapshotForSelection({ kind: 'refclock', name: 'GPS_NMEA(0)', estimate: e, stratum: 1 }, -20, now, e.atNs);
    expect(s.referenceId).toBe(asciiRefId('GPS'));
    expect(s.rootDispersionS).toBeCloseTo(2e-6 + 2 ** -20 + TIMECODE_DISPERSION_S, 12);
  });

  it('local clock: LOCL at its stratum; none: LI 3 stratum 16', () => {
    expect(snapshotForSelection({ kind: 'local', stratum: 5 }, -20, now, 0n)).toMatchObject({ stratum: 5, referenceId: asciiRefId('LOCL') });
    expect(snapshotForSelection({ kind: 'none' }, -20, now, 0n)).toMatchObject({ stratum: STRATUM_UNSYNCHRONISED, leap: LeapIndicator.Unsynchronised });
  });
});
