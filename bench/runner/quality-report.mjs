// Gnomon bench: statistics and the table of bench/quality.mjs — what a chronyd client sees of each
// server (offset SD, median delay, ...), the server's own T3−T2, the kernel-relative lags from the
// capture, and Gnomon's discipline correction over the run.
import { LABELS } from './servers.mjs';

export const median = (xs) => quantile(xs, 0.5);

export function quantile(xs, q) {
  const s = xs.filter(Number.isFinite).sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const i = (s.length - 1) * q;
  const lo = Math.floor(i);
  const hi = Math.ceil(i);
  return s[lo] + (s[hi] - s[lo]) * (i - lo);
}

export function mean(xs) {
  const v = xs.filter(Number.isFinite);
  return v.length ? v.reduce((a, x) => a + x, 0) / v.length : NaN;
}

/** Sample standard deviation (n − 1). */
export function sd(xs) {
  const v = xs.filter(Number.isFinite);
  if (v.length < 2) return NaN;
  const m = mean(v);
  return Math.sqrt(v.reduce((a, x) => a + (x - m) ** 2, 0) / (v.length - 1));
}

/** 1.4826 × median absolute deviation: the SD a normal distribution would have, blind to outliers. */
export function robustSd(xs) {
  const m = median(xs);
  return 1.4826 * median(xs.map((x) => Math.abs(x - m)));
}

const us = (s) => s * 1e6;

/** One server's figures from its chronyd client's samples (seconds) and the side measurements. */
export function summarizeServer({ name, port, samples, ntpdata, exchanges, reply }) {
  const off = samples.map((s) => us(s.offset));
  const delay = samples.map((s) => us(s.peerDelay));
  const resp = ntpdata.map((d) => us(d.responseTimeS)).filter(Number.isFinite);
  const last = ntpdata.at(-1);
  const row = {
    name,
    label: LABELS[name] ?? name,
    port,
    firstReply: reply ? { stratum: reply.stratum, refid: reply.refid, precision: reply.precision } : null,
    samples: samples.length,
    /** Samples chronyd logged as interleaved ("4I"): with --xleave, all but a client's first two when the server answers it. */
    interleavedSamples: samples.filter((s) => s.modeTxRx.startsWith('4I')).length,
    /** Over the interleaved samples only (a client's first two, and any fallback to basic, left out). */
    interleavedOffsetSdUs: sd(samples.filter((s) => s.modeTxRx.startsWith('4I')).map((s) => us(s.offset))),
    interleavedDelayMedianUs: median(samples.filter((s) => s.modeTxRx.startsWith('4I')).map((s) => us(s.peerDelay))),
    failedTests: samples.filter((s) => s.tests.includes('0')).length,
    offsetSdUs: sd(off),
    offsetRobustSdUs: robustSd(off),
    offsetMedianUs: median(off),
    offsetMeanUs: mean(off),
    offsetP01Us: quantile(off, 0.01),
    offsetP99Us: quantile(off, 0.99),
    delayMedianUs: median(delay),
    delayMinUs: Math.min(...delay),
    delayP99Us: quantile(delay, 0.99),
    responseTimeMedianUs: median(resp),
    responseTimeSamples: resp.length,
    clientTimestamping: last ? `TX ${last.txTimestamping}, RX ${last.rxTimestamping}` : '?',
    sent: last?.totalTx ?? NaN,
    received: last?.totalRx ?? NaN,
    modeTxRx: samples.at(-1)?.modeTxRx ?? '?',
  };
  if (exchanges) {
    const rx = exchanges.map((e) => e.rxLagNs / 1000);
    const tx = exchanges.map((e) => e.txLagNs / 1000);
    const half = exchanges.map((e) => (e.rxLagNs - e.txLagNs) / 2000);
    row.capture = {
      exchanges: exchanges.length,
      rxLagMedianUs: median(rx),
      rxLagP99Us: quantile(rx, 0.99),
      rxLagSdUs: sd(rx),
      txLagMedianUs: median(tx),
      txLagP99Us: quantile(tx, 0.99),
      txLagSdUs: sd(tx),
      spanMedianUs: median(exchanges.map((e) => e.spanNs / 1000)),
      wireRttMedianUs: median(exchanges.map((e) => e.wireRttNs / 1000)),
      // (rx lag − tx lag)/2: the offset error the server's own stamping adds; its SD should
      // account for most of the client's offset SD.
      halfDiffSdUs: sd(half),
      halfDiffMedianUs: median(half),
    };
  }
  return row;
}

export function summarizeDiscipline(statuses) {
  const c = statuses.map((s) => s.correctionNs / 1000);
  return {
    polls: statuses.length,
    allPps: statuses.every((s) => s.selected === 'PPS(0)' && s.state === 'tracking'),
    correctionMeanUs: mean(c),
    correctionSdUs: sd(c),
    correctionMinUs: Math.min(...c),
    correctionMaxUs: Math.max(...c),
    freqPpmLast: statuses.at(-1)?.freqPpm ?? NaN,
  };
}

