// Symmetric mode (host mode 1): two Association instances wired back to back, each with its own
// raw and served clock, as two Gnomon boxes configured `peer` to each other.
import { describe, expect, it } from 'vitest';
import { Association } from '../../../src/assoc/association.js';
import type { AssociationAction, AssociationConfig, LocalTime } from '../../../src/assoc/types.js';
import { asciiRefId, LeapIndicator, Mode } from '../../../src/ntp/constants.js';
import { ntpFromUnixNs, readTimestamp } from '../../../src/ntp/timestamp.js';
import { unsynchronisedSnapshot, type ServerSnapshot } from '../../../src/server/state.js';
import { clientConfig, counterRandom, keyFrom, S, T0_NS } from './fake-server.js';

const MS = 1_000_000n;
const US = 1_000n;

const peerConfig = (address: string, over: Partial<AssociationConfig> = {}): AssociationConfig =>
  clientConfig({ name: address, address, mode: 'symmetric', ...over });

const synced: ServerSnapshot = {
  leap: LeapIndicator.NoWarning, stratum: 1, precisionLog2S: -20, rootDelayS: 0, rootDispersionS: 0.0002,
  referenceId: asciiRefId('GPS'), referenceTime: ntpFromUnixNs(T0_NS),
};

/** A box: raw clock = true + errorNs; served = true + servedErrorNs. */
class Box {
  constructor(readonly assoc: Association, readonly errorNs: bigint, readonly servedErrorNs: bigint, public system: ServerSnapshot) {}
  at(trueNs: bigint): LocalTime {
    return { rawNs: trueNs + this.errorNs, served: ntpFromUnixNs(trueNs + this.servedErrorNs) };
  }
}

function sendOf(actions: AssociationAction[]): Uint8Array {
  const s = actions.find((a) => a.kind === 'send');
  if (!s || s.kind !== 'send') throw new Error('no send');
  return s.packet;
}

/** Runs both boxes for `seconds` of true time; one-way delay 100 µs. */
function run(a: Box, b: Box, seconds: number): void {
  const endNs = T0_NS + BigInt(seconds) * S;
  let t = T0_NS;
  while (t < endNs) {
    for (const [from, to] of [[a, b], [b, a]] as const) {
      // Poll when due: nextPollNs is on the box's raw clock.
      if (from.assoc.nextPollNs() <= t + from.errorNs) {
        const p = sendOf(from.assoc.poll(from.at(t), from.system));
        to.assoc.receive(p, p.length, to.at(t + 100n * US));
      }
    }
    t += 100n * MS;
  }
}

