import { mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import type { StatsConfig } from '../../../src/config/model.js';
import { StatsError, StatsWriter, statsFilePath } from '../../../src/daemon/stats.js';
import { FakeClock } from '../../../src/clock/fake.js';
import { newTimeSpec, timeSpecToUnixNs } from '../../../src/clock/clock.js';

const tempDir = () => mkdtempSync(join(tmpdir(), 'gnomon-stats-'));

function config(dir: string, overrides: Partial<StatsConfig> = {}): StatsConfig {
  return {
    dir,
    enabled: { loopstats: true, peerstats: true, clockstats: false },
    filegen: {
      loopstats: { file: 'loopstats', type: 'day', link: true },
      peerstats: { file: 'peerstats', type: 'day', link: false },
      clockstats: { file: 'clockstats', type: 'day', link: true },
    },
    ...overrides,
  };
}

/** A scheduler the test runs by hand: no wall-clock waits. */
function manualScheduler() {
  const queue: (() => void)[] = [];
  return {
    queue,
    schedule: (fn: () => void) => {
      queue.push(fn);
      return { cancel: () => queue.splice(queue.indexOf(fn), 1) };
    },
  };
}

const loop = (utcNs: bigint) => ({ utcNs, offsetNs: -6019, freqPpm: -13.77819, sysJitterNs: 351_733, clkWanderPpm: 0.01338, timeConstant: 6 });
const peer = (utcNs: bigint) => ({ utcNs, srcadr: '127.127.22.0', status: 0x9600, offsetNs: 1000, delayNs: 0, dispersionNs: 2000, jitterNs: 300 });

/** Reads an injected clock as Unix ns. */
function reader(clock: FakeClock): () => bigint {
  const t = newTimeSpec();
  return () => {
    clock.read(t);
    return timeSpecToUnixNs(t);
  };
}

describe('StatsWriter', () => {
  test('type day: FILE.YYYYMMDD per UTC day, a new file at midnight, one flush per interval', async () => {
    const dir = tempDir();
    const s = manualScheduler();
    const writer = await StatsWriter.open(config(dir), { schedule: s.schedule });
    const clock = new FakeClock(1_709_251_199_500_000_000n); // 2024-02-29 23:59:59.5 UTC
    const now = reader(clock);
    const before = now();
    clock.advanceNs(750_000_000); // 2024-03-01 00:00:00.25
    const after = now();
    writer.loop(loop(before));
    writer.loop(loop(after));
    writer.peer(peer(before));
    writer.clock({ utcNs: before, srcadr: '127.127.20.0', timecode: 'x' }); // not enabled
    expect(s.queue).toHaveLength(1); // one flush scheduled for all of it
    expect(readdirSync(dir)).toEqual([]); // nothing written before the flush
    s.queue.shift()!();
    await writer.flush();
    expect(readdirSync(dir).sort()).toEqual(['loopstats', 'loopstats.20240229', 'loopstats.20240301', 'peerstats.20240229']);
    expect(readFileSync(join(dir, 'loopstats.20240229'), 'utf8')).toBe('60369 86399.500 0.000006019 13.778190 0.000351733 0.013380 6\n');
    expect(readFileSync(join(dir, 'loopstats.20240301'), 'utf8')).toBe('60370 0.250 0.000006019 13.778190 0.000351733 0.013380 6\n');
    expect(readFileSync(join(dir, 'peerstats.20240229'), 'utf8')).toBe('60369 86399.500 127.127.22.0 9600 -0.000001000 0.000000000 0.000002000 0.000000300\n');
    // link: FILE is the current member (a hard link, so the same inode)
    expect(statSync(join(dir, 'loopstats')).ino).toBe(statSync(join(dir, 'loopstats.20240301')).ino);

    // appends, never truncates
    writer.loop(loop(after + 1_000_000_000n));
    await writer.close();
    expect(readFileSync(join(dir, 'loopstats.20240301'), 'utf8').split('\n')).toHaveLength(3);
    writer.loop(loop(after)); // after close: dropped
    expect(s.queue).toHaveLength(0);
  });

  test('day naming from an injected clock', async () => {
    const dir = tempDir();
    const c = config(dir);
    const clock = new FakeClock(1_709_251_199_999_999_999n); // the last ns of 2024-02-29 UTC
    const now = reader(clock);
    const start = now();
    const day = (ns: bigint) => statsFilePath(c, 'loopstats', ns);
    expect(day(start)).toBe(join(dir, 'loopstats.20240229'));
    clock.advanceNs(1);
    expect(day(now())).toBe(join(dir, 'loopstats.20240301'));
    clock.advanceNs(306n * 86_400n * 1_000_000_000n - 1n); // 2024-12-31 23:59:59.999999999
    expect(day(now())).toBe(join(dir, 'loopstats.20241231'));
    expect(statsFilePath({ ...c, filegen: { ...c.filegen, loopstats: { file: 'loop', type: 'none', link: true } } }, 'loopstats', start))
      .toBe(join(dir, 'loop'));
  });

  test('an existing plain FILE is kept as FILE.C<pid> when the link is made, as ntpd does', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'loopstats'), 'old\n');
    const writer = await StatsWriter.open(config(dir), { schedule: manualScheduler().schedule, pid: 4242 });
    writer.loop(loop(1_709_251_199_500_000_000n));
    await writer.close();
    expect(readFileSync(join(dir, 'loopstats.C4242'), 'utf8')).toBe('old\n');
    expect(statSync(join(dir, 'loopstats')).nlink).toBe(2);
  });

  test('the folder is checked at open: typed errors with codes and hints', async () => {
    const dir = tempDir();
    const missing = await StatsWriter.open(config(join(dir, 'none'))).catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(StatsError);
    expect(missing).toMatchObject({ code: 'STATS_DIR_MISSING', path: join(dir, 'none'), hint: expect.stringContaining('install -d') });
    writeFileSync(join(dir, 'file'), '');
    expect(await StatsWriter.open(config(join(dir, 'file'))).catch((e: unknown) => e)).toMatchObject({ code: 'STATS_NOT_A_DIR' });
  });

  test('a write failure at run time is reported once, then lines are dropped', async () => {
    const dir = tempDir();
    const errors: StatsError[] = [];
    // the folder is fine at open, but the file name is taken by a folder, so the open for append fails
    const c = config(dir, { enabled: { loopstats: true, peerstats: false, clockstats: false } });
    const writer = await StatsWriter.open({ ...c, filegen: { ...c.filegen, loopstats: { file: 'sub', type: 'none', link: false } } },
      { schedule: manualScheduler().schedule, onError: (e) => errors.push(e) });
    mkdirSync(join(dir, 'sub'));
    writer.loop(loop(0n));
    await writer.flush();
    writer.loop(loop(1n));
    await writer.flush();
    await writer.close();
    expect(errors.map((e) => e.code)).toEqual(['STATS_WRITE_FAILED']);
    expect(errors[0]?.hint).toContain(dir);
  });

  test('enabled() tells the daemon which records to build', async () => {
    const writer = await StatsWriter.open(config(tempDir()), { schedule: manualScheduler().schedule });
    expect([writer.enabled('loopstats'), writer.enabled('peerstats'), writer.enabled('clockstats')]).toEqual([true, true, false]);
    await writer.close();
  });
});
