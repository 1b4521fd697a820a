// Gnomon bench: side-by-side NTP server throughput/latency on loopback.
//
//   npm run bench                       # chronyd, trivial Node responder, Gnomon dgram and fast path:
//                                       # the summary table, then the detailed ones
//   node bench/run.mjs --only gnomon-fast,gnomon,chronyd --addresses 1000000   # load from a million client addresses
//   node bench/run.mjs --only gnomon,chronyd --runs 5 --duration 5
//   node bench/run.mjs --profile        # Gnomon under load with --cpu-prof, top self time
//   node bench/run.mjs --profile --perf # plus a whole-process `perf` profile (kernel/libuv/V8/JIT)
//   node bench/run.mjs --profile --perf --only chronyd   # the same perf view of chronyd, for comparison
//
// Every server under test runs pinned to CPU 0 and the load generator to CPU 1 (taskset).
// Traffic goes to 127.0.0.1 only. chronyd runs with -x (never touches the host clock).
// All servers run at once and the runs are interleaved (run 1 of each, run 2 of each, ...),
// so the ratios to chronyd and to the trivial responder are measured in the same invocation
// under the same noise (Gnomon/trivial is also reported run by run).
// After the throughput runs: each server's RSS, then bench/quality.mjs as a child (chronyd clients:
// offset SD and median delay, basic mode and, where quality.mjs has it, xleave); the summary table
// (bench/runner/summary.mjs) puts it all side by side with ratios to chronyd.
// Not part of `npm test`. Results: markdown tables on stdout and JSON in bench/build/.
//
// This file is the entry: options and the measurement flow. The parts live in bench/runner/:
// servers.mjs (chronyd, trivial responder, Gnomon), probe.mjs (single NTP requests: ready and
// synchronised), loadgen.mjs (bench/loadgen.c), report.mjs (medians, tables, JSON results),
// profiling.mjs (--profile), machine.mjs (code and host identification), processes.mjs (every
// child tracked and killed), paths.mjs.
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { compileLoadgen, loadgenRunner } from './runner/loadgen.mjs';
import { buildDist, machineInfo, staleDist } from './runner/machine.mjs';
import { ROOT } from './runner/paths.mjs';
import { installExitHandlers, killAll, runMain } from './runner/processes.mjs';
import { profile } from './runner/profiling.mjs';
import { fmtInt, report, summarize } from './runner/report.mjs';
import { ALL_SERVERS, CHRONYD, GNOMON_MAIN, LABELS, fastPathWithWorkers, startServer, stopServer } from './runner/servers.mjs';
import { sharedCorePass, sharedCoreTable } from './runner/shared-core.mjs';
import { numberOption, serverList } from './runner/options.mjs';
import { readRss } from './runner/rss.mjs';
import { qualityHasXleave, qualityPass, summaryTable } from './runner/summary.mjs';

const { values: opt } = parseArgs({
  options: {
    duration: { type: 'string', default: '5' },
    runs: { type: 'string', default: '3' },
    warmup: { type: 'string', default: '1' },
    rate: { type: 'string', default: '100000' },
    addresses: { type: 'string', default: '0' },
    'quality-seconds': { type: 'string', default: '60' },
    'shared-rounds': { type: 'string', default: '5' },
    loadgens: { type: 'string', default: '1' },
    workers: { type: 'string' },
    window: { type: 'string', default: '128' },
    sockets: { type: 'string', default: '16' },
    only: { type: 'string' },
    'sync-wait': { type: 'string', default: '30' },
    'max-wait': { type: 'string', default: '5' },
    retries: { type: 'string', default: '3' },
    build: { type: 'boolean', default: false },
    profile: { type: 'boolean', default: false },
    perf: { type: 'boolean', default: false },
    help: { type: 'boolean', default: false },
  },
});

