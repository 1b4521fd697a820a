// The mode 6 responder beyond the captured exchanges: mrulist with its nonce, errors, refused
// writes, fragmentation of long answers, the amplification bound, and routing in the handler.
import { describe, expect, it } from 'vitest';
import { Mode6Responder, MODE6_MAX_DATAGRAMS, MODE6_MAX_PLAIN_DATAGRAMS } from '../../../src/control/mode6/responder.js';
import type { Association, ControlView, MruEntry } from '../../../src/control/mode6/view.js';
import { makeRig, rule } from '../../support/server.js';
import { exchanges, items, responseText, tsOf, viewOf, worldOf } from './capture-view.js';

const SECRET = new Uint8Array(32).fill(3);
const base = viewOf(worldOf(['01_ntpq_p.pcap', '02_ntpq_rv.pcap', '10_ntpq_sysstats.pcap']));
const at = (seconds: number, fraction = 0): { address: string; rxSeconds: number; rxFraction: number } => ({ address: '127.0.0.1', rxSeconds: seconds, rxFraction: fraction });

function request(opcode: number, data = '', associd = 0, sequence = 9, version = 2): Buffer {
  const body = Buffer.from(data, 'latin1');
  const b = Buffer.alloc((12 + body.length + 3) & ~3);
  b[0] = (version << 3) | 6;
  b[1] = opcode;
  b.writeUInt16BE(sequence, 2);
  b.writeUInt16BE(associd, 6);
  b.writeUInt16BE(body.length, 10);
  body.copy(b, 12);
  return b;
}

function ask(r: Mode6Responder, req: Buffer, view: ControlView = base, client = at(0xeead1187)): Buffer[] {
  const n = r.respond(req, req.length, client, view);
  return Array.from({ length: n }, (_, i) => Buffer.from(r.datagram(i)));
}

const errorOf = (d: Buffer): number | undefined => ((d[1]! & 0x40) !== 0 ? d[4] : undefined);

