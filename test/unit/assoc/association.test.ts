// Association in client mode: the request's bytes (against a captured chronyd 4 request), the
// on-wire sample (against a captured ntpd/chronyd exchange and hand-computed numbers), every
// reject reason, kiss-o'-death, MACs, polling and the estimate.
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { Association, NEVER_NS } from '../../../src/assoc/association.js';
import { REPLY_REJECT_REASONS, type AssociationAction } from '../../../src/assoc/types.js';
import { LeapIndicator, Mode } from '../../../src/ntp/constants.js';
import { ntpDiffNs, readTimestamp, unixNsFromNtp, type NtpTimestamp } from '../../../src/ntp/timestamp.js';
import { at, clientConfig, counterRandom, keyFrom, reply, S, T0_NS } from './fake-server.js';

const hex = (s: string) => Uint8Array.from(Buffer.from(s, 'hex'));
const sendOf = (actions: AssociationAction[]) => {
  const send = actions.find((a) => a.kind === 'send');
  if (!send || send.kind !== 'send') throw new Error('no send');
  return send.packet;
};
const MS = 1_000_000n;
const US = 1_000n;

/** One exchange: local clock `aheadNs` ahead of the server, one-way delays out/back, server hold 50 µs. */
function exchange(a: Association, t1Ns: bigint, aheadNs: bigint, outNs = 100n * US, backNs = 100n * US, opts = {}) {
  const req = sendOf(a.poll(at(t1Ns)));
  const t2 = t1Ns - aheadNs + outNs;
  const t3 = t2 + 50n * US;
  const t4 = t3 + aheadNs + backNs;
  return { req, actions: a.receive(reply(req, t2, t3, opts), 48, at(t4)), t4 };
}

describe('client request bytes', () => {
  it('are a captured chronyd 4 request byte for byte when the random nonce is the same', () => {
    // client-requests-lo.pcap, second request: LI 0, VN 4, mode 3, poll 6, precision 0x20, random xmt.
    const captured = hex('2300062000000000000000000000000000000000000000000000000000000000000000000000000034a996f214578c97');
    const nonce = captured.subarray(40);
    let first = true;
    const a = new Association(clientConfig(), (out) => {
      if (first && out.length === 8) out.set(nonce);
      else out.fill(0x80);
      first = false;
    }, T0_NS);
    const packet = sendOf(a.poll(at(T0_NS)));
    expect(Buffer.from(packet).toString('hex')).toBe(Buffer.from(captured).toString('hex'));
  });

  it('carry a fresh random transmit timestamp each time, version from the config', () => {
    const a = new Association(clientConfig({ version: 3 }), counterRandom(), T0_NS);
    const p1 = sendOf(a.poll(at(T0_NS)));
    const p2 = sendOf(a.poll(at(a.nextPollNs())));
    expect(p1[0]).toBe((3 << 3) | 3);
    expect(Buffer.from(p1.subarray(40)).equals(Buffer.from(p2.subarray(40)))).toBe(false);
    expect(p1.subarray(4, 40).every((b) => b === 0)).toBe(true);
  });
});

