/**
 * The config service: the one module the CLI (`gnomon config`) and the web page call to read
 * and change ntp.conf (ARCHITECTURE.md principle 7; docs/config-service.md).
 *
 * This is the IO shell around changes.ts (pure): it reads the file, asks changes.ts for the new
 * text, and then, in this order:
 *   1. takes the lock (in-process mutex + PATH.lock across processes), re-reads the file and
 *      compares its etag (sha256 of the bytes) with the one the caller saw: CONFIG_STALE if it moved;
 *   2. validates the whole result with the daemon's compiler (includes followed);
 *   3. copies the current bytes to PATH.prev and PATH.history/ (atomically, pruned to historyDepth);
 *   4. writes PATH.tmp, fsyncs it, renames it over PATH, fsyncs the folder;
 *   5. asks the daemon to reload over the control socket; if it refuses, restores the previous
 *      bytes with the same procedure and returns CONFIG_RELOAD_REFUSED; if no daemon answers,
 *      keeps the new file (reload: 'no-daemon').
 * A writer killed at any point leaves PATH as either the old or the new complete file (rename is
 * atomic); a stale PATH.tmp or PATH.lock is harmless (the next writer truncates / breaks it).
 */
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, linkSync, openSync, readdirSync, readFileSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, rm, stat, unlink } from 'node:fs/promises';
import { networkInterfaces } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { ControlError, controlRequest, defaultControlSocket } from '../control/local.js';
import { createTwoFilesPatch } from 'diff';
import {
  applyChange, listBroadcast, listRestrict, validateText,
  type BroadcastEntry, type ChangeContext, type ConfigChange, type FieldError, type RestrictEntry,
} from './changes.js';
import { formatDiagnostic } from './diagnostics.js';
import type { IncludeRead } from './include.js';
import { decodeConfigBytes, encodeConfigText, type ConfigEncoding } from './load.js';

export type { ConfigChange, FieldError, RestrictEntry, BroadcastEntry } from './changes.js';

export interface ConfigVersion {
  path: string;
  text: string;
  /** sha256 of the file's bytes, hex. */
  etag: string;
}

export type EditResult =
  | { ok: true; etag: string; text: string; reload: 'applied' | 'no-daemon'; warnings: string[] }
  | {
    ok: false;
    code: 'CONFIG_STALE' | 'CONFIG_INVALID' | 'CONFIG_RELOAD_REFUSED' | 'CONFIG_WRITE_FAILED' | 'CONFIG_NO_SUCH_ENTRY';
    message: string;
    fieldErrors: FieldError[];
    diagnostics: string[];
  };

export interface HistoryEntry {
  /** Sequence number as text ("1", "2", ...): larger is newer. */
  id: string;
  /** When this version was replaced (it was the file until then), ISO 8601. */
  savedAt: string;
  etag: string;
  bytes: number;
}

export interface ConfigStoreOptions {
  path: string;
  /** The daemon's control socket; undefined = defaultControlSocket(); null = never reload. */
  controlSocket?: string | null;
  /** Previous versions kept in PATH.history/ (default 10, at least 1). */
  historyDepth?: number;
  /** Directed broadcast addresses broadcast-add accepts; default: read from os.networkInterfaces() on each call. */
  broadcastAddresses?: () => readonly string[];
  /** How long to wait for the daemon's reload answer (default 10 s). */
  reloadTimeoutMs?: number;
  /** How long to wait for another process's lock before CONFIG_WRITE_FAILED (default 10 s). */
  lockTimeoutMs?: number;
}

export const DEFAULT_HISTORY_DEPTH = 10;
/** A lock whose owner is gone, or older than this, is broken. */
const STALE_LOCK_MS = 60_000;

export class ConfigStore {
  readonly path: string;
  readonly controlSocket: string | null;
  readonly historyDepth: number;
  /** PATH.history/: NNNNNN-<savedAt ms>-<etag>.conf, one file per replaced version. */
  readonly historyDir: string;
  private readonly broadcastAddresses: () => readonly string[];
  private readonly reloadTimeoutMs: number;
  private readonly lockTimeoutMs: number;

