// Gnomon bench: the one table of `npm run bench` — Gnomon fast path, Gnomon dgram path and chronyd
// side by side: capacity, CPU per reply at saturation and at the fixed rate, latency percentiles,
// what a chronyd client sees (offset SD, median delay; basic and interleaved mode, from
// bench/quality.mjs run as a child), and resident memory after the load.
import { spawn, spawnSync } from 'node:child_process';
import path from 'node:path';
import { forget, track } from './processes.mjs';
import { ROOT } from './paths.mjs';
import { mib } from './rss.mjs';
import { LABELS } from './servers.mjs';

const QUALITY = path.join(ROOT, 'bench', 'quality.mjs');
/** The servers bench/quality.mjs measures under the same names as bench/run.mjs. */
const QUALITY_NAMES = ['chronyd', 'gnomon', 'gnomon-fast', 'trivial'];

/** Whether bench/quality.mjs has --xleave (chronyd clients in interleaved mode). */
export function qualityHasXleave() {
  return spawnSync(process.execPath, [QUALITY, '--help'], { encoding: 'utf8' }).stdout.includes('--xleave');
}

/**
 * bench/quality.mjs --json for `seconds` over the servers of this run (xleave: its --xleave), as a
 * child (it starts its own servers: Gnomon as `gnomon demo`, synchronised to the simulated PPS).
 * Resolves { rows by name } or { error }.
 */
export async function qualityPass(names, seconds, { xleave = false } = {}) {
  const only = names.filter((n) => QUALITY_NAMES.includes(n));
  if (only.length === 0) return { error: 'no server bench/quality.mjs measures' };
  const args = [QUALITY, '--json', '--seconds', String(seconds), '--only', only.join(',')];
  if (xleave) args.push('--xleave');
  const child = track(spawn(process.execPath, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] }), 'quality');
  let out = '';
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (c) => (out += c));
  const guard = setTimeout(() => child.kill('SIGKILL'), (seconds + 300) * 1000);
  const { code, signal } = await child.exited;
  clearTimeout(guard);
  forget(child);
  if (code !== 0) return { error: `bench/quality.mjs exited ${code ?? signal}` };
  try {
    const r = JSON.parse(out);
    return { rows: Object.fromEntries(r.rows.map((row) => [row.name, row])), rawFile: r.rawFile };
  } catch (err) {
    return { error: `bench/quality.mjs output: ${err.message}` };
  }
}

const f1 = (x) => (Number.isFinite(x) ? x.toFixed(1) : '–');
const f2 = (x) => (Number.isFinite(x) ? x.toFixed(2) : '–');
const int = (x) => (Number.isFinite(x) ? Math.round(x).toLocaleString('en-US') : '–');
const ratio = (x, ref) => (Number.isFinite(x) && Number.isFinite(ref) && ref !== 0 ? ` (${(x / ref).toFixed(2)})` : '');

/**
 * The one table. rows: report.mjs summaries; memory: { name: readRss() after the load };
 * basic, xleave: qualityPass() results (or null when not run). Ratios to chronyd in parentheses.
 */
export function summaryTable({ rows, memory, basic, xleave, rate, shared }) {
  const ref = rows.find((r) => r.name === 'chronyd');
  const q = (pass, name, key) => pass?.rows?.[name]?.[key] ?? NaN;
  const L = [];
  L.push('Summary (ratio to chronyd, measured in the same run, in parentheses). Saturation = closed loop; latency at the fixed rate.');
  L.push(`Offset SD / median delay: a chronyd client (poll 2^-4 s) of each server, basic mode${xleave ? ' and interleaved (xleave)' : ''}; Gnomon there is \`gnomon demo\` on the simulated PPS.`);
  L.push('RSS: the server process (all threads) after the throughput runs; the 10-minute million-address run is bench/memory.mjs.');
  if (shared) L.push('Replies per CPU-s, shared core: chronyd and that server on one core at once (table below); its ratio is taken round by round, free of the run-to-run noise.');
  L.push('');
  L.push(`| server | replies/s | CPU µs/reply, saturated | replies per CPU-s, shared core | CPU µs/reply at ${int(rate)}/s (achieved/s) | p50 / p99 / p99.9 µs at ${int(rate)}/s | offset SD µs | median delay µs | offset SD µs, xleave | median delay µs, xleave | RSS MiB |`);
  L.push('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const r of rows) {
    const rr = r.rate;
    const refRss = memory.chronyd?.rssKiB;
    const xl = xleave?.error ? `– (${xleave.error})` : f1(q(xleave, r.name, 'offsetSdUs')) + ratio(q(xleave, r.name, 'offsetSdUs'), q(xleave, 'chronyd', 'offsetSdUs'));
    L.push([
      `| ${LABELS[r.name] ?? r.name}`,
      int(r.repliesPerS) + ratio(r.repliesPerS, ref?.repliesPerS),
      f2(r.cpuUsPerReply) + ratio(r.cpuUsPerReply, ref?.cpuUsPerReply),
      shared?.perServer[r.name] ? int(shared.perServer[r.name].repliesPerCpuS) + (Number.isFinite(shared.perServer[r.name].ratio) ? ` (${f2(shared.perServer[r.name].ratio)})` : '') : '–',
      rr ? `${f2(rr.cpuUsPerReply)}${ratio(rr.cpuUsPerReply, ref?.rate?.cpuUsPerReply)} (${int(rr.achieved)})` : '–',
      rr ? `${f1(rr.p50)} / ${f1(rr.p99)} / ${f1(rr.p999)}` : '–',
      f1(q(basic, r.name, 'offsetSdUs')) + ratio(q(basic, r.name, 'offsetSdUs'), q(basic, 'chronyd', 'offsetSdUs')),
      f1(q(basic, r.name, 'delayMedianUs')) + ratio(q(basic, r.name, 'delayMedianUs'), q(basic, 'chronyd', 'delayMedianUs')),
      xleave ? xl : '– (not run)',
      xleave && !xleave.error ? f1(q(xleave, r.name, 'delayMedianUs')) + ratio(q(xleave, r.name, 'delayMedianUs'), q(xleave, 'chronyd', 'delayMedianUs')) : '–',
      `${mib(memory[r.name]?.rssKiB)}${ratio(memory[r.name]?.rssKiB, refRss)} |`,
    ].join(' | '));
  }
  if (basic?.error) L.push(`\nquality pass (basic): ${basic.error}`);
  if (basic?.rawFile) L.push(`\nquality samples: ${basic.rawFile}${xleave?.rawFile ? `, ${xleave.rawFile}` : ''}`);
  return L.join('\n');
}