describe('on-wire calculation', () => {
  it('matches the captured chronyd reply (client-requests-lo.pcap) with the capture times as T1/T4', () => {
    const request = hex('2300062000000000000000000000000000000000000000000000000000000000000000000000000034a996f214578c97');
    const response = hex('240106e600000000000000007f7f0101eead119fae6d95bc34a996f214578c97eead11a15198acf5eead11a151a31b9e');
    const t1 = 1_795_330_849n * S + 318_735n * US; // pcap time of the request
    const t4 = 1_795_330_849n * S + 318_905n * US; // pcap time of the reply
    let first = true;
    const a = new Association(clientConfig(), (out) => {
      if (first) out.set(request.subarray(40));
      first = false;
    }, t1);
    a.poll(at(t1));
    expect(a.receive(response, 48, at(t4))).toEqual([]);
    const t2 = unixNsFromNtp(readTimestamp(response, 32), t4);
    const t3 = unixNsFromNtp(readTimestamp(response, 40), t4);
    // Hand-computed: offset = ((T1 − T2) + (T4 − T3)) / 2, delay = (T4 − T1) − (T3 − T2).
    const st = a.status(t4);
    expect(st.filter!.offsetNs).toBeCloseTo(Number(t1 - t2 + (t4 - t3)) / 2, 3);
    expect(st.filter!.delayNs).toBe(Number(t4 - t1 - (t3 - t2)));
    // 170 µs between the captured datagrams, 159 µs of them inside chronyd (T3 − T2).
    expect(st.filter!.delayNs).toBeGreaterThan(5_000);
    expect(st.filter!.delayNs).toBeLessThan(20_000);
    expect(st.upstream).toMatchObject({ stratum: 1, precisionLog2S: -26, refid: 0x7f7f0101 });
    expect(st.reach).toBe(1);
    expect(st.pmode).toBe(4);
  });

  it('local clock 30 ms ahead, 100 µs each way, 50 µs in the server: offset +30 ms, delay 200 µs', () => {
    const a = new Association(clientConfig(), counterRandom(), T0_NS);
    exchange(a, T0_NS, 30n * MS);
    const f = a.status(T0_NS).filter!;
    expect(f.offsetNs).toBeCloseTo(30_000_000, -1); // NTP fractions round to 0.23 ns
    expect(f.delayNs).toBeCloseTo(200_000, -1);
    // ε = 2^-20 (server) + 2^-20 (ours) + 15 ppm × 250 µs
    expect(f.stages[0]!.dispersionNs).toBeCloseTo(2 * 2 ** -20 * 1e9 + 15e-6 * 250_000, 1);
  });

  it('asymmetry shows as half its size; the delay is floored at the precision', () => {
    const a = new Association(clientConfig(), counterRandom(), T0_NS);
    exchange(a, T0_NS, 0n, 300n * US, 100n * US);
    expect(a.status(T0_NS).filter!.offsetNs).toBeCloseTo(-100_000, -1);
    const b = new Association(clientConfig(), counterRandom(), T0_NS);
    const req = sendOf(b.poll(at(T0_NS)));
    b.receive(reply(req, T0_NS + 20n * US, T0_NS + 30n * US, { precision: -10 }), 48, at(T0_NS + 10n * US));
    expect(b.status(T0_NS).filter!.delayNs).toBeCloseTo(2 ** -10 * 1e9, 3);
  });
});

describe('reject reasons', () => {
  function fresh(opts: Parameters<typeof clientConfig>[0] = {}) {
    const a = new Association(clientConfig(opts), counterRandom(), T0_NS);
    const req = sendOf(a.poll(at(T0_NS)));
    return { a, req };
  }
  const rejected = (a: Association) => a.status(T0_NS).rejects;

  it('badFormat: short, version 0, a trailer that is neither MAC nor extension, zero timestamps', () => {
    const { a, req } = fresh();
    const good = reply(req, T0_NS, T0_NS);
    a.receive(good, 47, at(T0_NS));
    const v0 = good.slice();
    v0[0] = v0[0]! & ~0x38;
    a.receive(v0, 48, at(T0_NS));
    const odd = new Uint8Array(55);
    odd.set(good);
    a.receive(odd, 55, at(T0_NS));
    a.receive(good, 1000, at(T0_NS)); // length beyond the buffer
    expect(rejected(a).badFormat).toBe(4);
    const zero = good.slice();
    zero.fill(0, 32, 40);
    a.receive(zero, 48, at(T0_NS + MS));
    expect(rejected(a).badFormat).toBe(5);
  });

  it('badMode: a mode 3 or mode 1 packet to a client association', () => {
    const { a, req } = fresh();
    a.receive(reply(req, T0_NS, T0_NS, { mode: Mode.Client }), 48, at(T0_NS));
    a.receive(reply(req, T0_NS, T0_NS, { mode: Mode.SymmetricActive }), 48, at(T0_NS));
    expect(rejected(a).badMode).toBe(2);
  });

  it('bogusOrigin: an origin that is not our nonce; duplicate: the same reply again', () => {
    const { a, req } = fresh();
    const forged = req.slice();
    forged[47] = forged[47]! ^ 1;
    a.receive(reply(forged, T0_NS, T0_NS), 48, at(T0_NS + MS));
    expect(rejected(a).bogusOrigin).toBe(1);
    expect(a.reach).toBe(0);
    const r = reply(req, T0_NS, T0_NS);
    a.receive(r, 48, at(T0_NS + MS));
    a.receive(r, 48, at(T0_NS + 2n * MS));
    expect(rejected(a).duplicate).toBe(1);
    expect(a.reach).toBe(1);
    expect(a.status(T0_NS).filter!.stages.filter((s) => s.dispersionNs < 16e9)).toHaveLength(1);
  });

  it('a late reply to an earlier request is bogus', () => {
    const a = new Association(clientConfig(), counterRandom(), T0_NS);
    const old = sendOf(a.poll(at(T0_NS)));
    a.poll(at(a.nextPollNs()));
    a.receive(reply(old, T0_NS, T0_NS), 48, at(a.nextPollNs()));
    expect(rejected(a).bogusOrigin).toBe(1);
  });

  it.each([
    ['LI 3', { leap: LeapIndicator.Unsynchronised }, 'unsynchronised'],
    ['stratum 16', { stratum: 16 }, 'unsynchronised'],
    ['stratum 0 without a kiss code', { stratum: 0, refid: 0 }, 'unsynchronised'],
    ['stratum 0, kiss INIT', { kiss: 'INIT' }, 'unsynchronised'],
    ['stratum 17', { stratum: 17 }, 'badStratum'],
    ['root dispersion 2 s', { rootDispersionS: 2 }, 'distance'],
    ['root delay 2.8 s + dispersion 0.2 s', { rootDelayS: 2.8, rootDispersionS: 0.2 }, 'distance'],
  ] as const)('%s → %s (reach still set: the server answered)', (_n, opts, reason) => {
    const { a, req } = fresh();
    a.receive(reply(req, T0_NS, T0_NS, opts), 48, at(T0_NS + MS));
    expect(Object.keys(rejected(a))).toEqual([reason]);
    expect(a.reach).toBe(1);
    expect(a.estimate(T0_NS + MS)).toBeNull();
    expect(a.status(T0_NS).lastReject).toBe(reason);
  });

  it('every reason in REPLY_REJECT_REASONS is exercised by this file', () => {
    expect([...REPLY_REJECT_REASONS].sort()).toEqual(
      ['badFormat', 'badMac', 'badMode', 'badStratum', 'bogusOrigin', 'cryptoNak', 'distance', 'duplicate', 'unsynchronised']);
  });
});

