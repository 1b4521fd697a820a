/**
 * Scenario scripts: antenna pulled, GPS unplugged and replugged, reboot. Physical steps go through
 * the Operator (a prompt at the bench, the simulator's fault schedule on the virtual rig); every
 * duration is measured from the moment the Operator reports the step done.
 */
import { watch, readStatus, sleep, type Observation, type RigContext } from './observe.js';
import { nmeaInterrupted, nmeaWithFix, ppsTracking, type StatusView } from './parse.js';
import { conditionResult, failedResult, numericResult, skippedResult, type CheckResult } from './results.js';
import { limitFor } from './thresholds.js';

export const SCENARIOS = ['antenna', 'unplug', 'reboot'] as const;
export type ScenarioName = (typeof SCENARIOS)[number];

export function isScenario(name: string): name is ScenarioName {
  return (SCENARIOS as readonly string[]).includes(name);
}

/** The limit of a `max` row in ms (how long a scenario waits before calling it a FAIL), plus a margin. */
function waitMs(ctx: RigContext, id: Parameters<typeof limitFor>[0], marginS = 5): number {
  const l = limitFor(id, ctx.rig);
  const s = l.kind === 'max' ? l.value : l.kind === 'range' ? l.max : 60;
  return (s + marginS) * 1000;
}

const secondsSince = (fromMs: number, o: Observation | undefined) => (o ? (o.atMs - fromMs) / 1000 : NaN);

function describe(s: StatusView): string {
  return `${s.state} ${s.selected} st ${s.stratum} LI ${s.leap}`;
}

export async function runScenario(ctx: RigContext, name: ScenarioName): Promise<CheckResult[]> {
  try {
    switch (name) {
      case 'antenna': return await antenna(ctx);
      case 'unplug': return await unplug(ctx);
      case 'reboot': return await reboot(ctx);
    }
  } catch (err) {
    const id = name === 'antenna' ? 'antenna.fix-lost' : name === 'unplug' ? 'unplug.nmea-lost' : 'reboot.reachable';
    return [failedResult(id, ctx.rig, `scenario ${name} broke: ${(err as Error).message}`)];
  }
}

/** Waits (up to settleS) for PPS tracking before a scenario, so each starts from a locked box. */
async function locked(ctx: RigContext): Promise<boolean> {
  return (await watch(ctx, ppsTracking, ctx.options.settleS * 1000)) !== undefined;
}

/** Antenna pulled: fix lost, holdover at stratum 1, (with --holdover-s) the change after it, back after restoring. */
async function antenna(ctx: RigContext): Promise<CheckResult[]> {
  const { rig } = ctx;
  if (!(await locked(ctx))) ctx.log('antenna: the box does not track PPS before the scenario');
  const out: CheckResult[] = [];
  const pulled = await ctx.operator.perform('pull-antenna');
  ctx.log('antenna pulled');
  const fixLost = await watch(ctx, (s) => s.nmea !== null && s.nmea.fixMode !== '2d' && s.nmea.fixMode !== '3d',
    waitMs(ctx, 'antenna.fix-lost'));
  out.push(numericResult('antenna.fix-lost', rig, secondsSince(pulled, fixLost),
    fixLost ? undefined : 'fix still reported'));
  // Holdover: seen with stratum 1 and LI 0 (the box keeps serving on its last frequency).
  const holdover = await watch(ctx, (s) => s.state !== 'tracking', 60_000);
  const h = holdover?.status;
  out.push(conditionResult('antenna.holdover', rig, h !== undefined && h.state === 'holdover' && h.stratum === 1 && h.leap !== 3,
    h ? `${describe(h)} at +${secondsSince(pulled, holdover).toFixed(1)} s` : 'still tracking after 60 s'));
  // End of holdover: stratum/LI change, as configured (unsynchronised, local clock or orphan stratum).
  if (ctx.options.holdoverS === undefined) {
    out.push(skippedResult('antenna.holdover-end', rig, 'not asked (--holdover-s S: the box\'s tos holdover)'));
  } else {
    const left = await watch(ctx, (s) => s.stratum !== 1 || s.leap === 3, (ctx.options.holdoverS + 60) * 1000);
    const afterPull = secondsSince(pulled, left);
    out.push(numericResult('antenna.holdover-end', rig, afterPull - ctx.options.holdoverS,
      left ? `${describe(left.status)} ${afterPull.toFixed(1)} s after the pull (holdover ${ctx.options.holdoverS} s)`
        : `still stratum 1 ${ctx.options.holdoverS + 60} s after the pull`));
  }
  const restored = await ctx.operator.perform('restore-antenna');
  ctx.log('antenna restored');
  const back = await watch(ctx, (s) => ppsTracking(s) && nmeaWithFix(s), waitMs(ctx, 'antenna.recovered'));
  out.push(numericResult('antenna.recovered', rig, secondsSince(restored, back), back ? undefined : 'not tracking PPS'));
  return out;
}

