import { describe, expect, it } from 'vitest';
import { type Candidate, selectReference } from '../../../src/discipline/select.js';
import type { SourceEstimate } from '../../../src/refclock/source.js';
import { est, fix3d } from './estimates.js';

function cand(name: string, estimate: SourceEstimate | null, extra: Partial<Candidate> = {}): Candidate {
  return { name, estimate, prefer: false, noselect: false, stratum: 0, ...extra };
}

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
