// Broadcast client (host mode 6): the calibration volley measures δ, then each mode 5 packet is a
// sample offset = (T4 − T3) − δ/2; keys, jumps, reach and the fallbacks.
import { describe, expect, it } from 'vitest';
import { BroadcastClientAssociation, DEFAULT_BROADCAST_DELAY_NS } from '../../../src/assoc/broadcast-client.js';
import { NEVER_NS } from '../../../src/assoc/association.js';
import type { AssociationAction } from '../../../src/assoc/types.js';
import { Mode } from '../../../src/ntp/constants.js';
import { at, clientConfig, counterRandom, keyFrom, reply, S, T0_NS, type ReplyOptions } from './fake-server.js';

const MS = 1_000_000n;
const US = 1_000n;
const AHEAD = 30n * MS; // the local clock is 30 ms ahead of the broadcaster

function sendOf(actions: AssociationAction[]): Uint8Array | null {
  const s = actions.find((a) => a.kind === 'send');
  return s && s.kind === 'send' ? s.packet : null;
}

/** A mode 5 packet sent at server time sentNs. */
function broadcast(sentNs: bigint, o: ReplyOptions = {}): Uint8Array {
  return reply(new Uint8Array(48), sentNs, sentNs, { mode: Mode.Broadcast, ...o });
}

/** Runs the calibration volley: the server answers with 100 µs each way (or not at all). */
function calibrate(b: BroadcastClientAssociation, answer = true): bigint {
  let t = b.nextPollNs(); // local raw
  for (let i = 0; i < 20 && b.nextPollNs() !== NEVER_NS; i++) {
    t = b.nextPollNs();
    const req = sendOf(b.poll(at(t)));
    if (req && answer) {
      const t2 = t - AHEAD + 100n * US;
      b.receive(reply(req, t2, t2 + 20n * US), 48, at(t2 + 20n * US + AHEAD + 100n * US));
    }
  }
  return t;
}