  constructor(options: ConfigStoreOptions) {
    this.path = options.path;
    this.controlSocket = options.controlSocket === undefined ? defaultControlSocket() : options.controlSocket;
    this.historyDepth = Math.max(1, Math.floor(options.historyDepth ?? DEFAULT_HISTORY_DEPTH));
    this.historyDir = `${this.path}.history`;
    this.broadcastAddresses = options.broadcastAddresses ?? interfaceBroadcastAddresses;
    this.reloadTimeoutMs = options.reloadTimeoutMs ?? 10_000;
    this.lockTimeoutMs = options.lockTimeoutMs ?? 10_000;
  }

  async read(): Promise<ConfigVersion> {
    const bytes = await readFile(this.path);
    return { path: this.path, text: decodeConfigBytes(bytes).text, etag: etagOf(bytes) };
  }

  /** baseEtag null = no staleness check (the CLI); the web passes the etag it showed. */
  apply(change: ConfigChange, baseEtag: string | null): Promise<EditResult> {
    return this.serialised(async () => {
      const current = await this.readCurrent();
      const stale = this.checkStale(current.etag, baseEtag);
      if (stale) return stale;
      const outcome = applyChange(current.text, change, this.context());
      if (!outcome.ok) return { ...outcome };
      return this.commit(current, outcome.text, outcome.warnings);
    });
  }

  /** Previous versions, newest first. */
  async history(): Promise<HistoryEntry[]> {
    return (await this.historyFiles()).map((h) => h.entry);
  }

  async historyText(id: string): Promise<string> {
    const found = (await this.historyFiles()).find((h) => Number(h.entry.id) === Number(id));
    if (!found) throw new ConfigStoreError('CONFIG_NO_SUCH_ENTRY', `no history entry ${JSON.stringify(id)} in ${this.historyDir}`);
    return decodeConfigBytes(await readFile(join(this.historyDir, found.name))).text;
  }

  /**
   * Makes a previous version the current one (default: the newest history entry, i.e. the
   * version before the current). The current version goes into history like any edit, so a
   * second rollback undoes the first.
   */
  rollback(id?: string, baseEtag: string | null = null): Promise<EditResult> {
    return this.serialised(async () => {
      const current = await this.readCurrent();
      const stale = this.checkStale(current.etag, baseEtag);
      if (stale) return stale;
      const files = await this.historyFiles();
      const target = id === undefined ? files[0] : files.find((h) => Number(h.entry.id) === Number(id));
      if (!target) {
        const message = id === undefined ? `no previous version of ${this.path} is kept (${this.historyDir} is empty)` : `no history entry ${JSON.stringify(id)} (see gnomon config history)`;
        return failure('CONFIG_NO_SUCH_ENTRY', message, [{ field: 'id', code: 'CONFIG_NO_SUCH_ENTRY', message }]);
      }
      const text = decodeConfigBytes(await readFile(join(this.historyDir, target.name))).text;
      const check = validateText(text, this.context());
      if (!check.ok) {
        const diagnostics = check.diagnostics.filter((d) => d.severity === 'error').map(formatDiagnostic);
        return failure('CONFIG_INVALID', `version ${target.entry.id} does not validate any more (an included file changed?); nothing was written`,
          [{ field: 'config', code: 'CONFIG_INVALID', message: diagnostics[0] ?? 'invalid' }], diagnostics);
      }
      return this.commit(current, text, [`rolled back to version ${target.entry.id} (saved ${target.entry.savedAt})`]);
    });
  }

  /** The config text the daemon runs, or null when no daemon answers (or controlSocket is null). */
  async running(): Promise<{ text: string } | null> {
    if (this.controlSocket === null) return null;
    try {
      const answer = await controlRequest(this.controlSocket, { command: 'running-config' }, this.reloadTimeoutMs) as { text?: unknown };
      return typeof answer?.text === 'string' ? { text: answer.text } : null;
    } catch (error) {
      if (error instanceof ControlError) return null;
      throw error;
    }
  }

  /** Restrict lines of `text` (default: the file), includes followed; see RestrictEntry. */
  async restrictRules(text?: string): Promise<RestrictEntry[]> {
    return listRestrict(text ?? (await this.read()).text, this.context());
  }

  /** Broadcast lines of `text` (default: the file), includes followed; see BroadcastEntry. */
  async broadcastLines(text?: string): Promise<BroadcastEntry[]> {
    return listBroadcast(text ?? (await this.read()).text, this.context());
  }

