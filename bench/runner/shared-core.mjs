// Gnomon bench: the shared-core pass. Every server under test on the same core at the same time
// (they already run pinned to SERVER_CPU), each with its own closed-loop load generator (all on
// LOADGEN_CPU), for a few rounds; per server, replies per CPU-second it used.
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
 * `rounds` rounds of `duration` s, every server loaded at once. servers: [{ name, port, child }];
 * loadgen: bench/runner/loadgen.mjs's runner. Resolves { rounds, duration, perServer: { name: {
 * repliesPerS, cpuS, repliesPerCpuS, ratio, ratioMin, ratioMax, lost } } } (medians over the rounds;
 * ratio = to chronyd's replies per CPU-second in the same round, when chronyd is among the servers).
 */
export async function sharedCorePass(servers, { rounds, duration, loadgen, log = console.error }) {
  const runs = [];
  for (let i = 0; i < rounds; i++) {
    const rs = await Promise.all(servers.map((s) => loadgen(s.port, { duration, serverPid: s.child.pid, label: `${s.name}-shared` })));
    const round = Object.fromEntries(servers.map((s, k) => [s.name, rs[k]]));
    runs.push(round);
    log(`bench: shared core, round ${i + 1}/${rounds}: ${servers.map((s) => `${s.name} ${Math.round(round[s.name].replies / round[s.name].server_cpu_s)} replies/CPU-s`).join(', ')}`);
  }
  const perCpu = (r) => (r.server_cpu_s > 0 ? r.replies / r.server_cpu_s : NaN);
  const perServer = {};
  for (const s of servers) {
    const ratios = runs.map((round) => (round.chronyd ? perCpu(round[s.name]) / perCpu(round.chronyd) : NaN)).filter(Number.isFinite);
    perServer[s.name] = {
      repliesPerS: median(runs.map((round) => round[s.name].replies_per_s)),
      cpuS: median(runs.map((round) => round[s.name].server_cpu_s)),
      repliesPerCpuS: median(runs.map((round) => perCpu(round[s.name]))),
      ratio: median(ratios),
      ratioMin: ratios.length ? Math.min(...ratios) : NaN,
      ratioMax: ratios.length ? Math.max(...ratios) : NaN,
      lost: runs.reduce((a, round) => a + round[s.name].lost, 0),
    };
  }
  return { rounds, duration, perServer, raw: runs };
}

/** The pass as a markdown table (labels: display names by server name). */
export function sharedCoreTable(pass, labels) {
  const int = (x) => (Number.isFinite(x) ? Math.round(x).toLocaleString('en-US') : '–');
  const f2 = (x) => (Number.isFinite(x) ? x.toFixed(2) : '–');
  const L = [];
  L.push(`Shared core: every server on CPU 0 at the same time, each with its own closed-loop load generator (CPU 1);`);
  L.push(`median of ${pass.rounds} × ${pass.duration} s rounds. Replies per CPU-second = replies / the CPU time that server used in that round;`);
  L.push('the ratio is taken round by round (same host, same moment), then its median and range.');
  L.push('');
  L.push('| server | replies/s (its share of the core) | CPU s used | replies per CPU-s | ratio to chronyd (min–max) | lost |');
  L.push('|---|---:|---:|---:|---:|---:|');
  for (const [name, r] of Object.entries(pass.perServer)) {
    const ratio = Number.isFinite(r.ratio) ? `**${f2(r.ratio)}** (${f2(r.ratioMin)}–${f2(r.ratioMax)})` : '–';
    L.push(`| ${labels[name] ?? name} | ${int(r.repliesPerS)} | ${f2(r.cpuS)} | ${int(r.repliesPerCpuS)} | ${ratio} | ${r.lost} |`);
  }
  return L.join('\n');
}
