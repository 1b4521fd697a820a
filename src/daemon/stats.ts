/**
 * The IO shell for `statistics` / `statsdir` / `filegen`: appends ntpd-format lines
 * (src/discipline/stats-format.ts) to ntpd-named files, so ntpd's scripts and NTPsec's ntpviz
 * read them (docs/statistics.md).
 *
 * - Files: DIR/FILE.YYYYMMDD for `type day` (ntpd's naming; the day is the record's UTC date, so
 *   a new file starts at UTC midnight), DIR/FILE for `type none`. With `link` (ntpd's default)
 *   DIR/FILE is kept as a hard link to the current day's file; a plain file already there is
 *   renamed FILE.C<pid> first, as ntpd does.
 * - Append only, one open descriptor per set (reopened when the day changes). Lines are
 *   buffered and written by one flush at most every `flushIntervalMs` (1 s), never per record.
 * - Errors: `StatsWriter.open` checks the folder and throws a StatsError (STATS_DIR_MISSING,
 *   STATS_NOT_A_DIR, STATS_DIR_NOT_WRITABLE) with a hint, for the daemon to log once and carry
 *   on without statistics. Later write failures (disk full, folder removed) go to `onError`,
 *   once per set and code until a write succeeds again; the lines of a failed write are dropped
 *   (statistics are not worth unbounded memory).
 */
