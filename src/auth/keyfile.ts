/**
 * Reads the `keys` file (the IO shell of src/auth): a missing or unreadable file is a located
 * error, a file others may read is warned about (ntpd's advice: mode 600, owned by root).
 */
import { readFile, stat } from 'node:fs/promises';
import type { ConfigDiagnostic, GnomonConfig } from '../config/model.js';
import { parseKeyFile, type KeyFileProblem, type KeyFileResult } from './keys.js';
import { KeyRing } from './mac.js';

export interface KeyFileRead extends KeyFileResult {
  readonly path: string;
}

export async function readKeyFile(path: string): Promise<KeyFileRead> {
  let text: string;
  let mode: number;
  try {
    [text, mode] = await Promise.all([readFile(path, 'utf8'), stat(path).then((s) => s.mode)]);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const problem: KeyFileProblem = {
      severity: 'error', code: 'KEYS_READ_FAILED', line: 1, column: 1,
      message: `cannot read the key file: ${e.code === 'ENOENT' ? 'it does not exist' : e.message}`,
      hint: e.code === 'ENOENT' ? 'create it (`ntpkeygen`, or lines `keyno type key`, mode 600) or fix the `keys` line'
        : 'the file must be readable by the user gnomon starts as (root); keep it mode 600',
    };
    return { path, keys: new Map(), problems: [problem] };
  }
  const parsed = parseKeyFile(text);
  const problems = [...parsed.problems];
  if ((mode & 0o004) !== 0) {
    problems.unshift({
      severity: 'warning', code: 'KEYS_WORLD_READABLE', line: 1, column: 1,
      message: 'the key file is readable by every user; anyone on this machine can forge authenticated time',
      hint: `chmod 600 ${path}`,
    });
  }
  return { path, keys: parsed.keys, problems };
}

/**
 * The trusted keys a config asks for, as the server's KeyRing, with every problem as a located
 * config diagnostic: the key file's own at its line, a missing file at the `keys` line, and a
 * trustedkey the file does not define at that number. `ring` is absent when there are errors.
 */
export async function keyRingFor(config: GnomonConfig): Promise<{ ring?: KeyRing; diagnostics: ConfigDiagnostic[] }> {
  const diagnostics: ConfigDiagnostic[] = [];
  const trusted = config.trustedKeys ?? [];
  if (!config.keys) {
    for (const t of trusted) {
      diagnostics.push({ severity: 'warning', code: 'KEYS_NOT_DEFINED', directive: 'trustedkey', at: t.at,
        message: `trustedkey ${t.id}: there is no \`keys\` line, so no key ${t.id} exists`, hint: 'add `keys /etc/ntpsec/ntp.keys` (the key file)' });
    }
    return { ring: new KeyRing(), diagnostics };
  }
  const read = await readKeyFile(config.keys.path);
  for (const p of read.problems) {
    const at = p.code === 'KEYS_READ_FAILED' ? config.keys.at : { file: read.path, line: p.line, column: p.column };
    diagnostics.push({ severity: p.severity, code: p.code, directive: 'keys', at, message: p.code === 'KEYS_READ_FAILED' ? `keys: ${read.path}: ${p.message}` : p.message,
      ...(p.hint ? { hint: p.hint } : {}) });
  }
  for (const t of trusted) {
    if (!read.keys.has(t.id)) {
      diagnostics.push({ severity: 'warning', code: 'KEYS_NOT_DEFINED', directive: 'trustedkey', at: t.at,
        message: `trustedkey ${t.id}: ${read.path} does not define key ${t.id}; requests signed with it get a crypto-NAK`, hint: `add a line \`${t.id} SHA1 <40 hex digits>\` to the key file` });
    }
  }
  if (trusted.length === 0 && read.keys.size > 0) {
    diagnostics.push({ severity: 'warning', code: 'KEYS_NONE_TRUSTED', directive: 'keys', at: config.keys.at,
      message: 'keys: no `trustedkey` line, so no key authenticates anything (as in ntpd)', hint: `add \`trustedkey ${[...read.keys.keys()].slice(0, 3).join(' ')}\`` });
  }
  // A key file that cannot be read (missing, no permission) is a located error, but like ntpd the
  // daemon serves on without keys (signed requests get a crypto-NAK): a box migrated with a
  // `keys` line and no file must still serve time. A file that is there but wrong refuses.
  if (diagnostics.some((d) => d.severity === 'error' && d.code !== 'KEYS_READ_FAILED')) return { diagnostics };
  if (read.problems.some((p) => p.code === 'KEYS_READ_FAILED')) return { ring: new KeyRing(), diagnostics };
  return { ring: new KeyRing(read.keys.values(), trusted.map((t) => t.id)), diagnostics };
}
