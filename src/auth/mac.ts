/**
 * NTP message authentication codes: RFC 5905 digest(key || packet) for MD5, SHA-1 and other
 * digests (truncated to 20 bytes, as ntpd and chrony do), and RFC 8573 AES-CMAC (RFC 4493).
 *
 * Keys are prepared once (when the key file is read): a CMAC key keeps its AES-ECB cipher and
 * its two subkeys, so a packet costs the block encryptions only. node:crypto allocates its
 * result buffers, so the authenticated path is the one part of the server's hot path that
 * allocates; it runs only for requests that carry a MAC. Comparison is constant-time.
 */
import type { Cipher } from 'node:crypto';
import { createRequire } from 'node:module';
import type { SymmetricKey } from './keys.js';

const BLOCK = 16;

type NodeCrypto = typeof import('node:crypto');
let nodeCrypto: NodeCrypto | undefined;
/**
 * node:crypto, loaded with the first key: most servers have none, and in the fast-path worker,
 * which builds a KeyRing at start, the module is ~0.3 MiB of heap (docs/server.md, memory).
 */
function loadCrypto(): NodeCrypto {
  nodeCrypto ??= createRequire(import.meta.url)('node:crypto') as NodeCrypto;
  return nodeCrypto;
}

/** One key, ready to sign and verify. */
export class PreparedKey {
  readonly id: number;
  readonly type: string;
  /** MAC bytes after the 4-byte key ID. */
  readonly digestLength: number;
  private readonly hash?: string;
  private readonly secret: Buffer;
  private readonly crypto = loadCrypto();
  private readonly cipher?: Cipher;
  private readonly k1 = Buffer.alloc(BLOCK);
  private readonly k2 = Buffer.alloc(BLOCK);
  private readonly x = Buffer.alloc(BLOCK);
  /** The last MAC computed (verify compares against it). */
  private readonly scratch = Buffer.alloc(64);

  constructor(key: SymmetricKey) {
    this.id = key.id;
    this.type = key.type;
    this.digestLength = key.digestLength;
    this.secret = Buffer.from(key.secret);
    if (key.mac.kind === 'digest') {
      this.hash = key.mac.hash;
    } else {
      const cipher = this.crypto.createCipheriv(key.mac.keyBytes === 16 ? 'aes-128-ecb' : 'aes-256-ecb', this.secret, null);
      cipher.setAutoPadding(false);
      this.cipher = cipher;
      // RFC 4493 section 2.3: L = AES(K, 0^128); K1 = L << 1 (^ Rb); K2 = K1 << 1 (^ Rb).
      const l = cipher.update(Buffer.alloc(BLOCK));
      shiftXor(l, this.k1);
      shiftXor(this.k1, this.k2);
    }
  }

  /** Writes the MAC of buf[0, length) into out at offset (digestLength bytes). */
  sign(buf: Uint8Array, length: number, out: Uint8Array, offset: number): void {
    if (this.cipher) {
      this.cmac(buf, length);
      for (let i = 0; i < BLOCK; i++) out[offset + i] = this.x[i]!;
      return;
    }
    const d = this.crypto.createHash(this.hash!).update(this.secret).update(buf.subarray(0, length)).digest();
    for (let i = 0; i < this.digestLength; i++) out[offset + i] = d[i]!;
  }

  /**
   * Whether buf[macAt + 4, end) is the MAC of buf[0, macAt) under this key. A MAC of the wrong
   * length never verifies; the comparison itself takes the same time whatever the bytes.
   */
  verify(buf: Uint8Array, macAt: number, end: number): boolean {
    const n = this.digestLength;
    if (end - macAt - 4 !== n) return false;
    this.sign(buf, macAt, this.scratch, 0);
    return this.crypto.timingSafeEqual(this.scratch.subarray(0, n), buf.subarray(macAt + 4, end));
  }

  /** RFC 4493 section 2.4 (AES-CMAC), leaving the tag in this.x. */
  private cmac(m: Uint8Array, length: number): void {
    const cipher = this.cipher!;
    const x = this.x;
    x.fill(0);
    const blocks = length === 0 ? 1 : Math.ceil(length / BLOCK);
    const complete = length > 0 && length % BLOCK === 0;
    for (let b = 0; b < blocks - 1; b++) {
      const base = b * BLOCK;
      for (let i = 0; i < BLOCK; i++) x[i] = x[i]! ^ m[base + i]!;
      cipher.update(x).copy(x);
    }
    const base = (blocks - 1) * BLOCK;
    const k = complete ? this.k1 : this.k2;
    for (let i = 0; i < BLOCK; i++) {
      const p = base + i;
      const byte = p < length ? m[p]! : p === length ? 0x80 : 0;
      x[i] = x[i]! ^ byte ^ k[i]!;
    }
    cipher.update(x).copy(x);
  }
}

/** out = in << 1, XOR 0x87 into the last byte when the bit shifted out was set (RFC 4493 generate_subkey). */
function shiftXor(input: Uint8Array, out: Uint8Array): void {
  const msb = input[0]! & 0x80;
  for (let i = 0; i < BLOCK; i++) out[i] = ((input[i]! << 1) | (i + 1 < BLOCK ? input[i + 1]! >> 7 : 0)) & 0xff;
  if (msb) out[BLOCK - 1] = out[BLOCK - 1]! ^ 0x87;
}

/**
 * The keys the server authenticates with: those of the key file that `trustedkey` names.
 * Looked up per authenticated request; replaced whole on reload.
 */
export class KeyRing {
  private readonly byId = new Map<number, PreparedKey>();

  constructor(keys: Iterable<SymmetricKey> = [], trusted: Iterable<number> = []) {
    const all = new Map<number, SymmetricKey>();
    for (const k of keys) all.set(k.id, k);
    for (const id of trusted) {
      const k = all.get(id);
      if (k) this.byId.set(id, new PreparedKey(k));
    }
  }

  /** A trusted key by ID, or undefined (unknown or not trusted: either way a crypto-NAK). */
  get(id: number): PreparedKey | undefined {
    return this.byId.get(id);
  }

  get size(): number {
    return this.byId.size;
  }

  ids(): number[] {
    return [...this.byId.keys()].sort((a, b) => a - b);
  }
}
