// Gnomon bench: a chronyd client measuring one server on loopback (bench/quality.mjs) — chronyd -x
// (never touches the host clock) with `noselect` (its offsets stay against the system clock, no
// virtual-clock correction), polling every 2^poll s, `log measurements`, in its own mode-700 temp
// dir with its command socket there; plus `chronyc ntpdata` (the server's T3−T2 of the last
// sample) and the measurements log parser (the same columns as test/system/harness/chrony.ts).
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { forget, stop, track, trackTemp } from './processes.mjs';
import { CHRONYD } from './servers.mjs';

export const CHRONYC = '/opt/chrony/usr/bin/chronyc';
export const CLIENT_CPU = '1';

/**
 * Start a chronyd client of 127.0.0.1:port pinned to `cpu` (a taskset CPU list, default CLIENT_CPU); `xleave`: ask for
 * NTP interleaved mode (chronyd's `xleave`: the server's precise transmit time arrives in the next reply). Resolves { name, dir, child, stop() }
 * once chronyc answers on its socket (the first request goes out at start).
 */
export async function startChronydClient(name, port, { poll = -4, cpu = CLIENT_CPU, xleave = false } = {}) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `gnomon-bench-client-${name}-`));
  fs.chmodSync(dir, 0o700);
  const release = trackTemp(dir);
  const conf = path.join(dir, 'chronyd.conf');
  fs.writeFileSync(
    conf,
    [
      `server 127.0.0.1 port ${port} minpoll ${poll} maxpoll ${poll} noselect${xleave ? ' xleave' : ''}`,
      'port 0', // client only: no NTP server socket
      'cmdport 0',
      `bindcmdaddress ${dir}/chronyd.sock`,
      `pidfile ${dir}/chronyd.pid`,
      `driftfile ${dir}/drift`,
      `logdir ${dir}`,
      'log measurements',
      '',
    ].join('\n'),
  );
  const child = track(
    spawn('taskset', ['-c', cpu, CHRONYD, '-x', '-u', 'root', '-d', '-f', conf], { stdio: ['ignore', 'ignore', 'pipe'] }),
    `chronyd client of ${name}`,
  );
  let log = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (c) => (log = (log + c).slice(-4000)));
  const client = {
    name,
    dir,
    cpu,
    child,
    log: () => log,
    async stop() {
      await stop(child, 3000);
      release();
    },
  };
  const deadline = Date.now() + 5000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) break;
    if ((await chronyc(client, ['tracking'])).code === 0) return client;
    await sleep(100);
  }
  await client.stop();
  throw new Error(`chronyd client of ${name} did not answer chronyc within 5 s\n${log}`);
}

/** `chronyc -n -h DIR/chronyd.sock ARGS` (bounded: 3 s). Resolves { code, stdout }. */
export async function chronyc(client, args) {
  const child = track(
    spawn('taskset', ['-c', client.cpu ?? CLIENT_CPU, CHRONYC, '-n', '-h', path.join(client.dir, 'chronyd.sock'), ...args], { stdio: ['ignore', 'pipe', 'ignore'] }),
    'chronyc',
  );
  let stdout = '';
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (c) => (stdout += c));
  const guard = setTimeout(() => child.kill('SIGKILL'), 3000);
  const { code } = await child.exited;
  clearTimeout(guard);
  forget(child);
  return { code, stdout };
}

/** `chronyc ntpdata` as "Field name" → value (text after the colon). */
export function parseNtpData(text) {
  const fields = new Map();
  for (const line of text.split('\n')) {
    const m = /^([A-Za-z][A-Za-z /]*?)\s*:\s(.*)$/.exec(line);
    if (m && !fields.has(m[1])) fields.set(m[1], m[2].trim());
  }
  return fields;
}

/**
 * The last sample's server response time (the server's T3−T2, s) and counters from ntpdata, or null.
 * "Response time : 0.000012345 seconds".
 */
export async function ntpData(client) {
  const r = await chronyc(client, ['ntpdata']);
  if (r.code !== 0) return null;
  const f = parseNtpData(r.stdout);
  const num = (k) => Number.parseFloat(f.get(k) ?? 'NaN');
  return {
    responseTimeS: num('Response time'),
    peerDelayS: num('Peer delay'),
    offsetS: num('Offset'),
    totalTx: num('Total TX'),
    totalRx: num('Total RX'),
    totalValidRx: num('Total valid RX'),
    txTimestamping: f.get('TX timestamping') ?? '?',
    rxTimestamping: f.get('RX timestamping') ?? '?',
  };
}

/**
 * chronyd's measurements log (chrony.conf(5) "log"): one sample a line. offset: + = the server is
 * ahead of this machine's clock (s); peerDelay: round trip minus the server's T3−T2 (s).
 */
export function parseMeasurementsLog(text) {
  const out = [];
  for (const line of text.split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f.length < 18 || !/^\d{4}-\d\d-\d\d$/.test(f[0])) continue;
    out.push({
      time: `${f[0]} ${f[1]}`,
      leap: f[3],
      stratum: Number(f[4]),
      tests: `${f[5]} ${f[6]} ${f[7]}`,
      offset: Number(f[11]),
      peerDelay: Number(f[12]),
      refid: f[16],
      modeTxRx: f.slice(17).join(' '),
    });
  }
  return out;
}

export function readMeasurements(client) {
  const file = path.join(client.dir, 'measurements.log');
  return fs.existsSync(file) ? parseMeasurementsLog(fs.readFileSync(file, 'utf8')) : [];
}
