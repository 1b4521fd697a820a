/**
 * The hardware-in-the-loop run: baseline checks of a running box, then the chosen scenarios, one
 * result per threshold row. The same code runs a real Pi over ssh and the virtual rig; only the
 * Box, the client transport and the Operator differ.
 */
import { catCommand } from './box.js';
import { readStatus, sleep, watch, type RigContext } from './observe.js';
import {
  distanceFromSecondNs, nmeaWithFix, parseAssert, parseGnomonQuery, parseNtpdig, parsePeers, parseStatus, ppsOffsetVsServedNs,
  ppsPeer, ppsTracking, type AssertReading, type ClientAnswer, type StatusView,
} from './parse.js';
import {
  conditionResult, failedResult, makeReport, numericResult, type CheckResult, type Report,
} from './results.js';
import { runScenario } from './scenarios.js';
import { display, MIN_PULSES_BEFORE_MEASURING } from './thresholds.js';
import { shellQuote } from './transport.js';

async function readAssert(ctx: RigContext): Promise<AssertReading> {
  const r = await ctx.box.transport.run(catCommand(ctx.box.paths.ppsAssert), 15_000);
  if (r.code !== 0) throw new Error(`${ctx.box.paths.ppsAssert}: ${r.stderr.trim() || `exit ${r.code}`}`);
  return parseAssert(r.stdout);
}

/** The box's assert file read twice, 1 s apart, in one command (so the link's latency is not in the interval). */
async function readAssertPair(ctx: RigContext): Promise<[AssertReading, AssertReading]> {
  const cat = catCommand(ctx.box.paths.ppsAssert);
  const r = await ctx.box.transport.run(`${cat} && sleep 1 && ${cat}`, 15_000);
  const lines = r.stdout.trim().split('\n');
  if (r.code !== 0 || lines.length !== 2) throw new Error(`${ctx.box.paths.ppsAssert}: ${r.stderr.trim() || `exit ${r.code}`}`);
  return [parseAssert(lines[0]!), parseAssert(lines[1]!)];
}

function rms(values: readonly number[]): number {
  return Math.sqrt(values.reduce((a, v) => a + v * v, 0) / values.length);
}

function median(values: readonly number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : ((s[m - 1]! + s[m]!) / 2);
}

function count(r: StatusView['nmea'], key: string, driverKey?: string): number {
  return r?.counters[key] ?? (driverKey !== undefined ? r?.driverCounters[driverKey] : undefined) ?? NaN;
}

interface WindowSample {
  readonly status: StatusView;
  /** The assert file read in the same command, just before the status. */
  readonly assert: AssertReading | undefined;
  readonly atMs: number;
}

/**
 * One sample a second for `ms`: the PPS assert file and `gnomon status --json` in one command, so
 * each edge's kernel timestamp comes with the correction the daemon applied at (nearly) that time.
 */
async function sampleWindow(ctx: RigContext, ms: number): Promise<WindowSample[]> {
  const out: WindowSample[] = [];
  const t0 = Date.now();
  const command = `${catCommand(ctx.box.paths.ppsAssert)}; ${ctx.box.commands.status}`;
  while (Date.now() - t0 < ms || out.length === 0) {
    const started = Date.now();
    const r = await ctx.box.transport.run(command, 15_000);
    const nl = r.stdout.indexOf('\n');
    let assert: AssertReading | undefined;
    try {
      assert = parseAssert(r.stdout.slice(0, nl));
    } catch {
      assert = undefined;
    }
    try {
      out.push({ status: parseStatus(r.stdout.slice(nl + 1)), assert, atMs: Date.now() });
    } catch (err) {
      ctx.log(`window sample: ${(err as Error).message}`);
      if (Date.now() - t0 > ms + 30_000) break;
    }
    await sleep(Math.max(0, 1000 - (Date.now() - started)));
  }
  return out;
}

/** Waits up to settleS for PPS tracking with MIN_PULSES_BEFORE_MEASURING pulses used. */
async function settle(ctx: RigContext): Promise<void> {
  const t0 = Date.now();
  const locked = await watch(ctx, (s) => ppsTracking(s) && (s.pps?.counters.pulsesAccepted ?? 0) >= MIN_PULSES_BEFORE_MEASURING,
    ctx.options.settleS * 1000);
  ctx.log(locked ? `box tracks PPS (after ${((locked.atMs - t0) / 1000).toFixed(1)} s of waiting)`
    : `box did not track PPS within ${ctx.options.settleS} s; measuring anyway`);
}

