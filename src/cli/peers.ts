/**
 * `gnomon peers [HOST]` (alias `gnomon ntpq`): the `ntpq -p` table from the same mode 6 exchange
 * ntpq makes (READSTAT, then READVAR of every association with an empty variable list), so the box
 * is usable where NTPsec's ntpq is not installed; `--json` for scripts. Works against Gnomon and
 * against NTPsec/classic ntpd.
 *
 * Remote names: like ntpq, addresses are shown as names (reverse lookup, lower-cased, bounded by
 * --timeout; the address when there is no name) unless -n. Refclocks show their srchost (NMEA(0)).
 * The table is 80 columns unless stdout is a terminal (then as wide as ntpq would make it) or --width.
 */
import { lookup, lookupService } from 'node:dns/promises';
import { isIP, isIPv6 } from 'node:net';
import { parseArgs } from 'node:util';
import { ControlServerError, ControlSession, NoAnswerError } from '../control/client/session.js';
import { addressToResolve, peerRow, tableHeader, tableRule, type PeerRow, type TableLayout } from '../control/client/peers-table.js';
import { varListToJson, type VarList } from '../control/client/varlist.js';
import type { CliIo } from './io.js';

const USAGE = `usage: gnomon peers [HOST] [--port N] [-n] [--json] [--timeout S] [--width W]
  Prints the server's associations as \`ntpq -p\` does (mode 6: READSTAT, then READVAR of each).
  HOST           the NTP server to ask (default 127.0.0.1); alias: gnomon ntpq
  --port N       its port (default 123)
  -n, --numeric  addresses as numbers (default: reverse-resolved names, as ntpq -p)
  --json         one JSON array: per association the computed columns and all its variables
  --timeout S    seconds to wait for each answer, tried twice as ntpq does (default 2)
  --width W      terminal width the table is laid out for (default 80, or the terminal's)
exit: 0 table printed, 1 the server refused a request (CERR_...), 2 no answer or bad usage`;

export interface PeersJsonEntry extends Omit<PeerRow, 'status' | 'when' | 'delay' | 'offset' | 'jitter'> {
  /** The peer status word, 4 hex digits as ntpq -c as prints it. */
  readonly status: string;
  readonly when: number | null;
  readonly reachOctal: string;
  readonly delay: number | string | null;
  readonly offset: number | string | null;
  readonly jitter: number | string | null;
  readonly variables: Record<string, number | string>;
}

function where(host: string, port: number): string {
  return isIPv6(host) ? `[${host}]:${port}` : `${host}:${port}`;
}

/** A reverse lookup as ntpq's canonicalize_dns: the lower-cased name, or undefined; never longer than timeoutMs. */
async function reverseName(address: string, timeoutMs: number): Promise<string | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), timeoutMs);
    timer.unref();
  });
  try {
    return await Promise.race([
      lookupService(address, 0).then((r) => (r.hostname && r.hostname !== address ? r.hostname.toLowerCase() : undefined),
        () => undefined),
      timeout,
    ]);
  } finally {
    if (timer) clearTimeout(timer);
  }
}