import { constants } from 'node:fs';
import { access, link, lstat, open, rename, stat, unlink, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import type { StatsConfig, StatsName } from '../config/model.js';
import {
  formatClockstats, formatLoopstats, formatPeerstats, utcDayNumber, utcDayStamp,
  type ClockRecord, type LoopRecord, type PeerRecord,
} from '../discipline/stats-format.js';

export type StatsErrorCode = 'STATS_DIR_MISSING' | 'STATS_NOT_A_DIR' | 'STATS_DIR_NOT_WRITABLE' | 'STATS_WRITE_FAILED' | 'STATS_LINK_FAILED';

export class StatsError extends Error {
  constructor(readonly code: StatsErrorCode, message: string, readonly hint: string, readonly path: string) {
    super(message);
    this.name = 'StatsError';
  }
}

export interface StatsWriterOptions {
  /** Longest time a line waits in memory, ms (default 1000). */
  readonly flushIntervalMs?: number;
  /** Runs fn once after ms; default an unref'd setTimeout. Tests pass a manual one. */
  readonly schedule?: (fn: () => void, ms: number) => { cancel(): void };
  /** Run-time write failures, once per set and code until a write succeeds again. */
  readonly onError?: (error: StatsError) => void;
  /** For the FILE.C<pid> rename of a stray link target (default process.pid). */
  readonly pid?: number;
}

/** The file a record at utcNs goes to. */
export function statsFilePath(stats: StatsConfig, name: StatsName, utcNs: bigint): string {
  const f = stats.filegen[name];
  const base = join(stats.dir, f.file);
  return f.type === 'day' ? `${base}.${utcDayStamp(utcNs)}` : base;
}

interface SetState {
  readonly name: StatsName;
  /** Buffered lines, by target file (several only around UTC midnight). */
  readonly pending: Map<string, string[]>;
  handle: FileHandle | null;
  openPath: string | null;
  /** Unix day of the last record, to spot the day change cheaply. */
  day: number | null;
  path: string | null;
  reported: Set<StatsErrorCode>;
}

function errnoReason(error: unknown): { errno: string | undefined; reason: string } {
  const errno = (error as NodeJS.ErrnoException).code;
  const reason = errno === 'ENOENT' ? 'no such file or folder' : errno === 'EACCES' || errno === 'EPERM' ? 'permission denied'
    : errno === 'ENOSPC' ? 'no space left' : errno === 'EROFS' ? 'read-only filesystem' : (error as Error).message;
  return { errno, reason };
}

export class StatsWriter {
  private readonly sets: ReadonlyMap<StatsName, SetState>;
  private readonly flushIntervalMs: number;
  private readonly schedule: NonNullable<StatsWriterOptions['schedule']>;
  private timer: { cancel(): void } | null = null;
  private flushing: Promise<void> = Promise.resolve();
  private closed = false;

  /**
   * Checks the folder, then returns a writer for the enabled sets. Throws StatsError when the
   * folder is missing, not a folder or not writable. Nothing is opened until the first flush.
   */
  static async open(stats: StatsConfig, options: StatsWriterOptions = {}): Promise<StatsWriter> {
    const dir = stats.dir;
    const userHint = 'make it writable by the user Gnomon runs as (the `user` directive), e.g. `chown ntp /var/log/ntpstats`';
    try {
      const info = await stat(dir);
      if (!info.isDirectory()) {
        throw new StatsError('STATS_NOT_A_DIR', `statsdir: ${dir} is not a folder`, 'point `statsdir` at a folder, e.g. /var/log/ntpstats', dir);
      }
      await access(dir, constants.W_OK | constants.X_OK);
    } catch (error) {
      if (error instanceof StatsError) throw error;
      const { errno, reason } = errnoReason(error);
      if (errno === 'ENOENT') {
        throw new StatsError('STATS_DIR_MISSING', `statsdir: ${dir} does not exist`,
          `create it (\`install -d -o ntp ${dir}\`) or point \`statsdir\` at an existing folder; ntpd does not create it either`, dir);
      }
      throw new StatsError('STATS_DIR_NOT_WRITABLE', `statsdir: cannot write in ${dir}: ${reason}`, userHint, dir);
    }
    return new StatsWriter(stats, options);
  }

  private constructor(private readonly stats: StatsConfig, private readonly options: StatsWriterOptions) {
    this.flushIntervalMs = options.flushIntervalMs ?? 1000;
    this.schedule = options.schedule ?? ((fn, ms) => {
      const t = setTimeout(fn, ms);
      t.unref();
      return { cancel: () => clearTimeout(t) };
    });
    const sets = new Map<StatsName, SetState>();
    for (const name of ['loopstats', 'peerstats', 'clockstats'] as const) {
      if (stats.enabled[name]) {
        sets.set(name, { name, pending: new Map(), handle: null, openPath: null, day: null, path: null, reported: new Set() });
      }
    }
    this.sets = sets;
  }

  /** Whether a set is written (the daemon may skip building records for the others). */
  enabled(name: StatsName): boolean {
    return this.sets.has(name);
  }

  loop(record: LoopRecord): void {
    this.add('loopstats', record.utcNs, formatLoopstats(record));
  }

  peer(record: PeerRecord): void {
    this.add('peerstats', record.utcNs, formatPeerstats(record));
  }

  clock(record: ClockRecord): void {
    this.add('clockstats', record.utcNs, formatClockstats(record));
  }

  private add(name: StatsName, utcNs: bigint, line: string): void {
    const set = this.sets.get(name);
    if (!set || this.closed) return;
    const day = this.stats.filegen[name].type === 'day' ? utcDayNumber(utcNs) : 0;
    if (day !== set.day || set.path === null) {
      set.day = day;
      set.path = statsFilePath(this.stats, name, utcNs);
    }
    const lines = set.pending.get(set.path);
    if (lines) lines.push(line);
    else set.pending.set(set.path, [line]);
    if (!this.timer) {
      this.timer = this.schedule(() => {
        this.timer = null;
        void this.flush();
      }, this.flushIntervalMs);
    }
  }

  /** Writes everything buffered now. Never rejects: failures go to onError. */
  flush(): Promise<void> {
    this.flushing = this.flushing.then(() => this.writeAll());
    return this.flushing;
  }

  /** Flushes, closes every file; later records are dropped. */
  async close(): Promise<void> {
    this.timer?.cancel();
    this.timer = null;
    await this.flush();
    this.closed = true;
    await (this.flushing = this.flushing.then(async () => {
      for (const set of this.sets.values()) {
        await set.handle?.close().catch(() => undefined);
        set.handle = null;
        set.openPath = null;
      }
    }));
  }

  private async writeAll(): Promise<void> {
    for (const set of this.sets.values()) {
      if (set.pending.size === 0) continue;
      const batches = [...set.pending];
      set.pending.clear();
      for (const [path, lines] of batches) await this.write(set, path, lines.join(''));
    }
  }

  private async write(set: SetState, path: string, text: string): Promise<void> {
    try {
      if (set.openPath !== path || !set.handle) {
        await set.handle?.close().catch(() => undefined);
        set.handle = null;
        set.openPath = null;
        set.handle = await open(path, 'a', 0o644);
        set.openPath = path;
        await this.linkCurrent(set, path);
      }
      await set.handle.appendFile(text, 'utf8');
      set.reported.delete('STATS_WRITE_FAILED');
    } catch (error) {
      await set.handle?.close().catch(() => undefined);
      set.handle = null;
      set.openPath = null;
      const { reason } = errnoReason(error);
      this.report(set, new StatsError('STATS_WRITE_FAILED', `${set.name}: cannot write ${path}: ${reason}`,
        `check that ${this.stats.dir} exists, is writable by the user Gnomon runs as and has free space; lines are dropped meanwhile`, path));
    }
  }

  /** ntpd's `link`: DIR/FILE → the current member (type day only). */
  private async linkCurrent(set: SetState, path: string): Promise<void> {
    const f = this.stats.filegen[set.name];
    const base = join(this.stats.dir, f.file);
    if (!f.link || f.type !== 'day' || base === path) return;
    try {
      const existing = await lstat(base).catch((error: NodeJS.ErrnoException) => {
        if (error.code === 'ENOENT') return null;
        throw error;
      });
      if (existing && existing.nlink > 1) await unlink(base);
      else if (existing) await rename(base, `${base}.C${this.options.pid ?? process.pid}`);
      await link(path, base);
      set.reported.delete('STATS_LINK_FAILED');
    } catch (error) {
      const { reason } = errnoReason(error);
      this.report(set, new StatsError('STATS_LINK_FAILED', `${set.name}: cannot link ${base} to ${path}: ${reason}`,
        `the dated files are written anyway; write \`filegen ${set.name} ... nolink\` to stop trying`, base));
    }
  }

  private report(set: SetState, error: StatsError): void {
    if (set.reported.has(error.code)) return;
    set.reported.add(error.code);
    this.options.onError?.(error);
  }
}
