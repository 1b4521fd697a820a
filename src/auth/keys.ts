/**
 * The ntpd/NTPsec symmetric key file (ntp.keys(5)), parsed (pure: text in, keys and located
 * problems out; the file is read by keyfile.ts).
 *
 * Each line is `keyno type key`, `#` starts a comment. keyno is 1-65535. type is a digest
 * (MD5, SHA1, SHA224, SHA256, SHA384, SHA512, RMD160/RIPEMD160, SHA3-*, as node:crypto offers
 * them; MACs longer than 20 bytes are truncated to 20 as ntpd does) or a CMAC cipher (NTPsec
 * `AES`/`AES-128`, ntpd 4.2.8's `AES128CMAC`; NTPsec's `AES-256` too). As in both ntpds, a
 * key of up to 20 characters is taken as ASCII and a longer one as hex (an even number of hex
 * digits). ntpd 4.2.8's optional fourth field (a comma-separated address list) is refused:
 * Gnomon would not honour it, and ignoring it would widen who may use the key.
 */
import { getHashes } from 'node:crypto';

/** How a MAC is computed: RFC 5905 digest(key || packet), or RFC 8573 AES-CMAC(key, packet). */
export type MacKind = { readonly kind: 'digest'; readonly hash: string } | { readonly kind: 'cmac'; readonly keyBytes: 16 | 32 };

export interface SymmetricKey {
  readonly id: number;
  /** The type as written, upper-cased (for messages and status). */
  readonly type: string;
  readonly mac: MacKind;
  readonly secret: Buffer;
  /** Bytes of MAC after the key ID: 16 (MD5, CMAC) or 20 (SHA-1 and longer digests, truncated). */
  readonly digestLength: number;
  readonly line: number;
}

export type KeyFileCode =
  | 'KEYS_READ_FAILED' | 'KEYS_WORLD_READABLE' | 'KEYS_BAD_LINE' | 'KEYS_BAD_ID' | 'KEYS_UNKNOWN_TYPE'
  | 'KEYS_BAD_KEY' | 'KEYS_DUPLICATE_ID' | 'KEYS_IP_LIST' | 'KEYS_EMPTY';

export interface KeyFileProblem {
  readonly severity: 'error' | 'warning';
  readonly code: KeyFileCode;
  readonly message: string;
  readonly hint?: string;
  readonly line: number;
  readonly column: number;
}

export interface KeyFileResult {
  readonly keys: ReadonlyMap<number, SymmetricKey>;
  readonly problems: readonly KeyFileProblem[];
}

/** The longest MAC NTPv4 carries after the key ID (RFC 7822: a MAC is at most 24 bytes in all). */
export const MAX_DIGEST_LENGTH = 20;

const CMAC_TYPES: Readonly<Record<string, 16 | 32>> = {
  AES: 16, 'AES-128': 16, AES128: 16, AES128CMAC: 16, 'AES-128-CMAC': 16, 'AES-256': 32, AES256: 32, AES256CMAC: 32,
};
const DIGEST_ALIASES: Readonly<Record<string, string>> = {
  MD5: 'md5', SHA: 'sha1', SHA1: 'sha1', 'SHA-1': 'sha1', SHA224: 'sha224', SHA256: 'sha256', SHA384: 'sha384', SHA512: 'sha512',
  'SHA-224': 'sha224', 'SHA-256': 'sha256', 'SHA-384': 'sha384', 'SHA-512': 'sha512',
  RMD160: 'ripemd160', RIPEMD160: 'ripemd160', 'SHA3-224': 'sha3-224', 'SHA3-256': 'sha3-256', 'SHA3-384': 'sha3-384', 'SHA3-512': 'sha3-512',
};
const DIGEST_BYTES: Readonly<Record<string, number>> = {
  md5: 16, sha1: 20, sha224: 28, sha256: 32, sha384: 48, sha512: 64, ripemd160: 20, 'sha3-224': 28, 'sha3-256': 32, 'sha3-384': 48, 'sha3-512': 64,
};
const MAX_ASCII_KEY = 20;
const ASCII_KEY = /^[\x21-\x7e]+$/;
const HEX_KEY = /^(?:[0-9a-fA-F]{2})+$/;