describe('kiss-o\'-death', () => {
  it('RATE: the poll goes to at least minpoll + 1, the volley stops, and it is counted', () => {
    const a = new Association(clientConfig({ iburst: true }), counterRandom(), T0_NS);
    const req = sendOf(a.poll(at(T0_NS)));
    expect(a.receive(reply(req, T0_NS, T0_NS, { kiss: 'RATE' }), 48, at(T0_NS + MS))).toEqual([]);
    const st = a.status(T0_NS);
    expect(st.kod).toEqual({ RATE: 1 });
    expect(st.pollLog2S).toBe(7);
    expect(st.reach).toBe(0);
    const wait = a.nextPollNs() - (T0_NS + MS);
    expect(wait).toBeGreaterThan(120n * S); // 128 s ± 5 %, not the volley's 2 s
    expect(wait).toBeLessThan(135n * S);
  });

  it('a RATE whose origin is not ours is ignored (no off-path slow-down)', () => {
    const a = new Association(clientConfig(), counterRandom(), T0_NS);
    const req = sendOf(a.poll(at(T0_NS)));
    const forged = req.slice();
    forged[40] = forged[40]! ^ 0xff;
    a.receive(reply(forged, T0_NS, T0_NS, { kiss: 'RATE' }), 48, at(T0_NS + MS));
    expect(a.status(T0_NS).pollLog2S).toBe(6);
    expect(a.status(T0_NS).rejects.bogusOrigin).toBe(1);
  });

  it.each([['DENY', 'kodDeny'], ['RSTR', 'kodRestrict']] as const)('%s: demobilise, never poll again', (code, reason) => {
    const a = new Association(clientConfig(), counterRandom(), T0_NS);
    const req = sendOf(a.poll(at(T0_NS)));
    expect(a.receive(reply(req, T0_NS, T0_NS, { kiss: code }), 48, at(T0_NS + MS))).toEqual([{ kind: 'demobilise', reason }]);
    expect(a.nextPollNs()).toBe(NEVER_NS);
    expect(a.poll(at(T0_NS + 100n * S))).toEqual([]);
    expect(a.status(T0_NS).demobilised).toBe(true);
    expect(a.status(T0_NS).kod).toEqual({ [code]: 1 });
  });
});

