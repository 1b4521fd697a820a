// Gnomon bench: timestamp quality seen by a chronyd client on loopback — Gnomon next to chronyd
// and the trivial Node responder, measured in the same run.
//
//   npm run build && node bench/quality.mjs                # 60 s, all servers
//   node bench/quality.mjs --seconds 120 --capture         # + tcpdump: where the stamps sit vs the kernel
//   node bench/quality.mjs --json                          # the result as JSON on stdout
//   node bench/quality.mjs --xleave --only chronyd,gnomon-fast   # clients in interleaved mode (chronyd `xleave`)
//
// Servers, all at once on 127.0.0.1, each on its own port, pinned to CPU 0 (taskset):
//   chronyd   chronyd 4.3 -x, `local stratum 1` (bench/runner/servers.mjs, as bench/run.mjs)
//   gnomon    `gnomon demo`: the simulated GPS receiver + PPS and the server in one process; the
//             measurement starts once it tracks PPS(0) and has settled (--settle). Receive
//             timestamps from the kernel (SIOCGSTAMPNS) where available, as the daemon chooses.
//   gnomon-fast  the same with GNOMON_SERVER_PATH=fast: the batched recvmmsg path (src/server/fast)
//   gnomon-user  the same with GNOMON_RX_TIMESTAMPS=user: receive timestamps read in JS (as before)
//   trivial-hr  bench/trivial-responder.mjs --clock hrtime (Node dgram, hrtime anchored to Date.now())
//   trivial     bench/trivial-responder.mjs (Date.now(): millisecond steps)
// Clients: one chronyd -x per server, `noselect` (offsets against the host clock, no virtual-clock
// correction), minpoll = maxpoll = --poll (default -4: 16 requests/s), `log measurements`, pinned to
// CPU 1; all at once, or one at a time with --serial. Every 2 s the bench reads each client's
// `chronyc ntpdata` (the server's T3−T2), every 10 s Gnomon's status (its discipline correction:
// served time − host clock).
//
// Every child is tracked and killed, and every temp dir removed, whatever happens (Ctrl-C too:
// bench/runner/processes.mjs). Not part of `npm test`. Raw result: bench/build/quality-*.json.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { exchangesByPort, readPcap, startCapture } from './runner/capture.mjs';
import { CLIENT_CPU, ntpData, readMeasurements, startChronydClient } from './runner/chrony-client.mjs';
import { machineInfo, staleDist } from './runner/machine.mjs';
import { BUILD, ROOT } from './runner/paths.mjs';
import { installExitHandlers, killAll, trackTemp, runMain } from './runner/processes.mjs';
import { qualityTable, summarizeDiscipline, summarizeServer } from './runner/quality-report.mjs';
import { CHRONYD, GNOMON_MAIN, SERVER_CPU, startServer, stopServer } from './runner/servers.mjs';
import { numberOption, serverList } from './runner/options.mjs';
import { gnomonStatus } from './runner/probe.mjs';

const KNOWN = ['chronyd', 'gnomon', 'gnomon-fast', 'gnomon-user', 'trivial-hr', 'trivial'];
const KIND = { chronyd: 'chronyd', gnomon: 'demo', 'gnomon-fast': 'demo-fast', 'gnomon-user': 'demo-user', 'trivial-hr': 'trivial-hr', trivial: 'trivial' };
const GNOMONS = ['gnomon', 'gnomon-fast', 'gnomon-user'];

const { values: opt } = parseArgs({
  options: {
    seconds: { type: 'string', default: '60' },
    poll: { type: 'string', default: '-4' },
    only: { type: 'string' },
    settle: { type: 'string', default: '10' },
    'sync-wait': { type: 'string', default: '60' },
    demo: { type: 'string', default: '' },
    capture: { type: 'boolean', default: false },
    serial: { type: 'boolean', default: false },
    xleave: { type: 'boolean', default: false },
    'server-cpu': { type: 'string', default: SERVER_CPU },
    'client-cpu': { type: 'string', default: CLIENT_CPU },
    json: { type: 'boolean', default: false },
    help: { type: 'boolean', default: false },
  },
});