/** Resolves a key type as ntpd/NTPsec spell it; undefined when Gnomon (node:crypto) cannot compute it. */
export function macKindOf(type: string): MacKind | undefined {
  const upper = type.toUpperCase();
  const cmac = CMAC_TYPES[upper];
  if (cmac !== undefined) return { kind: 'cmac', keyBytes: cmac };
  const hash = DIGEST_ALIASES[upper];
  if (hash === undefined || !getHashes().includes(hash)) return undefined;
  return { kind: 'digest', hash };
}

export function parseKeyFile(text: string): KeyFileResult {
  const keys = new Map<number, SymmetricKey>();
  const problems: KeyFileProblem[] = [];
  const lines = text.split('\n');
  lines.forEach((raw, index) => {
    const lineNo = index + 1;
    const hash = raw.indexOf('#');
    const body = (hash >= 0 ? raw.slice(0, hash) : raw).replace(/\r$/, '');
    const tokens: { value: string; column: number }[] = [];
    for (const m of body.matchAll(/\S+/g)) tokens.push({ value: m[0], column: m.index + 1 });
    if (tokens.length === 0) return;
    const error = (code: KeyFileCode, column: number, message: string, hint?: string): void => {
      problems.push({ severity: 'error', code, message, line: lineNo, column, ...(hint ? { hint } : {}) });
    };
    const [idTok, typeTok, keyTok] = tokens;
    if (!typeTok || !keyTok) {
      error('KEYS_BAD_LINE', idTok!.column, 'a key line is `keyno type key`', 'e.g. `1 SHA1 <40 hex digits>` (see ntp.keys(5))');
      return;
    }
    if (tokens.length > 3) {
      error('KEYS_IP_LIST', tokens[3]!.column, 'ntpd\'s per-key address list is not supported',
        'remove the list and restrict who may use the key with `restrict` lines');
      return;
    }
    const id = /^\d{1,5}$/.test(idTok!.value) ? Number(idTok!.value) : NaN;
    if (!(id >= 1 && id <= 65535)) {
      error('KEYS_BAD_ID', idTok!.column, `key number "${idTok!.value}" is not 1-65535`);
      return;
    }
    const mac = macKindOf(typeTok.value);
    if (!mac) {
      error('KEYS_UNKNOWN_TYPE', typeTok.column, `key ${id}: type "${typeTok.value}" is not supported`,
        'use MD5, SHA1, SHA256, SHA512 or AES128CMAC (AES-128); SHA1 or AES128CMAC are what RFC 8573 advises');
      return;
    }
    const k = keyTok.value;
    let secret: Buffer;
    if (k.length <= MAX_ASCII_KEY) {
      if (!ASCII_KEY.test(k)) {
        error('KEYS_BAD_KEY', keyTok.column, `key ${id}: a key of up to 20 characters must be printable ASCII`);
        return;
      }
      secret = Buffer.from(k, 'latin1');
    } else if (HEX_KEY.test(k)) {
      secret = Buffer.from(k, 'hex');
    } else {
      error('KEYS_BAD_KEY', keyTok.column, `key ${id}: a key longer than 20 characters must be hex (an even number of 0-9a-f digits)`,
        'generate keys with `ntpkeygen -M` or `openssl rand -hex 20`');
      return;
    }
    if (mac.kind === 'cmac' && secret.length !== mac.keyBytes) {
      error('KEYS_BAD_KEY', keyTok.column, `key ${id}: ${typeTok.value.toUpperCase()} needs a ${mac.keyBytes}-byte key (${mac.keyBytes * 2} hex digits); this one is ${secret.length} bytes`,
        `generate one with \`openssl rand -hex ${mac.keyBytes}\``);
      return;
    }
    if (keys.has(id)) {
      problems.push({ severity: 'warning', code: 'KEYS_DUPLICATE_ID', line: lineNo, column: idTok!.column,
        message: `key ${id} is defined again (first on line ${keys.get(id)!.line}); this later line wins`, hint: 'remove one of the two lines' });
    }
    const digestLength = mac.kind === 'cmac' ? 16 : Math.min(DIGEST_BYTES[mac.hash] ?? MAX_DIGEST_LENGTH, MAX_DIGEST_LENGTH);
    keys.set(id, { id, type: typeTok.value.toUpperCase(), mac, secret, digestLength, line: lineNo });
  });
  if (keys.size === 0 && !problems.some((p) => p.severity === 'error')) {
    problems.push({ severity: 'warning', code: 'KEYS_EMPTY', line: 1, column: 1, message: 'the key file defines no keys',
      hint: 'add lines `keyno type key`; until then every authenticated request is answered with a crypto-NAK' });
  }
  return { keys, problems };
}