describe('mrulist (REQ_NONCE + READ_MRU)', () => {
  // The captured mrulist: three clients, as ntpd listed them.
  const captured = items(responseText(exchanges('11_ntpq_mrulist.pcap')[1]!.responses.map((d) => d.payload)));
  const mru: MruEntry[] = [0, 1, 2].map((i) => {
    const [address, port] = captured.get(`addr.${i}`)!.startsWith('[') ? ['::1', 55403] : captured.get(`addr.${i}`)!.split(':');
    const mv = Number(captured.get(`mv.${i}`));
    return {
      address: String(address), port: Number(port), first: tsOf(captured.get(`first.${i}`)), last: tsOf(captured.get(`last.${i}`)),
      count: Number(captured.get(`ct.${i}`)), restrictBits: parseInt(captured.get(`rs.${i}`)!, 16), mode: mv & 7, version: mv >> 3,
      score: Number(captured.get(`sc.${i}`)), drop: Number(captured.get(`dr.${i}`)),
    };
  }).reverse(); // the view lists the most recent first
  const view: ControlView = { ...base, mru: () => mru };
  const now = tsOf(captured.get('now'));
  const client = at(now.seconds, now.fraction);

  it("answers ntpq's nonce request, then the list for that nonce: ntpd's entries, oldest first", () => {
    const r = new Mode6Responder({ nonceSecret: SECRET });
    const [nonceReply] = ask(r, exchanges('11_ntpq_mrulist.pcap')[0]!.request.payload, view, client);
    expect(nonceReply!.length).toBe(44); // as captured: 12 + 32, "nonce=<24 hex>\r\n"
    const nonce = /^nonce=([0-9a-f]{24})\r\n$/.exec(responseText([nonceReply!]))![1]!;
    expect(nonce.slice(0, 16)).toBe(now.seconds.toString(16) + now.fraction.toString(16).padStart(8, '0'));
    const reply = ask(r, request(10, `nonce=${nonce}, frags=32`, 0, 2), view, client);
    const got = items(responseText(reply));
    for (const [k, v] of captured) {
      if (/^(nonce|now|last\.newest)$/.test(k) || /^[a-z]{3}\.\d$/.test(k)) continue; // new nonce, time, ntpd's random tags
      expect(got.get(k), k).toBe(v);
    }
    expect(got.get('now')).toBe(captured.get('now'));
    expect(got.get('last.newest')).toBe(got.get('last.2'));
    expect(got.get('nonce')).toMatch(/^[0-9a-f]{24}$/);
  });

  it('no answer without a nonce, with a captured (foreign) nonce, from another address, or after 16 s', () => {
    const r = new Mode6Responder({ nonceSecret: SECRET });
    const nonce = /nonce=(\w+)/.exec(responseText(ask(r, request(12), view, client)))![1]!;
    expect(ask(r, request(10, 'frags=32'), view, client)).toEqual([]);
    expect(ask(r, exchanges('11_ntpq_mrulist.pcap')[1]!.request.payload, view, client)).toEqual([]);
    expect(ask(r, request(10, `nonce=${nonce}, frags=32`), view, { ...client, address: '192.0.2.7' })).toEqual([]);
    expect(ask(r, request(10, `nonce=${nonce}, frags=32`), view, { ...client, rxSeconds: client.rxSeconds + 16 })).toEqual([]);
    expect(ask(r, request(10, `nonce=${nonce}, frags=32`), view, { ...client, rxSeconds: client.rxSeconds + 15 })).not.toEqual([]);
    expect(new Mode6Responder({ nonceSecret: new Uint8Array(32).fill(4) }).respond(request(10, `nonce=${nonce}, frags=32`), 52, client, view)).toBe(0);
  });

  it('pages a long list by frags= and resumes after last.N/addr.N; refuses nomrulist', () => {
    const long: MruEntry[] = Array.from({ length: 400 }, (_, i) => ({
      address: `10.1.${i >> 8}.${i & 255}`, port: 1000 + i, first: { seconds: 0xeead0000, fraction: 0 },
      last: { seconds: 0xeead1000, fraction: 0xffff0000 - i }, count: i + 1, restrictBits: 0, mode: 3, version: 4, score: 1, drop: 0,
    })).reverse();
    const v: ControlView = { ...base, mru: () => long };
    const r = new Mode6Responder({ nonceSecret: SECRET });
    const nonce = (): string => /nonce=(\w+)/.exec(responseText(ask(r, request(12), v, client)))![1]!;
    const page1 = ask(r, request(10, `nonce=${nonce()}, frags=32`), v, client);
    expect(page1.length).toBeLessThanOrEqual(MODE6_MAX_DATAGRAMS);
    const p1 = items(responseText(page1));
    expect(p1.has('now')).toBe(false);
    const lastIdx = Math.max(...[...p1.keys()].filter((k) => k.startsWith('addr.')).map((k) => Number(k.slice(5))));
    const page2 = items(responseText(ask(r, request(10, `nonce=${nonce()}, frags=4, last.0=${p1.get(`last.${lastIdx}`)}, addr.0=${p1.get(`addr.${lastIdx}`)}`), v, client)));
    expect(page2.get('addr.older')).toBe(p1.get(`addr.${lastIdx}`));
    expect(page2.get('addr.0')).toBe(`10.1.${(lastIdx + 1) >> 8}.${(lastIdx + 1) & 255}:${1001 + lastIdx}`);
    // A starting point that changed: ntpd's UNKNOWNVAR, so ntpq backs up.
    const stale = ask(r, request(10, `nonce=${nonce()}, frags=4, last.0=0x00000001.00000001, addr.0=10.1.0.0:1000`), v, client);
    expect(errorOf(stale[0]!)).toBe(5);
    expect(errorOf(ask(r, request(10, `nonce=${nonce()}, frags=200`), v, client)[0]!)).toBe(6);
    const n = r.respond(request(10, `nonce=${nonce()}, frags=32`), 52, client, v, true);
    expect(n).toBe(1);
    expect(r.datagram(0)[4]).toBe(1);
  });
});

