/**
 * The IO shell for `leapfile PATH`: reads the file once and hands the text to the pure parser
 * (src/discipline/leap.ts). It watches nothing; the daemon calls it again to reload (at start-up,
 * on a config reload, and daily if it wants ntpd's "checked for updates" behaviour).
 *
 * Expiry depends on the time, so it is not judged here: call leapTableExpiry(table, now) with
 * the daemon's injected clock.
 */
import { readFile, stat } from 'node:fs/promises';
import type { SourcePosition } from '../config/model.js';
import { formatLeapFileProblem, parseLeapSecondsList, type LeapFileProblem, type LeapTable } from '../discipline/leap.js';

/** The IERS file is about 5 KB; anything past this is not one. */
const MAX_LEAPFILE_BYTES = 1 << 20;

export type LeapfileLoad =
  | { readonly ok: true; readonly table: LeapTable }
  /** `at`: the `leapfile` line in ntp.conf that named the file, when the caller passed it. */
  | { readonly ok: false; readonly error: LeapFileProblem; readonly at?: SourcePosition };

export async function loadLeapfile(leapfile: { readonly path: string; readonly at?: SourcePosition }): Promise<LeapfileLoad> {
  const { path, at } = leapfile;
  const failed = (message: string, hint: string): LeapfileLoad => ({
    ok: false,
    error: { code: 'LEAPFILE_READ_FAILED', severity: 'error', message, hint, file: path, line: null },
    ...(at ? { at } : {}),
  });
  const tzdataHint = path === '/usr/share/zoneinfo/leap-seconds.list'
    ? 'install the tzdata package (`apt install tzdata`), which ships this file'
    : 'check the path on the leapfile line; Debian\'s tzdata ships /usr/share/zoneinfo/leap-seconds.list';
  let text: string;
  try {
    const info = await stat(path);
    if (info.isDirectory()) return failed(`leapfile: ${path} is a directory`, 'name the leap-seconds.list file itself');
    if (info.size > MAX_LEAPFILE_BYTES) return failed(`leapfile: ${path} is ${info.size} bytes, too large for a leap-seconds.list`, tzdataHint);
    // The format is ASCII; Latin-1 keeps any stray byte as one character instead of failing.
    text = (await readFile(path)).toString('latin1');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const reason = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : (error as Error).message;
    return failed(`leapfile: cannot read ${path}: ${reason}`,
      code === 'EACCES' ? 'make the file readable by the user Gnomon runs as' : tzdataHint);
  }
  const parsed = parseLeapSecondsList(text, path);
  return parsed.ok ? parsed : { ok: false, error: parsed.error, ...(at ? { at } : {}) };
}

/** One log line for a failed load: the ntp.conf position first when known, then the problem. */
export function formatLeapfileLoadError(failure: Extract<LeapfileLoad, { ok: false }>): string {
  const where = failure.at ? `${failure.at.file}:${failure.at.line}:${failure.at.column}: ` : '';
  return `${where}${formatLeapFileProblem(failure.error)}`;
}
