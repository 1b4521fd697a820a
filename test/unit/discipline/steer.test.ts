import { describe, expect, test } from 'vitest';
import {
  DEFAULT_TINKER, Steer, absorbedNs, correctSample, decideSteering, type ClockChange, type SteerAction, type SteerInput,
} from '../../../src/discipline/steer.js';

const base: SteerInput = { offsetNs: 0, freqPpm: 0, kernelFreqPpm: 0, intervalS: 16, first: false };
const kinds = (actions: SteerAction[]): string[] => actions.map((a) => a.kind);
const stepOf = (actions: SteerAction[]): bigint | undefined => actions.find((a) => a.kind === 'step')?.kind === 'step'
  ? (actions.find((a) => a.kind === 'step') as { deltaNs: bigint }).deltaNs : undefined;
const freqOf = (actions: SteerAction[]) => actions.find((a) => a.kind === 'frequency') as Extract<SteerAction, { kind: 'frequency' }> | undefined;

describe('steps (ntpd tinker step / panic / -g)', () => {
  test('defaults are ntpd\'s: step 0.128 s, panic 1000 s', () => {
    expect(DEFAULT_TINKER).toEqual({ stepS: 0.128, panicS: 1000 });
  });

  test('the first update steps at any size, even past the panic threshold', () => {
    expect(stepOf(decideSteering({ ...base, first: true, offsetNs: 5000e9 }))).toBe(-5_000_000_000_000n);
    expect(stepOf(decideSteering({ ...base, first: true, offsetNs: -0.2e9 }))).toBe(200_000_000n);
  });

  test('the step undoes the offset: negative when the system clock is ahead, positive when behind', () => {
    expect(stepOf(decideSteering({ ...base, offsetNs: 0.5e9 }))).toBe(-500_000_000n);
    expect(stepOf(decideSteering({ ...base, offsetNs: -0.5e9 }))).toBe(500_000_000n);
  });

  test('later updates step only above the threshold; at or below it they slew', () => {
    expect(kinds(decideSteering({ ...base, offsetNs: 0.128e9 }))).toEqual(['frequency']);
    expect(kinds(decideSteering({ ...base, offsetNs: 0.129e9 }))).toEqual(['step']);
    expect(kinds(decideSteering({ ...base, offsetNs: -0.05e9, first: true }))).toEqual(['frequency']);
    expect(kinds(decideSteering({ ...base, offsetNs: 2e9 }, { stepS: 3, panicS: 1000 }))).toEqual(['frequency']);
  });

  test('tinker step 0 never steps, not even at start; it slews', () => {
    const never = { stepS: 0, panicS: 1000 };
    expect(kinds(decideSteering({ ...base, first: true, offsetNs: 3600e9 }, never))).toEqual(['frequency']);
    expect(kinds(decideSteering({ ...base, offsetNs: 10e9 }, never))).toEqual(['frequency']);
  });

  test('past the panic threshold after start: refused with a reason, nothing else', () => {
    const actions = decideSteering({ ...base, offsetNs: -1500e9 });
    expect(actions).toHaveLength(1);
    expect(actions[0]).toMatchObject({ kind: 'refuse', code: 'STEER_PANIC' });
    expect((actions[0] as { reason: string }).reason).toMatch(/-1500\.000 s off the reference, beyond the panic threshold of 1000 s/);
    expect(kinds(decideSteering({ ...base, offsetNs: -1500e9 }, { stepS: 0.128, panicS: 0 }))).toEqual(['step']); // panic 0 = no limit
    expect(kinds(decideSteering({ ...base, offsetNs: 999e9 }))).toEqual(['step']);
  });

  test('the Steer object treats only its first decision as first', () => {
    const steer = new Steer();
    expect(steer.first).toBe(true);
    expect(kinds(steer.decide({ ...base, offsetNs: 2000e9 }))).toEqual(['step']);
    expect(steer.first).toBe(false);
    expect(kinds(steer.decide({ ...base, offsetNs: 2000e9 }))).toEqual(['refuse']);
    expect(new Steer({ stepS: 0, panicS: 1000 }).tinker.stepS).toBe(0);
  });
});

