/**
 * `gnomon status [--control PATH] [--json]`: what the running daemon follows and why, read over
 * the local control socket.
 *
 * Exit codes as ntpstat's, so scripts written for it carry over: 0 synchronised, 1 not
 * synchronised, 2 the daemon could not be asked.
 */
import { parseArgs } from 'node:util';
import type { CliIo } from './io.js';
import { controlRequest, defaultControlSocket } from '../control/local.js';
import type { StatusReport } from '../daemon/status.js';
import type { RefclockStatus } from '../daemon/refclocks.js';
import { PULSE_REJECT_REASONS } from '../refclock/source.js';

const USAGE = `usage: gnomon status [--control PATH] [--json]

Asks the running daemon (over its control socket) what it serves and why: the selected
reference, stratum, each refclock's reach, offset, jitter, fix, PPS phase and the reasons
pulses were refused. Exit code: 0 synchronised, 1 not synchronised, 2 no daemon answered.
`;

function ms(ns: number | null | undefined, digits = 3): string {
  return ns === null || ns === undefined ? '-' : `${ns >= 0 ? '+' : ''}${(ns / 1e6).toFixed(digits)} ms`;
}

function describeFix(r: RefclockStatus): string {
  const f = r.fix;
  if (!r.counters.timecodes) return 'no timecode';
  const sats = f.satellitesUsed === null ? '' : `, ${f.satellitesUsed}${f.satellitesVisible === null ? '' : `/${f.satellitesVisible}`} satellites`;
  return `fix ${f.mode}${sats}${f.hdop === null ? '' : `, HDOP ${f.hdop}`}${f.antenna === undefined ? '' : `, antenna ${f.antenna}`}`;
}

function refclockLines(r: RefclockStatus): string[] {
  const e = r.estimate;
  const head = `${r.falseticker ? 'FALSETICKER ' : ''}${r.name.padEnd(13)} reach ${r.reach.padStart(3)}  ${e ? `${e.basis === 'pulse' ? 'PPS  ' : 'NMEA '} offset ${ms(e.offsetNs)} jitter ${ms(e.jitterNs).replace('+', '')}` : 'no estimate'}`;
  const lines = [head];
  if (r.counters.timecodes) lines.push(`    ${describeFix(r)}`);
  if (r.phase) {
    const p = r.phase;
    lines.push(`    PPS phase ${p.phaseNs === null ? 'unknown' : `${(p.phaseNs / 1e6).toFixed(1)} ms ± ${((p.spreadNs ?? 0) / 1e6).toFixed(1)} ms`} after the edge: ${p.state}` +
      `${p.state === 'ok' ? '' : ' (pulses are not labelled)'}${r.labelledBy ? `; seconds named by ${r.labelledBy}` : ''}`);
  }
  const reasons = PULSE_REJECT_REASONS.filter((k) => (r.counters[k] ?? 0) > 0).map((k) => [k, r.counters[k]] as const);
  if (r.counters.pulses) {
    lines.push(`    pulses ${r.counters.pulses}, used ${r.counters.pulsesAccepted ?? 0}` +
      (reasons.length > 0 ? `, refused: ${reasons.map(([k, v]) => `${k} ${v}`).join(', ')}` : '') +
      (r.lastRejectReason ? ` (latest: ${r.lastRejectReason})` : ''));
  }
  if (r.counters.wrongWeek) lines.push(`    timecodes refused as the wrong GPS week epoch (~20 years off): ${r.counters.wrongWeek}`);
  for (const d of r.drivers) {
    lines.push(`    ${d.driver} ${d.device}: ${d.state}${d.code ? ` ${d.code}` : ''}${d.detail && d.state !== 'running' ? ` - ${d.detail}` : ''}`);
  }
  return lines;
}

const HMODE_NAME: Readonly<Record<number, string>> = { 1: 'peer', 2: 'passive peer', 3: 'server', 5: 'broadcast', 6: 'broadcast' };

