// The handler with symmetric keys: a verified MAC gets a reply signed with the same key; an
// unknown or untrusted key or a wrong MAC gets a crypto-NAK; notrust admits authenticated requests only.
import { describe, expect, it } from 'vitest';
import { parseKeyFile } from '../../../src/auth/keys.js';
import { KeyRing, PreparedKey } from '../../../src/auth/mac.js';
import { decodeHeader } from '../../../src/ntp/packet.js';
import { KissCode, Mode } from '../../../src/ntp/constants.js';
import { clientRequest, makeRig, rule } from '../../support/server.js';

const FILE = [
  '1 MD5 md5secret',
  '2 SHA1 0123456789abcdef0123456789abcdef01234567',
  '3 AES128CMAC 2b7e151628aed2a6abf7158809cf4f3c',
  '4 SHA256 notTrusted',
  '5 SHA512 longdigest',
].join('\n');
const { keys } = parseKeyFile(FILE);
const ring = () => new KeyRing(keys.values(), [1, 2, 3, 5]);
const prepared = (id: number) => new PreparedKey(keys.get(id)!);

/** A client request signed with key `id` (or with `secretOf`'s key under `id`'s number). */
function signed(id: number, secretOf = id, base: Uint8Array = clientRequest()): Buffer {
  const k = prepared(secretOf);
  const req = Buffer.alloc(48 + 4 + k.digestLength);
  Buffer.from(base).copy(req);
  req.writeUInt32BE(id, 48);
  k.sign(req, 48, req, 52);
  return req;
}

describe('authenticated requests', () => {
  for (const [id, n] of [[1, 16], [2, 20], [3, 16], [5, 20]] as const) {
    it(`key ${id} (${keys.get(id)!.type}): reply of 48 + 4 + ${n} bytes, signed with the same key`, () => {
      const rig = makeRig();
      rig.handler.setKeys(ring());
      const req = signed(id);
      const reply = rig.send(req);
      expect(reply.length).toBe(52 + n);
      expect(reply.length).toBeLessThanOrEqual(req.length);
      expect(reply.readUInt32BE(48)).toBe(id);
      expect(prepared(id).verify(reply, 48, reply.length)).toBe(true);
      const h = decodeHeader(reply);
      expect(h.mode).toBe(Mode.Server);
      expect(h.stratum).toBe(1);
      expect(h.originTimestamp).toEqual(decodeHeader(req).transmitTimestamp);
      expect(rig.counters).toMatchObject({ authenticated: 1, authFailed: 0, processed: 1 });
    });
  }

  it('a MAC after extension fields covers them too', () => {
    const rig = makeRig();
    rig.handler.setKeys(ring());
    const ef = Buffer.alloc(16);
    ef.writeUInt16BE(0x0104, 0);
    ef.writeUInt16BE(16, 2);
    const base = Buffer.concat([Buffer.from(clientRequest()), ef]);
    const k = prepared(2);
    const req = Buffer.concat([base, Buffer.alloc(24)]);
    req.writeUInt32BE(2, 64);
    k.sign(req, 64, req, 68);
    expect(rig.send(req).length).toBe(72);
    req[60] = req[60]! ^ 1; // the extension field's value is covered
    expect(rig.send(req).length).toBe(52);
  });

  it.each([
    ['a wrong secret under a trusted key number', () => signed(2, 5)],
    ['a key the file does not define', () => { const r = signed(2); r.writeUInt32BE(77, 48); return r; }],
    ['a key the file defines but trustedkey does not name', () => signed(4)],
    ['a MAC of the wrong length for its key', () => { const r = signed(1, 2); r.writeUInt32BE(1, 48); return r; }],
  ])('%s: crypto-NAK, counted as authFailed', (_name, make) => {
    const rig = makeRig();
    rig.handler.setKeys(ring());
    const reply = rig.send(make());
    expect(reply.length).toBe(52);
    expect(reply.readUInt32BE(48)).toBe(0);
    expect(rig.counters).toMatchObject({ authFailed: 1, authenticated: 0 });
  });

  it('a reload that drops a key NAKs it from then on', () => {
    const rig = makeRig();
    rig.handler.setKeys(ring());
    expect(rig.send(signed(3)).length).toBe(68);
    rig.handler.setKeys(new KeyRing(keys.values(), [1]));
    expect(rig.send(signed(3)).length).toBe(52);
  });
});

describe('restrict notrust', () => {
  it('refuses unauthenticated requests, serves authenticated ones, NAKs bad MACs', () => {
    const rig = makeRig([rule('default', ['notrust', 'kod'])]);
    rig.handler.setKeys(ring());
    expect(decodeHeader(rig.send(clientRequest())).referenceId).toBe(KissCode.RSTR);
    expect(rig.send(signed(2)).length).toBe(72);
    expect(rig.send(signed(2, 5)).length).toBe(52);
    expect(rig.counters).toMatchObject({ restricted: 1, authenticated: 1, authFailed: 1 });
  });
});

describe('transmit timestamps left to the shell (the fast path restamps per batch)', () => {
  it('unsigned basic replies keep whatever the shell put there; signed replies and crypto-NAKs still get theirs', () => {
    const rig = makeRig();
    rig.handler.setKeys(ring());
    rig.handler.setShellStampsTransmit(true);
    const mark = Buffer.from('SHELLTS!');
    mark.copy(rig.out, 40);
    const plain = rig.send(clientRequest());
    expect(plain.length).toBe(48);
    expect(plain.subarray(40, 48).equals(mark)).toBe(true); // untouched: the worker writes it right before sendmmsg
    expect(decodeHeader(plain).receiveTimestamp.seconds).not.toBe(0);

    mark.copy(rig.out, 40);
    const good = rig.send(signed(1));
    expect(good.subarray(40, 48).equals(mark)).toBe(false); // written before signing: the MAC covers it
    expect(prepared(1).verify(good, 48, good.length)).toBe(true);
    expect(decodeHeader(good).transmitTimestamp).toEqual(decodeHeader(good).receiveTimestamp);

    mark.copy(rig.out, 40);
    const nak = rig.send(signed(1, 2));
    expect(nak.length).toBe(52);
    expect(nak.subarray(40, 48).equals(mark)).toBe(false);

    rig.handler.setShellStampsTransmit(false);
    mark.copy(rig.out, 40);
    expect(rig.send(clientRequest()).subarray(40, 48).equals(mark)).toBe(false);
  });
});
