/**
 * The IO shell of the config layer: the only file in src/config that touches the disk.
 *
 * It reads the root file and, through repeated pure expansions (include.ts), every file
 * reachable by includefile; then checks that files named by `keys`/`leapfile` exist. All
 * judgement stays in the pure modules; this file only turns the disk into answers.
 *
 * Bytes: a file that is valid UTF-8 is decoded as such (a byte-order mark is kept as text,
 * so printing it back is byte-identical). A file that is not — a Latin-1 comment from an
 * old system — is decoded byte-for-byte as Latin-1 with a warning, so that writing the tree
 * back with `encodeConfigText(text, 'latin1')` reproduces the original bytes exactly.
 */
import { isUtf8 } from 'node:buffer';
import { access, readFile } from 'node:fs/promises';
import { DiagnosticCode, DiagnosticList } from './diagnostics.js';
import { expandIncludes, type IncludeRead, type SourceFile } from './include.js';
import { finish, referencedFiles, type ConfigResult } from './parse.js';

// Callers that load a file usually print its diagnostics too; one import serves both.
export { formatDiagnostic } from './diagnostics.js';

export type ConfigEncoding = 'utf8' | 'latin1';

export interface LoadedFile extends SourceFile {
  /** How to turn the (possibly edited) text back into bytes. */
  readonly encoding: ConfigEncoding;
}

export interface LoadResult extends ConfigResult {
  readonly files: readonly LoadedFile[];
}

export type ConfigLoadErrorCode = 'CONFIG_READ_FAILED';

/** The root file could not be read at all: nothing to validate, nothing to run. */
export class ConfigLoadError extends Error {
  override readonly name = 'ConfigLoadError';
  constructor(readonly code: ConfigLoadErrorCode, readonly path: string, readonly reason: string) {
    super(`cannot read ${path}: ${reason}`);
  }
}

interface Decoded {
  readonly text: string;
  readonly encoding: ConfigEncoding;
  /** 1-based line of the first byte that is not UTF-8, for latin1 files. */
  readonly badLine?: number;
}

export function decodeConfigBytes(bytes: Uint8Array): Decoded {
  const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (isUtf8(buffer)) return { text: new TextDecoder('utf-8', { ignoreBOM: true }).decode(buffer), encoding: 'utf8' };
  let line = 1;
  let start = 0;
  for (let i = 0; i <= buffer.length; i++) {
    if (i === buffer.length || buffer[i] === 0x0a) {
      if (!isUtf8(buffer.subarray(start, i))) break;
      line++;
      start = i + 1;
    }
  }
  return { text: buffer.toString('latin1'), encoding: 'latin1', badLine: line };
}

export function encodeConfigText(text: string, encoding: ConfigEncoding): Buffer {
  return Buffer.from(text, encoding);
}

/** Reads and validates a config file and everything it includes. Throws ConfigLoadError only for the root file. */
export async function loadConfig(path: string): Promise<LoadResult> {
  const root = await readOne(path);
  if (!root.ok) throw new ConfigLoadError('CONFIG_READ_FAILED', path, root.detail);

  const cache = new Map<string, IncludeRead>();
  const decoded = new Map<string, Decoded>([[path, root.decoded]]);
  // Each pure expansion names the files it still needs; read them and expand again.
  for (;;) {
    const pending = new Set<string>();
    const expansion = expandIncludes(path, root.decoded.text, (p) => {
      const known = cache.get(p);
      if (!known) pending.add(p);
      return known;
    });
    if (pending.size === 0) {
      const extra = new DiagnosticList();
      for (const [file, d] of decoded) {
        if (d.badLine === undefined || !expansion.files.some((f) => f.path === file)) continue;
        extra.warning(file, { line: d.badLine, column: 1 }, {
          code: DiagnosticCode.NotUtf8,
          message: `${file} is not valid UTF-8 (first at line ${d.badLine}); it is read as Latin-1`,
          hint: 'convert it with `iconv -f latin1 -t utf-8`; Gnomon keeps the bytes as they are when it edits the file',
        });
      }
      for (const ref of referencedFiles(expansion.lines)) {
        if (await exists(ref.path)) continue;
        extra.warning(ref.at.file, ref.at, {
          code: DiagnosticCode.FileMissing, directive: ref.directive,
          message: `${ref.directive}: ${ref.path} does not exist`,
          hint: `create it, or remove the ${ref.directive} line`,
        });
      }
      const result = finish(expansion, extra.items);
      const files = result.files.map((f) => ({ ...f, encoding: decoded.get(f.path)?.encoding ?? 'utf8' }));
      return { ...result, files };
    }
    await Promise.all([...pending].map(async (p) => {
      const read = await readOne(p);
      if (read.ok) {
        decoded.set(p, read.decoded);
        cache.set(p, { ok: true, text: read.decoded.text });
      } else {
        cache.set(p, { ok: false, reason: read.missing ? 'missing' : 'unreadable', detail: read.detail });
      }
    }));
  }
}

type ReadOutcome = { ok: true; decoded: Decoded } | { ok: false; missing: boolean; detail: string };

async function readOne(path: string): Promise<ReadOutcome> {
  try {
    return { ok: true, decoded: decodeConfigBytes(await readFile(path)) };
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const detail = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : code === 'EISDIR' ? 'it is a directory' : String((error as Error).message);
    return { ok: false, missing: code === 'ENOENT', detail };
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}
