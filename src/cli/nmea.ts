/**
 * `gnomon nmea decode FILE [--json] [--fix-only] [--pivot DATE]`: replay a captured receiver log
 * (gpsd's format) through the NMEA driver's framer and decoder, one line per epoch.
 *
 * This is how an operator checks a receiver before trusting it, and what the golden test runs.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { civilDays, type NmeaEpoch } from '../../drivers/nmea/decode.js';
import { replayGpsdLog } from '../../drivers/nmea/replay.js';
import type { CliIo } from './io.js';

const USAGE = `usage: gnomon nmea decode FILE [--json] [--fix-only] [--pivot YYYY-MM-DD]
  Replays a receiver log in gpsd's format ('#' comment lines, then the raw bytes) and prints one
  line per epoch: UTC time, fix mode, satellites used.
  --json      one JSON array on stdout
  --fix-only  leave out epochs the receiver marked as without a fix (fix "none")
  --pivot     GPS week-rollover pivot: earlier dates move forward by 1024 weeks
              (default: a year before the log's "# Date:" line; none without one)`;

export interface NmeaEpochJson {
  readonly time: string;
  readonly fix: 'none' | '2d' | '3d';
  readonly satellitesUsed: number | null;
  readonly satellitesVisible: number | null;
  readonly hdop: number | null;
  readonly rolloverPeriods: number;
}

/** ISO 8601 with milliseconds, truncated (not rounded: a label never moves into the next second). */
export function isoMillis(utcNs: bigint): string {
  return new Date(Number(utcNs / 1_000_000n)).toISOString();
}

export function epochJson(e: NmeaEpoch): NmeaEpochJson {
  return {
    time: isoMillis(e.utcNs),
    fix: e.fix.mode,
    satellitesUsed: e.fix.satellitesUsed,
    satellitesVisible: e.fix.satellitesVisible,
    hdop: e.fix.hdop,
    rolloverPeriods: e.rolloverPeriods,
  };
}

export async function nmeaCommand(argv: string[], io: CliIo): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === undefined || sub === '-h' || sub === '--help') {
    (sub === undefined ? io.stderr : io.stdout)(USAGE + '\n');
    return sub === undefined ? 2 : 0;
  }
  if (sub !== 'decode') {
    io.stderr(`gnomon nmea: unknown subcommand "${sub}"\n${USAGE}\n`);
    return 2;
  }
  let values;
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({
      args: rest,
      allowPositionals: true,
      options: {
        json: { type: 'boolean', default: false },
        'fix-only': { type: 'boolean', default: false },
        pivot: { type: 'string' },
        help: { type: 'boolean', short: 'h', default: false },
      },
    }));
  } catch (err) {
    io.stderr(`gnomon nmea decode: ${(err as Error).message}\n${USAGE}\n`);
    return 2;
  }
  if (values.help) {
    io.stdout(USAGE + '\n');
    return 0;
  }
  if (positionals.length !== 1) {
    io.stderr(`gnomon nmea decode: expected one FILE\n${USAGE}\n`);
    return 2;
  }
  let pivotUnixNs: bigint | undefined;
  if (values.pivot !== undefined) {
    const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(values.pivot);
    const days = m === null ? null : civilDays(Number(m[1]), Number(m[2]), Number(m[3]));
    if (days === null) {
      io.stderr(`gnomon nmea decode: --pivot ${values.pivot}: expected a date YYYY-MM-DD from 1980 on\n`);
      return 2;
    }
    pivotUnixNs = BigInt(days) * 86_400_000_000_000n;
  }
  const file = positionals[0]!;
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'EIO';
    io.stderr(`gnomon nmea decode: ${file}: cannot read (${code})\n`);
    return 1;
  }
  const result = replayGpsdLog(bytes, { pivotUnixNs });
  const epochs = result.epochs.filter((e) => !values['fix-only'] || e.fix.mode !== 'none').map(epochJson);
  if (values.json) {
    io.stdout(JSON.stringify(epochs, null, 2) + '\n');
  } else {
    for (const e of epochs) {
      const rolled = e.rolloverPeriods > 0 ? `  (week rollover +${e.rolloverPeriods * 1024} weeks)` : '';
      io.stdout(`${e.time}  ${e.fix.padEnd(4)}  sats ${e.satellitesUsed ?? '-'}${rolled}\n`);
    }
  }
  return 0;
}
