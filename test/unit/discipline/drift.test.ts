import { describe, expect, test } from 'vitest';
import {
  DriftSavePolicy, formatDriftfile, formatDriftfileProblem, freqPpmFromNtpdDrift, ntpdDriftFromFreqPpm, parseDriftfile,
} from '../../../src/discipline/drift.js';

describe('driftfile format and sign', () => {
  test('ntpd stores its correction: a clock running 12.345 ppm fast is "-12.345000"', () => {
    expect(formatDriftfile(12.345)).toBe('-12.345000\n');
    expect(formatDriftfile(-3.5)).toBe('3.500000\n');
    expect(ntpdDriftFromFreqPpm(12.345)).toBe(-12.345);
    expect(freqPpmFromNtpdDrift(-12.345)).toBe(12.345);
  });

  test('a file ntpd wrote on this box reads as the same oscillator', () => {
    // NTPsec %.6f and ntpd Classic %.3f
    expect(parseDriftfile('-12.345678\n', '/var/lib/ntp/drift')).toEqual({ ok: true, freqPpm: 12.345678, ntpdPpm: -12.345678 });
    expect(parseDriftfile('31.250\n', 'f')).toMatchObject({ ok: true, freqPpm: -31.25 });
  });

  test('round trip, and zero is written without a sign', () => {
    for (const ppm of [0, 1e-7, -1e-7, 0.000001, -499.999999, 123.456789]) {
      const parsed = parseDriftfile(formatDriftfile(ppm), 'f');
      expect(parsed.ok && Math.abs(parsed.freqPpm - ppm)).toBeLessThanOrEqual(5e-7);
    }
    expect(formatDriftfile(0)).toBe('0.000000\n');
    expect(formatDriftfile(1e-9)).toBe('0.000000\n');
    expect(formatDriftfile(-1e-9)).toBe('0.000000\n');
  });

  test('anything after the first number is ignored, as ntpd\'s fscanf does (old xntpd flag, chrony skew)', () => {
    expect(parseDriftfile('  -4.2 1\n', 'f')).toMatchObject({ ok: true, freqPpm: 4.2 });
    expect(parseDriftfile('-4.200000 0.012345\n', 'f')).toMatchObject({ ok: true, freqPpm: 4.2 });
  });

  test('syntax errors are located, with a stable code and a hint', () => {
    const bad = parseDriftfile('\n  12.5abc\n', '/var/lib/gnomon/drift');
    expect(bad).toMatchObject({ ok: false, problem: { code: 'DRIFTFILE_SYNTAX', line: 2, column: 3, file: '/var/lib/gnomon/drift' } });
    if (!bad.ok) {
      expect(formatDriftfileProblem(bad.problem)).toMatch(/^\/var\/lib\/gnomon\/drift:2:3: driftfile: expected a frequency .* \[DRIFTFILE_SYNTAX\] \(hint: delete the file/);
    }
    expect(parseDriftfile('', 'f')).toMatchObject({ ok: false, problem: { code: 'DRIFTFILE_SYNTAX', line: null } });
    expect(parseDriftfile('nan', 'f')).toMatchObject({ ok: false, problem: { code: 'DRIFTFILE_SYNTAX' } });
    expect(parseDriftfile('1e999', 'f')).toMatchObject({ ok: false, problem: { code: 'DRIFTFILE_SYNTAX' } });
  });

  test('beyond ±500 ppm is refused; 500 itself is accepted', () => {
    expect(parseDriftfile('500.000001', 'f')).toMatchObject({ ok: false, problem: { code: 'DRIFTFILE_RANGE', line: 1, column: 1 } });
    expect(parseDriftfile('-612.5', 'f')).toMatchObject({ ok: false, problem: { code: 'DRIFTFILE_RANGE' } });
    expect(parseDriftfile('-500', 'f')).toMatchObject({ ok: true, freqPpm: 500 });
    expect(() => formatDriftfile(501)).toThrow(RangeError);
    expect(() => formatDriftfile(Number.NaN)).toThrow(RangeError);
  });
});

describe('DriftSavePolicy (NTPsec write_stats)', () => {
  test('nothing before the first hour; then the first trusted value is written', () => {
    const p = new DriftSavePolicy(null, 100);
    expect(p.due(100 + 3599, 10, true)).toBeNull();
    expect(p.due(100 + 3600, 10, false)).toBeNull(); // not trusted: no write, and the check is not used up
    expect(p.due(100 + 3601, null, true)).toBeNull();
    expect(p.due(100 + 3602, 10, true)).toBe(10);
    p.saved(10);
    expect(p.savedPpm).toBe(10);
  });

  test('after a write: 0.1 ppm threshold, halved at each hourly check that does not write', () => {
    const p = new DriftSavePolicy(5, 0);
    expect(p.due(3600, 5, true)).toBeNull(); // the same value as the file: nothing to write
    expect(p.due(7200, 5.2, true)).toBe(5.2);
    p.saved(5.2);
    expect(p.due(7201, 9, true)).toBeNull(); // at most one check an hour
    expect(p.due(10_800, 5.25, true)).toBeNull(); // 0.05 < 0.1, threshold → 0.05
    expect(p.due(14_400, 5.24, true)).toBeNull(); // 0.04 < 0.05, threshold → 0.025
    expect(p.due(18_000, 5.23, true)).toBe(5.23); // 0.03 ≥ 0.025
  });

  test('a failed write is retried at the next hourly check', () => {
    const p = new DriftSavePolicy(null, 0);
    expect(p.due(3600, 1, true)).toBe(1);
    // no saved(): the write failed
    expect(p.due(3700, 1, true)).toBeNull();
    expect(p.due(7200, 1, true)).toBe(1);
  });

  test('at shutdown: a trusted value that differs from the file', () => {
    const p = new DriftSavePolicy(2, 0);
    expect(p.dueAtShutdown(2, true)).toBeNull();
    expect(p.dueAtShutdown(2.000002, true)).toBe(2.000002);
    expect(p.dueAtShutdown(3, false)).toBeNull();
    expect(p.dueAtShutdown(600, true)).toBeNull();
  });
});
