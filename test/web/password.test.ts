import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  APPLIANCE_PASSWORD_FILE, defaultPasswordFile, hashPassword, PasswordError, readPasswordFile, verifyPassword, writePasswordFile,
} from '../../src/web/password.js';
import { main } from '../../src/cli/main.js';

const dir = mkdtempSync(join(tmpdir(), 'gnomon-pw-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const FAST = { N: 1024, r: 8, p: 1, keyLength: 32 };

describe('admin password', () => {
  it('is stored as a salted scrypt hash and verified', async () => {
    const rec = await hashPassword('correct horse', FAST);
    expect(rec).toMatchObject({ kdf: 'scrypt', N: 1024, r: 8, p: 1, keyLength: 32 });
    expect(JSON.stringify(rec)).not.toContain('correct horse');
    expect(await verifyPassword('correct horse', rec)).toBe(true);
    expect(await verifyPassword('correct horsE', rec)).toBe(false);
    expect(await verifyPassword('', rec)).toBe(false);
    const again = await hashPassword('correct horse', FAST);
    expect(again.salt).not.toBe(rec.salt);
    expect(again.hash).not.toBe(rec.hash);
  });

  it('refuses short passwords', async () => {
    await expect(hashPassword('short', FAST)).rejects.toMatchObject({ code: 'PASSWORD_TOO_SHORT' });
  });

  it('the file is written with mode 0600 and read back; a missing file says to run gnomon passwd', async () => {
    const file = join(dir, 'sub', 'web-password');
    await expect(readPasswordFile(file)).rejects.toMatchObject({ code: 'PASSWORD_FILE_MISSING', message: expect.stringContaining('gnomon passwd') });
    await writePasswordFile(file, await hashPassword('password123', FAST));
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(await verifyPassword('password123', await readPasswordFile(file))).toBe(true);
  });

  it('a damaged file is refused, not treated as "no password"', async () => {
    const file = join(dir, 'bad');
    for (const text of ['not json', '{"kdf":"md5","N":1024,"r":8,"p":1,"keyLength":32,"salt":"","hash":""}', '{"kdf":"scrypt","N":1000,"r":8,"p":1,"keyLength":32,"salt":"","hash":""}']) {
      writeFileSync(file, text);
      await expect(readPasswordFile(file)).rejects.toBeInstanceOf(PasswordError);
      await expect(readPasswordFile(file)).rejects.toMatchObject({ code: 'PASSWORD_FILE_INVALID' });
    }
  });

  it('lives next to the config by default', () => {
    expect(defaultPasswordFile('/etc/gnomon/ntp.conf')).toBe(APPLIANCE_PASSWORD_FILE);
    expect(defaultPasswordFile(undefined)).toBe(APPLIANCE_PASSWORD_FILE);
    expect(defaultPasswordFile('/srv/x/ntp.conf')).toBe('/srv/x/web-password');
  });

  it('gnomon passwd --help names the file and the owner option', async () => {
    let out = '';
    expect(await main(['passwd', '--help'], { stdout: (t) => (out += t), stderr: () => undefined })).toBe(0);
    expect(out).toContain('--file PATH');
    expect(out).toContain('--owner USER');
  });
});