describe('errors and refusals, as ntpd', () => {
  const r = new Mode6Responder({ nonceSecret: SECRET });
  it('unknown variable, unknown association, unknown opcode, bad format', () => {
    for (const [req, code] of [
      [request(2, 'stratum,nosuchvar'), 5], [request(2, 'nosuchvar', 17767), 5], [request(2, '', 999), 4],
      [request(4, '', 17767), 4], [request(1, '', 999), 4], [request(7), 3], [request(20), 3],
    ] as const) {
      const [d, ...rest] = ask(r, req);
      expect(rest).toEqual([]);
      expect(d!.length).toBe(12);
      expect(d![1]).toBe(0x80 | 0x40 | req[1]!);
      expect(errorOf(d!)).toBe(code);
      expect(d!.readUInt16BE(2)).toBe(9);
    }
    const odd = Buffer.concat([request(2), Buffer.alloc(1)]);
    expect(errorOf(ask(r, odd)[0]!)).toBe(2);
    const short = request(2, 'stratum');
    short.writeUInt16BE(100, 10); // count beyond the data
    expect(errorOf(ask(r, short)[0]!)).toBe(2);
  });

  it('writes, configuration, traps and ordered lists are refused with CERR_PERMISSION', () => {
    for (const op of [3, 5, 6, 8, 9, 11, 31]) expect(errorOf(ask(r, request(op, 'leap=1'))[0]!), `opcode ${op}`).toBe(1);
  });

  it('ignores responses, fragments, non-zero offsets, bad versions and short datagrams (no answer)', () => {
    const resp = request(2); resp[1] = resp[1]! | 0x80;
    const frag = request(2); frag[1] = frag[1]! | 0x20;
    const off = request(2); off.writeUInt16BE(4, 8);
    for (const b of [resp, frag, off, request(2, '', 0, 1, 0), request(2, '', 0, 1, 5), request(2).subarray(0, 8)]) expect(ask(r, b)).toEqual([]);
  });

  it('answers requests with a MAC or padding (ntpstat sends 576 bytes) like plain ones', () => {
    const plain = ask(r, request(2));
    expect(ask(r, Buffer.concat([request(2), Buffer.alloc(564)]))).toEqual(plain);
    expect(ask(r, Buffer.concat([request(2), Buffer.from('0000000100112233445566778899aabbccddeeff', 'hex')]))).toEqual(plain);
  });

  it('rxtimestamps (Gnomon\'s): in the default READVAR when the daemon reports it, absent otherwise', () => {
    const withRx = { ...base, system: () => ({ ...base.system(), rxTimestamps: 'kernel (SIOCGSTAMPNS)' }) };
    expect(responseText(ask(r, request(2), withRx))).toMatch(/rxtimestamps="kernel \(SIOCGSTAMPNS\)"\r\n$/);
    expect(responseText(ask(r, request(2)))).not.toContain('rxtimestamps');
  });

  it('explicit lists come back in ntpd table order, each variable once', () => {
    expect(responseText(ask(r, request(2, 'refid,stratum, stratum')))).toBe('stratum=2, refid=10.250.0.1\r\n');
  });
});

