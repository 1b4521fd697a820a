// DisciplineOutputs with the fake kernel: steering only with `enable kernel` and without --no-kernel,
// the change returned for broadcast, and a kernel that refuses (no CAP_SYS_TIME) turns steering off
// with one error naming the fix, while everything else goes on.
import { describe, expect, it } from 'vitest';
import { DisciplineOutputs } from '../../../src/daemon/outputs.js';
import { FakeKernelClock } from '../../../src/clock/kernel-fake.js';
import { parseConfigText } from '../../../src/config/parse.js';
import type { Logger } from '../../../src/daemon/log.js';
import type { DisciplineState } from '../../../src/discipline/discipline.js';
import { est } from '../discipline/estimates.js';

function memoryLog() {
  const lines: { level: string; fields: Record<string, unknown>; msg: string }[] = [];
  const at = (level: string) => (fields: Record<string, unknown>, msg: string) => void lines.push({ level, fields, msg });
  return { log: { info: at('info'), warn: at('warn'), error: at('error') } as unknown as Logger, lines };
}
const config = (text: string) => {
  const r = parseConfigText(`refclock nmea unit 0 path /dev/null flag1 1\n${text}`, 't.conf');
  expect(r.config, JSON.stringify(r.diagnostics)).toBeDefined();
  return r.config!;
};
const T = 1_800_000_000n * 1_000_000_000n;
let osc = T;
const tracking = (offsetNs: number): DisciplineState => ({
  kind: 'tracking', name: 'GPS_NMEA(0)', stratum: 1,
  estimate: est('pulse', 1000, { atNs: T, offsetNs, model: { t0Ns: T, offsetNs, freqPpm: 10, offsetSdNs: 10, freqSdPpm: 0.01, jitterNs: 1000, samples: 32, lastSampleNs: T } }),
});
const view = (state: DisciplineState) => ({
  state, line: state.kind === 'tracking' ? { t0Ns: T, offsetNs: state.estimate.offsetNs, freqPpm: 10 } : null,
  nowNs: T, servedNs: T, precisionLog2S: -20, refclocks: () => [],
});

describe('DisciplineOutputs', () => {
  it('enable kernel: the first update steps a 0.3 s offset out and sets the frequency; the change comes back for broadcast', async () => {
    const kernel = new FakeKernelClock({ oscillatorNs: () => osc });
    const { log, lines } = memoryLog();
    const out = await DisciplineOutputs.open(config('enable kernel\n'), log, { noKernel: false, kernel });
    const change = out.steer(view(tracking(300_000_000)));
    expect(change).not.toBeNull();
    expect(change!.stepNs).toBe(-300_000_000n);
    expect(kernel.stepHistory).toEqual([-300_000_000n]);
    expect(kernel.appliedFreqPpm).toBeCloseTo(-10, 3);
    expect(lines.some((l) => l.msg === 'system clock stepped to the reference')).toBe(true);
    osc += 1_000_000_000n;
  });

  it('without `enable kernel`, or with --no-kernel, the kernel is never touched', async () => {
    for (const [text, noKernel] of [['', false], ['enable kernel\n', true]] as const) {
      const kernel = new FakeKernelClock({ oscillatorNs: () => osc });
      const out = await DisciplineOutputs.open(config(text), memoryLog().log, { noKernel, kernel });
      expect(out.steer(view(tracking(300_000_000)))).toBeNull();
      expect(kernel.kernel.calls).toEqual([]);
    }
  });

  it('no CAP_SYS_TIME: one error with the fix, steering off, later updates quiet', async () => {
    const kernel = new FakeKernelClock({ oscillatorNs: () => osc, permitted: false });
    const { log, lines } = memoryLog();
    const out = await DisciplineOutputs.open(config('enable kernel\n'), log, { noKernel: false, kernel });
    expect(out.steer(view(tracking(300_000_000)))).toBeNull();
    expect(out.steer(view(tracking(300_000_000)))).toBeNull();
    const errors = lines.filter((l) => l.level === 'error');
    expect(errors).toHaveLength(1);
    expect(errors[0]!.fields.code).toBe('KERNEL_EPERM');
    expect(String(errors[0]!.fields.hint)).toMatch(/CAP_SYS_TIME/);
  });
});