/** GPS unplugged and replugged: the loss is seen, service continues, NMEA and PPS come back without a restart. */
async function unplug(ctx: RigContext): Promise<CheckResult[]> {
  const { rig } = ctx;
  if (!(await locked(ctx))) ctx.log('unplug: the box does not track PPS before the scenario');
  const out: CheckResult[] = [];
  const samples: Observation[] = [];
  const keep = (o: Observation) => samples.push(o);
  const unplugged = await ctx.operator.perform('unplug-gps');
  ctx.log('GPS unplugged');
  const lost = await watch(ctx, nmeaInterrupted, waitMs(ctx, 'unplug.nmea-lost'), keep);
  out.push(numericResult('unplug.nmea-lost', rig, secondsSince(unplugged, lost),
    lost ? `${lost.status.nmea?.driverState ?? 'no driver'} after ${secondsSince(unplugged, lost).toFixed(1)} s` : 'NMEA still flowing'));
  const replugged = await ctx.operator.perform('replug-gps');
  ctx.log('GPS replugged');
  const nmeaBack = await watch(ctx, (s) => nmeaWithFix(s), waitMs(ctx, 'unplug.nmea-back'), keep);
  out.push(numericResult('unplug.nmea-back', rig, secondsSince(replugged, nmeaBack), nmeaBack ? undefined : 'no NMEA with fix'));
  const ppsBack = await watch(ctx, ppsTracking, waitMs(ctx, 'unplug.pps-back'), keep);
  out.push(numericResult('unplug.pps-back', rig, secondsSince(replugged, ppsBack), ppsBack ? undefined : 'not tracking PPS'));
  const bad = samples.filter((o) => o.status.stratum !== 1 || o.status.leap === 3);
  out.push(conditionResult('unplug.served', rig, samples.length > 0 && bad.length === 0,
    bad.length === 0 ? `stratum 1 in ${samples.length}/${samples.length} samples`
      : `${bad.length}/${samples.length} samples not stratum 1 (first: ${describe(bad[0]!.status)})`));
  return out;
}

async function bootId(ctx: RigContext): Promise<string | undefined> {
  const r = await ctx.box.transport.run(ctx.box.commands.bootId, 15_000);
  return r.code === 0 && r.stdout.trim() !== '' ? r.stdout.trim() : undefined;
}

/** Reboot: back with a new boot id, then stratum 1 from PPS; both timed from the reboot command. */
async function reboot(ctx: RigContext): Promise<CheckResult[]> {
  const { rig } = ctx;
  const before = await bootId(ctx);
  if (before === undefined) return [failedResult('reboot.reachable', rig, `no boot id (${ctx.box.commands.bootId})`)];
  const t0 = Date.now();
  await ctx.box.reboot();
  ctx.log('reboot sent');
  const reachDeadline = t0 + waitMs(ctx, 'reboot.reachable');
  let back: number | undefined;
  while (Date.now() < reachDeadline) {
    const id = await bootId(ctx);
    if (id !== undefined && id !== before) {
      back = Date.now();
      break;
    }
    await sleep(1000);
  }
  const out = [numericResult('reboot.reachable', rig, back === undefined ? NaN : (back - t0) / 1000,
    back === undefined ? 'same boot id or no answer' : undefined)];
  const remaining = Math.max(0, t0 + waitMs(ctx, 'reboot.stratum1') - Date.now());
  const synced = back === undefined ? undefined : await watch(ctx, ppsTracking, remaining);
  const last = synced ? undefined : await readStatus(ctx);
  out.push(numericResult('reboot.stratum1', rig, secondsSince(t0, synced),
    synced ? undefined : last ? `not tracking PPS: ${describe(last)}` : 'no status'));
  return out;
}
