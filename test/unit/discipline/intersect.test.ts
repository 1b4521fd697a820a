// Falseticker rejection: the majority's common interval; a GPS and its own PPS vote once.
import { describe, expect, it } from 'vitest';
import { intersect, rejectFalsetickers } from '../../../src/discipline/intersect.js';
import { Discipline } from '../../../src/discipline/discipline.js';
import type { Candidate } from '../../../src/discipline/select.js';
import { est } from './estimates.js';

const MS = 1_000_000;
const iv = (group: string, offsetMs: number, distanceMs: number) => ({ group, offsetNs: offsetMs * MS, distanceNs: distanceMs * MS });

describe('intersect (Marzullo)', () => {
  it('three agreeing voters and one off by a second: the odd one out is the falseticker', () => {
    const r = intersect([iv('a', 0.1, 1), iv('b', -0.2, 1), iv('c', 0.5, 2), iv('d', 1000, 1)]);
    expect([...r.truechimers].sort()).toEqual(['a', 'b', 'c']);
    expect([...r.falsetickers]).toEqual(['d']);
    expect(r.majority).toBe(true);
  });

  it('fewer than three voters: nobody can be outvoted', () => {
    const r = intersect([iv('a', 0, 1), iv('b', 500, 1)]);
    expect(r.falsetickers.size).toBe(0);
  });

  it('no point shared by a majority: nobody is trusted', () => {
    const r = intersect([iv('a', 0, 1), iv('b', 100, 1), iv('c', 200, 1)]);
    expect(r).toMatchObject({ majority: false });
    expect(r.truechimers.size).toBe(0);
  });

  it('a voter is its narrowest interval (a GPS with its PPS counts once)', () => {
    const r = intersect([iv('gps1', 50, 10), iv('gps1', 0, 1), iv('gps2', 0.3, 1), iv('gps3', -0.4, 1)]);
    expect(r.falsetickers.size).toBe(0);
  });
});

describe('the discipline never follows a falseticker', () => {
  const c = (name: string, offsetNs: number, group = name): Candidate => ({
    name, group, prefer: name === 'GPS_NMEA(2)', noselect: false, stratum: 0, estimate: est('pulse', 1000, { offsetNs, refid: 'PPS' }),
  });
  it('two receivers and a third a second off, preferred or not: the third is marked and not selected', () => {
    const d = new Discipline();
    const s = d.update(10n ** 18n, [c('GPS_NMEA(0)', 1000), c('GPS_NMEA(1)', -2000), c('GPS_NMEA(2)', 1_000_000_000)], undefined, -20);
    expect(s.kind === 'tracking' && s.name).not.toBe('GPS_NMEA(2)');
    expect([...d.falsetickers]).toEqual(['GPS_NMEA(2)']);
    expect(rejectFalsetickers([c('A', 0), c('B', 5_000_000)], () => MS).falsetickers.size).toBe(0);
  });
});
