// Gnomon bench: the servers under test — chronyd (-x, never touches the host clock), the trivial
// Node dgram responder and Gnomon — started pinned to one CPU on 127.0.0.1, and stopped.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { freeUdpPort, waitReady } from './probe.mjs';
import { stop, track, trackTemp } from './processes.mjs';
import { ROOT } from './paths.mjs';

export const CHRONYD = '/opt/chrony/usr/sbin/chronyd';
export const GNOMON_MAIN = path.join(ROOT, 'dist', 'src', 'cli', 'main.js');
const GNOMON_CONF = path.join(ROOT, 'bench', 'gnomon-bench.conf');
const TRIVIAL = path.join(ROOT, 'bench', 'trivial-responder.mjs');
/** taskset's CPU list for the servers (GNOMON_BENCH_SERVER_CPUS; default CPU 0). */
export const SERVER_CPU = process.env.GNOMON_BENCH_SERVER_CPUS || '0';
/** Environment that makes Gnomon stamp receipts in JS although kernel stamps work (src/daemon/serve.ts). */
const USER_STAMPS = { GNOMON_SERVER_PATH: 'dgram', GNOMON_RX_TIMESTAMPS: 'user' };
/** Environment that selects Gnomon's batched recvmmsg path (src/server/fast, issue 9; auto picks it where it runs; GNOMON_SERVER_WORKERS passes through). */
const FAST_PATH = { GNOMON_SERVER_PATH: 'fast' };
/** The node:dgram path (src/server/udp.ts): what `gnomon` and `demo` measure, as before auto picked the fast path. */
const DGRAM_PATH = { GNOMON_SERVER_PATH: 'dgram' };

let serverPathFlag;
/**
 * `gnomon serve` arguments choosing the server path: `--server-path fast|dgram` where the daemon has
 * it (its default may become auto), else `--fast-path` for the worker and nothing for node:dgram.
 */
function serverPathArgs(which) {
  serverPathFlag ??= spawnSync(process.execPath, [GNOMON_MAIN, 'serve', '--help'], { encoding: 'utf8' }).stdout.includes('--server-path');
  if (serverPathFlag) return ['--server-path', which];
  return which === 'fast' ? ['--fast-path'] : [];
}
export const ALL_SERVERS = ['chronyd', 'trivial', 'gnomon', 'gnomon-fast'];
export const LABELS = {
  chronyd: 'chronyd 4.3 (-x, no ratelimit)',
  trivial: 'trivial Node dgram responder',
  gnomon: 'Gnomon, node:dgram path',
  'gnomon-fast': 'Gnomon, fast path (recvmmsg)',
  'demo-fast': 'Gnomon demo, fast path (recvmmsg)',
  // bench/quality.mjs only:
  'trivial-hr': 'trivial Node responder, hrtime clock',
  demo: 'Gnomon demo (simulated GPS+PPS)',
  'demo-user': 'Gnomon demo, user-space receive stamps',
  'gnomon-user': 'Gnomon, user-space receive stamps (GNOMON_RX_TIMESTAMPS=user)',
};

const WORKERS_NAME = /^gnomon-fast-w(\d+)$/;

/**
 * The server name for Gnomon's fast path with `n` worker threads per listen address
 * (`--server-workers n`, 0 = the main thread), its label registered: bench/run.mjs --workers.
 */
export function fastPathWithWorkers(n) {
  const name = `gnomon-fast-w${n}`;
  LABELS[name] = n === 0 ? 'Gnomon, fast path, main thread (--server-workers 0)' : `Gnomon, fast path, ${n} worker thread${n > 1 ? 's' : ''} (--server-workers ${n})`;
  return name;
}

/**
 * The node flags the product starts the daemon with (its memory budget): the first line of
 * dist/src/cli/main.js, `#!/usr/bin/env -S node FLAGS` (gnomon.service and `npm start` carry the
 * same, test/unit/image/units.test.ts). Gnomon is measured as it runs, not as bare `node main.js`.
 */
