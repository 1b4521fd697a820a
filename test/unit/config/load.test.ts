import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { printTree } from '../../../src/config/tree.js';
import { ConfigLoadError, decodeConfigBytes, encodeConfigText, loadConfig } from '../../../src/config/load.js';

const dir = mkdtempSync(join(tmpdir(), 'gnomon-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function write(name: string, content: string | Buffer): string {
  const path = join(dir, name);
  mkdirSync(join(path, '..'), { recursive: true });
  writeFileSync(path, content);
  return path;
}

describe('loadConfig', () => {
  test('follows includefile relative to the including file and keeps every tree', async () => {
    write('a/servers.conf', 'server 127.127.1.0\nincludefile more/fudge.conf\n');
    write('a/more/fudge.conf', 'fudge 127.127.1.0 stratum 5\n');
    const main = write('a/ntp.conf', 'port 11123\nincludefile servers.conf\n');
    const result = await loadConfig(main);
    expect(result.diagnostics).toEqual([]);
    expect(result.config?.fudge[0]?.at.file).toBe(join(dir, 'a/more/fudge.conf'));
    expect(result.files.map((f) => [f.path, f.encoding])).toEqual([
      [main, 'utf8'], [join(dir, 'a/servers.conf'), 'utf8'], [join(dir, 'a/more/fudge.conf'), 'utf8'],
    ]);
    expect(printTree(result.files[1]!.tree)).toBe('server 127.127.1.0\nincludefile more/fudge.conf\n');
  });

  test('an include cycle through files on disk is a located error', async () => {
    write('cycle/one.conf', 'includefile two.conf\n');
    write('cycle/two.conf', '\n  includefile one.conf\n');
    const result = await loadConfig(join(dir, 'cycle/one.conf'));
    expect(result.config).toBeUndefined();
    expect(result.diagnostics).toEqual([expect.objectContaining({
      code: 'CONFIG_INCLUDE_CYCLE', severity: 'error', at: { file: join(dir, 'cycle/two.conf'), line: 2, column: 15 },
    })]);
  });

  test('a missing include and a missing keys file are located warnings (the daemon refuses to start without its key file)', async () => {
    const main = write('missing.conf', 'includefile nowhere/pw\nkeys   nowhere/keys\nport 11123\n');
    const result = await loadConfig(main);
    expect(result.config?.port).toBe(11123);
    expect(result.diagnostics.map((d) => `${d.at.line}:${d.at.column} ${d.severity} ${d.code}`)).toEqual([
      '1:13 warning CONFIG_INCLUDE_MISSING', '2:8 warning CONFIG_FILE_MISSING',
    ]);
    expect(result.diagnostics[1]?.message).toBe(`keys: ${join(dir, 'nowhere/keys')} does not exist`);
  });

  test('a directory named by includefile is an unreadable-file warning', async () => {
    mkdirSync(join(dir, 'adir'), { recursive: true });
    const result = await loadConfig(write('dir.conf', 'includefile adir\n'));
    expect(result.diagnostics[0]).toMatchObject({ code: 'CONFIG_INCLUDE_UNREADABLE', message: expect.stringContaining('it is a directory') });
  });

  test('an unreadable root file is a typed error, not a diagnostic', async () => {
    const missing = join(dir, 'does-not-exist.conf');
    await expect(loadConfig(missing)).rejects.toThrow(ConfigLoadError);
    await expect(loadConfig(missing)).rejects.toMatchObject({ code: 'CONFIG_READ_FAILED', path: missing, reason: 'no such file' });
  });

  test('UTF-8 files keep a byte-order mark and CJK text byte for byte', async () => {
    const bytes = Buffer.from('\uFEFFserver 127.127.1.0 # 本地时钟\r\nport 11123', 'utf8');
    const result = await loadConfig(write('bom.conf', bytes));
    expect(result.diagnostics).toEqual([]);
    const file = result.files[0]!;
    expect(encodeConfigText(printTree(file.tree), file.encoding).equals(bytes)).toBe(true);
  });

  test('a Latin-1 file is read byte for byte with a warning and written back identically', async () => {
    const bytes = Buffer.concat([Buffer.from('port 11123\n# r'), Buffer.from([0xe9]), Buffer.from('glage horloge\nserver 127.127.1.0\n')]);
    const path = write('latin1.conf', bytes);
    const result = await loadConfig(path);
    expect(result.config?.port).toBe(11123);
    expect(result.diagnostics).toEqual([expect.objectContaining({ code: 'CONFIG_NOT_UTF8', severity: 'warning', at: { file: path, line: 2, column: 1 } })]);
    const file = result.files[0]!;
    expect(file.encoding).toBe('latin1');
    expect(file.tree.lines[1]?.comment?.text).toBe('# réglage horloge');
    expect(encodeConfigText(printTree(file.tree), file.encoding).equals(readFileSync(path))).toBe(true);
  });

  test('decodeConfigBytes finds the first line that is not UTF-8', () => {
    expect(decodeConfigBytes(Buffer.from('a\nb\n\xff\n', 'latin1'))).toMatchObject({ encoding: 'latin1', badLine: 3 });
    expect(decodeConfigBytes(Buffer.from('ok\n', 'utf8'))).toEqual({ text: 'ok\n', encoding: 'utf8' });
  });
});