  /** Every diagnostic of `text` (default: the file), compiled as the daemon compiles it. */
  async validate(text?: string): Promise<{ ok: boolean; errors: string[]; warnings: string[] }> {
    const result = validateText(text ?? (await this.read()).text, this.context());
    return {
      ok: result.ok,
      errors: result.diagnostics.filter((d) => d.severity === 'error').map(formatDiagnostic),
      warnings: result.diagnostics.filter((d) => d.severity === 'warning').map(formatDiagnostic),
    };
  }

  // ── internals ──────────────────────────────────────────────────────────────────────────────

  private context(): ChangeContext {
    return { fileName: this.path, readInclude: readIncludeSync, broadcastAddresses: this.broadcastAddresses() };
  }

  private serialised<T>(work: () => Promise<T>): Promise<T> {
    const run = (queues.get(this.path) ?? Promise.resolve()).then(async () => {
      let lock: Lock;
      try {
        lock = await acquireLock(`${this.path}.lock`, this.lockTimeoutMs);
      } catch (error) {
        return failure('CONFIG_WRITE_FAILED', (error as Error).message) as T;
      }
      try {
        return await work();
      } catch (error) {
        if (error instanceof ConfigStoreError) return failure(error.code, error.message) as T;
        const e = error as NodeJS.ErrnoException;
        return failure('CONFIG_WRITE_FAILED', `${this.path}: ${e.code ?? ''} ${e.message}`.trim()) as T;
      } finally {
        lock.release();
      }
    });
    const tail = run.then(() => undefined, () => undefined);
    queues.set(this.path, tail);
    void tail.then(() => {
      if (queues.get(this.path) === tail) queues.delete(this.path);
    });
    return run;
  }