export async function peersCommand(argv: string[], io: CliIo, command = 'peers'): Promise<number> {
  const me = `gnomon ${command}`;
  let values;
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        port: { type: 'string', default: '123' },
        numeric: { type: 'boolean', short: 'n', default: false },
        json: { type: 'boolean', default: false },
        timeout: { type: 'string', default: '2' },
        width: { type: 'string' },
        help: { type: 'boolean', short: 'h', default: false },
      },
    }));
  } catch (err) {
    io.stderr(`${me}: ${(err as Error).message}\n${USAGE}\n`);
    return 2;
  }
  if (values.help) {
    io.stdout(USAGE + '\n');
    return 0;
  }
  const port = Number(values.port);
  const timeoutS = Number(values.timeout);
  const termWidth = values.width !== undefined ? Number(values.width)
    : process.stdout.isTTY && process.stdout.columns ? process.stdout.columns : 80;
  const bad = !Number.isInteger(port) || port < 1 || port > 65535 ? `--port ${values.port}: expected 1-65535`
    : !(timeoutS > 0 && timeoutS <= 60) ? `--timeout ${values.timeout}: expected seconds in (0, 60]`
      : !Number.isInteger(termWidth) || termWidth < 40 || termWidth > 1000 ? `--width ${values.width}: expected 40-1000`
        : positionals.length > 1 ? `one HOST at a time (got ${positionals.join(' ')})` : undefined;
  if (bad) {
    io.stderr(`${me}: ${bad}\n${USAGE}\n`);
    return 2;
  }
  const host = positionals[0] ?? '127.0.0.1';
  const hostPort = where(host, port);
  const noAnswer = `${me}: ${hostPort}: no answer (is an NTP server running there and does \`restrict ... noquery\` cover you?)\n`;

  let address = host;
  if (isIP(host) === 0) {
    try {
      address = (await lookup(host)).address;
    } catch (err) {
      io.stderr(`${me}: ${host}: cannot resolve: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}\n`);
      return 2;
    }
  }

  let session: ControlSession;
  try {
    session = await ControlSession.open(address, { port, timeoutMs: timeoutS * 1000 });
  } catch {
    io.stderr(noAnswer);
    return 2;
  }
  const fetched: Array<{ associd: number; status: number; vars: VarList }> = [];
  let exit = 0;
  try {
    const { associations } = await session.readStat();
    for (const a of associations) {
      try {
        const r = await session.readVar(a.associd);
        fetched.push({ associd: a.associd, status: r.status, vars: r.vars });
      } catch (err) {
        // The association may have gone since READSTAT (CERR_BADASSOC): report it and show the others.
        if (!(err instanceof ControlServerError)) throw err;
        io.stderr(`${me}: ${hostPort}: ${err.message}\n`);
        exit = 1;
      }
    }
  } catch (err) {
    if (err instanceof NoAnswerError) {
      io.stderr(noAnswer);
      return 2;
    }
    if (err instanceof ControlServerError) {
      io.stderr(`${me}: ${hostPort}: ${err.message}\n`);
      return 1;
    }
    throw err;
  } finally {
    session.close();
  }

  const names = new Map<string, string | undefined>();
  if (!values.numeric) {
    const addresses = [...new Set(fetched.map((f) => addressToResolve(f.vars)).filter((a): a is string => a !== undefined))];
    const resolved = await Promise.all(addresses.map((a) => reverseName(a, timeoutS * 1000)));
    addresses.forEach((a, i) => names.set(a, resolved[i]));
  }
  const layout: TableLayout = { termWidth };
  const rows = fetched.map((f) => ({
    f,
    row: peerRow(f.associd, f.status, f.vars, { nowUnix: Date.now() / 1000, nameOf: (a) => names.get(a), layout }),
  }));

  if (values.json) {
    const out: PeersJsonEntry[] = rows.map(({ f, row }) => ({
      ...row,
      status: row.status.toString(16).padStart(4, '0'),
      when: row.when ?? null,
      reachOctal: row.reach.toString(8),
      delay: jsonNumber(row.delay),
      offset: jsonNumber(row.offset),
      jitter: jsonNumber(row.jitter),
      variables: varListToJson(f.vars),
    }));
    io.stdout(JSON.stringify(out, null, 2) + '\n');
    return exit;
  }
  if (rows.length === 0) {
    io.stdout('No association IDs returned\n');
    return exit;
  }
  io.stdout(`${tableHeader(layout)}\n${tableRule(layout)}\n${rows.map(({ row }) => row.line + '\n').join('')}`);
  return exit;
}

function jsonNumber(v: number | string | undefined): number | string | null {
  if (v === undefined) return null;
  return typeof v === 'number' && !Number.isFinite(v) ? String(v) : v;
}
