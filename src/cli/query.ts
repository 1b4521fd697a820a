/**
 * `gnomon query HOST...`: an unprivileged one-shot query, like `ntpdate -q` or `ntpdig`.
 *
 * It sends from an ephemeral port, so it works while a daemon (Gnomon, ntpd, chronyd) holds
 * port 123. The transmit timestamp is random (data minimisation, as chrony and NTPsec clients
 * do) and the reply's origin must echo it; the real send time is kept locally.
 */
import dgram from 'node:dgram';
import { lookup } from 'node:dns/promises';
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { isIPv6 } from 'node:net';
import { systemRealtimeClock } from '../clock/posix.js';
import { newTimeSpec, type RealtimeClock } from '../clock/clock.js';
import { ntpFractionOf, ntpSecondsOf } from '../clock/timescale.js';
import { LeapIndicator, Mode, NTP_HEADER_LENGTH, STRATUM_KISS, STRATUM_UNSYNCHRONISED, formatRefId } from '../ntp/constants.js';
import { decodeHeader, encodeHeader, type NtpHeader } from '../ntp/packet.js';
import { computeExchange } from '../ntp/exchange.js';
import { secondsFromShort, ZERO_TIMESTAMP, type NtpTimestamp } from '../ntp/timestamp.js';
import type { CliIo } from './io.js';

export interface QueryResult {
  readonly host: string;
  readonly address: string;
  readonly port: number;
  readonly ok: boolean;
  /** Why the server is not usable: "timeout", "kiss-o'-death RATE", "unsynchronised", a DNS error. */
  readonly error?: string;
  readonly stratum?: number;
  readonly leap?: number;
  readonly refid?: string;
  readonly version?: number;
  readonly precision?: number;
  /** + = the server's clock is ahead of this machine's (ntpdate's sign). */
  readonly offsetS?: number;
  readonly delayS?: number;
  readonly rootDelayS?: number;
  readonly rootDispersionS?: number;
  readonly samples: number;
}

const USAGE = `usage: gnomon query HOST... [--port N] [--samples K] [--timeout S] [--ntp-version V] [--json]
  Queries NTP servers once and prints offset, delay, stratum, refid and leap (like ntpdate -q).
  --port N         server port (default 123)
  --samples K      requests per server, the lowest-delay one is reported (default 4)
  --timeout S      seconds to wait for each reply (default 2)
  --ntp-version V  NTP version of the requests, 1-4 (default 4)
  --json           one JSON array on stdout`;

