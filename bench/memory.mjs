// Gnomon bench: resident memory under load from a million distinct client addresses (issue 9:
// <= 64 MB after 10 minutes, no growth after the first minute), chronyd measured in the same run.
//
//   npm run build && node bench/memory.mjs                  # 600 s, Gnomon fast path + dgram path + chronyd
//   node bench/memory.mjs --seconds 120 --only gnomon-fast  # shorter, one server
//
// Each server runs pinned to CPU 0 (taskset) as bench/run.mjs starts it: Gnomon `serve` with the
// product's node flags (the first line of dist/src/cli/main.js), its web page on, the bench config;
// chronyd -x `local stratum 1` (no ratelimit: its client log holds the clients). Each gets its own
// bench/loadgen.c on CPU 1 at --rate requests/s, request k from source address 127.1.0.0 +
// (k mod --addresses), in back-to-back runs of at most 60 s (the load generator's own bound).
// Every reply is checked to come back to the address its request left from (reply_addr_mismatch).
// The servers are measured at the same time (--serial: one after the other).
//
// Every --every s the whole process's VmRSS (all threads; /proc/PID/status) is sampled. Printed:
// RSS idle, at 1 min, at the end, the maximum, and the growth after the first minute (end − 1 min,
// max after 1 min − 1 min), with RssAnon / RssFile at the end. Not part of `npm test`. Raw samples:
// bench/build/memory-*.json.
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { compileLoadgen, loadgenRunner, LOADGEN_CPU } from './runner/loadgen.mjs';
import { machineInfo, staleDist } from './runner/machine.mjs';
import { numberOption, serverList } from './runner/options.mjs';
import { gnomonStatus } from './runner/probe.mjs';
import { BUILD, ROOT } from './runner/paths.mjs';
import { installExitHandlers, killAll, runMain } from './runner/processes.mjs';
import { mib, readRss } from './runner/rss.mjs';
import { CHRONYD, GNOMON_MAIN, LABELS, productNodeFlags, SERVER_CPU, startServer, stopServer } from './runner/servers.mjs';

const KNOWN = ['gnomon-fast', 'gnomon', 'chronyd'];
const { values: opt } = parseArgs({
  options: {
    seconds: { type: 'string', default: '600' },
    rate: { type: 'string', default: '20000' },
    addresses: { type: 'string', default: '1000000' },
    every: { type: 'string', default: '10' },
    only: { type: 'string' },
    serial: { type: 'boolean', default: false },
    help: { type: 'boolean', default: false },
  },
});
if (opt.help) {
  console.log(`usage: node bench/memory.mjs [--seconds 600] [--rate 20000] [--addresses 1000000] [--every 10]
                          [--only ${KNOWN.join(',')}] [--serial]
  --seconds    load duration per server (30-3600)
  --rate       requests/s to each server (100-200000)
  --addresses  distinct client addresses, cycled (1-4194304)
  --every      RSS sampling period, s (1-60)
  --serial     one server at a time (default: all at once, each with its own load generator)`);
  process.exit(0);
}
const num = (name, min, max) => numberOption(opt, name, min, max);
const SECONDS = num('seconds', 30, 3600);
const RATE = num('rate', 100, 200000);
const ADDRESSES = Math.round(num('addresses', 1, 4194304));
const EVERY = num('every', 1, 60);
const log = (m) => console.error(`memory: ${m}`);
const loadgen = loadgenRunner({ window: 512, sockets: 16 });
installExitHandlers();

function selectServers() {
  const wanted = serverList(opt.only, KNOWN);
  if (wanted.some((w) => w.startsWith('gnomon')) && !fs.existsSync(GNOMON_MAIN)) throw new Error('dist/ not built: run npm run build');
  if (wanted.includes('chronyd') && !fs.existsSync(CHRONYD)) throw new Error(`${CHRONYD} not found (see ../shared/PEERS.md)`);
  return wanted;
}

/** Gnomon's counters and rate table over its control socket (null for chronyd or no answer). */
async function gnomonSummary(s) {
  if (!s.child.control) return null;
  const st = await gnomonStatus(s.child.control);
  return st ? { counters: st.counters, path: st.server?.path, rateTable: st.server?.rateTable ?? null } : null;
}