describe('MACs', () => {
  const md5 = keyFrom('7 MD5 sesame');
  const aes = keyFrom('9 AES128CMAC 2b7e151628aed2a6abf7158809cf4f3c');

  it.each([['MD5', md5, 68], ['AES-128-CMAC', aes, 68]] as const)('%s: key ID + MAC over the header; a signed reply is accepted', (_n, key, len) => {
    const a = new Association(clientConfig({ key }), counterRandom(), T0_NS);
    const req = sendOf(a.poll(at(T0_NS)));
    expect(req.length).toBe(len);
    expect(new DataView(req.buffer).getUint32(48)).toBe(key.id);
    expect(key.verify(req, 48, req.length)).toBe(true);
    const r = reply(req, T0_NS, T0_NS, { key });
    expect(a.receive(r, r.length, at(T0_NS + MS))).toEqual([]);
    expect(a.status(T0_NS).rejects).toEqual({});
    expect(a.status(T0_NS).keyId).toBe(key.id);
    expect(a.reach).toBe(1);
  });

  it('MD5 MAC is RFC 5905 md5(key || header)', () => {
    const a = new Association(clientConfig({ key: md5 }), counterRandom(), T0_NS);
    const req = sendOf(a.poll(at(T0_NS)));
    const want = createHash('md5').update('sesame').update(req.subarray(0, 48)).digest();
    expect(Buffer.from(req.subarray(52)).equals(want)).toBe(true);
  });

  it('badMac: unsigned, another key ID, a flipped bit; cryptoNak: a bare zero key ID', () => {
    const a = new Association(clientConfig({ key: md5 }), counterRandom(), T0_NS);
    const req = sendOf(a.poll(at(T0_NS)));
    a.receive(reply(req, T0_NS, T0_NS), 48, at(T0_NS + MS));
    const other = reply(req, T0_NS, T0_NS, { key: keyFrom('8 MD5 sesame') });
    a.receive(other, other.length, at(T0_NS + MS));
    const flipped = reply(req, T0_NS, T0_NS, { key: md5 });
    flipped[60] = flipped[60]! ^ 1;
    a.receive(flipped, flipped.length, at(T0_NS + MS));
    const nak = reply(req, T0_NS, T0_NS, { nak: true });
    a.receive(nak, 52, at(T0_NS + MS));
    expect(a.status(T0_NS).rejects).toEqual({ badMac: 3, cryptoNak: 1 });
    expect(a.reach).toBe(0);
    // The genuine reply still gets through after the forgeries.
    const good = reply(req, T0_NS, T0_NS, { key: md5 });
    a.receive(good, good.length, at(T0_NS + MS));
    expect(a.reach).toBe(1);
  });

  it('a signed reply to an unauthenticated association is accepted (the MAC is ignored)', () => {
    const a = new Association(clientConfig(), counterRandom(), T0_NS);
    const req = sendOf(a.poll(at(T0_NS)));
    const r = reply(req, T0_NS, T0_NS, { key: md5 });
    a.receive(r, r.length, at(T0_NS + MS));
    expect(a.reach).toBe(1);
    expect(a.status(T0_NS).rejects).toEqual({});
  });
});

describe('polling', () => {
  it('iburst: 8 packets 2 s apart from startNs, then minpoll ± 5 %; reach 1 after a reply', () => {
    const a = new Association(clientConfig({ iburst: true }), counterRandom(), T0_NS);
    expect(a.nextPollNs()).toBe(T0_NS);
    const times: bigint[] = [];
    for (let i = 0; i < 9; i++) {
      const t = a.nextPollNs();
      times.push(t);
      exchange(a, t, 0n);
    }
    const gaps = times.slice(1).map((t, i) => t - times[i]!);
    expect(gaps.slice(0, 7)).toEqual(Array(7).fill(2n * S));
    expect(gaps[7]).toBeGreaterThan(60n * S);
    expect(gaps[7]).toBeLessThan(68n * S);
    expect(a.reach).toBe(3);
    expect(a.status(T0_NS).sent).toBe(9);
  });

  it('no iburst: one packet per poll; burst: volleys only while reachable', () => {
    const a = new Association(clientConfig(), counterRandom(), T0_NS);
    a.poll(at(T0_NS));
    expect(a.nextPollNs() - T0_NS).toBeGreaterThan(60n * S);
    const b = new Association(clientConfig({ burst: true }), counterRandom(), T0_NS);
    exchange(b, T0_NS, 0n); // unreachable at the first poll: no volley
    expect(b.nextPollNs() - T0_NS).toBeGreaterThan(60n * S);
    const t = b.nextPollNs();
    exchange(b, t, 0n); // reachable now: a volley
    expect(b.nextPollNs() - t).toBe(2n * S);
  });

  it('poll intervals are randomised by at most ±5 % and not all alike', () => {
    const a = new Association(clientConfig(), counterRandom(7), T0_NS);
    const gaps = new Set<bigint>();
    let t = T0_NS;
    for (let i = 0; i < 7; i++) { // fewer than 8: no unreachable back-off
      a.poll(at(t));
      const next = a.nextPollNs();
      const gap = next - t;
      expect(gap >= 60_800_000_000n && gap <= 67_200_000_000n).toBe(true);
      gaps.add(gap);
      t = next;
    }
    expect(gaps.size).toBeGreaterThan(4);
  });

  it('unreachable: reported once after 8 polls with reach 0, then the poll backs off; a reply resets to minpoll', () => {
    const a = new Association(clientConfig(), counterRandom(), T0_NS);
    let t = T0_NS;
    const reports: number[] = [];
    const polls: number[] = [];
    for (let i = 1; i <= 12; i++) {
      if (a.poll(at(t)).some((x) => x.kind === 'unreachable')) reports.push(i);
      polls.push(a.status(t).pollLog2S);
      t = a.nextPollNs();
    }
    expect(reports).toEqual([8]);
    expect(polls).toEqual([6, 6, 6, 6, 6, 6, 6, 7, 8, 9, 10, 10]);
    expect(a.status(t).unreachable).toBe(true);
    exchange(a, t, 0n);
    expect(a.status(t).pollLog2S).toBe(6);
    expect(a.status(t).unreachable).toBe(false);
  });
});

