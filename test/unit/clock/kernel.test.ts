/**
 * KernelClock: the write paths run only against FakeKernel. The one test that touches this
 * machine's kernel makes read-only calls (modes = 0) and checks the decoded struct is sane —
 * i.e. that our layout matches the running kernel. The host clock is never changed here.
 */
import { describe, expect, test } from 'vitest';
import { timeSpecToUnixNs } from '../../../src/clock/clock.js';
import { FakeClock } from '../../../src/clock/fake.js';
import { FakeKernel, FakeKernelClock } from '../../../src/clock/kernel-fake.js';
import { KernelClockError, TimexKernelClock, applySteering, kernelErrorFor, koffiAdjtimex, koffiKernelClock } from '../../../src/clock/kernel.js';
import { systemRealtimeClock } from '../../../src/clock/posix.js';
import {
  ADJ_FREQUENCY, ADJ_NANO, ADJ_OFFSET, ADJ_SETOFFSET, ADJ_STATUS, STA_INS, STA_NANO, STA_PLL, STA_PPSTIME, STA_UNSYNC, newTimex,
} from '../../../src/clock/timex.js';
import { Steer } from '../../../src/discipline/steer.js';

const START = 1_700_000_000_000_000_000n;

function rig(options: { intrinsicPpm?: number; initialOffsetNs?: bigint; permitted?: boolean } = {}) {
  const truth = new FakeClock(START);
  const kernel = new FakeKernel({ oscillatorNs: () => truth.nowNs(), ...options });
  const clock = new FakeKernelClock(kernel);
  return { truth, kernel, clock, realtime: clock.realtimeClock() };
}

function readNs(r: { read(t: { sec: number; nsec: number }): void }): bigint {
  const t = { sec: 0, nsec: 0 };
  r.read(t);
  return timeSpecToUnixNs(t);
}

describe('the running kernel, read-only (modes = 0)', () => {
  test('decodes sanely with our layout: tick, tolerance, precision, frequency, constant, time', () => {
    const sys = koffiAdjtimex();
    expect(sys.description).toMatch(/clock_adjtime.* via koffi \(struct timex (lp64|ilp32|ilp32-time64), (208|128) bytes\)/);
    const tx = newTimex();
    expect(tx.modes).toBe(0);
    const before = readNs(systemRealtimeClock());
    const ret = sys.adjtime(tx);
    expect(tx.modes).toBe(0);
    expect(ret).toBeGreaterThanOrEqual(0);
    expect(ret).toBeLessThanOrEqual(5);
    // tick: µs per USER_HZ tick, 1e6/100 = 10000 ± 10% (the kernel refuses anything outside).
    expect(tx.tick).toBeGreaterThanOrEqual(9000);
    expect(tx.tick).toBeLessThanOrEqual(11000);
    // tolerance: MAXFREQ_SCALED (500 ppm << 16) and precision 1 µs are constants in kernel/time/ntp.c.
    expect(tx.tolerance).toBe(500 * 65_536);
    expect(tx.precision).toBe(1);
    expect(Math.abs(tx.freq)).toBeLessThanOrEqual(500 * 65_536);
    expect(tx.constant).toBeGreaterThanOrEqual(0);
    expect(tx.constant).toBeLessThanOrEqual(10);
    expect(tx.maxerror).toBeGreaterThanOrEqual(0);
    expect(tx.maxerror).toBeLessThanOrEqual(16_000_000 + 600_000); // may pass the limit by up to 500 µs/s before the next check
    expect(tx.esterror).toBeGreaterThanOrEqual(0);
    expect(tx.tai).toBeGreaterThanOrEqual(0);
    expect(tx.tai).toBeLessThan(100);
    // time: tv_usec holds ns under STA_NANO, µs otherwise; either way the instant is CLOCK_REALTIME now.
    const nano = (tx.status & STA_NANO) !== 0;
    expect(tx.timeUsec).toBeGreaterThanOrEqual(0);
    expect(tx.timeUsec).toBeLessThan(nano ? 1e9 : 1e6);
    const kernelNs = BigInt(tx.timeSec) * 1_000_000_000n + BigInt(nano ? tx.timeUsec : tx.timeUsec * 1000);
    // Same clock read twice, a syscall apart: a layout check, not a wall-clock assertion.
    expect(kernelNs >= before - 1_000_000n).toBe(true);
    expect(kernelNs - before < 5_000_000_000n).toBe(true);
  });

  test('KernelClock.read() on the real kernel: typed and consistent with the status bits', () => {
    const state = koffiKernelClock().read();
    expect(state.nano).toBe((state.status & STA_NANO) !== 0);
    expect(state.unsynchronised).toBe((state.status & STA_UNSYNC) !== 0);
    expect(Math.abs(state.freqPpm)).toBeLessThanOrEqual(500);
    expect(state.toleranceppm).toBe(500);
    expect(['ok', 'insert', 'delete', 'in-progress', 'wait', 'error']).toContain(state.state);
    if (state.unsynchronised) expect(state.state).toBe('error');
  });
});