describe('fragmentation and the amplification bound', () => {
  it('many associations: READSTAT splits at exactly 468 bytes with offsets and More', () => {
    const one = base.associations()[0]!;
    const many: Association[] = Array.from({ length: 300 }, (_, i) => ({ ...one, associd: i + 1 }));
    const r = new Mode6Responder({ nonceSecret: SECRET });
    const out = ask(r, request(1), { ...base, associations: () => many });
    expect(out.map((d) => d.readUInt16BE(10))).toEqual([468, 468, 264]);
    expect(out.map((d) => d.readUInt16BE(8))).toEqual([0, 468, 936]);
    expect(out.map((d) => (d[1]! & 0x20) !== 0)).toEqual([true, true, false]);
    // A list that would need more than the bound is refused, not truncated.
    const tooMany = Array.from({ length: 600 }, (_, i) => ({ ...one, associd: i + 1 }));
    const refused = ask(r, request(1), { ...base, associations: () => tooMany });
    expect(refused.length).toBe(1);
    expect(errorOf(refused[0]!)).toBe(1);
  });

  it('every variable ntpd knows, asked as many per request as fit, fits the 4-datagram bound', () => {
    const r = new Mode6Responder({ nonceSecret: SECRET });
    const all = responseText(ask(r, request(2, 'sys_var_list')));
    const names = /sys_var_list="([^"]+)"/.exec(all)![1]!.split(',');
    expect(names.length).toBe(144); // ntpd's 142 + Gnomon's rxtimestamps, serverpath
    expect(ask(r, request(2, 'sys_var_list')).length).toBeLessThanOrEqual(MODE6_MAX_PLAIN_DATAGRAMS);
    // As many names as fit in one request (468 bytes), all of them over a few requests.
    const parts: string[] = [''];
    for (const n of names.filter((x) => x !== 'sys_var_list')) {
      if (parts.at(-1)!.length + n.length + 1 > 468) parts.push('');
      parts[parts.length - 1] += (parts.at(-1) === '' ? '' : ',') + n;
    }
    expect(parts.length).toBeGreaterThan(1);
    for (const part of parts) {
      const out = ask(r, request(2, part));
      expect(out.length).toBeGreaterThan(0);
      expect(out.length).toBeLessThanOrEqual(MODE6_MAX_PLAIN_DATAGRAMS);
      expect(errorOf(out[0]!)).toBeUndefined();
    }
  });
});

describe('routing in the request handler', () => {
  const port = () => ({ view: base, responder: new Mode6Responder({ nonceSecret: SECRET }) });
  function send(rig: ReturnType<typeof makeRig>, req: Buffer, address = '192.0.2.1'): Buffer[] {
    expect(rig.send(req, address).length).toBe(0); // mode 6 never goes out through the mode 3 buffer
    const n = rig.handler.takeControlReply();
    expect(rig.handler.takeControlReply()).toBe(0);
    return Array.from({ length: n }, (_, i) => rig.handler.controlDatagram(i));
  }

  it('answers when a ControlPort is attached; declines without one', () => {
    const rig = makeRig([rule('default', [])]); // explicit: no default line means noquery (NTPsec)
    expect(send(rig, request(2))).toEqual([]);
    expect(rig.counters.declined).toBe(1);
    rig.handler.setControl(port());
    const out = send(rig, request(2));
    expect(responseText(out)).toContain('stratum=2');
    expect(rig.counters.controlRequests).toBe(1);
    expect(rig.counters.processed).toBe(0);
  });

  it('noquery and ignore: dropped silently, counted as restricted; mode 3 still served under noquery', () => {
    const rig = makeRig([rule('default', ['noquery']), rule('127.0.0.1', [])]);
    rig.handler.setControl(port());
    expect(send(rig, request(2), '192.0.2.1')).toEqual([]);
    expect(rig.counters.restricted).toBe(1);
    expect(send(rig, request(2), '127.0.0.1').length).toBe(1);
    const ignore = makeRig([rule('default', ['ignore'])]);
    ignore.handler.setControl(port());
    expect(send(ignore, request(2))).toEqual([]);
    expect(ignore.counters.restricted).toBe(1);
    expect(rig.counters.controlRequests).toBe(1);
  });

  it('noserve does not stop mode 6; nomrulist refuses READ_MRU', () => {
    const rig = makeRig([rule('default', ['noserve', 'nomrulist'])]);
    rig.handler.setControl(port());
    expect(send(rig, request(2)).length).toBe(1);
    expect(errorOf(send(rig, request(10, 'nonce=00, frags=4'))[0]!)).toBe(1);
  });

  it('the global mode 6 budget: a burst of 128, then 64 per second', () => {
    const rig = makeRig([rule('default', [])]);
    rig.handler.setControl(port());
    let answered = 0;
    for (let i = 0; i < 200; i++) answered += send(rig, request(12), `10.0.${i >> 8}.${i & 255}`).length > 0 ? 1 : 0;
    expect(answered).toBe(128);
    rig.clock.advanceS(1);
    answered = 0;
    for (let i = 0; i < 100; i++) answered += send(rig, request(12), `10.9.0.${i}`).length > 0 ? 1 : 0;
    expect(answered).toBe(64);
  });
});