/** Load one server for SECONDS in back-to-back load generator runs; the sums of their results. */
async function drive(s, stopAt) {
  const total = { runs: 0, sent: 0, matched: 0, lost: 0, kod: 0, replyAddrChecked: 0, replyAddrMismatch: 0, sendErr: 0, windowFullSkips: 0, serverCpuS: 0 };
  while (Date.now() < stopAt - 1000) {
    if (s.child.exitCode !== null || s.child.signalCode !== null) throw new Error(`${s.name} exited during the load\n${s.child.tail.join('\n')}`);
    const duration = Math.min(60, (stopAt - Date.now()) / 1000);
    let r;
    try {
      r = await loadgen(s.port, { duration, rate: RATE, addresses: ADDRESSES, serverPid: s.child.pid, label: s.name });
    } catch (err) {
      // One failed load generator run must not lose the memory samples: counted, and the load goes on.
      total.failedRuns = (total.failedRuns ?? 0) + 1;
      log(`${s.name}: load generator run failed (${err.message}); continuing`);
      await sleep(1000);
      continue;
    }
    total.runs++;
    total.sent += r.sent;
    total.matched += r.matched;
    total.lost += r.lost;
    total.kod += r.kod;
    total.replyAddrChecked += r.reply_addr_checked ?? 0;
    total.replyAddrMismatch += r.reply_addr_mismatch ?? 0;
    total.sendErr += r.send_err;
    total.windowFullSkips += r.window_full_skips;
    total.serverCpuS += r.server_cpu_s ?? 0;
  }
  return total;
}

/** RSS of every server every EVERY s until stopAt (t = seconds since the load began). */
async function sample(servers, t0, stopAt, into) {
  while (Date.now() < stopAt) {
    await sleep(Math.min(EVERY * 1000, Math.max(0, stopAt - Date.now())));
    for (const s of servers) {
      const m = readRss(s.child.pid);
      if (m) into[s.name].push({ t: +((Date.now() - t0) / 1000).toFixed(1), ...m });
    }
  }
}

function summarize(name, samples, idle, load, status) {
  const after1 = samples.filter((x) => x.t >= 60);
  const at1 = after1[0] ?? samples.at(-1);
  const end = samples.at(-1);
  const max = Math.max(...samples.map((x) => x.rssKiB));
  const maxAfter1 = after1.length ? Math.max(...after1.map((x) => x.rssKiB)) : NaN;
  return {
    name, idleKiB: idle?.rssKiB, at1minKiB: at1?.rssKiB, at1minT: at1?.t, endKiB: end?.rssKiB, endT: end?.t, maxKiB: max,
    growthKiB: end && at1 ? end.rssKiB - at1.rssKiB : NaN, maxGrowthKiB: at1 ? maxAfter1 - at1.rssKiB : NaN,
    endAnonKiB: end?.anonKiB, endFileKiB: end?.fileKiB, threads: end?.threads, load, status,
  };
}

function table(rows) {
  const L = [];
  L.push(`Resident memory (VmRSS, whole process, MiB) under ${RATE.toLocaleString('en-US')} requests/s from ${ADDRESSES.toLocaleString('en-US')} distinct client addresses, ${SECONDS} s, sampled every ${EVERY} s.`);
  L.push('growth = end − 1 min; max growth = highest sample after the first minute − 1 min. anon = the process\'s own memory, file = mapped files (binary code, shared).');
  L.push('');
  L.push('| server | idle | 1 min | end | max | growth | max growth | end anon / file | threads | replies/s | lost | replies to the right address | server CPU µs/reply |');
  L.push('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const r of rows) {
    const l = r.load;
    const wrong = l.replyAddrMismatch ? ` (${l.replyAddrMismatch} wrong)` : '';
    L.push(`| ${LABELS[r.name] ?? r.name} | ${mib(r.idleKiB)} | ${mib(r.at1minKiB)} | ${mib(r.endKiB)} | ${mib(r.maxKiB)} | ${mib(r.growthKiB)} | ${mib(r.maxGrowthKiB)} | ${mib(r.endAnonKiB)} / ${mib(r.endFileKiB)} | ${r.threads} | ${Math.round(l.matched / SECONDS).toLocaleString('en-US')} | ${l.lost} | ${l.replyAddrChecked.toLocaleString('en-US')}${wrong} | ${l.matched ? ((l.serverCpuS * 1e6) / l.matched).toFixed(2) : '–'} |`);
  }
  const ref = rows.find((r) => r.name === 'chronyd');
  if (ref) {
    L.push('');
    for (const r of rows.filter((x) => x !== ref)) L.push(`- ${LABELS[r.name]}: end RSS ${(r.endKiB / ref.endKiB).toFixed(1)} × chronyd's`);
  }
  for (const r of rows) {
    if (r.status) L.push(`- ${r.name} status at the end: path ${r.status.path}, received ${r.status.counters?.received}, processed ${r.status.counters?.processed}${r.status.rateTable ? `, rate table ${JSON.stringify(r.status.rateTable)}` : ''}`);
  }
  return L.join('\n');
}