describe('broadcast client', () => {
  it('calibrates with 8 client exchanges 2 s apart, then sends nothing', () => {
    const b = new BroadcastClientAssociation(clientConfig(), counterRandom(), T0_NS);
    expect(b.nextPollNs()).toBe(T0_NS);
    const sent: bigint[] = [];
    let t = T0_NS;
    while (b.nextPollNs() !== NEVER_NS) {
      t = b.nextPollNs();
      const req = sendOf(b.poll(at(t)));
      if (req) {
        sent.push(t);
        expect(req.length).toBe(48);
        expect(req[0]! & 7).toBe(Mode.Client);
        const t2 = t - AHEAD + 100n * US;
        b.receive(reply(req, t2, t2 + 20n * US), 48, at(t2 + 20n * US + AHEAD + 100n * US));
      }
    }
    expect(sent.map((x) => x - T0_NS)).toEqual([0n, 2n, 4n, 6n, 8n, 10n, 12n, 14n].map((x) => x * S));
    expect(b.calibrated!.assumed).toBe(false);
    expect(b.calibrated!.delayNs).toBeCloseTo(200_000, -1);
    expect(b.status(t).hmode).toBe(6);
    expect(b.status(t).sent).toBe(8);
  });

  it('mode 5 packets then give offset (T4 − T3) − δ/2 and an estimate', () => {
    const b = new BroadcastClientAssociation(clientConfig(), counterRandom(), T0_NS);
    calibrate(b);
    let trueNs = T0_NS + 64n * S;
    for (let i = 0; i < 10; i++) {
      const p = broadcast(trueNs, { rootDispersionS: 0.001 });
      expect(b.receiveBroadcast(p, 48, at(trueNs + 100n * US + AHEAD))).toEqual([]);
      trueNs += 64n * S;
    }
    const st = b.status(trueNs + AHEAD);
    expect(st.filter!.offsetNs).toBeCloseTo(30e6, -1);
    expect(st.pmode).toBe(5);
    expect(st.reach).toBeGreaterThan(0);
    const e = b.estimate(trueNs + AHEAD)!;
    expect(e.basis).toBe('network');
    expect(e.offsetNs).toBeCloseTo(30e6, -2);
    expect(e.path!.delayS).toBeCloseTo(200e-6, 8);
    expect(e.path!.refid).toBe(0xc0000201);
  });

  it('a broadcast before calibration ends marks reach but gives no broadcast sample', () => {
    const b = new BroadcastClientAssociation(clientConfig(), counterRandom(), T0_NS);
    b.receiveBroadcast(broadcast(T0_NS), 48, at(T0_NS + AHEAD));
    expect(b.reachAt(T0_NS + AHEAD)).toBe(1);
    expect(b.calibrated).toBeNull();
    expect(b.status(T0_NS).filter).toBeNull();
  });

  it('no answer to the calibration: δ is assumed (4 ms)', () => {
    const b = new BroadcastClientAssociation(clientConfig(), counterRandom(), T0_NS);
    calibrate(b, false);
    expect(b.calibrated).toEqual({ delayNs: DEFAULT_BROADCAST_DELAY_NS, assumed: true });
    const t = T0_NS + 64n * S;
    b.receiveBroadcast(broadcast(t), 48, at(t + AHEAD + 2n * MS));
    expect(b.status(t).filter!.offsetNs).toBeCloseTo(30e6, -1);
  });

  it('a jump of more than 128 ms starts a new calibration', () => {
    const b = new BroadcastClientAssociation(clientConfig(), counterRandom(), T0_NS);
    calibrate(b);
    const t = T0_NS + 64n * S;
    b.receiveBroadcast(broadcast(t), 48, at(t + AHEAD + 100n * US));
    expect(b.nextPollNs()).toBe(NEVER_NS);
    const t2 = t + 64n * S;
    const rx = t2 + AHEAD + 200n * MS + 100n * US;
    b.receiveBroadcast(broadcast(t2), 48, at(rx));
    expect(b.nextPollNs()).toBe(rx);
    expect(b.status(rx).calibrations).toBe(2);
    expect(b.calibrated).toBeNull();
  });

  it('with a key: an unsigned or wrongly signed broadcast is badMac; a signed one is used', () => {
    const key = keyFrom('5 MD5 broadcast');
    const b = new BroadcastClientAssociation(clientConfig({ key }), counterRandom(), T0_NS);
    let t = b.nextPollNs();
    while (b.nextPollNs() !== NEVER_NS) {
      t = b.nextPollNs();
      const req = sendOf(b.poll(at(t)));
      if (req) {
        expect(req.length).toBe(68);
        const r = reply(req, t - AHEAD + 100n * US, t - AHEAD + 120n * US, { key });
        b.receive(r, r.length, at(t + 220n * US));
      }
    }
    const s = T0_NS + 64n * S;
    b.receiveBroadcast(broadcast(s), 48, at(s + AHEAD));
    const wrong = broadcast(s + S, { key: keyFrom('5 MD5 other') });
    b.receiveBroadcast(wrong, wrong.length, at(s + S + AHEAD));
    expect(b.status(s).rejects).toEqual({ badMac: 2 });
    const good = broadcast(s + 2n * S, { key });
    b.receiveBroadcast(good, good.length, at(s + 2n * S + AHEAD + 100n * US));
    expect(b.status(s).filter!.offsetNs).toBeCloseTo(30e6, -1);
  });

  it('badMode, duplicate, unsynchronised broadcasts are refused', () => {
    const b = new BroadcastClientAssociation(clientConfig(), counterRandom(), T0_NS);
    calibrate(b);
    const t = T0_NS + 64n * S;
    b.receiveBroadcast(broadcast(t, { mode: Mode.Server }), 48, at(t + AHEAD));
    const p = broadcast(t + S);
    b.receiveBroadcast(p, 48, at(t + S + AHEAD));
    b.receiveBroadcast(p, 48, at(t + S + AHEAD));
    b.receiveBroadcast(broadcast(t + 2n * S, { stratum: 16 }), 48, at(t + 2n * S + AHEAD));
    expect(b.status(t).rejects).toEqual({ badMode: 1, duplicate: 1, unsynchronised: 1 });
    expect(b.estimate(t + 2n * S + AHEAD)).toBeNull(); // its latest broadcast said unsynchronised
    b.receiveBroadcast(broadcast(t + 3n * S), 48, at(t + 3n * S + AHEAD + 100n * US));
    expect(b.estimate(t + 3n * S + AHEAD)).not.toBeNull();
  });

  it('reach shifts once per broadcast interval: silent for 8 intervals → reach 0, estimate null', () => {
    const b = new BroadcastClientAssociation(clientConfig(), counterRandom(), T0_NS);
    calibrate(b);
    let t = T0_NS + 64n * S;
    for (let i = 0; i < 8; i++) {
      b.receiveBroadcast(broadcast(t), 48, at(t + AHEAD + 100n * US));
      t += 64n * S;
    }
    expect(b.reachAt(t - 63n * S)).toBe(0xff);
    expect(b.reachAt(t)).toBe(0xfe); // a new interval, no broadcast in it yet
    expect(b.estimate(t)).not.toBeNull();
    t += 8n * 64n * S;
    expect(b.reachAt(t)).toBe(0);
    expect(b.estimate(t)).toBeNull();
  });
});