if (opt.help) {
  console.log(`usage: node bench/run.mjs [--only chronyd,trivial,gnomon,gnomon-fast] [--runs 3] [--duration 5] [--warmup 1]
                         [--rate 100000 (fixed-rate pass; 0 = skip)] [--window 128] [--sockets 16] [--addresses 0]
                         [--quality-seconds 60 (chronyd clients via bench/quality.mjs; 0 = skip)]
                         [--shared-rounds 5 (chronyd and each server on one core at once; 0 = skip)]
                         [--workers 0,1,2 (Gnomon's fast path once per worker count)] [--loadgens 1]
                         [--sync-wait 30] [--max-wait 5] [--retries 3] [--build] [--profile [--perf]]
  --addresses N: the load comes from N distinct client addresses (127.1.0.0 + k mod N) instead of one.
  The quality pass runs bench/quality.mjs for the same servers (basic mode, and interleaved when
  quality.mjs has --xleave) after the throughput runs, and its figures join the summary table.
  The shared-core pass (bench/runner/shared-core.mjs) loads chronyd and each other server in turn at
  the same time on the same core, one load generator each, and compares replies per CPU-second round
  by round: the ratio to chronyd without the run-to-run noise of a shared VM (±2-3 % instead of ±15 %).
  Workers per core (issue 9; SO_REUSEPORT worker threads, docs/server.md) need more than one free
  core: give the servers and the load generators their cores with GNOMON_BENCH_SERVER_CPUS and
  GNOMON_BENCH_LOADGEN_CPUS (taskset lists; default 0 and 1) and run enough generators, e.g. on a
  4-core Pi or PC:
    GNOMON_BENCH_SERVER_CPUS=0,1 GNOMON_BENCH_LOADGEN_CPUS=2,3 node bench/run.mjs --only chronyd \
      --workers 0,1,2 --loadgens 2 --shared-rounds 0 --quality-seconds 0
  --loadgens K runs K load generators at once per measurement (results summed; latency from the first).
  --build runs \`npx tsc -p tsconfig.build.json\` first (otherwise a stale dist/ is only warned about).
  A run during which the server or the load generator waited for its CPU (run-queue wait, i.e.
  other processes had it) more than --max-wait % of the time is repeated (at most --retries
  times; the quietest attempt is kept and flagged if still noisy). Node servers show 1-3 % even on a
  quiet machine: their own GC/helper threads share the pinned CPU with the main thread.`);
  process.exit(0);
}

const num = (name, min, max) => numberOption(opt, name, min, max);
const DURATION = num('duration', 0.5, 60);
const RUNS = Math.round(num('runs', 1, 20));
const WARMUP = num('warmup', 0, 10);
const RATE = num('rate', 0, 1000000);
const ADDRESSES = Math.round(num('addresses', 0, 4194304));
const QUALITY_S = num('quality-seconds', 0, 600);
const SHARED_ROUNDS = Math.round(num('shared-rounds', 0, 50));
const LOADGENS = Math.round(num('loadgens', 1, 16));
const WORKERS = opt.workers === undefined ? [] : opt.workers.split(',').map((w) => {
  if (!/^\d+$/.test(w.trim()) || Number(w) > 64) throw new Error(`--workers ${opt.workers}: expected a comma-separated list of worker counts 0-64`);
  return Number(w);
});
const WINDOW = Math.round(num('window', 1, 4096));
const SOCKETS = Math.round(num('sockets', 1, 256));
const SYNC_WAIT = num('sync-wait', 0, 300);
const MAX_WAIT = num('max-wait', 0, 100);
const RETRIES = Math.round(num('retries', 0, 10));

installExitHandlers();
const loadgen = loadgenRunner({ window: WINDOW, sockets: SOCKETS, procs: LOADGENS });

function selectServers() {
  const wanted = [...serverList(opt.only, ALL_SERVERS), ...WORKERS.map(fastPathWithWorkers)];
  return wanted.filter((name) => {
    if (name.startsWith('gnomon') && !fs.existsSync(GNOMON_MAIN)) {
      console.error(`bench: ${path.relative(ROOT, GNOMON_MAIN)} not found (run \`npx tsc -p tsconfig.build.json\`); skipping Gnomon`);
      return false;
    }
    if (name === 'chronyd' && !fs.existsSync(CHRONYD)) {
      console.error(`bench: ${CHRONYD} not found (see ../shared/PEERS.md); skipping chronyd`);
      return false;
    }
    return true;
  });
}

/** One measurement; repeated (bounded) while other processes load the machine. */
async function measure(s, opts) {
  let best = null;
  for (let attempt = 1; attempt <= RETRIES + 1; attempt++) {
    const r = await loadgen(s.port, { ...opts, serverPid: s.child.pid, label: s.name, addresses: ADDRESSES });
    r.attempt = attempt;
    if (!best || r.runq_wait_pct < best.runq_wait_pct) best = r;
    if (r.runq_wait_pct <= MAX_WAIT) break;
    if (attempt <= RETRIES) {
      console.error(`bench: ${s.name}: run-queue wait ${r.runq_wait_pct} % (other processes had the CPU); repeating`);
      await sleep(3000);
    }
  }
  best.noisy = best.runq_wait_pct > MAX_WAIT;
  return best;
}