export async function queryCommand(argv: string[], io: CliIo): Promise<number> {
  let values;
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        port: { type: 'string', default: '123' },
        samples: { type: 'string', default: '4' },
        timeout: { type: 'string', default: '2' },
        'ntp-version': { type: 'string', short: 'o', default: '4' },
        json: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    }));
  } catch (err) {
    io.stderr(`gnomon query: ${(err as Error).message}\n${USAGE}\n`);
    return 2;
  }
  if (values.help) {
    io.stdout(USAGE + '\n');
    return 0;
  }
  const port = Number(values.port);
  const samples = Number(values.samples);
  const timeoutS = Number(values.timeout);
  const version = Number(values['ntp-version']);
  const bad = !Number.isInteger(port) || port < 1 || port > 65535 ? `--port ${values.port}: expected 1-65535`
    : !Number.isInteger(samples) || samples < 1 || samples > 16 ? `--samples ${values.samples}: expected 1-16`
      : !(timeoutS > 0 && timeoutS <= 60) ? `--timeout ${values.timeout}: expected seconds in (0, 60]`
        : !Number.isInteger(version) || version < 1 || version > 4 ? `--ntp-version ${values['ntp-version']}: expected 1-4`
          : positionals.length === 0 ? 'no server given' : undefined;
  if (bad) {
    io.stderr(`gnomon query: ${bad}\n${USAGE}\n`);
    return 2;
  }
  const clock = systemRealtimeClock();
  const results: QueryResult[] = [];
  for (const host of positionals) {
    let addresses: string[];
    try {
      addresses = (await lookup(host, { all: true })).map((a) => a.address);
    } catch (err) {
      results.push({ host, address: '', port, ok: false, error: `cannot resolve: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, samples: 0 });
      continue;
    }
    for (const address of addresses) results.push(await queryServer(clock, host, address, port, samples, timeoutS * 1000, version));
  }
  if (values.json) io.stdout(JSON.stringify(results) + '\n');
  else for (const r of results) io.stdout(formatResult(r) + '\n');
  if (!results.some((r) => r.ok)) {
    if (!values.json) io.stderr('gnomon query: no server suitable for synchronization found\n');
    return 1;
  }
  return 0;
}

function signed(x: number, digits: number): string {
  return (x >= 0 ? '+' : '') + x.toFixed(digits);
}

export function formatResult(r: QueryResult): string {
  const where = isIPv6(r.address) ? `[${r.address}]:${r.port}` : `${r.address || r.host}:${r.port}`;
  if (r.stratum === undefined) return `server ${where}, ${r.error}`;
  const base = `server ${where}, stratum ${r.stratum}, offset ${signed(r.offsetS ?? 0, 6)}, delay ${(r.delayS ?? 0).toFixed(5)}, refid ${r.refid}, leap ${r.leap}`;
  return r.ok ? base : `${base}: ${r.error}`;
}

async function queryServer(clock: RealtimeClock, host: string, address: string, port: number, samples: number, timeoutMs: number, version: number): Promise<QueryResult> {
  const socket = dgram.createSocket(isIPv6(address) ? 'udp6' : 'udp4');
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(0, () => resolve());
  });
  let best: { header: NtpHeader; offsetS: number; delayS: number } | undefined;
  let last: NtpHeader | undefined;
  let received = 0;
  try {
    for (let i = 0; i < samples; i++) {
      const r = await exchange(socket, clock, address, port, timeoutMs, version);
      if (!r) continue;
      received++;
      last = r.header;
      if (r.header.stratum === STRATUM_KISS) break; // a kiss-o'-death: stop asking
      if (!best || r.delayS < best.delayS) best = r;
    }
  } finally {
    socket.close();
  }
  const base = { host, address, port, samples: received };
  if (!last) return { ...base, ok: false, error: 'no reply (timeout)' };
  const h = best?.header ?? last;
  const fields = {
    ...base,
    stratum: h.stratum, leap: h.leap, version: h.version, precision: h.precision,
    refid: formatRefId(h.referenceId, h.stratum),
    rootDelayS: secondsFromShort(h.rootDelay), rootDispersionS: secondsFromShort(h.rootDispersion),
    offsetS: best?.offsetS, delayS: best?.delayS,
  };
  if (last.stratum === STRATUM_KISS) return { ...fields, ok: false, error: `kiss-o'-death ${formatRefId(last.referenceId, 0)}` };
  if (h.leap === LeapIndicator.Unsynchronised || h.stratum >= STRATUM_UNSYNCHRONISED) {
    return { ...fields, ok: false, error: 'server is unsynchronised (leap 3 / stratum 16)' };
  }
  return { ...fields, ok: true };
}

function nowNtp(clock: RealtimeClock): NtpTimestamp {
  const t = newTimeSpec();
  clock.read(t);
  return { seconds: ntpSecondsOf(t), fraction: ntpFractionOf(t) };
}

async function exchange(socket: dgram.Socket, clock: RealtimeClock, address: string, port: number, timeoutMs: number, version: number):
  Promise<{ header: NtpHeader; offsetS: number; delayS: number } | undefined> {
  const cookie = randomBytes(8);
  const request = encodeHeader({
    leap: LeapIndicator.Unsynchronised, version, mode: Mode.Client, stratum: 0, poll: 0, precision: 0,
    rootDelay: 0, rootDispersion: 0, referenceId: 0, referenceTimestamp: ZERO_TIMESTAMP,
    originTimestamp: ZERO_TIMESTAMP, receiveTimestamp: ZERO_TIMESTAMP,
    transmitTimestamp: { seconds: cookie.readUInt32BE(0), fraction: cookie.readUInt32BE(4) },
  });
  return new Promise((resolve) => {
    let t1: NtpTimestamp = ZERO_TIMESTAMP;
    const timer = setTimeout(() => done(undefined), timeoutMs);
    const onMessage = (msg: Buffer, rinfo: dgram.RemoteInfo): void => {
      const t4 = nowNtp(clock);
      if (rinfo.port !== port || msg.length < NTP_HEADER_LENGTH || !msg.subarray(24, 32).equals(cookie)) return; // not ours
      const header = decodeHeader(msg);
      if (header.mode !== Mode.Server && header.mode !== Mode.SymmetricPassive) return;
      const { offsetS, delayS } = computeExchange(t1, header.receiveTimestamp, header.transmitTimestamp, t4);
      done({ header, offsetS, delayS });
    };
    const done = (r: { header: NtpHeader; offsetS: number; delayS: number } | undefined): void => {
      clearTimeout(timer);
      socket.off('message', onMessage);
      resolve(r);
    };
    socket.on('message', onMessage);
    t1 = nowNtp(clock);
    socket.send(request, port, address);
  });
}
