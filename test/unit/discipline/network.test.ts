// The discipline with upstream servers among its candidates (issue 7): RFC 5905's fitness, falseticker
// rejection across GPS and servers, the order of selection, and what is served while following a server.
import { describe, expect, it } from 'vitest';
import { Discipline, ORPHAN_REFID, snapshotForState } from '../../../src/discipline/discipline.js';
import type { Candidate } from '../../../src/discipline/select.js';
import { NO_FIX, type NetworkPath, type SourceEstimate } from '../../../src/refclock/source.js';
import { est } from './estimates.js';

const T = 10n ** 18n;
const REF = { seconds: 0xeead11a1, fraction: 0 };

function server(name: string, offsetNs: number, path: Partial<NetworkPath> = {}, extra: Partial<Candidate> = {}): Candidate {
  const p: NetworkPath = { stratum: 1, rootDelayS: 0, rootDispersionS: 0.0001, delayS: 0.0004, dispersionS: 0.0001, refid: 0x0a000001, ...path };
  const e: SourceEstimate = { ...est('pulse', 50_000), basis: 'network', path: p, fix: NO_FIX, refid: name, offsetNs,
    model: { ...est('pulse', 50_000).model, offsetNs } };
  return { name, estimate: e, prefer: false, noselect: false, stratum: p.stratum, ...extra };
}

const gps = (offsetNs: number): Candidate[] => {
  const e = (basis: 'pulse' | 'timecode') => ({ ...est(basis, 1000), offsetNs, model: { ...est(basis, 1000).model, offsetNs } });
  return [
    { name: 'GPS_NMEA(0)', estimate: e('timecode'), prefer: false, noselect: false, stratum: 0 },
    { name: 'PPS(0)', estimate: e('pulse'), prefer: false, noselect: false, stratum: 0, group: 'GPS_NMEA(0)' },
  ];
};

describe('the discipline with upstream servers', () => {
  it('a GPS one second off is outvoted by two agreeing servers: marked falseticker, a server is followed at stratum 2', () => {
    const d = new Discipline();
    const s = d.update(T, [...gps(1e9), server('10.0.0.1', 100_000), server('10.0.0.2', -200_000)], undefined, -20);
    expect([...d.falsetickers].sort()).toEqual(['GPS_NMEA(0)', 'PPS(0)']);
    expect(s).toMatchObject({ kind: 'tracking', name: '10.0.0.1', stratum: 2 });
  });

  it('a right GPS and one right server outvote a bad server; the PPS is followed', () => {
    const d = new Discipline();
    const s = d.update(T, [...gps(2000), server('10.0.0.1', 100_000), server('10.0.0.9', 300e6)], undefined, -20);
    expect([...d.falsetickers]).toEqual(['10.0.0.9']);
    expect(s).toMatchObject({ kind: 'tracking', name: 'PPS(0)', stratum: 1 });
  });

  it('`true` keeps a server from being rejected, as ntpd\'s truechimer flag', () => {
    const d = new Discipline();
    d.update(T, [...gps(2000), server('10.0.0.1', 100_000), server('10.0.0.9', 300e6, {}, { alwaysTrue: true })], undefined, -20);
    expect([...d.falsetickers]).toEqual([]);
  });

  it('without a GPS the lower stratum wins, then the shorter root distance; prefer first', () => {
    const d = new Discipline();
    expect(d.update(T, [server('a', 0, { stratum: 2 }), server('b', 0, { stratum: 1, delayS: 0.01 }), server('c', 0, { stratum: 1 })], undefined, -20))
      .toMatchObject({ name: 'c', stratum: 2 });
    expect(d.update(T, [server('a', 0, { stratum: 2 }, { prefer: true }), server('c', 0, { stratum: 1 })], undefined, -20)).toMatchObject({ name: 'a', stratum: 3 });
  });

  it('serves stratum + 1, the server\'s address as refid, and root delay/dispersion accumulated (RFC 5905 11.2)', () => {
    const d = new Discipline();
    const s = d.update(T, [server('10.0.0.1', 0, { stratum: 2, rootDelayS: 0.01, rootDispersionS: 0.02, delayS: 0.004, dispersionS: 0.001 })], undefined, -20);
    const snap = snapshotForState(s, -20, REF, T);
    expect(snap.stratum).toBe(3);
    expect(snap.referenceId).toBe(0x0a000001);
    expect(snap.rootDelayS).toBeCloseTo(0.014, 9);
    // The server's 20 ms + the filter's 1 ms + jitter 50 µs + precision ~1 µs.
    expect(snap.rootDispersionS).toBeGreaterThan(0.021);
    expect(snap.rootDispersionS).toBeLessThan(0.0212);
  });

  it('a server whose root distance is past maxdist is not a candidate (one sample, empty filter stages)', () => {
    const d = new Discipline({ maxDistanceS: 1.5 });
    expect(d.update(T, [server('a', 0, { dispersionS: 3.9 })], undefined, -20)).toEqual({ kind: 'none' });
  });

  it('`tos minsane 2`: one server alone is not enough; orphan mode is the last resort with refid 127.0.0.1', () => {
    const d = new Discipline({ minSane: 2 });
    const s = d.update(T, [server('a', 0)], { stratum: 10, orphan: true }, -20);
    expect(s).toEqual({ kind: 'local', stratum: 10, orphan: true });
    expect(snapshotForState(s, -20, REF, T)).toMatchObject({ stratum: 10, referenceId: ORPHAN_REFID });
    expect(d.update(T, [server('a', 0), server('b', 0)], undefined, -20)).toMatchObject({ kind: 'tracking' });
  });
});
