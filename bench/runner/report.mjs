// Gnomon bench: the results — per-server medians over the runs, the markdown tables with ratios
// to chronyd and to the trivial responder, Gnomon/trivial run by run, and the JSON file with
// every raw run in bench/build/.
import fs from 'node:fs';
import path from 'node:path';
import { LOADGEN_CPU } from './loadgen.mjs';
import { BUILD, ROOT } from './paths.mjs';
import { LABELS, SERVER_CPU } from './servers.mjs';

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const n = s.length;
  return n === 0 ? NaN : n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
};
export const fmtInt = (x) => (Number.isFinite(x) ? Math.round(x).toLocaleString('en-US') : '–');
const fmt1 = (x) => (Number.isFinite(x) ? x.toFixed(1) : '–');
const fmt2 = (x) => (Number.isFinite(x) ? x.toFixed(2) : '–');

/** One server's row: medians of the closed-loop and fixed-rate runs, sums of the reply checks. */
export function summarize(name, closed, rated) {
  const all = [...closed, ...rated];
  const sum = (rs, f) => rs.reduce((a, r) => a + f(r), 0);
  const med = (rs, f) => median(rs.map(f).filter((x) => Number.isFinite(x)));
  return {
    name,
    repliesPerS: med(closed, (r) => r.replies_per_s),
    repliesPerSMin: Math.min(...closed.map((r) => r.replies_per_s)),
    repliesPerSMax: Math.max(...closed.map((r) => r.replies_per_s)),
    p50: med(closed, (r) => r.latency_us.p50),
    p99: med(closed, (r) => r.latency_us.p99),
    cpuUsPerReply: med(closed, (r) => r.server_cpu_us_per_reply ?? NaN),
    offsetMeanLoaded: med(closed, (r) => r.offset_us?.mean ?? NaN),
    offsetAbsP50Loaded: med(closed, (r) => r.offset_us?.abs_p50 ?? NaN),
    lost: sum(all, (r) => r.lost),
    skipped: sum(rated, (r) => r.window_full_skips),
    kod: sum(all, (r) => r.kod),
    wrongOrigin: sum(all, (r) => r.wrong_origin),
    lateOrDup: sum(all, (r) => r.late_or_dup),
    leapUnsync: sum(all, (r) => r.bad.leap_unsync),
    badFormat: sum(all, (r) => r.bad.short + r.bad.mode + r.bad.version + r.bad.zero_tx + r.bad.rx_after_tx),
    waitMax: Math.max(...all.map((r) => r.runq_wait_pct)),
    waitMedian: median(all.map((r) => r.runq_wait_pct)),
    noisy: all.filter((r) => r.noisy).length,
    rate: rated.length
      ? {
          achieved: med(rated, (r) => r.replies_per_s),
          p50: med(rated, (r) => r.latency_us.p50),
          p99: med(rated, (r) => r.latency_us.p99),
          p999: med(rated, (r) => r.latency_us.p999),
          cpuUsPerReply: med(rated, (r) => r.server_cpu_us_per_reply ?? NaN),
          cpuPct: med(rated, (r) => r.server_cpu_pct ?? NaN),
          offsetMean: med(rated, (r) => r.offset_us?.mean ?? NaN),
          offsetAbsP50: med(rated, (r) => r.offset_us?.abs_p50 ?? NaN),
          holdP50: med(rated, (r) => r.server_hold_us?.p50 ?? NaN),
          holdP99: med(rated, (r) => r.server_hold_us?.p99 ?? NaN),
        }
      : null,
  };
}

/**
 * Gnomon / trivial responder run by run. The runs are interleaved, so run i of each was measured
 * within seconds of the other: the per-run ratio cancels most of the machine's drift.
 * replies: ratio of replies/s (closed loop); cpu, cpuRate: ratio of replies per server CPU-second
 * (= trivial's CPU per reply / Gnomon's; closed loop, fixed rate). > 1 = Gnomon ahead.
 */
export function pairRatios(raw) {
  const g = raw.closed.gnomon;
  const t = raw.closed.trivial;
  if (!g?.length || !t?.length) return null;
  const stats = (xs) => {
    const v = xs.filter((x) => Number.isFinite(x));
    return v.length ? { median: median(v), min: Math.min(...v), max: Math.max(...v), runs: v } : null;
  };
  const per = (a, b, f) => a.slice(0, Math.min(a.length, b.length)).map((r, i) => f(r, b[i]));
  const gr = raw.rated.gnomon ?? [];
  const tr = raw.rated.trivial ?? [];
  return {
    replies: stats(per(g, t, (x, y) => x.replies_per_s / y.replies_per_s)),
    cpu: stats(per(g, t, (x, y) => (y.server_cpu_us_per_reply ?? NaN) / (x.server_cpu_us_per_reply ?? NaN))),
    cpuRate: stats(per(gr, tr, (x, y) => (y.server_cpu_us_per_reply ?? NaN) / (x.server_cpu_us_per_reply ?? NaN))),
  };
}