const f1 = (x) => (Number.isFinite(x) ? x.toFixed(1) : '–');
const f2 = (x) => (Number.isFinite(x) ? x.toFixed(2) : '–');
const fsig = (x) => (!Number.isFinite(x) ? '–' : Math.abs(x) >= 100 ? x.toFixed(0) : Math.abs(x) >= 10 ? x.toFixed(1) : x.toFixed(2));

export function qualityTable(result) {
  const { rows, discipline, options, load } = result;
  const ref = rows.find((r) => r.name === 'chronyd');
  const L = [];
  L.push(`chronyd clients (-x, noselect${options.xleave ? ', xleave' : ''}, poll 2^${options.poll} s, CPU ${options.clientCpu}) of servers on CPU ${options.serverCpu}, ${options.serial ? `one client at a time, ${options.seconds} s each (all servers up)` : `all at once, ${options.seconds} s`}.`);
  L.push('offset = what the client computes, + = server ahead; on one host the truth is 0. delay = round trip − the server\'s T3−T2.');
  L.push('All logged samples count ("failed tests": chronyd\'s maxdelay/maxdelayratio/maxdelaydevratio/loop tests, which it would');
  L.push('drop from its filter; they are kept here since they are the stamping noise being measured).');
  L.push('');
  L.push('| server | samples | offset SD µs | robust SD µs | median offset µs | p1 / p99 offset µs | median delay µs | min / p99 delay µs | server T3−T2 µs | SD ratio to chronyd | delay ratio to chronyd |');
  L.push('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const r of rows) {
    L.push(`| ${r.label} | ${r.samples}${options.xleave ? ` (${r.interleavedSamples} interleaved)` : ''}${r.failedTests ? ` (${r.failedTests} failed tests)` : ''} | ${fsig(r.offsetSdUs)} | ${fsig(r.offsetRobustSdUs)} | ${fsig(r.offsetMedianUs)} | ${fsig(r.offsetP01Us)} / ${fsig(r.offsetP99Us)} | ${fsig(r.delayMedianUs)} | ${fsig(r.delayMinUs)} / ${fsig(r.delayP99Us)} | ${fsig(r.responseTimeMedianUs)} | ${f1(ref ? r.offsetSdUs / ref.offsetSdUs : NaN)} | ${f1(ref ? r.delayMedianUs / ref.delayMedianUs : NaN)} |`);
  }
  if (options.xleave) {
    L.push('');
    L.push('Interleaved samples only ("4I"; basic ones, e.g. a client\'s first two, left out):');
    for (const r of rows) L.push(`- ${r.label}: ${r.interleavedSamples} samples, offset SD ${fsig(r.interleavedOffsetSdUs)} µs, median delay ${fsig(r.interleavedDelayMedianUs)} µs`);
  }
  if (rows.some((r) => r.capture)) {
    L.push('');
    L.push('Capture on lo (kernel CLOCK_REALTIME as each packet passes the loopback device): receive lag = T2 − request captured,');
    L.push('send lag = reply captured − T3; (receive lag − send lag)/2 is the offset error the server\'s stamping adds.');
    L.push('');
    L.push('| server | exchanges | receive lag median / p99 µs | send lag median / p99 µs | T3−T2 median µs | (rx − tx)/2 median µs | (rx − tx)/2 SD µs | client offset SD µs |');
    L.push('|---|---:|---:|---:|---:|---:|---:|---:|');
    for (const r of rows) {
      const c = r.capture;
      if (!c) continue;
      L.push(`| ${r.label} | ${c.exchanges} | ${fsig(c.rxLagMedianUs)} / ${fsig(c.rxLagP99Us)} | ${fsig(c.txLagMedianUs)} / ${fsig(c.txLagP99Us)} | ${fsig(c.spanMedianUs)} | ${fsig(c.halfDiffMedianUs)} | ${fsig(c.halfDiffSdUs)} | ${fsig(r.offsetSdUs)} |`);
    }
  }
  if (discipline) {
    L.push('');
    L.push(`Gnomon's discipline during the run (${discipline.polls} status polls; served time − host clock, which the simulated GPS makes 0): ` +
      `mean ${f2(discipline.correctionMeanUs)} µs, SD ${f2(discipline.correctionSdUs)} µs, min ${f2(discipline.correctionMinUs)}, max ${f2(discipline.correctionMaxUs)} µs; ` +
      `${discipline.allPps ? 'PPS(0) tracking throughout' : 'NOT on PPS(0) throughout'}; freq ${f2(discipline.freqPpmLast)} ppm.`);
  }
  L.push('');
  L.push(`Machine load during the run: CPU busy ${load.cpuBusyPct.map((p, i) => `cpu${i} ${f1(p)} %`).join(', ')} (this bench's own processes use a few %); loadavg ${load.loadavgStart} → ${load.loadavgEnd}.`);
  L.push('Caveat: these are microsecond figures on a shared 2-vCPU VM; other processes on either CPU delay wake-ups and inflate the');
  L.push('Node servers\' SD and delay far more than chronyd\'s (kernel timestamps). Compare ratios from one run, on a quiet machine.');
  return L.join('\n');
}
