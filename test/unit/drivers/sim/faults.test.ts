import { describe, expect, it } from 'vitest';
import { FAULT_NAMES, FAULT_SUMMARIES, activeFaults, faultActive, parseFault, unpluggedAt } from '../../../../drivers/sim/faults.js';

describe('fault syntax NAME[@START][+DURATION]', () => {
  it('parses the three forms', () => {
    expect(parseFault('fix-loss')).toEqual({ ok: true, fault: { name: 'fix-loss', startS: 0, durationS: null } });
    expect(parseFault('no-pps@30')).toEqual({ ok: true, fault: { name: 'no-pps', startS: 30, durationS: null } });
    expect(parseFault('fix-loss@30+20')).toEqual({ ok: true, fault: { name: 'fix-loss', startS: 30, durationS: 20 } });
    expect(parseFault('garbage+5')).toEqual({ ok: true, fault: { name: 'garbage', startS: 0, durationS: 5 } });
  });

  it('an unknown name lists the valid ones; bad numbers are refused', () => {
    const r = parseFault('gps-on-fire');
    expect(r.ok).toBe(false);
    expect(!r.ok && r.message).toBe(`unknown fault "gps-on-fire" (valid: ${FAULT_NAMES.join(', ')})`);
    expect(parseFault('fix-loss@x').ok).toBe(false);
    expect(parseFault('fix-loss@-3').ok).toBe(false);
    expect(parseFault('fix-loss@3+0').ok).toBe(false);
    expect(parseFault('fix-loss@3.5').ok).toBe(false);
  });

  it('every fault has a summary', () => {
    for (const n of FAULT_NAMES) expect(FAULT_SUMMARIES[n].length).toBeGreaterThan(10);
  });

  it('windows are [START, START + DURATION)', () => {
    const f = { name: 'fix-loss' as const, startS: 30, durationS: 20 };
    expect([29, 30, 49, 50].map((i) => faultActive(f, i))).toEqual([false, true, true, false]);
    expect(activeFaults([f, { name: 'garbage', startS: 0, durationS: null }], 35)).toEqual(new Set(['fix-loss', 'garbage']));
  });

  it('unplug cycles inside its window', () => {
    const f = { name: 'unplug' as const, startS: 10, durationS: 12 };
    expect(Array.from({ length: 30 }, (_, i) => (unpluggedAt([f], i) ? 1 : 0)).join('')).toBe('000000000000001110000000000000');
  });
});