function printTable(rows, { WINDOW, SOCKETS, RUNS, DURATION, RATE }, pairs) {
  const ref = rows.find((r) => r.name === 'chronyd');
  const triv = rows.find((r) => r.name === 'trivial');
  const L = [];
  L.push(`Capacity (closed loop: ${WINDOW} requests in flight over ${SOCKETS} source ports; median of ${RUNS} × ${DURATION} s;`);
  L.push('latency here is mostly queueing, ≈ window / throughput). "per server CPU-s" = replies / CPU time the server used');
  L.push('(utime+stime), which is less disturbed by other load on the machine than replies/s. "run-queue wait" = % of a run');
  L.push('the server or the load generator was runnable but another process had its CPU (median / max over all runs kept).');
  L.push('');
  L.push('| server | replies/s | min–max | ratio to chronyd | ratio to trivial | p50 µs | p99 µs | server CPU µs/reply | replies per server CPU-s | ratio to chronyd | ratio to trivial | run-queue wait % | noisy runs kept |');
  L.push('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const r of rows) {
    L.push(`| ${LABELS[r.name]} | ${fmtInt(r.repliesPerS)} | ${fmtInt(r.repliesPerSMin)}–${fmtInt(r.repliesPerSMax)} | ${fmt2(ref ? r.repliesPerS / ref.repliesPerS : NaN)} | ${fmt2(triv ? r.repliesPerS / triv.repliesPerS : NaN)} | ${fmt1(r.p50)} | ${fmt1(r.p99)} | ${fmt2(r.cpuUsPerReply)} | ${fmtInt(1e6 / r.cpuUsPerReply)} | ${fmt2(ref ? ref.cpuUsPerReply / r.cpuUsPerReply : NaN)} | ${fmt2(triv ? triv.cpuUsPerReply / r.cpuUsPerReply : NaN)} | ${fmt1(r.waitMedian)} / ${fmt1(r.waitMax)} | ${r.noisy} |`);
  }
  if (rows.some((r) => r.rate)) {
    L.push('');
    L.push(`Fixed rate: ${fmtInt(RATE)} requests/s (below every server's capacity), median of ${RUNS} × ${DURATION} s; latency is service time.`);
    L.push('');
    L.push('| server | achieved/s | p50 µs | p99 µs | server CPU % | server CPU µs/reply | CPU ratio to chronyd | CPU ratio to trivial |');
    L.push('|---|---:|---:|---:|---:|---:|---:|---:|');
    for (const r of rows) {
      if (!r.rate) continue;
      L.push(`| ${LABELS[r.name]} | ${fmtInt(r.rate.achieved)} | ${fmt1(r.rate.p50)} | ${fmt1(r.rate.p99)} | ${fmt1(r.rate.cpuPct)} | ${fmt2(r.rate.cpuUsPerReply)} | ${fmt2(ref?.rate ? r.rate.cpuUsPerReply / ref.rate.cpuUsPerReply : NaN)} | ${fmt2(triv?.rate ? r.rate.cpuUsPerReply / triv.rate.cpuUsPerReply : NaN)} |`);
    }
  }
  L.push('');
  L.push('Replies (all runs). Offset = ((T2−T1)+(T3−T4))/2 against the load generator\'s CLOCK_REALTIME (same host, so ideally 0);');
  L.push('T3−T2 = the server\'s own transmit − receive timestamp.');
  L.push('');
  L.push('| server | lost | KoD | wrong origin | late/dup | LI=3 | malformed | offset mean µs, fixed rate | offset mean µs, closed loop | T3−T2 p50 / p99 µs, fixed rate |');
  L.push('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const r of rows) {
    L.push(`| ${LABELS[r.name]} | ${r.lost}${r.skipped ? ` (+${r.skipped} not sent: window full)` : ''} | ${r.kod} | ${r.wrongOrigin} | ${r.lateOrDup} | ${r.leapUnsync} | ${r.badFormat} | ${fmt1(r.rate?.offsetMean)} | ${fmt1(r.offsetMeanLoaded)} | ${fmt1(r.rate?.holdP50)} / ${fmt1(r.rate?.holdP99)} |`);
  }
  if (pairs) {
    const line = (what, st) => (st ? `${what}: median ${fmt2(st.median)}, min ${fmt2(st.min)}, max ${fmt2(st.max)} (runs: ${st.runs.map(fmt2).join(', ')})` : `${what}: –`);
    L.push('');
    L.push('Gnomon / trivial responder, run by run (run i of each measured back to back; > 1 = Gnomon ahead):');
    L.push('');
    L.push(`- ${line('replies/s, closed loop', pairs.replies)}`);
    L.push(`- ${line('replies per server CPU-s, closed loop', pairs.cpu)}`);
    L.push(`- ${line(`replies per server CPU-s at ${fmtInt(RATE)}/s`, pairs.cpuRate)}`);
  }
  return L.join('\n');
}

/**
 * Print the header (command, machine, Gnomon build), the tables, and write every raw run to
 * bench/build/results-<time>.json.
 */
export function report({ command, machine, options, servers, rows, raw, summary, extra }) {
  const pairs = pairRatios(raw);
  const table = printTable(rows, options, pairs);
  console.log(`\n${command}`);
  console.log(`${machine.nproc} CPUs (${machine.cpu}), kernel ${machine.kernel}, node ${machine.node}, ${machine.chronyd}`);
  console.log(`Gnomon: HEAD ${machine.gnomonCommit.slice(0, 80)}; ${machine.uncommittedSrc} uncommitted files in src/ drivers/; dist built ${machine.distBuilt}${machine.staleDist.length ? `; STALE dist for ${machine.staleDist.join(', ')}` : ''}`);
  console.log(`servers on CPU ${SERVER_CPU}, load generator on CPU ${LOADGEN_CPU}\n`);
  if (summary) console.log(`${summary}\n`);
  console.log(table);
  const out = path.join(BUILD, `results-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  fs.writeFileSync(out, JSON.stringify({ command, machine, options, firstReplies: Object.fromEntries(servers.map((s) => [s.name, s.reply])), rows, gnomonVsTrivial: pairs, ...extra, raw }, null, 2));
  console.log(`\nraw results: ${path.relative(ROOT, out)}`);
}
