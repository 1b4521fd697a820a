// Gnomon bench: where a server's time goes under load — a V8 CPU profile (node --cpu-prof) and a
// whole-process `perf` profile, each taken in its own server run and summarised by bench/profile.mjs.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { summarizeCpuProfile, summarizePerfScript } from '../profile.mjs';
import { LOADGEN_CPU } from './loadgen.mjs';
import { BUILD, ROOT } from './paths.mjs';
import { forget, track } from './processes.mjs';
import { fmtInt } from './report.mjs';
import { LABELS, SERVER_CPU, startServer, stopServer } from './servers.mjs';

const monoUs = () => Number(process.hrtime.bigint() / 1000n);

async function startProfiled(name, nodeArgs, cfg) {
  const { port, child } = await startServer(name, { syncWaitS: cfg.syncWaitS, nodeArgs });
  if (cfg.warmup > 0) await cfg.loadgen(port, { duration: cfg.warmup, label: `${name}-warmup` });
  return { port, child };
}

/** V8 CPU profile of the server while the load generator runs (closed loop). */
async function cpuProfile(name, profDir, cfg) {
  const { port, child } = await startProfiled(name, ['--cpu-prof', `--cpu-prof-dir=${profDir}`, '--cpu-prof-interval=250'], cfg);
  let window;
  try {
    const fromUs = monoUs();
    const r = await cfg.loadgen(port, { duration: cfg.duration, serverPid: child.pid, label: `${name}-cpu-prof` });
    window = { fromUs, toUs: monoUs() };
    console.log(`under --cpu-prof: ${fmtInt(r.replies_per_s)} replies/s, p50 ${r.latency_us.p50} µs, p99 ${r.latency_us.p99} µs, server CPU ${r.server_cpu_us_per_reply} µs/reply (run-queue wait ${r.runq_wait_pct} %)`);
  } finally {
    const { code, signal } = await stopServer(child, 10000);
    if (code !== 0) console.error(`bench: ${name} exited ${code ?? signal} (node writes the profile only on a clean exit)`);
  }
  const prof = fs.readdirSync(profDir).filter((f) => f.endsWith('.cpuprofile'));
  if (prof.length === 0) {
    console.error(`bench: no .cpuprofile in ${path.relative(ROOT, profDir)}`);
    return;
  }
  const file = path.join(profDir, prof.sort().pop());
  console.log(`\nV8 CPU profile (${path.relative(ROOT, file)}):\n`);
  console.log(summarizeCpuProfile(JSON.parse(fs.readFileSync(file, 'utf8')), ROOT, window));
}

/** Whole-process `perf` profile (kernel, libuv, node C++, V8, JIT'd JS) in a separate server run. */
async function perfProfile(name, profDir, cfg) {
  const { port, child } = await startProfiled(name, ['--perf-basic-prof'], cfg);
  const perfData = path.join(profDir, 'perf.data');
  try {
    const perfChild = track(
      spawn('taskset', ['-c', LOADGEN_CPU, 'perf', 'record', '-q', '-e', 'cpu-clock', '-F', '1999', '-g', '-p', String(child.pid), '-o', perfData, '--', 'sleep', String(cfg.duration)], { stdio: ['ignore', 'ignore', 'inherit'] }),
      'perf',
    );
    const r = await cfg.loadgen(port, { duration: cfg.duration, serverPid: child.pid, label: `${name}-perf` });
    console.log(`\nunder perf: ${fmtInt(r.replies_per_s)} replies/s, p50 ${r.latency_us.p50} µs, p99 ${r.latency_us.p99} µs, server CPU ${r.server_cpu_us_per_reply} µs/reply (run-queue wait ${r.runq_wait_pct} %)`);
    const guard = setTimeout(() => perfChild.kill('SIGKILL'), 30000);
    await perfChild.exited;
    clearTimeout(guard);
    forget(perfChild);
    const script = spawnSync('perf', ['script', '-i', perfData, '-F', 'comm,tid,ip,sym,dso'], { encoding: 'utf8', maxBuffer: 512 << 20 });
    if (script.status !== 0) throw new Error(`perf script failed: ${script.stderr}`);
    console.log(`\nperf, whole server process (cpu-clock at 1999 Hz, ${path.relative(ROOT, perfData)}):\n`);
    console.log(summarizePerfScript(script.stdout, child.pid));
  } finally {
    await stopServer(child, 10000); // also removes node's /tmp/perf-PID.map
  }
}

/**
 * Profile one server under closed-loop load: Gnomon by default; --only trivial or --only chronyd
 * (perf only: chronyd has no V8 profile) for comparison.
 * cfg: { perf, duration, warmup, syncWaitS, window, sockets, loadgen }.
 */
export async function profile(names, cfg) {
  const name = names.length === 1 ? names[0] : names.includes('gnomon') ? 'gnomon' : null;
  if (!name) throw new Error('--profile: name one server with --only (Gnomon is not built)');
  if (name === 'chronyd' && !cfg.perf) throw new Error('--profile --only chronyd needs --perf');
  const profDir = path.join(BUILD, 'prof', name);
  fs.rmSync(profDir, { recursive: true, force: true });
  fs.mkdirSync(profDir, { recursive: true });
  console.log(`profiling ${LABELS[name]}: ${cfg.duration} s closed loop (${cfg.window} in flight, ${cfg.sockets} ports), server on CPU ${SERVER_CPU}`);
  if (name !== 'chronyd') await cpuProfile(name, profDir, cfg);
  if (cfg.perf) await perfProfile(name, profDir, cfg);
}
