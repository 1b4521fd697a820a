/**
 * The IO shell for `driftfile PATH` (the format and the sign are in src/discipline/drift.ts).
 *
 * Load at start: a missing file is normal (first boot, or a new path) and is not an error.
 * Save atomically, so a power cut at any moment leaves either the old file or the new one, never
 * a truncated one: write PATH.TEMP in the same folder (a rename is atomic only within one
 * filesystem), fsync it, rename it over PATH, fsync the folder (so the rename itself is on disk).
 * NTPsec writes PATH-tmp and renames without the fsyncs; on an SD card with a journal that is
 * usually fine, on a power cut it can leave an empty file, hence the fsyncs.
 */
import { open, readFile, rename, stat, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import { formatDriftfile, parseDriftfile, type DriftfileProblem } from '../discipline/drift.js';

/** A driftfile is one short line; anything longer than this is not one. */
const MAX_DRIFTFILE_BYTES = 4096;

export type DriftfileLoad =
  | { readonly freqPpm: number }
  | { readonly missing: true }
  | { readonly error: DriftfileProblem };

/** The temporary name a save writes first: same folder, so the rename stays on one filesystem. */
export function driftfileTempPath(path: string): string {
  return `${path}.TEMP`;
}

function ioProblem(code: 'DRIFTFILE_READ_FAILED' | 'DRIFTFILE_WRITE_FAILED', path: string, action: string, error: unknown): DriftfileProblem {
  const errno = (error as NodeJS.ErrnoException).code;
  const reason = errno === 'ENOENT' ? 'no such file or folder' : errno === 'EACCES' || errno === 'EPERM' ? 'permission denied'
    : errno === 'EROFS' ? 'read-only filesystem' : errno === 'ENOSPC' ? 'no space left' : (error as Error).message;
  const folder = dirname(path);
  const hint = errno === 'ENOENT'
    ? `create the folder ${folder}, writable by the user Gnomon runs as (e.g. /var/lib/gnomon)`
    : errno === 'EACCES' || errno === 'EPERM'
      ? `make ${folder} writable by the user Gnomon runs as (the \`user\` directive); the file is replaced, not edited, so the folder must be writable`
      : errno === 'EROFS' ? `put the driftfile on a writable filesystem (e.g. /var/lib/gnomon/drift)` : 'check the driftfile path and its folder';
  return { code, message: `driftfile: cannot ${action} ${path}: ${reason}`, hint, file: path, line: null, column: null };
}

/** Reads PATH. Returns Gnomon's freqPpm (+ = the clock runs fast), `missing`, or a located problem. */
export async function loadDriftfile(path: string): Promise<DriftfileLoad> {
  let text: string;
  try {
    const info = await stat(path);
    if (info.isDirectory()) {
      return { error: { code: 'DRIFTFILE_READ_FAILED', message: `driftfile: ${path} is a folder`, hint: 'name a file, e.g. /var/lib/gnomon/drift', file: path, line: null, column: null } };
    }
    if (info.size > MAX_DRIFTFILE_BYTES) {
      return { error: { code: 'DRIFTFILE_SYNTAX', message: `driftfile: ${path} is ${info.size} bytes; a driftfile is one number`, hint: 'check the driftfile path; delete the file to start from 0 ppm', file: path, line: null, column: null } };
    }
    text = (await readFile(path)).toString('latin1');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { missing: true };
    return { error: ioProblem('DRIFTFILE_READ_FAILED', path, 'read', error) };
  }
  const parsed = parseDriftfile(text, path);
  return parsed.ok ? { freqPpm: parsed.freqPpm } : { error: parsed.problem };
}

/**
 * Writes freqPpm (Gnomon sign) to PATH atomically: PATH.TEMP written and fsynced, renamed over
 * PATH (the last step that changes what PATH holds), then the folder fsynced. Throws a
 * DriftfileWriteError (code DRIFTFILE_WRITE_FAILED, with a hint) and removes the temp file when
 * a step fails; PATH is then untouched.
 */
export async function saveDriftfile(path: string, freqPpm: number): Promise<void> {
  const content = formatDriftfile(freqPpm);
  const temp = driftfileTempPath(path);
  try {
    const file = await open(temp, 'w', 0o644);
    try {
      await file.writeFile(content, 'latin1');
      await file.sync();
    } finally {
      await file.close();
    }
    await rename(temp, path);
  } catch (error) {
    await unlink(temp).catch(() => undefined);
    throw new DriftfileWriteError(ioProblem('DRIFTFILE_WRITE_FAILED', path, 'write', error));
  }
  // The rename is done; making it durable is best effort (some filesystems refuse to fsync a folder).
  try {
    const folder = await open(dirname(path), 'r');
    try {
      await folder.sync();
    } finally {
      await folder.close();
    }
  } catch {
    // ignored: the new content is in place; only its durability across a power cut is weaker
  }
}

export class DriftfileWriteError extends Error {
  readonly code = 'DRIFTFILE_WRITE_FAILED';
  constructor(readonly problem: DriftfileProblem) {
    super(problem.message);
    this.name = 'DriftfileWriteError';
  }

  get hint(): string {
    return this.problem.hint;
  }
}
