/**
 * `gnomon config ...`: configuration commands. src/cli/main.ts passes argv after "config".
 *
 *   gnomon config validate [--config FILE] [--json]
 *   gnomon config restrict list|add|remove|set-default ...   (see USAGE)
 *   gnomon config broadcast list|add|remove ...
 *   gnomon config diff | history | rollback [ID]
 *
 * Every edit goes through the config service (src/config/store.ts), as the web page's do.
 * Diagnostics go to stdout, one per line in the compiler format, because they are what the
 * command produces (pipe them into grep or an editor's error list); usage problems, refusals
 * and notices go to stderr. Exit codes (docs/config-service.md): 0 ok (warnings allowed),
 * 1 invalid or refused (file unchanged), 2 usage or unreadable file, 3 the daemon refused
 * the new config (the file was restored).
 */
import { parseArgs } from 'node:util';
import { formatDiagnostic } from '../config/diagnostics.js';
import { ConfigLoadError, loadConfig } from '../config/load.js';
import type { ConfigDiagnostic } from '../config/model.js';
import { RESTRICT_FLAGS } from '../config/model.js';
import { ConfigStore, unifiedDiff, type ConfigChange, type EditResult } from '../config/store.js';
import { defaultControlSocket } from '../control/local.js';
import type { CliIo } from './io.js';

export const DEFAULT_CONFIG_PATH = '/etc/gnomon/ntp.conf';

export const EXIT_OK = 0;
export const EXIT_INVALID = 1;
export const EXIT_USAGE = 2;
export const EXIT_RELOAD_REFUSED = 3;

const USAGE = `usage: gnomon config validate [--config FILE] [--json]
       gnomon config restrict list | add ADDR[/LEN] [mask M] FLAG... | remove ADDR[/LEN] [mask M]
                              | set-default [-4|-6] FLAG...
       gnomon config broadcast list | add ADDR [ttl T] [key K] [minpoll P] [version V] | remove ADDR
       gnomon config diff | history | rollback [ID]

  validate     check an ntp.conf-syntax file and everything it includes; print every
               error and warning as FILE:LINE:COLUMN: severity: message
  restrict     list, add (or replace the flags of), remove the access rules; set the default rule
               flags: ${RESTRICT_FLAGS.join(' ')}
  broadcast    list, add (or replace), remove mode 5 targets: a multicast group, 255.255.255.255
               or the broadcast address of one of this box's interfaces
  diff         the file against the config the running daemon runs (pending changes)
  history      the previous versions kept in FILE.history/ (newest first)
  rollback     make a previous version current (default: the one before the current)

  --config     the file (default ${DEFAULT_CONFIG_PATH})
  --control    the daemon's control socket (default ${defaultControlSocket()}); every change is
               validated, written atomically and reloaded; without a daemon the reload is
               skipped with a notice
  --json       print JSON instead of lines
exit codes: 0 ok, 1 invalid or refused (file unchanged), 2 usage, 3 the daemon refused the
new config (the previous file was restored)
`;

