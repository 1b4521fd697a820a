// Gnomon bench: the C load generator (bench/loadgen.c) — compiled on demand into bench/build/,
// run pinned to its own CPU against one server for a bounded time, its JSON result returned.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { forget, track } from './processes.mjs';
import { BUILD, ROOT } from './paths.mjs';

const LOADGEN_SRC = path.join(ROOT, 'bench', 'loadgen.c');
const LOADGEN = path.join(BUILD, 'loadgen');
/** taskset's CPU list for the load generators (GNOMON_BENCH_LOADGEN_CPUS; default CPU 1). */
export const LOADGEN_CPU = process.env.GNOMON_BENCH_LOADGEN_CPUS || '1';

/** gcc -O2 bench/loadgen.c unless bench/build/loadgen is newer than the source. */
export function compileLoadgen() {
  fs.mkdirSync(BUILD, { recursive: true });
  const fresh = fs.existsSync(LOADGEN) && fs.statSync(LOADGEN).mtimeMs >= fs.statSync(LOADGEN_SRC).mtimeMs;
  if (fresh) return;
  const r = spawnSync('gcc', ['-O2', '-Wall', '-Wextra', '-o', LOADGEN, LOADGEN_SRC], { stdio: 'inherit' });
  if (r.status !== 0) throw new Error('gcc failed to build bench/loadgen.c');
}

/**
 * A function running the load generator with `window` requests in flight over `sockets` source
 * ports: (port, { duration, rate = 0 (closed loop), serverPid, label, addresses }) => its JSON
 * result. addresses = N: the requests come from N distinct source addresses 127.1.0.0 + [0, N).
 * procs > 1: that many load generators at once (each with its own window, sockets and a share of
 * the rate), for a server on several cores that one generator's core cannot saturate; their
 * results merged (mergeResults).
 */
export function loadgenRunner({ window, sockets, procs = 1 }) {
  const one = oneLoadgen({ window, sockets });
  if (procs <= 1) return one;
  return async (port, opts) => mergeResults(await Promise.all(Array.from({ length: procs }, (_, k) =>
    one(port, { ...opts, rate: (opts.rate ?? 0) / procs, label: `${opts.label}-${k + 1}` }))));
}

/**
 * Several generators' results against one server over the same seconds as one: counts and rates
 * summed; the server's CPU time is the same process over the same interval in each, so the largest
 * reading (the longest run) counts once; latency, offset and hold distributions are the first
 * generator's (each generator sees the same server queue).
 */
export function mergeResults(rs) {
  const first = rs[0];
  const sum = (f) => rs.reduce((a, r) => a + (f(r) ?? 0), 0);
  const m = { ...first, label: first.label.replace(/-1$/, ''), procs: rs.length };
  for (const k of ['sent', 'replies', 'matched', 'lost', 'kod', 'wrong_origin', 'late_or_dup', 'send_err', 'recv_err', 'window_full_skips', 'replies_per_s']) {
    m[k] = sum((r) => r[k]);
  }
  m.bad = Object.fromEntries(Object.keys(first.bad ?? {}).map((k) => [k, sum((r) => r.bad[k])]));
  m.server_cpu_s = Math.max(...rs.map((r) => r.server_cpu_s ?? 0));
  m.server_cpu_pct = Math.max(...rs.map((r) => r.server_cpu_pct ?? 0));
  m.server_cpu_us_per_reply = m.replies > 0 ? +((m.server_cpu_s * 1e6) / m.replies).toFixed(3) : null;
  m.loadgen_cpu_s = sum((r) => r.loadgen_cpu_s);
  m.runq_wait_pct = Math.max(...rs.map((r) => r.runq_wait_pct));
  return m;
}

function oneLoadgen({ window, sockets }) {
  return async function loadgen(port, { duration, rate = 0, serverPid, label, addresses = 0 }) {
    const args = ['-c', LOADGEN_CPU, LOADGEN, '--port', String(port), '--duration', String(duration),
      '--window', String(window), '--sockets', String(sockets), '--label', label];
    if (rate > 0) args.push('--rate', String(rate));
    if (serverPid) args.push('--server-pid', String(serverPid));
    if (addresses > 0) args.push('--addresses', String(addresses));
    const child = track(spawn('taskset', args, { stdio: ['ignore', 'pipe', 'inherit'] }), 'loadgen');
    let out = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (c) => (out += c));
    // 'exit' may come before the last stdout chunk (the JSON line is written just before exit): wait for both.
    const drained = new Promise((resolve) => child.stdout.once('close', resolve));
    const guard = setTimeout(() => child.kill('SIGKILL'), (duration + 15) * 1000);
    const [{ code, signal }] = await Promise.all([child.exited, drained]);
    clearTimeout(guard);
    forget(child);
    if (code !== 0) throw new Error(`loadgen exited ${code ?? signal}`);
    const r = JSON.parse(out.trim().split('\n').pop());
    // Interference: % of the run the server's main thread / the load generator were runnable but
    // waiting for their CPU (other processes had it). ~0 on a quiet machine.
    r.runq_wait_pct = +((r.server_runq_wait_pct ?? 0) + (r.loadgen_runq_wait_pct ?? 0)).toFixed(2);
    return r;
  };
}