describe('read-only KernelClock', () => {
  test('refuses every write before any syscall, with KERNEL_READ_ONLY', () => {
    const { kernel } = rig();
    const clock = new TimexKernelClock(kernel, false);
    const attempts = [
      () => clock.setFrequencyPpm(1), () => clock.stepNs(1n), () => clock.takeControl(),
      () => clock.setStatus(1, 2, true), () => clock.setLeap('insert'),
    ];
    for (const attempt of attempts) {
      expect(attempt).toThrow(KernelClockError);
      try { attempt(); } catch (err) { expect((err as KernelClockError).code).toBe('KERNEL_READ_ONLY'); }
    }
    expect(kernel.calls).toEqual([]);
    clock.read();
    expect(kernel.calls).toEqual([0]);
  });
});

describe('FakeKernelClock: steps and frequency take effect', () => {
  test('a step moves CLOCK_REALTIME by exactly the delta, both signs, and is recorded', () => {
    const { clock, realtime, kernel, truth } = rig();
    expect(readNs(realtime)).toBe(START);
    clock.stepNs(-300_000_000n);
    expect(readNs(realtime)).toBe(START - 300_000_000n);
    clock.stepNs(2_000_000_001n);
    truth.advanceS(1);
    expect(readNs(realtime)).toBe(START - 300_000_000n + 2_000_000_001n + 1_000_000_000n);
    expect(clock.stepHistory).toEqual([-300_000_000n, 2_000_000_001n]);
    expect(kernel.calls).toEqual([ADJ_SETOFFSET | ADJ_NANO, ADJ_SETOFFSET | ADJ_NANO]);
    expect(kernel.statusBits & STA_NANO).toBe(STA_NANO);
  });

  test('frequency: + runs faster, applied from the moment it is set, clamped to ±500 ppm', () => {
    const { clock, realtime, truth } = rig({ intrinsicPpm: 20 });
    truth.advanceS(10);
    expect(readNs(realtime) - START).toBe(10_000_200_000n); // 20 ppm fast: +200 µs in 10 s
    expect(clock.setFrequencyPpm(-20)).toBe(-20);
    truth.advanceS(100);
    expect(readNs(realtime) - START).toBe(110_000_200_000n); // cancelled from then on
    expect(clock.setFrequencyPpm(900)).toBe(500);
    expect(clock.appliedFreqPpm).toBe(500);
    expect(clock.setFrequencyPpm(-1e6)).toBe(-500);
    expect(clock.read().freqPpm).toBe(-500);
    expect(clock.setFrequencyPpm(1 / 65_536 * 3)).toBeCloseTo(3 / 65_536, 12);
  });

  test('takeControl clears a PLL offset left by ntpd, then turns the PLL and PPS discipline off', () => {
    const truth = new FakeClock(START);
    const kernel = new FakeKernel({ oscillatorNs: () => truth.nowNs(), initial: { status: STA_PLL | STA_PPSTIME | STA_NANO, offset: 40_000, freq: 7 * 65_536 } });
    const clock = new FakeKernelClock(kernel);
    expect(clock.read()).toMatchObject({ pll: true, pllOffsetNs: 40_000, freqPpm: 7 });
    clock.takeControl();
    expect(kernel.calls.slice(1)).toEqual([ADJ_OFFSET | ADJ_STATUS, ADJ_STATUS]);
    const state = clock.read();
    expect(state).toMatchObject({ pll: false, pllOffsetNs: 0, unsynchronised: true, freqPpm: 7, state: 'error' });
    expect(state.status & STA_PPSTIME).toBe(0);
  });

  test('leap: insert/delete arm STA_INS/STA_DEL and keep the other status bits; none disarms', () => {
    const { clock } = rig();
    clock.takeControl();
    clock.setStatus(100, 1000, true);
    clock.setLeap('insert');
    expect(clock.read()).toMatchObject({ leap: 'insert', unsynchronised: false, state: 'insert' });
    clock.setLeap('delete');
    expect(clock.read()).toMatchObject({ leap: 'delete', state: 'delete' });
    clock.setLeap('none');
    expect(clock.read()).toMatchObject({ leap: 'none', state: 'ok' });
  });

  test('setLeap before takeControl keeps the kernel\'s own bits but never turns its PLL back on', () => {
    const truth = new FakeClock(START);
    const kernel = new FakeKernel({ oscillatorNs: () => truth.nowNs(), initial: { status: STA_PLL | STA_UNSYNC } });
    const clock = new FakeKernelClock(kernel);
    clock.setLeap('insert');
    expect(kernel.statusBits & (STA_PLL | STA_UNSYNC | STA_INS)).toBe(STA_UNSYNC | STA_INS);
  });

  test('status: error bounds in µs; unsynchronised when asked or when maxerror reaches 16 s', () => {
    const { clock } = rig();
    clock.setStatus(250, 1500, true);
    expect(clock.read()).toMatchObject({ estErrorUs: 250, maxErrorUs: 1500, unsynchronised: false, state: 'ok' });
    clock.setStatus(250, 20_000_000, true);
    expect(clock.read()).toMatchObject({ maxErrorUs: 16_000_000, unsynchronised: true, state: 'error' });
    clock.setStatus(1, 2, false);
    expect(clock.read().unsynchronised).toBe(true);
  });

  test('without CAP_SYS_TIME: reads work, writes fail with KERNEL_EPERM and the capability hint', () => {
    const { clock } = rig({ permitted: false });
    expect(clock.read().tickUs).toBe(10_000);
    try {
      clock.setFrequencyPpm(1);
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(KernelClockError);
      expect(err).toMatchObject({ code: 'KERNEL_EPERM', hint: 'needs CAP_SYS_TIME: run as root or set AmbientCapabilities=CAP_SYS_TIME', errno: 'EPERM' });
      expect((err as Error).message).toBe(`clock_adjtime(modes=0x${ADJ_FREQUENCY.toString(16)}) failed: EPERM`);
    }
  });

  test('errno mapping is stable', () => {
    expect(kernelErrorFor('EINVAL', 0x2101).code).toBe('KERNEL_EINVAL');
    expect(kernelErrorFor('EOVERFLOW', 0x2101).code).toBe('KERNEL_EOVERFLOW');
    expect(kernelErrorFor('EFAULT', 1).code).toBe('KERNEL_FAILED');
  });

  test('the fake refuses what the kernel refuses: ADJ_SETOFFSET nanoseconds outside [0, 1e9)', () => {
    const { kernel } = rig();
    const tx = { ...newTimex(), modes: ADJ_SETOFFSET | ADJ_NANO, timeSec: 0, timeUsec: -5 };
    expect(() => kernel.adjtime(tx)).toThrow(expect.objectContaining({ code: 'KERNEL_EINVAL' }));
    expect(kernel.steps).toEqual([]);
  });
});