if (opt.help) {
  console.log(`usage: node bench/quality.mjs [--seconds 60] [--poll -4] [--only ${KNOWN.join(',')}]
                           [--settle 10] [--sync-wait 60] [--demo "SIM OPTIONS"] [--capture] [--serial] [--xleave] [--server-cpu 0] [--client-cpu 1] [--json]
  --seconds   how long the chronyd clients measure (5-600)
  --poll      the clients' minpoll = maxpoll, log2 s (-6..2; -4 = 16 requests/s)
  --settle    seconds to wait after Gnomon selects PPS(0) before measuring
  --sync-wait at most this long for Gnomon to track PPS(0)
  --demo      extra \`gnomon demo\` simulator options, e.g. "--pps-jitter-us 1"
  --capture   tcpdump on lo too: each server's receive/send stamps against the kernel's packet times
  --server-cpu, --client-cpu  taskset CPU lists (default 0 and 1; "0,1" for both = not pinned)
  --serial    one client at a time (--seconds each; all servers stay up) instead of all clients at once
  --xleave    the clients ask for interleaved mode (chronyd \`xleave\`); chronyd and Gnomon's fast path answer it
              (samples column: how many were interleaved, "4I" in chronyd's log); the dgram path stays basic
  --json      print the result as JSON (stdout) instead of the table
Build first (npm run build): Gnomon runs from dist/.`);
  process.exit(0);
}

const num = (name, min, max) => numberOption(opt, name, min, max);
const SECONDS = num('seconds', 5, 600);
const POLL = Math.round(num('poll', -6, 2));
const SETTLE = num('settle', 0, 300);
const SYNC_WAIT = num('sync-wait', 5, 300);
const STATUS_EVERY_MS = 2000; // chronyc ntpdata of each client
const GNOMON_STATUS_EVERY_MS = 10000; // Gnomon's status (each one is work in Gnomon's event loop)
for (const k of ['server-cpu', 'client-cpu']) {
  if (!/^\d+(,\d+)*$/.test(opt[k])) {
    console.error(`--${k} must be a CPU list such as 0 or 0,1`);
    process.exit(2);
  }
}
const SCPU = opt['server-cpu'];
const CCPU = opt['client-cpu'];
const log = (m) => console.error(`quality: ${m}`);

installExitHandlers();

function selectServers() {
  const wanted = serverList(opt.only, KNOWN);
  if (wanted.some((w) => GNOMONS.includes(w)) && !fs.existsSync(GNOMON_MAIN)) throw new Error(`${path.relative(ROOT, GNOMON_MAIN)} not found: run npm run build`);
  if (!fs.existsSync(CHRONYD)) throw new Error(`${CHRONYD} not found (see ../shared/PEERS.md): the clients are chronyd`);
  return wanted;
}

/** Each Gnomon's receive-timestamp counters at the end of the run (kernel stamps used, fallbacks). */
async function rxStats(gnomons) {
  const out = {};
  for (const g of gnomons) out[g.name] = (await gnomonStatus(g.child.control))?.server.rxTimestampStats ?? null;
  return out;
}

async function waitForPps(server) {
  const deadline = Date.now() + SYNC_WAIT * 1000;
  let st = null;
  while (Date.now() < deadline) {
    if (server.child.exitCode !== null) throw new Error(`gnomon demo exited ${server.child.exitCode}\n${server.child.tail.join('\n')}`);
    st = await gnomonStatus(server.child.control);
    if (st?.server.state === 'tracking' && st.server.selected === 'PPS(0)') return st;
    await sleep(500);
  }
  throw new Error(`gnomon demo did not track PPS(0) within ${SYNC_WAIT} s: ${JSON.stringify(st?.server)}`);
}

function cpuTimes() {
  return fs
    .readFileSync('/proc/stat', 'utf8')
    .split('\n')
    .filter((l) => /^cpu\d+ /.test(l))
    .map((l) => {
      const v = l.trim().split(/\s+/).slice(1).map(Number);
      const idle = v[3] + v[4];
      return { idle, total: v.reduce((a, x) => a + x, 0) };
    });
}

