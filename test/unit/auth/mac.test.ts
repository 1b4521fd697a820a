// MACs: RFC 4493 AES-CMAC vectors, RFC 5905 digest MACs, constant-length verification.
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { parseKeyFile } from '../../../src/auth/keys.js';
import { KeyRing, PreparedKey } from '../../../src/auth/mac.js';

const key = (line: string) => new PreparedKey([...parseKeyFile(line).keys.values()][0]!);
const hex = (s: string) => Buffer.from(s.replace(/\s/g, ''), 'hex');

describe('AES-128-CMAC (RFC 4493 section 4 test vectors)', () => {
  const k = key('1 AES128CMAC 2b7e151628aed2a6abf7158809cf4f3c');
  const m = hex(`6bc1bee2 2e409f96 e93d7e11 7393172a ae2d8a57 1e03ac9c 9eb76fac 45af8e51
                 30c81c46 a35ce411 e5fbc119 1a0a52ef f69f2445 df4f9b17 ad2b417b e66c3710`);
  const cases: [number, string][] = [
    [0, 'bb1d6929 e9593728 7fa37d12 9b756746'],
    [16, '070a16b4 6b4d4144 f79bdd9d d04a287c'],
    [40, 'dfa66747 de9ae630 30ca3261 1497c827'],
    [64, '51f0bebf 7e3b9d92 fc497417 79363cfe'],
  ];
  for (const [length, tag] of cases) {
    it(`Mlen = ${length}`, () => {
      const out = Buffer.alloc(16);
      k.sign(m, length, out, 0);
      expect(out.toString('hex')).toBe(hex(tag).toString('hex'));
    });
  }
  it('is repeatable (the cipher and subkeys are reused)', () => {
    const a = Buffer.alloc(16);
    const b = Buffer.alloc(16);
    k.sign(m, 40, a, 0);
    k.sign(m, 64, b, 0);
    k.sign(m, 40, b, 0);
    expect(b).toEqual(a);
  });
});

describe('digest MACs (RFC 5905: digest(key || packet), at most 20 bytes)', () => {
  const packet = Buffer.alloc(48, 0x5a);
  it.each([
    ['1 MD5 secret', 'md5', Buffer.from('secret'), 16],
    ['1 SHA1 0123456789abcdef0123456789abcdef01234567', 'sha1', hex('0123456789abcdef0123456789abcdef01234567'), 20],
    ['1 SHA256 abcdefgh', 'sha256', Buffer.from('abcdefgh'), 20],
  ] as const)('%s', (line, hash, secret, n) => {
    const k = key(line);
    const out = Buffer.alloc(n);
    k.sign(packet, 48, out, 0);
    expect(out).toEqual(createHash(hash).update(secret).update(packet).digest().subarray(0, n));
  });

  it('verify: the right MAC verifies; a flipped bit, a wrong length or another key does not', () => {
    const k = key('7 SHA1 0123456789abcdef0123456789abcdef01234567');
    const pkt = Buffer.alloc(72, 0x11);
    pkt.writeUInt32BE(7, 48);
    k.sign(pkt, 48, pkt, 52);
    expect(k.verify(pkt, 48, 72)).toBe(true);
    pkt[60] = pkt[60]! ^ 1;
    expect(k.verify(pkt, 48, 72)).toBe(false);
    pkt[60] = pkt[60]! ^ 1;
    expect(k.verify(pkt, 48, 68)).toBe(false);
    expect(key('7 SHA1 0123456789abcdef0123456789abcdef01234568').verify(pkt, 48, 72)).toBe(false);
  });
});

describe('KeyRing', () => {
  it('holds only trusted keys that the file defines', () => {
    const { keys } = parseKeyFile('1 MD5 a\n2 MD5 b\n');
    const ring = new KeyRing(keys.values(), [2, 3]);
    expect(ring.get(1)).toBeUndefined();
    expect(ring.get(2)?.id).toBe(2);
    expect(ring.get(3)).toBeUndefined();
  });
});
