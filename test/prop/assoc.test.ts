// Property tests for the association core: whatever arrives, receive() never throws and the
// association stays sane; every packet poll() builds is exactly 48 bytes, or 48 + 4 + digest
// with a key.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Association } from '../../src/assoc/association.js';
import { BroadcastClientAssociation } from '../../src/assoc/broadcast-client.js';
import type { AssociationAction, AssociationConfig } from '../../src/assoc/types.js';
import { Mode } from '../../src/ntp/constants.js';
import { ntpFromUnixNs } from '../../src/ntp/timestamp.js';
import { at, clientConfig, counterRandom, keyFrom, reply, S, T0_NS } from '../unit/assoc/fake-server.js';

const KEYS = [undefined, keyFrom('1 MD5 secret'), keyFrom('2 SHA1 0123456789abcdef0123456789abcdef01234567'),
  keyFrom('3 AES128CMAC 2b7e151628aed2a6abf7158809cf4f3c')];

const anyConfig = fc.record({
  mode: fc.constantFrom('client', 'symmetric') as fc.Arbitrary<AssociationConfig['mode']>,
  key: fc.constantFrom(...KEYS),
  iburst: fc.boolean(),
  burst: fc.boolean(),
  minpollLog2S: fc.integer({ min: 3, max: 10 }),
  maxpollLog2S: fc.integer({ min: 3, max: 17 }),
  version: fc.integer({ min: 1, max: 4 }),
}).map((c) => clientConfig(c));

/** Datagrams: random bytes, or a real answer to our last packet with some bytes changed. */
const mutation = fc.record({
  random: fc.uint8Array({ maxLength: 200 }),
  useReply: fc.boolean(),
  flips: fc.array(fc.record({ at: fc.nat(99), value: fc.integer({ min: 0, max: 255 }) }), { maxLength: 6 }),
  length: fc.integer({ min: -5, max: 120 }),
  mode: fc.integer({ min: 0, max: 7 }),
  signed: fc.boolean(),
});

function sentPacket(actions: AssociationAction[]): Uint8Array | null {
  const s = actions.find((a) => a.kind === 'send');
  return s && s.kind === 'send' ? s.packet : null;
}

describe('association properties', () => {
  it('receive() never throws, for any bytes and length; packets are 48 or 48 + 4 + digest bytes', () => {
    fc.assert(fc.property(anyConfig, fc.array(fc.tuple(fc.boolean(), mutation), { maxLength: 25 }), (config, steps) => {
      const a = new Association(config, counterRandom(5), T0_NS);
      const expected = 48 + (config.key ? 4 + config.key.digestLength : 0);
      let t = T0_NS;
      let last: Uint8Array | null = null;
      for (const [doPoll, m] of steps) {
        if (doPoll) {
          t = a.nextPollNs() > t ? a.nextPollNs() : t;
          if (t === 2n ** 63n - 1n) break;
          const p = sentPacket(a.poll(at(t)));
          if (p) {
            expect(p.length).toBe(expected);
            last = p;
          }
        }
        let buf: Uint8Array = m.random;
        if (m.useReply && last) {
          buf = reply(last, t, t + 1000n, { mode: m.mode, key: m.signed ? config.key : undefined });
          for (const f of m.flips) if (f.at < buf.length) buf[f.at] = f.value;
        }
        t += 1_000_000n;
        const actions = a.receive(buf, m.length, at(t));
        expect(Array.isArray(actions)).toBe(true);
        const e = a.estimate(t);
        if (e) expect(Number.isFinite(e.offsetNs) && Number.isFinite(e.jitterNs)).toBe(true);
        const st = a.status(t);
        expect(st.reach).toBeGreaterThanOrEqual(0);
        expect(st.reach).toBeLessThanOrEqual(255);
        expect(st.pollLog2S).toBeGreaterThanOrEqual(config.minpollLog2S);
      }
    }), { numRuns: 1500 });
  });

  it('a broadcast client never throws on any datagram, calibrating or not', () => {
    fc.assert(fc.property(fc.constantFrom(...KEYS), fc.array(fc.tuple(fc.boolean(), mutation), { maxLength: 30 }), (key, steps) => {
      const b = new BroadcastClientAssociation(clientConfig({ key }), counterRandom(9), T0_NS);
      let t = T0_NS;
      let last: Uint8Array | null = null;
      for (const [doPoll, m] of steps) {
        if (doPoll && b.nextPollNs() !== 2n ** 63n - 1n) {
          t = b.nextPollNs() > t ? b.nextPollNs() : t;
          const p = sentPacket(b.poll(at(t)));
          if (p) {
            expect(p.length).toBe(48 + (key ? 4 + key.digestLength : 0));
            last = p;
          }
        }
        t += 3n * S;
        const base = m.useReply && last ? reply(last, t, t, { mode: m.mode, key: m.signed ? key : undefined }) : m.random;
        for (const f of m.flips) if (m.useReply && f.at < base.length) base[f.at] = f.value;
        b.receive(base, m.length, at(t));
        const bc = reply(new Uint8Array(48), t, t, { mode: Mode.Broadcast, key: m.signed ? key : undefined });
        for (const f of m.flips) if (f.at < bc.length) bc[f.at] = f.value;
        b.receiveBroadcast(m.useReply ? bc : m.random, m.useReply ? bc.length : m.length, { rawNs: t, served: ntpFromUnixNs(t) });
        const e = b.estimate(t);
        if (e) expect(Number.isFinite(e.offsetNs)).toBe(true);
        b.status(t);
      }
    }), { numRuns: 1000 });
  });
});
