// Gnomon bench: the shared-core pass. chronyd and each other server under test on the same core at
// the same time (they already run pinned to SERVER_CPU), each with its own closed-loop load
// generator (all on LOADGEN_CPU), for a few rounds; per server, replies per CPU-second it used.
//
// Why: on a shared VM the capacity of one core moves ±10-15 % from one 5 s run to the next (the
// same server measured twice in a row: 305k and 378k replies/s), so a ratio of two servers measured
// one after the other carries that noise, however the runs are interleaved. Sharing the core, both
// see the same host at the same moment; the scheduler splits the core between them and each one's
// replies per CPU-second is its cost per reply under identical conditions. Per-round ratios then
// spread ±2-3 % instead of ±15 %. Each server gets only a part of the core, and the context switches
// between them cost both, so the absolute figures are lower than in the closed-loop table; the
// ratios are what this pass is for. It holds while every server stays saturated: with more
// servers than the load generators' core can feed, their batches shrink and their cost per reply
// rises (the table's "lost" column then shows timeouts); one generator per server, whatever
// --loadgens says.
const median = (xs) => {
  const s = [...xs].filter(Number.isFinite).sort((a, b) => a - b);
  const n = s.length;
  return n === 0 ? NaN : n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
};

/**
 * `rounds` rounds of `duration` s per pair: chronyd and one other server loaded at once (each other
 * server in turn; all of them at once when chronyd is not among them). Why pairs: each server's
 * share of the core comes in time slices, and a process with a larger working set (node: JIT code,
 * heaps) refills more cache after each switch than chronyd does; with four servers sharing, the
 * slices are shorter and that cost grows (fast path 1.16 with four, 1.24 with two, same code).
 * servers: [{ name, port, child }]; loadgen: bench/runner/loadgen.mjs's runner. Resolves { rounds,
 * duration, perServer: { name: { repliesPerS, cpuS, repliesPerCpuS, ratio, ratioMin, ratioMax, lost } } }
 * (medians over the rounds; ratio = to chronyd's replies per CPU-second in the same round).
 */
export async function sharedCorePass(servers, { rounds, duration, loadgen, log = console.error }) {
  const chronyd = servers.find((s) => s.name === 'chronyd');
  const groups = chronyd ? servers.filter((s) => s !== chronyd).map((s) => [chronyd, s]) : [servers];
  const runs = Object.fromEntries(servers.map((s) => [s.name, []]));
  const ratios = Object.fromEntries(servers.map((s) => [s.name, []]));
  const perCpu = (r) => (r.server_cpu_s > 0 ? r.replies / r.server_cpu_s : NaN);
  for (const group of groups) {
    for (let i = 0; i < rounds; i++) {
      const rs = await Promise.all(group.map((s) => loadgen(s.port, { duration, serverPid: s.child.pid, label: `${s.name}-shared` })));
      group.forEach((s, k) => runs[s.name].push(rs[k]));
      if (chronyd) group.forEach((s, k) => ratios[s.name].push(perCpu(rs[k]) / perCpu(rs[0])));
      log(`bench: shared core, ${group.map((s) => s.name).join(' + ')}, round ${i + 1}/${rounds}: ${group.map((s, k) => `${s.name} ${Math.round(perCpu(rs[k]))} replies/CPU-s`).join(', ')}`);
    }
  }
  const perServer = {};
  for (const s of servers) {
    const rs = runs[s.name];
    const q = ratios[s.name].filter(Number.isFinite);
    perServer[s.name] = {
      repliesPerS: median(rs.map((r) => r.replies_per_s)),
      cpuS: median(rs.map((r) => r.server_cpu_s)),
      repliesPerCpuS: median(rs.map(perCpu)),
      ratio: median(q),
      ratioMin: q.length ? Math.min(...q) : NaN,
      ratioMax: q.length ? Math.max(...q) : NaN,
      lost: rs.reduce((a, r) => a + r.lost, 0),
    };
  }
  return { rounds, duration, pairs: Boolean(chronyd), perServer, raw: runs };
}

/** The pass as a markdown table (labels: display names by server name). */
export function sharedCoreTable(pass, labels) {
  const int = (x) => (Number.isFinite(x) ? Math.round(x).toLocaleString('en-US') : '–');
  const f2 = (x) => (Number.isFinite(x) ? x.toFixed(2) : '–');
  const L = [];
  L.push(pass.pairs
    ? 'Shared core: chronyd and one other server on CPU 0 at the same time (each other server in turn), each with its own closed-loop'
    : 'Shared core: every server on CPU 0 at the same time, each with its own closed-loop');
  L.push(`load generator (CPU 1); median of ${pass.rounds} × ${pass.duration} s rounds${pass.pairs ? ' per pair' : ''}. Replies per CPU-second = replies / the CPU time`);
  L.push('that server used in that round; the ratio is taken round by round (same host, same moment), then its median and range.');
  L.push('');
  L.push('| server | replies/s (its share of the core) | CPU s used | replies per CPU-s | ratio to chronyd (min–max) | lost |');
  L.push('|---|---:|---:|---:|---:|---:|');
  for (const [name, r] of Object.entries(pass.perServer)) {
    const ratio = Number.isFinite(r.ratio) ? `**${f2(r.ratio)}** (${f2(r.ratioMin)}–${f2(r.ratioMax)})` : '–';
    L.push(`| ${labels[name] ?? name} | ${int(r.repliesPerS)} | ${f2(r.cpuS)} | ${int(r.repliesPerCpuS)} | ${ratio} | ${r.lost} |`);
  }
  return L.join('\n');
}