async function measure(names) {
  const machine = machineInfo();
  const servers = [];
  try {
    for (const name of names) {
      const demoArgs = opt.demo.split(/\s+/).filter(Boolean);
      const s = await startServer(KIND[name], { syncWaitS: SYNC_WAIT, demoArgs, cpu: SCPU });
      s.name = name;
      servers.push(s);
      log(`${name} pid ${s.child.pid} on 127.0.0.1:${s.port} (CPU ${SCPU}); first reply stratum ${s.reply.stratum} refid ${s.reply.refid}`);
    }
    const gnomons = servers.filter((s) => GNOMONS.includes(s.name));
    const gnomon = gnomons[0];
    const rxTimestamps = {};
    for (const g of gnomons) {
      const t0 = Date.now();
      const st = await waitForPps(g);
      rxTimestamps[g.name] = st.server.rxTimestamps ?? 'not reported';
      log(`${g.name} tracks PPS(0) after ${((Date.now() - t0) / 1000).toFixed(1)} s more (correction ${st.server.correctionNs.toFixed(0)} ns); receive timestamps: ${rxTimestamps[g.name]}`);
    }
    if (gnomons.length) {
      log(`settling ${SETTLE} s`);
      await sleep(SETTLE * 1000);
    }
    const phases = opt.serial ? servers.map((s) => [s]) : [servers];
    const samples = {};
    const ntpdata = {};
    const exchanges = new Map();
    const statuses = [];
    const loads = [];
    for (const group of phases) {
      const r = await measureClients(group, gnomon);
      Object.assign(samples, r.samples);
      Object.assign(ntpdata, r.ntpdata);
      for (const [port, ex] of r.exchanges ?? []) exchanges.set(port, ex);
      statuses.push(...r.statuses);
      loads.push(r.load);
    }
    const load = {
      cpuBusyPct: loads[0].cpuBusyPct.map((_, i) => loads.reduce((a, l) => a + l.cpuBusyPct[i], 0) / loads.length),
      loadavgStart: loads[0].loadavgStart,
      loadavgEnd: loads.at(-1).loadavgEnd,
    };
    const rows = servers.map((s) =>
      summarizeServer({ name: s.name, port: s.port, samples: samples[s.name], ntpdata: ntpdata[s.name], exchanges: exchanges.get(s.port), reply: s.reply }),
    );
    return {
      command: `node bench/quality.mjs ${process.argv.slice(2).join(' ')}`.trim(),
      at: new Date().toISOString(),
      machine,
      options: { seconds: SECONDS, poll: POLL, settle: SETTLE, serial: opt.serial, xleave: opt.xleave, capture: opt.capture, demo: opt.demo, serverCpu: SCPU, clientCpu: CCPU },
      rows,
      rxTimestamps,
      rxTimestampStats: await rxStats(gnomons),
      discipline: gnomon ? summarizeDiscipline(statuses) : null,
      load,
      raw: { samples, ntpdata, statuses },
    };
  } finally {
    for (const s of servers) await stopServer(s.child);
  }
}

/**
 * One chronyd client per server in `group`, all at once for SECONDS (and tcpdump with --capture);
 * ntpdata every STATUS_EVERY_MS, Gnomon's status every GNOMON_STATUS_EVERY_MS.
 */