export async function configCommand(argv: string[], out: CliIo): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      options: {
        config: { type: 'string', short: 'c' },
        control: { type: 'string' },
        json: { type: 'boolean' },
        ipv4: { type: 'boolean', short: '4' },
        ipv6: { type: 'boolean', short: '6' },
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
  if (values.config === '' || values.control === '') {
    out.stderr(`gnomon config: --${values.config === '' ? 'config needs a file name' : 'control needs a socket path'}\n${USAGE}`);
    return EXIT_USAGE;
  }
  if (subcommand !== 'validate') {
    if (subcommand !== undefined && EDIT_COMMANDS.has(subcommand)) {
      return editCommand(subcommand, extra, {
        path: values.config ?? DEFAULT_CONFIG_PATH, control: values.control ?? defaultControlSocket(),
        json: values.json ?? false, family: values.ipv4 ? 'ipv4' : values.ipv6 ? 'ipv6' : undefined, both: (values.ipv4 ?? false) && (values.ipv6 ?? false),
      }, out);
    }
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

// ── edits and the history ────────────────────────────────────────────────────────────────────

const EDIT_COMMANDS: ReadonlySet<string> = new Set(['restrict', 'broadcast', 'diff', 'history', 'rollback']);

interface EditOptions {
  readonly path: string;
  readonly control: string;
  readonly json: boolean;
  readonly family: 'ipv4' | 'ipv6' | undefined;
  readonly both: boolean;
}

class UsageError extends Error {}

async function editCommand(command: string, args: string[], o: EditOptions, out: CliIo): Promise<number> {
  const store = new ConfigStore({ path: o.path, controlSocket: o.control });
  const name = `gnomon config ${command}${args[0] !== undefined && (command === 'restrict' || command === 'broadcast') ? ` ${args[0]}` : ''}`;
  try {
    if (o.both) throw new UsageError('give -4 or -6, not both');
    if (o.family !== undefined && !(command === 'restrict' && args[0] === 'set-default')) {
      throw new UsageError('-4/-6 only apply to restrict set-default');
    }
    switch (command) {
      case 'restrict': return await restrictCommand(store, args, o, out);
      case 'broadcast': return await broadcastCommand(store, args, o, out);
      case 'diff': return await diffCommand(store, args, o, out);
      case 'history': return await historyCommand(store, args, o, out);
      default: return await rollbackCommand(store, args, o, out);
    }
  } catch (error) {
    if (error instanceof UsageError) {
      out.stderr(`${name}: ${error.message}\n${USAGE}`);
      return EXIT_USAGE;
    }
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'EACCES' || code === 'EISDIR') {
      const hint = o.path === DEFAULT_CONFIG_PATH ? ' (pass --config FILE for another file)' : '';
      out.stderr(`${name}: cannot read ${o.path}: ${code}${hint}\n`);
      return EXIT_USAGE;
    }
    throw error;
  }
}

async function restrictCommand(store: ConfigStore, args: string[], o: EditOptions, out: CliIo): Promise<number> {
  const [action, ...rest] = args;
  switch (action) {
    case 'list': {
      noMore(rest);
      const rules = await store.restrictRules();
      if (o.json) {
        out.stdout(`${JSON.stringify({ file: o.path, restrict: rules })}\n`);
        return EXIT_OK;
      }
      if (rules.length === 0) out.stderr(`${o.path}: no restrict lines (the implicit default: time served to everyone, mode 6 only from the loopback)\n`);
      for (const r of rules) {
        const target = r.kind === 'address' ? `${r.address ?? ''}${r.prefixLength !== undefined && r.prefixLength !== (r.family === 'ipv4' ? 32 : 128) ? `/${r.prefixLength}` : ''}`
          : `${r.family === 'ipv4' ? '-4 ' : r.family === 'ipv6' ? '-6 ' : ''}${r.kind}`;
        const where = r.editable ? `${r.line}` : `${r.file}:${r.line}`;
        out.stdout(`${where.padEnd(5)} ${target.padEnd(24)} ${r.flags.join(' ') || '(no flags)'}${r.errors.length > 0 ? `  [invalid: ${r.errors[0] ?? ''}]` : ''}\n`);
      }
      return EXIT_OK;
    }
    case 'add': case 'remove': {
      const [address, ...more] = rest;
      if (address === undefined) throw new UsageError(`restrict ${action} needs an address (ADDR, ADDR/LEN or ADDR mask M)`);
      let mask: string | undefined;
      if (more[0] === 'mask') {
        mask = more[1];
        if (mask === undefined) throw new UsageError('mask needs a value, e.g. mask 255.255.255.0');
        more.splice(0, 2);
      }
      if (action === 'remove') {
        noMore(more);
        return report(store, await store.apply({ kind: 'restrict-remove', address, ...(mask !== undefined ? { mask } : {}) }, null), o, out);
      }
      return report(store, await store.apply({ kind: 'restrict-add', address, ...(mask !== undefined ? { mask } : {}), flags: more }, null), o, out);
    }
    case 'set-default': {
      const change: ConfigChange = { kind: 'restrict-set-default', flags: rest, ...(o.family ? { family: o.family } : {}) };
      return report(store, await store.apply(change, null), o, out);
    }
    default:
      throw new UsageError(action === undefined ? 'missing action: list, add, remove or set-default' : `unknown action "${action}"`);
  }
}

async function broadcastCommand(store: ConfigStore, args: string[], o: EditOptions, out: CliIo): Promise<number> {
  const [action, ...rest] = args;
  switch (action) {
    case 'list': {
      noMore(rest);
      const lines = await store.broadcastLines();
      if (o.json) {
        out.stdout(`${JSON.stringify({ file: o.path, broadcast: lines })}\n`);
        return EXIT_OK;
      }
      if (lines.length === 0) out.stderr(`${o.path}: no broadcast lines\n`);
      for (const b of lines) {
        const where = b.editable ? `${b.line}` : `${b.file}:${b.line}`;
        const options = `ttl ${b.ttl} minpoll ${b.minpoll} version ${b.version}${b.key !== undefined ? ` key ${b.key}` : ''}`;
        out.stdout(`${where.padEnd(5)} ${b.address.padEnd(24)} ${b.multicast ? 'multicast' : 'broadcast'} ${options}${b.errors.length > 0 ? `  [invalid: ${b.errors[0] ?? ''}]` : ''}\n`);
      }
      return EXIT_OK;
    }
    case 'add': {
      const [address, ...more] = rest;
      if (address === undefined) throw new UsageError('broadcast add needs an address');
      const options: Record<string, number> = {};
      for (let i = 0; i < more.length; i += 2) {
        const key = more[i] ?? '';
        const value = more[i + 1];
        if (!['ttl', 'key', 'minpoll', 'version'].includes(key)) throw new UsageError(`unknown option "${key}" (ttl, key, minpoll, version)`);
        if (value === undefined) throw new UsageError(`${key} needs a value`);
        options[key] = /^-?\d+$/.test(value) ? Number(value) : Number.NaN;
      }
      return report(store, await store.apply({ kind: 'broadcast-add', address, ...options }, null), o, out);
    }
    case 'remove': {
      const [address, ...more] = rest;
      if (address === undefined) throw new UsageError('broadcast remove needs an address');
      noMore(more);
      return report(store, await store.apply({ kind: 'broadcast-remove', address }, null), o, out);
    }
    default:
      throw new UsageError(action === undefined ? 'missing action: list, add or remove' : `unknown action "${action}"`);
  }
}

async function diffCommand(store: ConfigStore, args: string[], o: EditOptions, out: CliIo): Promise<number> {
  noMore(args);
  const file = await store.read();
  const running = await store.running();
  if (!running) {
    if (o.json) out.stdout(`${JSON.stringify({ file: o.path, running: null, diff: null })}\n`);
    out.stderr(`gnomon config diff: no daemon answers at ${o.control}; nothing runs to compare with (use --control PATH)\n`);
    return EXIT_OK;
  }
  const diff = unifiedDiff(running.text, file.text, [`running`, o.path]);
  if (o.json) out.stdout(`${JSON.stringify({ file: o.path, pending: diff !== '', diff })}\n`);
  else if (diff === '') out.stderr(`${o.path}: no pending changes (the daemon runs this file)\n`);
  else out.stdout(diff.endsWith('\n') ? diff : `${diff}\n`);
  return EXIT_OK;
}

async function historyCommand(store: ConfigStore, args: string[], o: EditOptions, out: CliIo): Promise<number> {
  noMore(args);
  const entries = await store.history();
  if (o.json) {
    out.stdout(`${JSON.stringify({ file: o.path, history: entries })}\n`);
    return EXIT_OK;
  }
  if (entries.length === 0) out.stderr(`${o.path}: no previous versions kept yet\n`);
  for (const e of entries) out.stdout(`${e.id.padStart(4)}  ${e.savedAt}  ${String(e.bytes).padStart(6)} bytes  ${e.etag.slice(0, 12)}\n`);
  return EXIT_OK;
}

async function rollbackCommand(store: ConfigStore, args: string[], o: EditOptions, out: CliIo): Promise<number> {
  const [id, ...more] = args;
  noMore(more);
  if (id !== undefined && !/^\d+$/.test(id)) throw new UsageError(`"${id}" is not a history id (see gnomon config history)`);
  return report(store, await store.rollback(id, null), o, out);
}

function noMore(args: readonly string[]): void {
  if (args.length > 0) throw new UsageError(`unexpected argument "${args[0] ?? ''}"`);
}

function report(store: ConfigStore, result: EditResult, o: EditOptions, out: CliIo): number {
  if (o.json) out.stdout(`${JSON.stringify(result)}\n`);
  if (result.ok) {
    for (const w of result.warnings) out.stderr(`gnomon config: ${w}\n`);
    if (!o.json) out.stdout(`${store.path}: saved${result.reload === 'applied' ? '; the daemon reloaded it' : ' (not reloaded: no daemon)'}\n`);
    return EXIT_OK;
  }
  out.stderr(`gnomon config: ${result.message} [${result.code}]\n`);
  for (const f of result.fieldErrors) out.stderr(`  ${f.field}: ${f.message}${f.hint ? ` (hint: ${f.hint})` : ''}\n`);
  if (result.fieldErrors.length === 0) for (const d of result.diagnostics) out.stderr(`  ${d}\n`);
  return result.code === 'CONFIG_RELOAD_REFUSED' ? EXIT_RELOAD_REFUSED : EXIT_INVALID;
}