  private async readCurrent(): Promise<{ bytes: Buffer; text: string; etag: string; encoding: ConfigEncoding }> {
    let bytes: Buffer;
    try {
      bytes = await readFile(this.path);
    } catch (error) {
      throw new ConfigStoreError('CONFIG_WRITE_FAILED', `cannot read ${this.path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
    }
    const decoded = decodeConfigBytes(bytes);
    return { bytes, text: decoded.text, etag: etagOf(bytes), encoding: decoded.encoding };
  }

  private checkStale(etag: string, baseEtag: string | null): EditResult | undefined {
    if (baseEtag === null || baseEtag === etag) return undefined;
    return failure('CONFIG_STALE', `${this.path} changed since it was read (someone else saved it); reload it and make the change again`);
  }

  /** Steps 3-5 of the module comment; the lock is held. */
  private async commit(current: { bytes: Buffer; etag: string; encoding: ConfigEncoding }, text: string, warnings: string[]): Promise<EditResult> {
    const bytes = encodeConfigText(text, current.encoding);
    const etag = etagOf(bytes);
    const prevPath = `${this.path}.prev`;
    const oldPrev = await readFile(prevPath).catch(() => undefined);
    const saved = etag === current.etag ? undefined : await this.saveHistory(current.bytes);
    if (etag !== current.etag) {
      await atomicWrite(prevPath, current.bytes, this.path);
      await atomicWrite(this.path, bytes);
    } else {
      warnings.push('the file already says this; nothing was written');
    }
    const reload = await this.reload();
    if (reload.kind === 'refused') {
      if (etag !== current.etag) {
        await atomicWrite(this.path, current.bytes);
        if (saved) await unlink(saved).catch(() => undefined);
        if (oldPrev) await atomicWrite(prevPath, oldPrev, this.path);
        else await unlink(prevPath).catch(() => undefined);
      }
      return failure('CONFIG_RELOAD_REFUSED', `the daemon refused the new config (${reload.code}: ${reload.message}); ${this.path} was restored to the previous version`,
        reload.errors.map((e) => ({ field: 'config', code: reload.code, message: e })), reload.errors);
    }
    if (reload.kind === 'no-daemon') warnings.push(reload.notice);
    return { ok: true, etag, text, reload: reload.kind, warnings };
  }

  private async reload(): Promise<{ kind: 'applied' } | { kind: 'no-daemon'; notice: string } | { kind: 'refused'; code: string; message: string; errors: string[] }> {
    if (this.controlSocket === null) return { kind: 'no-daemon', notice: 'reload skipped (no control socket configured)' };
    let answer: unknown;
    try {
      answer = await controlRequest(this.controlSocket, { command: 'reload' }, this.reloadTimeoutMs);
    } catch (error) {
      if (!(error instanceof ControlError)) throw error;
      return { kind: 'no-daemon', notice: `no daemon reloaded: ${error.message}; the file is saved and takes effect when the daemon (re)starts` };
    }
    const a = answer as { ok?: unknown; code?: unknown; message?: unknown; errors?: unknown };
    if (a?.ok === true) return { kind: 'applied' };
    return {
      kind: 'refused', code: typeof a?.code === 'string' ? a.code : 'RELOAD_REFUSED',
      message: typeof a?.message === 'string' ? a.message : 'the daemon refused the config',
      errors: Array.isArray(a?.errors) ? a.errors.map(String) : [],
    };
  }

  /** Copies the replaced version into PATH.history/ and prunes; returns the new file's path. */
  private async saveHistory(bytes: Buffer): Promise<string> {
    await mkdir(this.historyDir, { recursive: true, mode: 0o750 });
    const files = await this.historyFiles();
    const next = (files.reduce((max, h) => Math.max(max, Number(h.entry.id)), 0) || 0) + 1;
    const name = `${String(next).padStart(6, '0')}-${Date.now()}-${etagOf(bytes)}.conf`;
    const path = join(this.historyDir, name);
    await atomicWrite(path, bytes, this.path);
    const keep = [{ name }, ...files].slice(0, this.historyDepth);
    for (const old of files) {
      if (!keep.some((k) => k.name === old.name)) await rm(join(this.historyDir, old.name), { force: true });
    }
    return path;
  }

  private async historyFiles(): Promise<{ name: string; entry: HistoryEntry }[]> {
    let names: string[];
    try {
      names = await readdir(this.historyDir);
    } catch {
      return [];
    }
    const found: { name: string; entry: HistoryEntry }[] = [];
    for (const name of names) {
      const m = /^(\d{6,})-(\d+)-([0-9a-f]{64})\.conf$/.exec(name);
      if (!m) continue;
      const info = await stat(join(this.historyDir, name)).catch(() => undefined);
      if (!info) continue;
      found.push({ name, entry: { id: String(Number(m[1])), savedAt: new Date(Number(m[2])).toISOString(), etag: m[3]!, bytes: info.size } });
    }
    return found.sort((a, b) => Number(b.entry.id) - Number(a.entry.id));
  }
}

export class ConfigStoreError extends Error {
  override readonly name = 'ConfigStoreError';
  constructor(readonly code: 'CONFIG_WRITE_FAILED' | 'CONFIG_NO_SUCH_ENTRY', message: string) {
    super(message);
  }
}

/** A small unified diff (jsdiff), '' when the texts are equal. */
export function unifiedDiff(a: string, b: string, labels: [string, string]): string {
  if (a === b) return '';
  const patch = createTwoFilesPatch(labels[0], labels[1], a, b, undefined, undefined, { context: 3 });
  // jsdiff starts with an "Index:"-style "====" rule line; diff(1) does not.
  return patch.split('\n').filter((line, i) => !(i === 0 && /^=+$/.test(line))).join('\n');
}

export function etagOf(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** Directed broadcast addresses (address | ~netmask) of this machine's IPv4 interfaces, prefixes up to /30. */
export function interfaceBroadcastAddresses(): string[] {
  const out = new Set<string>();
  for (const list of Object.values(networkInterfaces())) {
    for (const i of list ?? []) {
      if (i.family !== 'IPv4' || i.internal) continue;
      const a = i.address.split('.').map(Number);
      const m = i.netmask.split('.').map(Number);
      const prefix = m.reduce((n, byte) => n + (byte >>> 0).toString(2).replace(/0/g, '').length, 0);
      if (a.length !== 4 || m.length !== 4 || prefix > 30) continue;
      out.add(a.map((byte, k) => (byte | (~m[k]! & 0xff)) & 0xff).join('.'));
    }
  }
  return [...out];
}

function failure(code: Extract<EditResult, { ok: false }>['code'], message: string, fieldErrors: FieldError[] = [], diagnostics: string[] = []): EditResult {
  return { ok: false, code, message, fieldErrors, diagnostics };
}

/**
 * tmp in the same folder, fsync, rename over, fsync the folder. The new file gets the mode (and,
 * when we may, the owner) of the file it replaces, so an edit never widens who can read it.
 */
export async function atomicWrite(path: string, bytes: Uint8Array, like: string = path): Promise<void> {
  const tmp = `${path}.tmp`;
  const old = await stat(like).catch(() => undefined);
  const handle = await open(tmp, 'w', 0o600);
  try {
    await handle.chmod(old ? old.mode & 0o7777 : 0o644);
    if (old && (old.uid !== process.getuid?.() || old.gid !== process.getgid?.())) {
      await handle.chown(old.uid, old.gid).catch(() => undefined);
    }
    await handle.writeFile(bytes);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(tmp, path);
  const dir = await open(dirname(path), 'r');
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
}

/** Included files for validation, read synchronously (compile is synchronous and pure). */
function readIncludeSync(path: string): IncludeRead {
  try {
    return { ok: true, text: decodeConfigBytes(readFileSync(path)).text };
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    return { ok: false, reason: code === 'ENOENT' ? 'missing' : 'unreadable', detail: code ?? (error as Error).message };
  }
}

interface Lock {
  release(): void;
}

/** In-process serialisation per file, shared by every ConfigStore of this process. */
const queues = new Map<string, Promise<unknown>>();

/**
 * PATH.lock across processes: "PID TOKEN" is written to a private file which is then
 * hard-linked to PATH.lock (link fails if it exists, so creation and content are one atomic
 * step). A lock whose pid is not alive, or that is older than a minute, is broken.
 */
async function acquireLock(lockPath: string, timeoutMs: number): Promise<Lock> {
  const token = randomBytes(8).toString('hex');
  const mine = `${lockPath}.${process.pid}.${token}`;
  removeDeadLockFiles(lockPath);
  const fd = openSync(mine, 'w', 0o600);
  try {
    writeSync(fd, `${process.pid} ${token}\n`);
  } finally {
    closeSync(fd);
  }
  const started = Date.now();
  try {
    for (let attempt = 0; ; attempt++) {
      try {
        linkSync(mine, lockPath);
        break;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw new Error(`cannot lock ${lockPath}: ${(error as Error).message}`);
      }
      const owner = lockOwner(lockPath);
      if (owner.stale) {
        try {
          unlinkSync(lockPath);
        } catch {
          // Someone else broke it first.
        }
        continue;
      }
      if (Date.now() - started > timeoutMs) {
        throw new Error(`${basename(lockPath)} is held by process ${owner.pid ?? '?'}: another edit is in progress; try again`);
      }
      await new Promise((resolve) => setTimeout(resolve, Math.min(50, 2 + attempt * 2)));
    }
  } finally {
    try {
      unlinkSync(mine);
    } catch {
      // Already gone.
    }
  }
  return {
    release: () => {
      try {
        // Only our own lock: one broken as stale and re-taken by another process stays.
        if (lockOwner(lockPath).token === token) unlinkSync(lockPath);
      } catch {
        // Already gone.
      }
    },
  };
}

function lockOwner(lockPath: string): { pid?: number; token?: string; stale: boolean } {
  let text: string;
  let ageMs: number;
  try {
    text = readFileSync(lockPath, 'utf8');
    ageMs = Date.now() - statSync(lockPath).mtimeMs;
  } catch {
    return { stale: false }; // vanished between link and read: try again
  }
  const [pidText, token] = text.trim().split(' ');
  const pid = Number.parseInt(pidText ?? '', 10);
  if (!Number.isInteger(pid) || pid <= 0) return { stale: ageMs > 1000 };
  return { pid, ...(token ? { token } : {}), stale: (pid !== process.pid && !alive(pid)) || ageMs > STALE_LOCK_MS };
}

/** PATH.lock.PID.TOKEN files of writers killed before they could remove them. */
function removeDeadLockFiles(lockPath: string): void {
  const prefix = `${basename(lockPath)}.`;
  let names: string[];
  try {
    names = readdirSync(dirname(lockPath));
  } catch {
    return;
  }
  for (const name of names) {
    if (!name.startsWith(prefix)) continue;
    const pid = Number(name.slice(prefix.length).split('.')[0]);
    if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && !alive(pid)) {
      try {
        unlinkSync(join(dirname(lockPath), name));
      } catch {
        // Gone already.
      }
    }
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