async function measureClients(group, gnomon) {
  const clients = [];
  let capture = null;
  try {
    let pcapFile = null;
    if (opt.capture) {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gnomon-bench-pcap-'));
      trackTemp(dir);
      pcapFile = path.join(dir, 'lo.pcap');
      capture = await startCapture(pcapFile, group.map((s) => s.port), CCPU);
    }
    for (const s of group) clients.push(await startChronydClient(s.name, s.port, { poll: POLL, cpu: CCPU, xleave: opt.xleave }));
    log(`measuring ${SECONDS} s: chronyd client of ${group.map((s) => s.name).join(', ')} (CPU ${CCPU}), poll 2^${POLL} s${opt.xleave ? ', xleave' : ''}${capture ? ', tcpdump on lo' : ''}`);
    const cpu0 = cpuTimes();
    const loadavgStart = fs.readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
    const ntpdata = Object.fromEntries(group.map((s) => [s.name, []]));
    const statuses = [];
    const end = Date.now() + SECONDS * 1000;
    let nextStatus = Date.now() + GNOMON_STATUS_EVERY_MS / 2;
    while (Date.now() < end) {
      await sleep(Math.min(STATUS_EVERY_MS, Math.max(0, end - Date.now())));
      for (const c of clients) {
        if (c.child.exitCode !== null) throw new Error(`chronyd client of ${c.name} exited ${c.child.exitCode}\n${c.log()}`);
        const d = await ntpData(c);
        if (d) ntpdata[c.name].push(d);
      }
      if (gnomon && Date.now() >= nextStatus) {
        nextStatus += GNOMON_STATUS_EVERY_MS;
        const st = await gnomonStatus(gnomon.child.control);
        if (st) statuses.push({ atMs: Date.now(), ...st.server });
      }
    }
    const cpu1 = cpuTimes();
    const load = {
      cpuBusyPct: cpu1.map((c, i) => 100 * (1 - (c.idle - cpu0[i].idle) / Math.max(1, c.total - cpu0[i].total))),
      loadavgStart,
      loadavgEnd: fs.readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' '),
    };
    const samples = Object.fromEntries(clients.map((c) => [c.name, readMeasurements(c)]));
    for (const c of clients.splice(0)) await c.stop();
    let exchanges = null;
    if (capture) {
      await capture.stop();
      capture = null;
      exchanges = exchangesByPort(readPcap(pcapFile), group.map((s) => s.port));
    }
    return { samples, ntpdata, statuses, load, exchanges };
  } finally {
    for (const c of clients) await c.stop();
    if (capture) await capture.stop();
  }
}

async function main() {
  const names = selectServers();
  const stale = staleDist();
  if (stale.length) log(`warning: dist/ is older than ${stale.join(', ')} (run npm run build)`);
  // Hard bound on the whole invocation, whatever happens.
  const budgetS = (opt.serial ? names.length : 1) * (SECONDS + 15) + SYNC_WAIT * 2 + SETTLE + 30 * names.length + 60;
  setTimeout(() => {
    log(`exceeded ${budgetS} s, killing everything`);
    killAll('SIGKILL');
    process.exit(1);
  }, budgetS * 1000).unref();
  const result = await measure(names);
  fs.mkdirSync(BUILD, { recursive: true });
  const out = path.join(BUILD, `quality-${result.at.replace(/[:.]/g, '-')}.json`);
  fs.writeFileSync(out, JSON.stringify(result, null, 2));
  if (opt.json) {
    const { raw: _raw, ...summary } = result;
    console.log(JSON.stringify({ ...summary, rawFile: path.relative(ROOT, out) }, null, 2));
  } else {
    const m = result.machine;
    console.log(`\n${result.command}   (${result.at})`);
    console.log(`${m.nproc} CPUs (${m.cpu}), kernel ${m.kernel}, node ${m.node}, ${m.chronyd}`);
    console.log(`Gnomon: HEAD ${m.gnomonCommit}; ${m.uncommittedSrc} uncommitted files in src/ drivers/; dist built ${m.distBuilt}${m.staleDist.length ? `; STALE dist for ${m.staleDist.join(', ')}` : ''}\n`);
    console.log(qualityTable(result));
    for (const [name, st] of Object.entries(result.rxTimestampStats ?? {})) {
      if (st) console.log(`${name}: receive timestamps ${st.source}${st.reason ? ` (${st.reason})` : ''}; kernel ${st.kernel}, fell back: ioctl ${st.ioctlFailed}, out of window ${st.outOfWindow}, repeated ${st.repeated}`);
    }
    console.log(`\nraw samples: ${path.relative(ROOT, out)}`);
  }
}

runMain('quality', main);
