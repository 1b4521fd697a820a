// Gnomon bench: the C load generator (bench/loadgen.c) — compiled on demand into bench/build/,
// run pinned to its own CPU against one server for a bounded time, its JSON result returned.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { forget, track } from './processes.mjs';
import { BUILD, ROOT } from './paths.mjs';

const LOADGEN_SRC = path.join(ROOT, 'bench', 'loadgen.c');
const LOADGEN = path.join(BUILD, 'loadgen');
export const LOADGEN_CPU = '1';

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
 */
export function loadgenRunner({ window, sockets }) {
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
