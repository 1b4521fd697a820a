import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { formatLeapfileLoadError, loadLeapfile } from '../../../src/daemon/leapfile.js';

const REAL = '/usr/share/zoneinfo/leap-seconds.list';
const at = { file: '/etc/gnomon/ntp.conf', line: 4, column: 10 };

describe('loadLeapfile', () => {
  it('loads the real tzdata file (install tzdata if this fails)', async () => {
    const result = await loadLeapfile({ path: REAL, at });
    if (!result.ok) throw new Error(`install Debian's tzdata package (apt install tzdata): ${formatLeapfileLoadError(result)}`);
    expect(result.table.hash).toBe('verified');
    expect(result.table.file).toBe(REAL);
  });

  it('a missing file is LEAPFILE_READ_FAILED, located at the leapfile line', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gnomon-leap-'));
    const result = await loadLeapfile({ path: join(dir, 'none.list'), at });
    expect(result).toMatchObject({ ok: false, at, error: { code: 'LEAPFILE_READ_FAILED', severity: 'error', line: null } });
    if (!result.ok) expect(formatLeapfileLoadError(result)).toMatch(/^\/etc\/gnomon\/ntp\.conf:4:10: .*none\.list: error: leapfile: cannot read .*no such file \[LEAPFILE_READ_FAILED\]/);
    const dirResult = await loadLeapfile({ path: dir });
    expect(dirResult.ok ? null : dirResult.error.message).toContain('is a directory');
  });

  it('a damaged file is the parser\'s located error, with the config position kept', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gnomon-leap-'));
    const path = join(dir, 'bad.list');
    writeFileSync(path, '#@ 3991593600\nnot a line\n');
    const result = await loadLeapfile({ path, at });
    expect(result).toMatchObject({ ok: false, at, error: { code: 'LEAPFILE_SYNTAX', line: 2, file: path } });
  });
});