/** The baseline checks: NMEA, PPS, pairing, selection, offset and jitter, a remote client. */
export async function baseline(ctx: RigContext): Promise<CheckResult[]> {
  const { rig } = ctx;
  await settle(ctx);
  const out: CheckResult[] = [];
  const serial = await ctx.box.transport.run(`test -e ${shellQuote(ctx.box.paths.serial)}`, 15_000);
  // PPS: two readings 1 s apart, and the window's first and last.
  let pair: [AssertReading, AssertReading] | undefined;
  let first: AssertReading | undefined;
  let pairError = '';
  try {
    pair = await readAssertPair(ctx);
    first = pair[0];
  } catch (err) {
    pairError = (err as Error).message;
  }
  const s0 = await readStatus(ctx);
  const t0 = Date.now();
  const window = await sampleWindow(ctx, ctx.options.windowS * 1000);
  const samples = window.map((w) => w.status);
  const s1 = samples[samples.length - 1];
  const windowS = ((window[window.length - 1]?.atMs ?? Date.now()) - t0) / 1000;
  let last: AssertReading | undefined;
  try {
    last = await readAssert(ctx);
  } catch (err) {
    pairError ||= (err as Error).message;
  }

  // NMEA
  if (!s0 || !s1 || !s1.nmea) {
    out.push(failedResult('nmea.rate', rig, s1 ? 'no NMEA refclock in status' : 'gnomon status did not answer'));
    out.push(failedResult('nmea.fix', rig, s1 ? 'no NMEA refclock in status' : 'gnomon status did not answer'));
  } else {
    const epochs = count(s1.nmea, 'timecodes', 'epochs') - count(s0.nmea, 'timecodes', 'epochs');
    out.push(numericResult('nmea.rate', rig, epochs / windowS, `${epochs} epochs in ${windowS.toFixed(1)} s`));
    const age = s1.nmea.lastTimecodeAgeNs;
    out.push(conditionResult('nmea.fix', rig, nmeaWithFix(s1) && serial.code === 0,
      `${s1.nmea.fixMode ?? 'no fix'}, timecode ${age === null ? 'none' : `${(age / 1e9).toFixed(2)} s`} old, `
      + `${ctx.box.paths.serial} ${serial.code === 0 ? 'present' : 'missing'}`));
  }

  // PPS rate and phase
  if (!pair || !first || !last) {
    out.push(failedResult('pps.rate', rig, pairError));
    out.push(failedResult('pps.phase', rig, pairError));
  } else {
    const spanS = Number(last.ns - first.ns) / 1e9;
    const pulses = last.seq - first.seq;
    const pairOk = pair[1].seq === pair[0].seq + 1 && Math.abs(Number(pair[1].ns - pair[0].ns) / 1e9 - 1) < 0.01;
    out.push(numericResult('pps.rate', rig, spanS > 0 ? pulses / spanS : NaN,
      `${pulses} in ${spanS.toFixed(3)} s; 1 s pair #${pair[0].seq}→#${pair[1].seq}`, pairOk));
    const correction = s0?.correctionNs ?? 0;
    const phases = [pair[0], pair[1], last].map((a) => distanceFromSecondNs(a.ns + BigInt(Math.round(correction))));
    const worst = phases.reduce((w, p) => (Math.abs(p) > Math.abs(w) ? p : w), 0);
    out.push(numericResult('pps.phase', rig, worst, `worst ${display(worst, 'ns')} of ${phases.length}`));
  }

  // Pairing, offset, jitter
  if (!s0?.pps || !s1?.pps) {
    for (const id of ['pairing.locked', 'pps.offset', 'pps.jitter'] as const) out.push(failedResult(id, rig, 'no PPS refclock in status'));
  } else {
    const pulses = count(s1.pps, 'pulses') - count(s0.pps, 'pulses');
    const used = count(s1.pps, 'pulsesAccepted') - count(s0.pps, 'pulsesAccepted');
    // The two counters are read a moment apart: a pulse may be counted as used in s1 but not yet as seen in s0.
    out.push(numericResult('pairing.locked', rig, pulses > 0 ? Math.min(1, used / pulses) : NaN,
      `phase ${s1.pps.phaseState ?? 'none'}, ${used}/${pulses} pulses used`, s1.pps.phaseState === 'ok'));
    // Each edge once: the kernel's timestamp of it (raw clock) + the correction read with it = the edge in served time.
    const edges = new Map<number, number>();
    for (const w of window) if (w.assert && w.assert.seq > 0) edges.set(w.assert.seq, distanceFromSecondNs(w.assert.ns + BigInt(Math.round(w.status.correctionNs))));
    const offsets = [...edges.values()];
    const estimates = samples.map(ppsOffsetVsServedNs).filter((v): v is number => v !== null);
    const jitters = samples.map((s) => s.pps?.jitterNs ?? null).filter((v): v is number => v !== null);
    if (offsets.length < 3) out.push(failedResult('pps.offset', rig, `${offsets.length} edges read in the window`));
    else {
      const maxAbs = Math.max(...offsets.map(Math.abs));
      out.push(numericResult('pps.offset', rig, rms(offsets), `RMS ${display(rms(offsets), 'ns')}, max ${display(maxAbs, 'ns')} over `
        + `${offsets.length} edges${estimates.length > 0 ? `; daemon's estimate RMS ${display(rms(estimates), 'ns')}` : ''}`));
    }
    if (jitters.length === 0) out.push(failedResult('pps.jitter', rig, 'no PPS estimate'));
    else out.push(numericResult('pps.jitter', rig, median(jitters), `median ${display(median(jitters), 'ns')}, max ${display(Math.max(...jitters), 'ns')}`));
  }

  out.push(await selection(ctx, s1));
  out.push(await remoteClient(ctx));
  return out;
}

async function selection(ctx: RigContext, s: StatusView | undefined): Promise<CheckResult> {
  const r = await ctx.box.transport.run(ctx.box.commands.peers, 15_000);
  let row;
  try {
    row = ppsPeer(parsePeers(r.stdout));
  } catch (err) {
    return failedResult('select.pps', ctx.rig, `${(err as Error).message} ${r.stderr.trim()}`.trim());
  }
  if (!row) return failedResult('select.pps', ctx.rig, 'no PPS row in ntpq -p');
  const tracking = s !== undefined && ppsTracking(s);
  return conditionResult('select.pps', ctx.rig, (row.tally === 'o' || row.tally === '*') && tracking,
    `'${row.tally}${row.remote}' offset ${row.offsetMs} ms jitter ${row.jitterMs} ms; ${s ? `${s.state} ${s.selected} st ${s.stratum}` : 'no status'}`);
}

/** ntpdig on the client host (or gnomon query where it has no ntpdig). */
export async function queryFromClient(ctx: RigContext): Promise<ClientAnswer> {
  const host = shellQuote(ctx.box.ntpHost);
  const has = await ctx.client.run('command -v ntpdig', 5000);
  if (has.code === 0 || ctx.clientGnomon === undefined) {
    const r = await ctx.client.run(`ntpdig -j -t 2 ${host}`, 20_000);
    return parseNtpdig(r.stdout, r.stderr);
  }
  const r = await ctx.client.run(`${ctx.clientGnomon} query ${host} --json --samples 1`, 20_000);
  return parseGnomonQuery(r.stdout);
}

async function remoteClient(ctx: RigContext): Promise<CheckResult> {
  try {
    const a = await queryFromClient(ctx);
    return numericResult('client.stratum', ctx.rig, a.stratum,
      `stratum ${a.stratum}, leap ${a.leap}, offset ${display(a.offsetS * 1e9, 'ns')} (from ${ctx.client.describe})`,
      a.leap !== 'unsync' && a.leap !== '3');
  } catch (err) {
    return failedResult('client.stratum', ctx.rig, (err as Error).message);
  }
}

/** Baseline, then each scenario in the order given; never throws (a broken step is a FAIL row). */
export async function runHil(ctx: RigContext, target: string): Promise<Report> {
  const started = Date.now();
  const notes: string[] = [];
  const log = (line: string) => {
    notes.push(line);
    ctx.log(line);
  };
  const c: RigContext = { ...ctx, log };
  const results: CheckResult[] = [];
  results.push(...await baseline(c));
  for (const name of ctx.options.scenarios) {
    log(`scenario ${name}`);
    results.push(...await runScenario(c, name));
  }
  return makeReport(ctx.rig, target, started, Date.now(), results, notes);
}

