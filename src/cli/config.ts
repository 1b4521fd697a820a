/**
 * `gnomon config ...`: configuration commands. src/cli/main.ts passes argv after "config".
 *
 *   gnomon config validate [--config FILE] [--json]
 *
 * Diagnostics go to stdout, one per line in the compiler format, because they are what the
 * command produces (pipe them into grep or an editor's error list); usage problems go to
 * stderr. Exit codes: 0 no errors (warnings allowed), 1 errors, 2 usage or unreadable file.
 */
import { parseArgs } from 'node:util';
import { formatDiagnostic } from '../config/diagnostics.js';
import { ConfigLoadError, loadConfig } from '../config/load.js';
import type { ConfigDiagnostic } from '../config/model.js';
import type { CliIo } from './io.js';

export const DEFAULT_CONFIG_PATH = '/etc/gnomon/ntp.conf';

export const EXIT_OK = 0;
export const EXIT_INVALID = 1;
export const EXIT_USAGE = 2;

const USAGE = `usage: gnomon config validate [--config FILE] [--json]

  validate   check an ntp.conf-syntax file and everything it includes; print every
             error and warning as FILE:LINE:COLUMN: severity: message
  --config   the file to check (default ${DEFAULT_CONFIG_PATH})
  --json     print one JSON object instead of lines
`;

export async function configCommand(argv: string[], out: CliIo): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      options: {
        config: { type: 'string', short: 'c' },
        json: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
      allowPositionals: true,
      strict: true,
    });
  } catch (error) {
    out.stderr(`gnomon config: ${(error as Error).message}\n${USAGE}`);
    return EXIT_USAGE;
  }
  const { values, positionals } = parsed;
  if (values.help) {
    out.stdout(USAGE);
    return EXIT_OK;
  }
  const [subcommand, ...extra] = positionals;
  if (subcommand !== 'validate') {
    out.stderr(`gnomon config: ${subcommand === undefined ? 'missing subcommand' : `unknown subcommand "${subcommand}"`}\n${USAGE}`);
    return EXIT_USAGE;
  }
  if (extra.length > 0) {
    out.stderr(`gnomon config validate: unexpected argument "${extra[0] ?? ''}" (use --config FILE)\n${USAGE}`);
    return EXIT_USAGE;
  }
  if (values.config === '') {
    out.stderr(`gnomon config validate: --config needs a file name\n${USAGE}`);
    return EXIT_USAGE;
  }
  return validate(values.config ?? DEFAULT_CONFIG_PATH, values.json ?? false, out);
}

async function validate(path: string, json: boolean, out: CliIo): Promise<number> {
  let result;
  try {
    result = await loadConfig(path);
  } catch (error) {
    if (!(error instanceof ConfigLoadError)) throw error;
    const hint = path === DEFAULT_CONFIG_PATH ? ' (pass --config FILE to check another file)' : '';
    if (json) out.stdout(`${JSON.stringify({ file: path, ok: false, readError: { code: error.code, reason: error.reason } })}\n`);
    out.stderr(`gnomon config validate: cannot read ${path}: ${error.reason}${hint}\n`);
    return EXIT_USAGE;
  }
  const errors = result.diagnostics.filter((d) => d.severity === 'error').length;
  const warnings = result.diagnostics.length - errors;
  if (json) {
    out.stdout(`${JSON.stringify({
      file: path, ok: errors === 0, errors, warnings,
      files: result.files.map((f) => f.path),
      diagnostics: result.diagnostics,
    })}\n`);
  } else {
    for (const d of result.diagnostics) out.stdout(`${formatDiagnostic(d)}\n`);
    out.stdout(`${summary(path, result.diagnostics, result.files.length)}\n`);
  }
  return errors === 0 ? EXIT_OK : EXIT_INVALID;
}

function summary(path: string, diagnostics: readonly ConfigDiagnostic[], fileCount: number): string {
  const errors = diagnostics.filter((d) => d.severity === 'error').length;
  const warnings = diagnostics.length - errors;
  const count = (n: number, word: string): string => `${n} ${word}${n === 1 ? '' : 's'}`;
  const read = fileCount > 1 ? ` in ${count(fileCount, 'file')}` : '';
  return errors === 0
    ? `${path}: valid, ${count(warnings, 'warning')}${read}`
    : `${path}: invalid, ${count(errors, 'error')}, ${count(warnings, 'warning')}${read}`;
}