/** One line per association: what it is, reach, poll, and the filter's figures (ms, + = the server ahead, as ntpq). */
function associationLine(a: StatusReport['associations'][number]): string {
  const f = a.filter;
  const what = `${a.falseticker ? 'FALSETICKER ' : ''}${a.name} (${HMODE_NAME[a.hmode] ?? `mode ${a.hmode}`}${a.keyId ? `, key ${a.keyId}` : ''})`;
  const rejects = Object.entries(a.rejects).filter(([, n]) => (n ?? 0) > 0).map(([k, n]) => `${k} ${n}`);
  const kods = Object.entries(a.kod).filter(([, n]) => n > 0).map(([k, n]) => `${k} ${n}`);
  return `${what} reach ${a.reach.toString(8).padStart(3)} poll ${2 ** a.pollLog2S} s` +
    (a.upstream ? ` stratum ${a.upstream.stratum}` : '') +
    (f ? ` offset ${ms(-f.offsetNs)} delay ${ms(f.delayNs).replace('+', '')} jitter ${ms(f.jitterNs).replace('+', '')}` : ' no samples') +
    (rejects.length > 0 ? `; refused: ${rejects.join(', ')}` : '') + (kods.length > 0 ? `; kiss-o'-death: ${kods.join(', ')}` : '') +
    (a.demobilised ? '; stopped (kiss-o\'-death)' : '');
}

export function formatStatus(s: StatusReport): string {
  const srv = s.server;
  const out = [
    !srv.synchronised ? 'unsynchronised (LI=3, stratum 16): no usable reference'
      : `${srv.state === 'holdover' ? `holdover (${srv.selected} lost)` : `synchronised to ${srv.selected}`}, stratum ${srv.stratum}, refid ${srv.refid}, ` +
        `root dispersion ${(srv.rootDispersionS * 1e3).toFixed(3)} ms`,
    `served time = system clock ${ms(srv.correctionNs, 6)}; system clock frequency ${srv.freqPpm >= 0 ? '+' : ''}${srv.freqPpm.toFixed(3)} ppm`,
  ];
  if (s.refclocks.length > 0) out.push('', 'refclocks:');
  for (const r of s.refclocks) out.push(...refclockLines(r).map((l) => `  ${l}`));
  if ((s.associations ?? []).length > 0) out.push('', 'servers and peers:');
  for (const a of s.associations ?? []) out.push(`  ${associationLine(a)}`);
  const c = s.counters;
  out.push('', `NTP packets: ${c.received ?? 0} received, ${c.processed ?? 0} answered, ${c.restricted ?? 0} restricted, ${c.rateLimited ?? 0} rate-limited, ${c.kodSent ?? 0} kiss-o'-death`);
  if ((c.interleaved ?? 0) > 0 || (c.txStampKernel ?? 0) > 0) {
    out.push(`interleaved mode: ${c.interleaved ?? 0} replies; kernel transmit stamps ${c.txStampKernel ?? 0} recorded, ` +
      `${c.txStampMissing ?? 0} missing (daemon time sent), ${c.txStampUnmatched ?? 0} unmatched`);
  }
  out.push(`daemon: pid ${s.daemon.pid}, up ${s.daemon.uptimeS} s, ${s.daemon.config}, listening on ${s.daemon.listening.map((a) => `${a.address}:${a.port}`).join(' ')}`);
  return out.join('\n') + '\n';
}

export async function statusCommand(argv: string[], io: CliIo): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: { control: { type: 'string' }, json: { type: 'boolean', default: false }, help: { type: 'boolean', short: 'h', default: false } },
    }));
  } catch (err) {
    io.stderr(`gnomon status: ${(err as Error).message}\n${USAGE}`);
    return 2;
  }
  if (values.help) {
    io.stdout(USAGE);
    return 0;
  }
  const path = values.control ?? defaultControlSocket();
  let report: StatusReport;
  try {
    report = (await controlRequest(path, { command: 'status' })) as StatusReport;
  } catch (err) {
    io.stderr(`gnomon status: ${(err as Error).message}\n  is the daemon running (systemctl status gnomon)? A daemon started with --control PATH needs the same --control here.\n`);
    return 2;
  }
  io.stdout(values.json ? JSON.stringify(report, null, 2) + '\n' : formatStatus(report));
  return report.server.synchronised ? 0 : 1;
}
