import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, test, vi } from 'vitest';

/** Every fs/promises call the save makes, in order; `failRename` simulates a crash before the rename. */
const calls: string[] = [];
const control = { failRename: false };

vi.mock('node:fs/promises', async (importOriginal) => {
  const fs = await importOriginal<typeof import('node:fs/promises')>();
  return {
    ...fs,
    open: async (path: string, flags: string, mode?: number) => {
      const handle = await fs.open(path, flags, mode);
      calls.push(`open ${path} ${flags}`);
      return new Proxy(handle, {
        get(target, prop, receiver) {
          const value = Reflect.get(target, prop, receiver) as unknown;
          if (typeof value !== 'function') return value;
          return (...args: unknown[]) => {
            if (prop === 'sync' || prop === 'close' || prop === 'writeFile') calls.push(`${String(prop)} ${path}`);
            return (value as (...a: unknown[]) => unknown).apply(target, args);
          };
        },
      });
    },
    rename: async (from: string, to: string) => {
      if (control.failRename) throw Object.assign(new Error('simulated crash'), { code: 'EIO' });
      calls.push(`rename ${from} ${to}`);
      return fs.rename(from, to);
    },
  };
});

const { driftfileTempPath, loadDriftfile, saveDriftfile, DriftfileWriteError } = await import('../../../src/daemon/drift.js');

const tempDir = () => mkdtempSync(join(tmpdir(), 'gnomon-drift-'));

afterEach(() => {
  calls.length = 0;
  control.failRename = false;
});

describe('loadDriftfile', () => {
  test('a missing file is normal (first boot), not an error', async () => {
    expect(await loadDriftfile(join(tempDir(), 'drift'))).toEqual({ missing: true });
  });

  test('an ntpd file: its correction becomes Gnomon\'s frequency (opposite sign)', async () => {
    const path = join(tempDir(), 'ntp.drift');
    writeFileSync(path, '-17.532000\n');
    expect(await loadDriftfile(path)).toEqual({ freqPpm: 17.532 });
  });

  test('damaged, out of range, a folder: located problems with codes', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'bad'), 'garbage\n');
    writeFileSync(join(dir, 'far'), '900\n');
    expect(await loadDriftfile(join(dir, 'bad'))).toMatchObject({ error: { code: 'DRIFTFILE_SYNTAX', line: 1, column: 1, file: join(dir, 'bad') } });
    expect(await loadDriftfile(join(dir, 'far'))).toMatchObject({ error: { code: 'DRIFTFILE_RANGE' } });
    expect(await loadDriftfile(dir)).toMatchObject({ error: { code: 'DRIFTFILE_READ_FAILED', message: expect.stringContaining('is a folder') } });
  });
});

describe('saveDriftfile: atomic', () => {
  test('writes the ntpd-format value; no temp file is left behind', async () => {
    const dir = tempDir();
    const path = join(dir, 'drift');
    await saveDriftfile(path, 17.532);
    expect(readFileSync(path, 'latin1')).toBe('-17.532000\n');
    expect(readdirSync(dir)).toEqual(['drift']);
    expect(await loadDriftfile(path)).toEqual({ freqPpm: 17.532 });
  });

  test('temp in the same folder, fsynced, renamed over the file, then the folder fsynced', async () => {
    const dir = tempDir();
    const path = join(dir, 'drift');
    const temp = driftfileTempPath(path);
    expect(temp).not.toBe(path);
    expect(temp).toBe(`${path}.TEMP`);
    await saveDriftfile(path, -2);
    expect(calls).toEqual([
      `open ${temp} w`, `writeFile ${temp}`, `sync ${temp}`, `close ${temp}`,
      `rename ${temp} ${path}`,
      `open ${dir} r`, `sync ${dir}`, `close ${dir}`,
    ]);
    // The rename is the only step that changes what PATH holds.
    expect(calls.filter((c) => c.includes(` ${path} `) || c.endsWith(` ${path}`))).toEqual([`rename ${temp} ${path}`]);
  });

  test('a crash between write and rename leaves the old file whole', async () => {
    const dir = tempDir();
    const path = join(dir, 'drift');
    writeFileSync(path, '-1.000000\n');
    control.failRename = true;
    const error = await saveDriftfile(path, 5).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DriftfileWriteError);
    expect(error).toMatchObject({ code: 'DRIFTFILE_WRITE_FAILED', problem: { file: path } });
    expect(readFileSync(path, 'latin1')).toBe('-1.000000\n');
    expect(readdirSync(dir)).toEqual(['drift']);
  });

  test('a missing folder is DRIFTFILE_WRITE_FAILED with a hint naming it', async () => {
    const dir = tempDir();
    const error = await saveDriftfile(join(dir, 'none', 'drift'), 1).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'DRIFTFILE_WRITE_FAILED', hint: expect.stringContaining(join(dir, 'none')) });
    mkdirSync(join(dir, 'none'));
    await saveDriftfile(join(dir, 'none', 'drift'), 1);
    expect(await loadDriftfile(join(dir, 'none', 'drift'))).toEqual({ freqPpm: 1 });
  });
});
