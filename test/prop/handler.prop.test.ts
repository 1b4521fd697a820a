// Property tests: the hot path never throws and never amplifies, whatever arrives.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeHeader, encodeHeader, decodePacket, encodePacket } from '../../src/ntp/packet.js';
import { clientRequest, makeRig, rule } from '../support/server.js';

const anyFlags = fc.subarray(['ignore', 'kod', 'limited', 'nopeer', 'noserve', 'notrust', 'version', 'noquery'] as const);

describe('request handler properties', () => {
  it('any byte string up to 1 KiB: no throw, reply never longer than the request', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 1024 }), anyFlags, (bytes, flags) => {
      const rig = makeRig([rule('default', [...flags])]);
      const reply = rig.send(bytes);
      expect(reply.length).toBeLessThanOrEqual(bytes.length);
    }), { numRuns: 3000 });
  });

  it('valid headers with arbitrary trailers (extension fields, MACs, garbage): no throw, no amplification', () => {
    const trailer = fc.oneof(
      fc.uint8Array({ maxLength: 976 }),
      fc.array(fc.record({ type: fc.integer({ min: 0, max: 0xffff }), len: fc.integer({ min: 0, max: 0xffff }), body: fc.uint8Array({ maxLength: 64 }) }), { maxLength: 6 })
        .map((efs) => Buffer.concat(efs.map((e) => {
          const h = Buffer.alloc(4);
          h.writeUInt16BE(e.type, 0);
          h.writeUInt16BE(e.len, 2);
          return Buffer.concat([h, e.body]);
        }))),
    );
    fc.assert(fc.property(fc.integer({ min: 0, max: 7 }), fc.integer({ min: 0, max: 7 }), trailer, (version, mode, t) => {
      const req = Buffer.concat([Buffer.from(clientRequest(version, mode)), Buffer.from(t)]);
      const rig = makeRig();
      expect(rig.send(req).length).toBeLessThanOrEqual(req.length);
    }), { numRuns: 3000 });
  });

  it('a burst from many addresses never grows the table past its capacity', () => {
    const rig = makeRig([rule('default', ['limited', 'kod'])]);
    for (let i = 0; i < 5000; i++) rig.send(clientRequest(), `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`);
    expect(rig.handler.clients.entries().length).toBeLessThanOrEqual(rig.handler.clients.capacity);
    expect(rig.handler.clients.evictions).toBeGreaterThan(0);
  });
});

describe('codec properties', () => {
  it('encode(decode(x)) returns the 48 header bytes for any header', () => {
    fc.assert(fc.property(fc.uint8Array({ minLength: 48, maxLength: 48 }), (bytes) => {
      expect(Buffer.from(encodeHeader(decodeHeader(bytes))).equals(Buffer.from(bytes))).toBe(true);
    }), { numRuns: 2000 });
  });

  it('decode(encode(p)) is stable for packets with extension fields and a MAC', () => {
    const ef = fc.record({ type: fc.integer({ min: 0, max: 0xffff }), value: fc.uint8Array({ minLength: 12, maxLength: 60 }).map((v) => v.subarray(0, v.length & ~3)) });
    fc.assert(fc.property(fc.uint8Array({ minLength: 48, maxLength: 48 }), fc.array(ef, { maxLength: 3 }), fc.option(fc.uint8Array({ minLength: 16, maxLength: 16 })), (hdr, efs, digest) => {
      const header = decodeHeader(Buffer.from([(hdr[0]! & 0xc7) | (4 << 3), ...hdr.subarray(1)]));
      const bytes = encodePacket({ header, extensions: efs.map((e) => ({ type: e.type, value: e.value.length < 12 ? new Uint8Array(12) : e.value })), mac: digest ? { keyId: 7, digest } : undefined });
      const again = encodePacket(decodePacket(bytes));
      expect(Buffer.from(again).equals(Buffer.from(bytes))).toBe(true);
    }), { numRuns: 1000 });
  });
});

describe('request handler properties with keys', () => {
  it('requests signed with any configured key, right or wrong, plus garbage: no throw, no amplification', async () => {
    const { parseKeyFile } = await import('../../src/auth/keys.js');
    const { KeyRing, PreparedKey } = await import('../../src/auth/mac.js');
    const { keys } = parseKeyFile('1 MD5 a\n2 SHA1 0123456789abcdef0123456789abcdef01234567\n3 AES128CMAC 2b7e151628aed2a6abf7158809cf4f3c\n4 SHA512 x\n');
    const prepared = [...keys.values()].map((k) => new PreparedKey(k));
    const ring = new KeyRing(keys.values(), [1, 2, 3]);
    fc.assert(fc.property(fc.integer({ min: 1, max: 4 }), fc.integer({ min: 0, max: 3 }), fc.integer({ min: 0, max: 6 }), anyFlags,
      fc.uint8Array({ maxLength: 40 }), (version, keyIndex, claimed, flags, extra) => {
        const k = prepared[keyIndex]!;
        const req = Buffer.concat([Buffer.from(clientRequest(version)), Buffer.alloc(4 + k.digestLength), Buffer.from(extra)]);
        req.writeUInt32BE(claimed, 48);
        k.sign(req, 48, req, 52);
        const rig = makeRig([rule('default', [...flags])]);
        rig.handler.setKeys(ring);
        expect(rig.send(req).length).toBeLessThanOrEqual(req.length);
      }), { numRuns: 2000 });
  });
});