describe('symmetric mode', () => {
  it('mode 1 packets carry our state; org/rec answer the peer\'s last packet; xmt is served time', () => {
    const a = new Association(peerConfig('192.0.2.2'), counterRandom(), T0_NS);
    const p1 = sendOf(a.poll({ rawNs: T0_NS, served: ntpFromUnixNs(T0_NS + 5n * MS) }, synced));
    expect(p1[0]! & 7).toBe(Mode.SymmetricActive);
    expect(p1[1]).toBe(1);
    expect(new DataView(p1.buffer).getUint32(12)).toBe(asciiRefId('GPS'));
    expect(readTimestamp(p1, 24)).toEqual({ seconds: 0, fraction: 0 });
    expect(readTimestamp(p1, 40)).toEqual(ntpFromUnixNs(T0_NS + 5n * MS));
    // Without a snapshot: unsynchronised (LI 3, stratum 16).
    const p2 = sendOf(a.poll({ rawNs: T0_NS + 70n * S, served: ntpFromUnixNs(T0_NS + 70n * S) }));
    expect(p2[0]! >> 6).toBe(3);
    expect(p2[1]).toBe(16);
  });

  it('a synchronised peer gives the unsynchronised box its offset (30 ms ahead); the other side sees reach but no sample', () => {
    const a = new Box(new Association(peerConfig('192.0.2.2', { iburst: true }), counterRandom(1), T0_NS), 30n * MS, 30n * MS,
      unsynchronisedSnapshot(-20));
    const b = new Box(new Association(peerConfig('192.0.2.1', { iburst: true }), counterRandom(2), T0_NS), 0n, 0n, synced);
    run(a, b, 600);
    const e = a.assoc.estimate(T0_NS + 600n * S + 30n * MS)!;
    expect(e).not.toBeNull();
    expect(e.offsetNs).toBeGreaterThan(29.99e6);
    expect(e.offsetNs).toBeLessThan(30.01e6);
    expect(e.path!.stratum).toBe(1);
    expect(a.assoc.status(T0_NS).pmode).toBe(1);
    const sb = b.assoc.status(T0_NS);
    expect(sb.reach).not.toBe(0);
    expect(sb.rejects.unsynchronised).toBeGreaterThan(0);
    expect(b.assoc.estimate(T0_NS + 600n * S)).toBeNull();
  });

  it('two unsynchronised peers keep exchanging: both reachable, neither has an estimate', () => {
    const a = new Box(new Association(peerConfig('192.0.2.2'), counterRandom(1), T0_NS), 0n, 0n, unsynchronisedSnapshot(-20));
    const b = new Box(new Association(peerConfig('192.0.2.1'), counterRandom(2), T0_NS + S), 0n, 0n, unsynchronisedSnapshot(-20));
    run(a, b, 1200);
    for (const x of [a, b]) {
      const st = x.assoc.status(T0_NS);
      expect(st.reach).toBeGreaterThan(0);
      expect(st.unreachable).toBe(false);
      expect(st.rejects.unsynchronised).toBeGreaterThan(5);
      expect(x.assoc.estimate(T0_NS + 1200n * S)).toBeNull();
    }
  });

  it('replayed, forged-origin and wrong-mode packets are refused; the first packet (origin 0) is bogus but answered', () => {
    const a = new Association(peerConfig('192.0.2.2'), counterRandom(), T0_NS);
    const b = new Association(peerConfig('192.0.2.1'), counterRandom(), T0_NS);
    const t = (ns: bigint) => ({ rawNs: ns, served: ntpFromUnixNs(ns) });
    const p1 = sendOf(a.poll(t(T0_NS), synced));
    b.receive(p1, 48, t(T0_NS + MS));
    expect(b.status(T0_NS).rejects).toEqual({ bogusOrigin: 1 });
    b.receive(p1, 48, t(T0_NS + 2n * MS));
    expect(b.status(T0_NS).rejects).toEqual({ bogusOrigin: 1, duplicate: 1 });
    const p2 = sendOf(b.poll(t(T0_NS + 3n * MS), synced));
    expect(readTimestamp(p2, 24)).toEqual(readTimestamp(p1, 40));
    expect(readTimestamp(p2, 32)).toEqual(ntpFromUnixNs(T0_NS + MS));
    const client = p2.slice();
    client[0] = (client[0]! & ~7) | Mode.Client;
    a.receive(client, 48, t(T0_NS + 4n * MS));
    expect(a.status(T0_NS).rejects).toEqual({ badMode: 1 });
    a.receive(p2, 48, t(T0_NS + 4n * MS));
    expect(a.status(T0_NS).rejects).toEqual({ badMode: 1 });
    expect(a.reach).toBe(1);
    expect(a.status(T0_NS).filter!.offsetNs).toBeCloseTo(0, -1);
    expect(a.status(T0_NS).filter!.delayNs).toBeCloseTo(2e6, -1); // 1 ms each way
  });

  it('with a key, both sides sign and verify; an unsigned packet is badMac', () => {
    const key = keyFrom('3 SHA1 0123456789abcdef0123456789abcdef01234567');
    const a = new Association(peerConfig('192.0.2.2', { key }), counterRandom(), T0_NS);
    const b = new Association(peerConfig('192.0.2.1', { key }), counterRandom(), T0_NS);
    const t = (ns: bigint) => ({ rawNs: ns, served: ntpFromUnixNs(ns) });
    const p1 = sendOf(a.poll(t(T0_NS), synced));
    expect(p1.length).toBe(72);
    b.receive(p1.subarray(0, 48), 48, t(T0_NS + MS));
    expect(b.status(T0_NS).rejects).toEqual({ badMac: 1 });
    b.receive(p1, 72, t(T0_NS + MS));
    const p2 = sendOf(b.poll(t(T0_NS + 2n * MS), synced));
    a.receive(p2, p2.length, t(T0_NS + 3n * MS));
    expect(a.reach).toBe(1);
    expect(a.status(T0_NS).filter).not.toBeNull();
  });
});