export function productNodeFlags() {
  if (!fs.existsSync(GNOMON_MAIN)) return [];
  const first = fs.readFileSync(GNOMON_MAIN, 'utf8').split('\n', 1)[0];
  return /^#!\/usr\/bin\/env -S node (.*)$/.exec(first)?.[1].split(/\s+/).filter(Boolean) ?? [];
}

function freeTcpPort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/**
 * `gnomon serve` with the bench config, its own control socket (child.control) and its web page on a
 * free loopback port (on, as the product runs it), from a temp dir removed when it stops.
 */
async function startGnomon(name, port, nodeArgs, cpu, env, serverPath = 'dgram') {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gnomon-bench-serve-'));
  fs.chmodSync(dir, 0o700);
  const release = trackTemp(dir);
  const control = path.join(dir, 'control.sock');
  try {
    const args = ['serve', '--config', GNOMON_CONF, '--listen', `127.0.0.1:${port}`, '--control', control, '--web', `127.0.0.1:${await freeTcpPort()}`, ...serverPathArgs(serverPath)];
    const child = await startNodeServer(name, GNOMON_MAIN, args, [...productNodeFlags(), ...(nodeArgs ?? [])], cpu, env);
    child.control = control;
    const perfMap = child.cleanup;
    child.cleanup = () => { perfMap?.(); release(); };
    return child;
  } catch (err) {
    release();
    throw err;
  }
}

function lineReader(stream, onLine) {
  let buf = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk) => {
    buf += chunk;
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      onLine(buf.slice(0, i));
      buf = buf.slice(i + 1);
    }
    if (buf.length > 1 << 20) buf = '';
  });
}

/** Keep the last lines of a child's output for error reports; call onJson for JSON lines. */
function captureOutput(child, onJson) {
  child.tail = [];
  child.byMsg = new Map(); // last JSON log line for each msg
  const keep = (line) => {
    child.tail.push(line);
    if (child.tail.length > 40) child.tail.shift();
  };
  lineReader(child.stdout, (line) => {
    keep(line);
    if (onJson && line.startsWith('{')) {
      let obj;
      try {
        obj = JSON.parse(line);
      } catch {
        return; // not JSON after all
      }
      if (typeof obj.msg === 'string') child.byMsg.set(obj.msg, obj);
      onJson(obj);
    }
  });
  lineReader(child.stderr, keep);
}

