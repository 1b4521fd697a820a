/**
 * The web admin password: a scrypt hash with its salt and parameters, in a file only the
 * service may read (mode 0600). There is no default password: without the file the web page
 * refuses every login and says to run `gnomon passwd`.
 *
 * File format (one JSON object): {"kdf":"scrypt","N":32768,"r":8,"p":1,"keyLength":64,"salt":"<base64>","hash":"<base64>"}
 */
import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';
import { chmod, mkdir, open, readFile, rename, unlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';

/** The appliance's password file, next to /etc/gnomon/ntp.conf. */
export const APPLIANCE_PASSWORD_FILE = '/etc/gnomon/web-password';
export const MIN_PASSWORD_LENGTH = 8;

export interface PasswordRecord {
  readonly kdf: 'scrypt';
  readonly N: number;
  readonly r: number;
  readonly p: number;
  readonly keyLength: number;
  readonly salt: string;
  readonly hash: string;
}

export type PasswordErrorCode = 'PASSWORD_FILE_MISSING' | 'PASSWORD_FILE_INVALID' | 'PASSWORD_TOO_SHORT' | 'PASSWORD_WRITE_FAILED';

export class PasswordError extends Error {
  constructor(readonly code: PasswordErrorCode, message: string) {
    super(message);
    this.name = 'PasswordError';
  }
}

/** Default parameters: N=2^15 (32 MiB, ~100 ms on a Pi 4): slow enough to hurt guessing, fast enough for a login. */
export const DEFAULT_SCRYPT = { N: 2 ** 15, r: 8, p: 1, keyLength: 64 } as const;

/** Where the password lives when not told: `web-password` next to the config file. */
export function defaultPasswordFile(configPath: string | undefined): string {
  return configPath === undefined ? APPLIANCE_PASSWORD_FILE : join(dirname(configPath), 'web-password');
}

function derive(password: string, salt: Buffer, p: { N: number; r: number; p: number; keyLength: number }): Promise<Buffer> {
  const options: ScryptOptions = { N: p.N, r: p.r, p: p.p, maxmem: 256 * p.N * p.r + 1024 * 1024 };
  return new Promise((resolve, reject) => scrypt(password.normalize('NFC'), salt, p.keyLength, options, (err, key) => (err ? reject(err) : resolve(key))));
}

export async function hashPassword(password: string, params: { N: number; r: number; p: number; keyLength: number } = DEFAULT_SCRYPT): Promise<PasswordRecord> {
  if (password.length < MIN_PASSWORD_LENGTH) {
    throw new PasswordError('PASSWORD_TOO_SHORT', `the password must have at least ${MIN_PASSWORD_LENGTH} characters`);
  }
  const salt = randomBytes(16);
  const hash = await derive(password, salt, params);
  return { kdf: 'scrypt', ...params, salt: salt.toString('base64'), hash: hash.toString('base64') };
}

/** Constant-time in the hash comparison; a wrong password and a right one take the same scrypt work. */
export async function verifyPassword(password: string, record: PasswordRecord): Promise<boolean> {
  const expected = Buffer.from(record.hash, 'base64');
  const actual = await derive(password, Buffer.from(record.salt, 'base64'), record);
  return actual.length === expected.length && timingSafeEqual(actual, expected);
}

export function parsePasswordRecord(text: string, path: string): PasswordRecord {
  let v: Partial<PasswordRecord>;
  try {
    v = JSON.parse(text) as Partial<PasswordRecord>;
  } catch {
    throw new PasswordError('PASSWORD_FILE_INVALID', `${path}: not a gnomon password file (set a new one with gnomon passwd)`);
  }
  const ints = [v.N, v.r, v.p, v.keyLength].every((n) => Number.isInteger(n) && (n as number) > 0);
  const pow2 = typeof v.N === 'number' && (v.N & (v.N - 1)) === 0 && v.N > 1;
  if (v.kdf !== 'scrypt' || !ints || !pow2 || (v.N as number) > 2 ** 20 || typeof v.salt !== 'string' || typeof v.hash !== 'string') {
    throw new PasswordError('PASSWORD_FILE_INVALID', `${path}: not a gnomon password file (set a new one with gnomon passwd)`);
  }
  return v as PasswordRecord;
}

/** Reads the password file; PASSWORD_FILE_MISSING when there is none (logins are then refused). */
export async function readPasswordFile(path: string): Promise<PasswordRecord> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new PasswordError('PASSWORD_FILE_MISSING', `no admin password is set (${path}): set one with gnomon passwd`);
    }
    throw new PasswordError('PASSWORD_FILE_INVALID', `${path}: ${(err as Error).message}`);
  }
  return parsePasswordRecord(text, path);
}

/** Writes the record atomically (temp file mode 0600, fsync, rename). */
export async function writePasswordFile(path: string, record: PasswordRecord): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}`;
  try {
    await mkdir(dirname(path), { recursive: true, mode: 0o750 });
    const fh = await open(tmp, 'w', 0o600);
    try {
      await fh.writeFile(JSON.stringify(record) + '\n');
      await fh.sync();
    } finally {
      await fh.close();
    }
    await chmod(tmp, 0o600);
    await rename(tmp, path);
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw new PasswordError('PASSWORD_WRITE_FAILED', `cannot write ${path}: ${(err as Error).message}`);
  }
}