describe('frequency (frequency-only kernel steering, Gnomon slews the phase)', () => {
  test('a fast system clock gets a negative kernel frequency, relative to what the kernel applies now', () => {
    // Kernel applies +5 ppm and the clock still runs 12 ppm fast: the oscillator is 7 ppm fast → −7.
    const f = freqOf(decideSteering({ ...base, freqPpm: 12, kernelFreqPpm: 5 }));
    expect(f).toMatchObject({ ppm: -7, basePpm: -7, slewPpm: 0, clamped: false });
    expect(freqOf(decideSteering({ ...base, freqPpm: -3, kernelFreqPpm: 0 }))?.ppm).toBe(3);
  });

  test('an offset is slewed over corrTimeRatio (3) update intervals: ahead → slower', () => {
    // 4.8 ms ahead, 16 s interval: 4.8e6 ns / 48 s = 100000 ns/s = 100 ppm slower.
    expect(freqOf(decideSteering({ ...base, offsetNs: 4.8e6 }))).toMatchObject({ ppm: -100, basePpm: 0, slewPpm: -100 });
    expect(freqOf(decideSteering({ ...base, offsetNs: -4.8e6 }))?.ppm).toBe(100);
    expect(freqOf(decideSteering({ ...base, offsetNs: 4.8e6 }, DEFAULT_TINKER, 1))?.ppm).toBe(-300);
  });

  test('after a step there is no phase left to slew', () => {
    const actions = decideSteering({ ...base, offsetNs: 1e9, freqPpm: 2, kernelFreqPpm: 0 });
    expect(kinds(actions)).toEqual(['step', 'frequency']);
    expect(freqOf(actions)).toMatchObject({ ppm: -2, slewPpm: 0 });
  });

  test('clamped to ±500 ppm as the kernel does, and says so', () => {
    expect(freqOf(decideSteering({ ...base, freqPpm: 800 }))).toMatchObject({ ppm: -500, clamped: true });
    expect(freqOf(decideSteering({ ...base, offsetNs: -100e6 }))).toMatchObject({ ppm: 500, clamped: true });
    expect(freqOf(decideSteering({ ...base, freqPpm: -499, offsetNs: -100e6 }))).toMatchObject({ ppm: 500, basePpm: 499, slewPpm: 1, clamped: true });
  });

  test('no action when the kernel already applies that frequency (to its 2^-16 ppm resolution)', () => {
    expect(decideSteering({ ...base, freqPpm: 0, kernelFreqPpm: 3 })).toEqual([]);
    expect(decideSteering({ ...base, freqPpm: 1e-7, kernelFreqPpm: 3 })).toEqual([]);
  });

  test('without a frequency estimate the kernel frequency is kept and only the phase is slewed', () => {
    expect(decideSteering({ ...base, freqPpm: undefined, kernelFreqPpm: 4 })).toEqual([]);
    expect(freqOf(decideSteering({ ...base, freqPpm: undefined, kernelFreqPpm: 4, offsetNs: 4.8e6 }))?.ppm).toBe(-96);
  });

  test('non-finite input changes nothing', () => {
    expect(decideSteering({ ...base, offsetNs: Number.NaN })).toEqual([]);
  });
});

describe('ClockChange: stored samples follow the clock', () => {
  const change: ClockChange = { atNs: 1_000_000_000_000n, stepNs: -500_000_000n, freqChangePpm: 10 };

  test('a step shifts stored offsets and timestamps by the step', () => {
    const stepOnly: ClockChange = { ...change, freqChangePpm: 0 };
    expect(correctSample(999_000_000_000n, 500_000_000, stepOnly)).toEqual({ sampleNs: 998_500_000_000n, offsetNs: 0 });
  });

  test('a frequency change shifts by freq × the time from the change', () => {
    // 100 s before the change at +10 ppm: the new clock would have read 1 ms less then.
    expect(absorbedNs({ ...change, stepNs: 0n }, change.atNs - 100_000_000_000n)).toBeCloseTo(-1_000_000, 3);
    expect(absorbedNs(change, change.atNs + 10_000_000_000n)).toBeCloseTo(-500_000_000 + 100_000, 3);
    const fixed = correctSample(change.atNs, 2_000, change);
    expect(fixed).toEqual({ sampleNs: change.atNs - 500_000_000n, offsetNs: 2_000 - 500_000_000 });
  });
});
