// The ntp.keys(5) parser and reader: types, ASCII/hex keys, located problems.
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseKeyFile } from '../../../src/auth/keys.js';
import { keyRingFor, readKeyFile } from '../../../src/auth/keyfile.js';
import type { GnomonConfig } from '../../../src/config/model.js';

const SHA1_HEX = '0123456789abcdef0123456789abcdef01234567';
const AES_HEX = '2b7e151628aed2a6abf7158809cf4f3c';

describe('parseKeyFile', () => {
  it('reads ntpd and NTPsec spellings, ASCII up to 20 characters and hex beyond', () => {
    const { keys, problems } = parseKeyFile([
      '# ntpkeygen output', '1 MD5 pass#word', `2 SHA1 ${SHA1_HEX}  # comment`, `3 AES128CMAC ${AES_HEX}`,
      `4 aes-128 ${AES_HEX}`, `5 sha256 ${SHA1_HEX}`, '6 SHA1 exactly20charsxxxxx'.slice(0, 27), '', '  ',
    ].join('\n'));
    expect(problems).toEqual([]);
    expect(keys.get(1)).toMatchObject({ type: 'MD5', mac: { kind: 'digest', hash: 'md5' }, digestLength: 16, secret: Buffer.from('pass') });
    expect(keys.get(2)).toMatchObject({ mac: { kind: 'digest', hash: 'sha1' }, digestLength: 20, secret: Buffer.from(SHA1_HEX, 'hex') });
    expect(keys.get(3)).toMatchObject({ mac: { kind: 'cmac', keyBytes: 16 }, digestLength: 16 });
    expect(keys.get(4)?.mac).toEqual({ kind: 'cmac', keyBytes: 16 });
    expect(keys.get(5)).toMatchObject({ digestLength: 20 }); // truncated to 20 bytes, as ntpd and chrony do
    expect(keys.get(6)?.secret.toString()).toBe('exactly20charsxxxxx'.slice(0, 20));
  });

  it('reports each bad line at its line and column, with a stable code', () => {
    const { keys, problems } = parseKeyFile([
      '0 MD5 x', '1 WHIRLPOOL abc', `2 SHA1 ${SHA1_HEX}z`, '3 AES128CMAC short', '4 MD5', `5 SHA1 ${SHA1_HEX} 10.0.0.1`, '6 MD5 a', '6 MD5 b',
    ].join('\n'));
    expect(problems.map((p) => `${p.line}:${p.column} ${p.severity} ${p.code}`)).toEqual([
      '1:1 error KEYS_BAD_ID', '2:3 error KEYS_UNKNOWN_TYPE', '3:8 error KEYS_BAD_KEY', '4:14 error KEYS_BAD_KEY',
      '5:1 error KEYS_BAD_LINE', '6:49 error KEYS_IP_LIST', '8:1 warning KEYS_DUPLICATE_ID',
    ]);
    expect(keys.get(6)?.secret.toString()).toBe('b');
  });

  it('an empty file is a warning', () => {
    expect(parseKeyFile('# nothing\n').problems.map((p) => p.code)).toEqual(['KEYS_EMPTY']);
  });
});

describe('readKeyFile and keyRingFor', () => {
  const dir = mkdtempSync(join(tmpdir(), 'gnomon-keys-'));
  const at = (line: number) => ({ file: '/etc/ntp.conf', line, column: 6 });
  const config = (path: string, trusted: number[]) =>
    ({ keys: { path, at: at(3) }, trustedKeys: trusted.map((id) => ({ id, at: at(4) })) }) as unknown as GnomonConfig;

  it('warns when others may read the file', async () => {
    const path = join(dir, 'open.keys');
    writeFileSync(path, `1 SHA1 ${SHA1_HEX}\n`);
    chmodSync(path, 0o644);
    expect((await readKeyFile(path)).problems.map((p) => p.code)).toEqual(['KEYS_WORLD_READABLE']);
    chmodSync(path, 0o600);
    expect((await readKeyFile(path)).problems).toEqual([]);
  });

  it('a missing file is an error located at the keys line (served on without keys, as ntpd does); an undefined trustedkey a warning', async () => {
    const missing = await keyRingFor(config(join(dir, 'none.keys'), [1]));
    expect(missing.ring?.size).toBe(0);
    expect(missing.diagnostics[0]).toMatchObject({ severity: 'error', code: 'KEYS_READ_FAILED', at: at(3) });
    const path = join(dir, 'ok.keys');
    writeFileSync(path, `1 SHA1 ${SHA1_HEX}\n2 MD5 secret\n`, { mode: 0o600 });
    const ok = await keyRingFor(config(path, [1, 9]));
    expect(ok.diagnostics.map((d) => `${d.code} ${d.at.line}`)).toEqual(['KEYS_NOT_DEFINED 4']);
    expect(ok.ring?.ids()).toEqual([1]); // key 2 is in the file but not trusted
  });
});