async function benchmark(names) {
  const machine = machineInfo(); // before the runs: which code is measured
  const servers = [];
  const started = [];
  try {
    for (const name of names) {
      const s = await startServer(name, { syncWaitS: SYNC_WAIT });
      servers.push(s);
      started.push(s);
      console.error(`bench: ${name} pid ${s.child.pid} on 127.0.0.1:${s.port}; first reply ${JSON.stringify(s.reply)}`);
    }
    if (WARMUP > 0) {
      for (const s of servers) await loadgen(s.port, { duration: WARMUP, label: `${s.name}-warmup` });
    }
    const closed = Object.fromEntries(servers.map((s) => [s.name, []]));
    const rated = Object.fromEntries(servers.map((s) => [s.name, []]));
    for (let i = 0; i < RUNS; i++) {
      for (const s of servers) {
        const r = await measure(s, { duration: DURATION });
        closed[s.name].push(r);
        console.error(`bench: run ${i + 1}/${RUNS} ${s.name.padEnd(8)} closed loop ${fmtInt(r.replies_per_s)}/s p50 ${r.latency_us.p50} µs p99 ${r.latency_us.p99} µs lost ${r.lost} (run-queue wait ${r.runq_wait_pct} %)`);
      }
    }
    if (RATE > 0) {
      for (let i = 0; i < RUNS; i++) {
        for (const s of servers) {
          const r = await measure(s, { duration: DURATION, rate: RATE });
          rated[s.name].push(r);
          console.error(`bench: run ${i + 1}/${RUNS} ${s.name.padEnd(8)} at ${RATE}/s: p50 ${r.latency_us.p50} µs p99 ${r.latency_us.p99} µs CPU ${r.server_cpu_us_per_reply} µs/reply (run-queue wait ${r.runq_wait_pct} %)`);
        }
      }
    }
    const shared = SHARED_ROUNDS > 0 && servers.length > 1 ? await sharedCorePass(servers, { rounds: SHARED_ROUNDS, duration: DURATION, loadgen: loadgenRunner({ window: WINDOW, sockets: SOCKETS }) }) : null;
    const memory = Object.fromEntries(servers.map((s) => [s.name, readRss(s.child.pid)]));
    for (const s of servers.splice(0)) await stopped(s);
    // After the throughput runs, with their servers stopped: bench/quality.mjs starts its own.
    const basic = QUALITY_S > 0 ? await qualityPass(names, QUALITY_S) : null;
    const xleave = QUALITY_S > 0 && qualityHasXleave() ? await qualityPass(names, QUALITY_S, { xleave: true }) : null;
    const rows = names.map((n) => summarize(n, closed[n], rated[n]));
    report({
      command: `node bench/run.mjs ${process.argv.slice(2).join(' ')}`.trim(),
      machine,
      options: { DURATION, RUNS, WARMUP, RATE, WINDOW, SOCKETS, ADDRESSES, SHARED_ROUNDS, LOADGENS, WORKERS },
      servers: started,
      rows,
      summary: summaryTable({ rows, memory, basic, xleave, rate: RATE, shared }) + (shared ? `\n\n${sharedCoreTable(shared, LABELS)}` : ''),
      extra: { memory, quality: { basic, xleave }, shared },
      raw: { closed, rated },
    });
  } finally {
    for (const s of servers) await stopped(s);
  }
}

async function stopped(s) {
  await stopServer(s.child);
  const stopping = s.child.byMsg?.get('stopping');
  if (stopping) console.log(`${s.name} at exit: ${JSON.stringify({ counters: stopping.counters, sendErrors: stopping.sendErrors })}`);
}

async function main() {
  compileLoadgen();
  if (opt.build) buildDist();
  const stale = staleDist();
  if (stale.length) console.error(`bench: warning: dist/ is older than ${stale.join(', ')} (use --build or run npx tsc -p tsconfig.build.json)`);
  const names = selectServers();
  if (names.length === 0) throw new Error('no server to benchmark');
  // Hard bound on the whole invocation, whatever happens.
  const budgetS = 120 + names.length * (WARMUP + 2 * RUNS * (RETRIES + 1) * (DURATION + 5) + SYNC_WAIT + 30) + names.length * SHARED_ROUNDS * (DURATION + 20) + (QUALITY_S > 0 ? 2 * (QUALITY_S + 300) : 0);
  setTimeout(() => {
    console.error(`bench: exceeded ${budgetS} s, killing everything`);
    killAll('SIGKILL');
    process.exit(1);
  }, budgetS * 1000).unref();
  if (opt.profile) {
    await profile(names, { perf: opt.perf, duration: DURATION, warmup: WARMUP, syncWaitS: SYNC_WAIT, window: WINDOW, sockets: SOCKETS, loadgen });
  } else {
    await benchmark(names);
  }
}

runMain('bench', main);
