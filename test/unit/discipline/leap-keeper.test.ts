// LeapKeeper: LI from the leapfile, one reference step at the leap instant, then forgotten.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { LeapKeeper } from '../../../src/discipline/leap-keeper.js';
import { parseLeapSecondsList } from '../../../src/discipline/leap.js';
import { LeapIndicator } from '../../../src/ntp/constants.js';

const LEAPFILE = '/usr/share/zoneinfo/leap-seconds.list';
const S = 1_000_000_000n;
const L = BigInt(Date.UTC(2017, 0, 1) / 1000) * S;

function table() {
  const r = parseLeapSecondsList(readFileSync(LEAPFILE, 'utf8'), LEAPFILE);
  if (!r.ok) throw new Error(`${LEAPFILE}: ${r.error.message} (install tzdata)`);
  return r.table;
}

describe('LeapKeeper', () => {
  it('leapfile: LI=1 during 2016-12-31 only; +1 s reference step exactly at the leap; 23:59:59 served twice', () => {
    const k = new LeapKeeper(table(), 'step', 0);
    expect(k.update(L - 86_401n * S, 'unknown').indicator).toBe(LeapIndicator.NoWarning);
    const day = k.update(L - 3600n * S, 'unknown');
    expect(day).toMatchObject({ indicator: LeapIndicator.AddSecond, referenceStepNs: 0, nextStepAtServedNs: L });
    expect(k.update(L - 1n, 'unknown').referenceStepNs).toBe(0);
    // At the leap: served time must fall back a second, so every offset (and the line) moves +1 s.
    const at = k.update(L, 'unknown');
    expect(at.referenceStepNs).toBe(1_000_000_000);
    // Served time now reads L − 1 s again (23:59:59 repeated): no second step, LI still set for that second.
    expect(k.update(L - S + 500_000_000n, 'unknown')).toMatchObject({ referenceStepNs: 0, nextStepAtServedNs: null, indicator: LeapIndicator.AddSecond });
    expect(k.update(L + 5n * S, 'unknown')).toMatchObject({ referenceStepNs: 0, indicator: LeapIndicator.NoWarning });
    // Settled and forgotten: nothing more happens.
    expect(k.update(L + 3600n * S, 'unknown')).toMatchObject({ referenceStepNs: 0, nextStepAtServedNs: null });
  });

  it('the receiver alone (no leapfile) announces on the last day of a month; a deleted second steps −1 s', () => {
    const k = new LeapKeeper(null, 'step', 0);
    const jun30 = BigInt(Date.UTC(2030, 6, 1) / 1000) * S;
    expect(k.update(jun30 - 60n * S, 'delete')).toMatchObject({ indicator: LeapIndicator.DeleteSecond, nextStepAtServedNs: jun30 - S });
    expect(k.update(jun30 - S, 'delete').referenceStepNs).toBe(-1_000_000_000);
  });

  it('smear: no LI; a ramp of −1 s over the window (value and slope), the reference still steps at the leap', () => {
    const k = new LeapKeeper(table(), 'smear', 7200);
    expect(k.update(L - 7200n * S, 'unknown')).toMatchObject({ indicator: LeapIndicator.NoWarning, smear: null, nextEventAtServedNs: L - 3600n * S });
    const mid = k.update(L - 1800n * S, 'unknown');
    expect(mid.indicator).toBe(LeapIndicator.NoWarning);
    expect(Math.abs(mid.smear!.termNs - -1e9 * 1800 / 7201)).toBeLessThan(1);
    expect(mid.smear!.slopeNsPerS).toBeCloseTo(-1e9 / 7201, 3);
    const at = k.update(L, 'unknown');
    expect(at.referenceStepNs).toBe(1_000_000_000);
    // Just after the step the ramp is +0.5 s over the stepped time: served time did not jump.
    expect(Math.abs(at.smear!.termNs - (1e9 - 1e9 * 3600 / 7201))).toBeLessThan(1);
    expect(k.update(L + 3602n * S, 'unknown').smear).toBeNull();
  });
});