function waitForMsg(child, name, wanted, timeoutMs) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name}: no "${wanted}" log line within ${timeoutMs} ms\n${child.tail.join('\n')}`)), timeoutMs);
    child.onJson = (obj) => {
      if (obj.msg === wanted) {
        clearTimeout(timer);
        resolve(obj);
      }
    };
    child.exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`${name} exited (${code ?? signal}) before "${wanted}"\n${child.tail.join('\n')}`));
    });
  });
}

async function startChronyd(port, cpu = SERVER_CPU) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gnomon-bench-chronyd-'));
  fs.chmodSync(dir, 0o700);
  const release = trackTemp(dir);
  const conf = path.join(dir, 'chronyd.conf');
  fs.writeFileSync(
    conf,
    [
      `port ${port}`,
      'bindaddress 127.0.0.1',
      'local stratum 1',
      'allow 127.0.0.0/8',
      'cmdport 0',
      `bindcmdaddress ${dir}/chronyd.sock`,
      `pidfile ${dir}/chronyd.pid`,
      `driftfile ${dir}/drift`,
      '',
    ].join('\n'),
  );
  const child = track(
    spawn('taskset', ['-c', cpu, CHRONYD, '-x', '-u', 'root', '-d', '-f', conf], { stdio: ['ignore', 'pipe', 'pipe'] }),
    'chronyd',
  );
  captureOutput(child);
  child.cleanup = release;
  return child;
}

async function startNodeServer(name, script, args, nodeArgs = [], cpu = SERVER_CPU, env = {}) {
  const child = track(
    spawn('taskset', ['-c', cpu, process.execPath, ...nodeArgs, script, ...args], {
      cwd: ROOT,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    }),
    name,
  );
  // node --perf-basic-prof writes /tmp/perf-PID.map: removed when the server is stopped, or at exit.
  if (nodeArgs.includes('--perf-basic-prof')) child.cleanup = trackTemp(`/tmp/perf-${child.pid}.map`);
  captureOutput(child, (obj) => child.onJson?.(obj));
  await waitForMsg(child, name, 'listening', 20000);
  return child;
}

/**
 * `gnomon demo` (the GPS simulator and the server in one process) with its simulator devices and
 * control socket in a temp dir of ours, removed even if the demo is killed. child.control = the socket.
 */
async function startDemo(port, nodeArgs, demoArgs = [], cpu = SERVER_CPU, env = {}) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gnomon-bench-demo-'));
  fs.chmodSync(dir, 0o700);
  const release = trackTemp(dir);
  fs.mkdirSync(path.join(dir, 'sim'));
  const control = path.join(dir, 'control.sock');
  try {
    const child = await startNodeServer('demo', GNOMON_MAIN,
      ['demo', ...demoArgs, '--dir', path.join(dir, 'sim'), '--listen', `127.0.0.1:${port}`, '--control', control], [...productNodeFlags(), ...(nodeArgs ?? [])], cpu, env);
    child.control = control;
    child.cleanup = release;
    return child;
  } catch (err) {
    release();
    throw err;
  }
}

function launch(name, port, nodeArgs, demoArgs, cpu) {
  switch (name) {
    case 'chronyd':
      return startChronyd(port, cpu);
    case 'trivial':
      return startNodeServer('trivial', TRIVIAL, ['--listen', `127.0.0.1:${port}`], nodeArgs, cpu);
    case 'trivial-hr':
      return startNodeServer('trivial-hr', TRIVIAL, ['--listen', `127.0.0.1:${port}`, '--clock', 'hrtime'], nodeArgs, cpu);
    case 'gnomon':
      return startGnomon('gnomon', port, nodeArgs, cpu, {}, 'dgram');
    case 'demo':
      return startDemo(port, nodeArgs, demoArgs, cpu, DGRAM_PATH);
    // The same with the receive timestamp read in JS (src/server/udp.ts), as before kernel stamps.
    case 'demo-user':
      return startDemo(port, nodeArgs, demoArgs, cpu, USER_STAMPS);
    case 'gnomon-fast':
      return startGnomon('gnomon-fast', port, nodeArgs, cpu, {}, 'fast');
    case 'demo-fast':
      return startDemo(port, nodeArgs, demoArgs, cpu, FAST_PATH);
    case 'gnomon-user':
      return startGnomon('gnomon-user', port, nodeArgs, cpu, USER_STAMPS);
    default: {
      const w = WORKERS_NAME.exec(name);
      if (w) return startGnomon(name, port, nodeArgs, cpu, { GNOMON_SERVER_WORKERS: w[1] }, 'fast');
      throw new Error(`unknown server ${name}`);
    }
  }
}

/**
 * Start a server on a free loopback port and wait until it answers (Gnomon also until it is
 * synchronised, at most syncWaitS). nodeArgs go to node (Node servers only; ignored for chronyd);
 * demoArgs to `gnomon demo` (simulator options); cpu: taskset's CPU list (default SERVER_CPU).
 * Resolves { name, port, child, reply } with the decoded first reply.
 */
export async function startServer(name, { syncWaitS, nodeArgs, demoArgs, cpu = SERVER_CPU } = {}) {
  const port = await freeUdpPort();
  const child = await launch(name, port, nodeArgs, demoArgs, cpu);
  const reply = await waitReady(name, port, child, name.startsWith('gnomon') || name.startsWith('demo') ? syncWaitS : 0);
  return { name, port, child, reply };
}

/** Stop a server (SIGTERM, then SIGKILL after graceMs) and remove its temp files (chronyd's dir, perf maps). */
export async function stopServer(child, graceMs) {
  const r = await stop(child, graceMs);
  child.cleanup?.();
  return r;
}