describe('estimate', () => {
  function synced(aheadNs: bigint) {
    const a = new Association(clientConfig({ iburst: true }), counterRandom(), T0_NS);
    let t = T0_NS;
    for (let i = 0; i < 8; i++) {
      exchange(a, t, aheadNs);
      t = a.nextPollNs();
    }
    return { a, t };
  }

  it('after iburst: the offset, network basis, path, refid = address, leap from LI', () => {
    const { a, t } = synced(30n * MS);
    const e = a.estimate(t)!;
    expect(e.basis).toBe('network');
    expect(e.offsetNs).toBeCloseTo(30e6, -1);
    expect(e.fix.mode).toBe('none');
    expect(e.refid).toBe('192.0.2.1');
    expect(e.leap).toBe('none');
    expect(e.path).toMatchObject({ stratum: 1, refid: 0xc0000201, rootDelayS: 0 });
    expect(e.path!.delayS).toBeCloseTo(200e-6, 8);
    expect(e.path!.dispersionS).toBeLessThan(0.01);
    expect(e.path!.rootDispersionS).toBeCloseTo(0.0001, 4);
  });

  it('is null as soon as the server answers unsynchronised, and back with its next good answer', () => {
    const { a, t } = synced(0n);
    exchange(a, t, 0n, 100n * US, 100n * US, { leap: LeapIndicator.Unsynchronised });
    expect(a.reach & 1).toBe(1);
    expect(a.estimate(t + S)).toBeNull();
    const t2 = a.nextPollNs();
    exchange(a, t2, 0n);
    expect(a.estimate(t2 + S)).not.toBeNull();
  });

  it('leap from the upstream LI: insert', () => {
    const a = new Association(clientConfig(), counterRandom(), T0_NS);
    exchange(a, T0_NS, 0n, 100n * US, 100n * US, { leap: LeapIndicator.AddSecond });
    expect(a.estimate(T0_NS + S)!.leap).toBe('insert');
  });

  it('is null before any sample, once reach is 0, and when older than 8 polls', () => {
    const a = new Association(clientConfig(), counterRandom(), T0_NS);
    expect(a.estimate(T0_NS)).toBeNull();
    exchange(a, T0_NS, 0n);
    expect(a.estimate(T0_NS + S)).not.toBeNull();
    expect(a.estimate(T0_NS + 8n * 64n * S + 10n * S)).toBeNull(); // stale
    let t = a.nextPollNs();
    for (let i = 0; i < 8; i++) {
      a.poll(at(t));
      t = a.nextPollNs();
    }
    expect(a.reach).toBe(0);
    expect(a.estimate(t)).toBeNull();
  });

  it('clockChanged: a 1 s step between request and reply and of the stored samples keeps the offset right', () => {
    const { a, t } = synced(0n);
    const req = sendOf(a.poll(at(t)));
    const step = { atNs: t + MS, stepNs: S, freqChangePpm: 0 };
    a.clockChanged(step);
    // After the step the local clock is 1 s ahead of the server.
    a.receive(reply(req, t + 100n * US, t + 150n * US), 48, at(t + S + 250n * US));
    expect(a.status(t).filter!.stages[0]!.offsetNs).toBeCloseTo(1e9, -2);
    expect(a.estimate(t + S + S)!.offsetNs).toBeCloseTo(1e9, -3);
  });
});

describe('timestamps', () => {
  it('the nonce is 64 random bits, not our time (data minimisation)', () => {
    const a = new Association(clientConfig(), counterRandom(3), T0_NS);
    const p = sendOf(a.poll(at(T0_NS)));
    const xmt: NtpTimestamp = readTimestamp(p, 40);
    const distance = ntpDiffNs(xmt, readTimestamp(Uint8Array.from(Buffer.alloc(8)), 0));
    expect(distance).not.toBe(0n);
  });
});