async function measure(names) {
  const servers = [];
  const samples = Object.fromEntries(names.map((n) => [n, []]));
  const idle = {};
  const loads = {};
  const statuses = {};
  try {
    for (const name of names) {
      const s = await startServer(name, { syncWaitS: 30 });
      servers.push(s);
      log(`${name} pid ${s.child.pid} on 127.0.0.1:${s.port} (CPU ${SERVER_CPU})`);
    }
    await sleep(2000);
    for (const s of servers) idle[s.name] = readRss(s.child.pid);
    const groups = opt.serial ? servers.map((s) => [s]) : [servers];
    for (const group of groups) {
      log(`loading ${group.map((s) => s.name).join(', ')} for ${SECONDS} s: ${RATE}/s each from ${ADDRESSES} addresses (load generators on CPU ${LOADGEN_CPU})`);
      const t0 = Date.now();
      const stopAt = t0 + SECONDS * 1000;
      const [results] = await Promise.all([Promise.all(group.map((s) => drive(s, stopAt))), sample(group, t0, stopAt, samples)]);
      group.forEach((s, i) => (loads[s.name] = results[i]));
      for (const s of group) statuses[s.name] = await gnomonSummary(s);
      for (const s of group) {
        const last = samples[s.name].at(-1);
        log(`${s.name}: end RSS ${mib(last?.rssKiB)} MiB, ${results[group.indexOf(s)].matched} replies`);
      }
    }
  } finally {
    for (const s of servers) await stopServer(s.child);
  }
  return names.map((n) => ({ ...summarize(n, samples[n], idle[n], loads[n], statuses[n]), samples: samples[n] }));
}

async function main() {
  const names = selectServers();
  const stale = staleDist();
  if (stale.length) log(`warning: dist/ is older than ${stale.join(', ')} (run npm run build)`);
  compileLoadgen();
  const budgetS = (opt.serial ? names.length : 1) * (SECONDS + 30) + 60 * names.length + 60;
  setTimeout(() => {
    log(`exceeded ${budgetS} s, killing everything`);
    killAll('SIGKILL');
    process.exit(1);
  }, budgetS * 1000).unref();
  const machine = machineInfo();
  const rows = await measure(names);
  const command = `node bench/memory.mjs ${process.argv.slice(2).join(' ')}`.trim();
  console.log(`\n${command}   (${new Date().toISOString()})`);
  console.log(`${machine.nproc} CPUs (${machine.cpu}), kernel ${machine.kernel}, node ${machine.node}, ${machine.chronyd}`);
  console.log(`Gnomon: HEAD ${machine.gnomonCommit.slice(0, 80)}; node flags ${productNodeFlags().join(' ') || '(none)'}; servers on CPU ${SERVER_CPU}, load generators on CPU ${LOADGEN_CPU}\n`);
  console.log(table(rows));
  fs.mkdirSync(BUILD, { recursive: true });
  const out = path.join(BUILD, `memory-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  fs.writeFileSync(out, JSON.stringify({ command, machine, options: { SECONDS, RATE, ADDRESSES, EVERY, serial: opt.serial }, rows }, null, 2));
  console.log(`\nraw samples: ${path.relative(ROOT, out)}`);
}

runMain('memory', main);