describe('applySteering: steer decisions carried out on the fake kernel', () => {
  test('first update 3 s ahead: one step back, ClockChange stamped before it, then the frequency', () => {
    const { clock, realtime, truth } = rig({ initialOffsetNs: 3_000_000_000n, intrinsicPpm: 12 });
    truth.advanceS(1);
    const steer = new Steer();
    const offsetNs = Number(readNs(realtime) - truth.nowNs());
    const actions = steer.decide({ offsetNs, freqPpm: 12, kernelFreqPpm: clock.read().freqPpm, intervalS: 16 });
    expect(actions.map((a) => a.kind)).toEqual(['step', 'frequency']);
    const before = readNs(realtime);
    const change = applySteering(clock, actions, realtime);
    expect(change).not.toBeNull();
    expect(change!.atNs).toBe(before);
    expect(change!.stepNs).toBe(-BigInt(offsetNs));
    expect(change!.freqChangePpm).toBeCloseTo(-12, 4);
    expect(readNs(realtime)).toBe(truth.nowNs());
    truth.advanceS(1000);
    const residual = Number(readNs(realtime) - truth.nowNs());
    expect(Math.abs(residual)).toBeLessThan(1000); // frequency cancelled to 2^-16 ppm: < 1 µs in 1000 s
  });

  test('nothing to do, or a refusal: no syscall that writes, no ClockChange', () => {
    const { clock, kernel, realtime } = rig();
    expect(applySteering(clock, [], realtime)).toBeNull();
    expect(applySteering(clock, [{ kind: 'refuse', code: 'STEER_PANIC', reason: 'x' }], realtime)).toBeNull();
    expect(kernel.calls).toEqual([]);
  });
});
