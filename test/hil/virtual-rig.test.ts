// The HIL runner against the virtual rig (hil/virtual.ts): the same checks, scenarios and
// thresholds that run on a Pi over ssh, against `gnomon demo` in a network namespace, with the
// simulator's faults as the operator. Two rigs run side by side to stay under a minute: one with
// the antenna and unplug scenarios (they share the simulator's fault timeline), one with the
// reboot. Needs root and the built CLI (npm test's pretest builds it). Ports: 123 in its
// namespaces, 10.250.130.0/24 and 10.250.131.0/24 (docs/hil.md).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import type { RigContext } from '../../hil/observe.js';
import { formatTable, type Report } from '../../hil/results.js';
import { runHil } from '../../hil/runner.js';
import type { ScenarioName } from '../../hil/scenarios.js';
import { THRESHOLDS } from '../../hil/thresholds.js';
import { startVirtualRig, VIRTUAL_HOLDOVER_S, type VirtualRig } from '../../hil/virtual.js';

const GNOMON_MAIN = fileURLToPath(new URL('../../dist/src/cli/main.js', import.meta.url));
const rigs: VirtualRig[] = [];

afterAll(async () => {
  for (const rig of rigs.splice(0)) await rig.stop();
});

async function runVirtual(scenarios: readonly ScenarioName[], subnet: string): Promise<{ report: Report; rig: VirtualRig; log: string[] }> {
  const log: string[] = [];
  const rig = await startVirtualRig({ gnomonMain: GNOMON_MAIN, scenarios, subnet, log: (l) => log.push(l) });
  rigs.push(rig);
  const ctx: RigContext = {
    rig: 'virtual', box: rig.box, client: rig.client, clientGnomon: rig.clientGnomon, operator: rig.operator,
    options: { windowS: 8, settleS: 40, holdoverS: VIRTUAL_HOLDOVER_S, scenarios }, log: (l) => log.push(l),
  };
  const report = await runHil(ctx, rig.describe);
  return { report, rig, log };
}

describe('HIL runner on the virtual rig', () => {
  it('every check and scenario passes with the hardware thresholds (~60 s)', async () => {
    if (typeof process.getuid === 'function' && process.getuid() !== 0) {
      throw new Error('the virtual HIL rig needs root (network namespaces, port 123); run npm test as root. Not skipping.');
    }
    expect(existsSync(GNOMON_MAIN), `${GNOMON_MAIN} missing: build first (npx tsc -p tsconfig.build.json)`).toBe(true);
    const started = Date.now();
    const [faults, reboot] = await Promise.all([
      runVirtual(['antenna', 'unplug'], '10.250.130'),
      runVirtual(['reboot'], '10.250.131'),
    ]);
    const seconds = ((Date.now() - started) / 1000).toFixed(1);
    const text = `${formatTable(faults.report)}\n${formatTable(reboot.report)}`;
    console.log(`virtual HIL rig (${seconds} s):\n${text}`);
    const explain = (r: { report: Report; rig: VirtualRig; log: string[] }) =>
      `${formatTable(r.report)}\nlog:\n${r.log.join('\n')}\n--- demo output (tail) ---\n${r.rig.output().slice(-4000)}`;
    expect(faults.report.pass, explain(faults)).toBe(true);
    expect(reboot.report.pass, explain(reboot)).toBe(true);
    // Every threshold row was measured (none skipped) across the two rigs, and the baseline ran on both.
    const ids = [...faults.report.results, ...reboot.report.results].filter((r) => r.result === 'PASS').map((r) => r.id);
    expect(new Set(ids)).toEqual(new Set(THRESHOLDS.map((r) => r.id)));
    expect(faults.report.results.filter((r) => r.id === 'select.pps')).toHaveLength(1);
    expect(reboot.report.results.filter((r) => r.id === 'select.pps')).toHaveLength(1);
  }, 120_000);
});
