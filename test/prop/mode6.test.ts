// Property tests: the mode 6 responder and its route through the handler never throw and never
// answer beyond the amplification bound, whatever arrives.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  MODE6_MAX_DATAGRAMS, MODE6_MAX_PLAIN_DATAGRAMS, MODE6_MAX_PLAIN_RESPONSE_BYTES, MODE6_MAX_RESPONSE_BYTES, Mode6Responder,
} from '../../src/control/mode6/responder.js';
import { makeRig, rule } from '../support/server.js';
import { exchanges, viewOf, worldOf } from '../unit/control/capture-view.js';

const view = viewOf(worldOf(['01_ntpq_p.pcap', '02_ntpq_rv.pcap', '08_ntpq_cv_refclock.pcap', '10_ntpq_sysstats.pcap']));
const seeds = ['01_ntpq_p.pcap', '06_ntpstat.pcap', '08_ntpq_cv_refclock.pcap', '09_ntpq_sysinfo.pcap', '10_ntpq_sysstats.pcap', '11_ntpq_mrulist.pcap']
  .flatMap((f) => exchanges(f).map((e) => e.request.payload));
const client = { address: '127.0.0.1', rxSeconds: 0xeead1187, rxFraction: 0 };

function check(r: Mode6Responder, bytes: Uint8Array): void {
  const n = r.respond(bytes, bytes.length, client, view);
  expect(n).toBeGreaterThanOrEqual(0);
  const isMru = bytes.length > 1 && (bytes[1]! & 0x1f) === 10;
  expect(n).toBeLessThanOrEqual(isMru ? MODE6_MAX_DATAGRAMS : MODE6_MAX_PLAIN_DATAGRAMS);
  let total = 0;
  for (let i = 0; i < n; i++) {
    const d = r.datagram(i);
    expect(d.length % 4).toBe(0);
    expect(d.length).toBeLessThanOrEqual(480);
    total += d.length;
  }
  expect(total).toBeLessThanOrEqual(isMru ? MODE6_MAX_RESPONSE_BYTES : MODE6_MAX_PLAIN_RESPONSE_BYTES);
}

/** A well-formed request header (mode 6, version 1-4) with arbitrary opcode, association and data. */
const wellFormed = fc.record({
  version: fc.integer({ min: 0, max: 7 }), opcode: fc.integer({ min: 0, max: 31 }), associd: fc.constantFrom(0, 17767, 17768, 1, 65535),
  data: fc.oneof(fc.string({ maxLength: 500 }), fc.array(fc.constantFrom('stratum', 'refid', 'nonce=', 'frags=9', 'limit=1', 'sys_var_list', 'addr.0=[::1]:1', 'last.0=0x1.1', 'peer_var_list', 'clock_var_list', '=', ',', ' '), { maxLength: 40 }).map((a) => a.join(','))),
  pad: fc.integer({ min: 0, max: 600 }),
}).map(({ version, opcode, associd, data, pad }) => {
  const body = Buffer.from(data, 'latin1');
  const b = Buffer.alloc(((12 + body.length + 3) & ~3) + (pad & ~3));
  b[0] = (version << 3) | 6;
  b[1] = opcode;
  b.writeUInt16BE(associd, 6);
  b.writeUInt16BE(Math.min(body.length, 0xffff), 10);
  body.copy(b, 12);
  return b;
});

describe('mode 6 responder properties', () => {
  it('random bytes: no throw, within the bound', () => {
    const r = new Mode6Responder({ nonceSecret: new Uint8Array(16) });
    fc.assert(fc.property(fc.uint8Array({ maxLength: 1024 }), (bytes) => check(r, bytes)), { numRuns: 3000 });
  });

  it('well-formed headers with arbitrary opcodes, associations and variable lists: within the bound', () => {
    const r = new Mode6Responder({ nonceSecret: new Uint8Array(16) });
    fc.assert(fc.property(wellFormed, (b) => check(r, b)), { numRuns: 3000 });
  });

  it('captured ntpq/ntpstat requests, mutated byte by byte: within the bound', () => {
    const r = new Mode6Responder({ nonceSecret: new Uint8Array(16) });
    fc.assert(fc.property(fc.constantFrom(...seeds), fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 8 }), fc.integer({ min: -8, max: 8 }),
      (seed, flips, grow) => {
        const b = Buffer.from(seed.subarray(0, Math.max(0, seed.length + Math.min(grow, 0))));
        const req = grow > 0 ? Buffer.concat([b, Buffer.alloc(grow)]) : b;
        for (const [at, v] of flips) if (req.length > 0) req[at % req.length] = v;
        check(r, req);
      }), { numRuns: 3000 });
  });

  it('through the handler: no throw; answer bytes ≤ 160 × request bytes, and nothing under noquery', () => {
    const open = makeRig([rule('default', [])]); // explicit: with no default line, noquery is implicit (NTPsec)
    open.handler.setControl({ view, responder: new Mode6Responder({ nonceSecret: new Uint8Array(16) }) });
    const closed = makeRig([rule('default', ['noquery'])]);
    closed.handler.setControl({ view, responder: new Mode6Responder({ nonceSecret: new Uint8Array(16) }) });
    let worst = 0;
    fc.assert(fc.property(fc.oneof(wellFormed, fc.constantFrom(...seeds)), (req) => {
      open.clock.advanceS(1); // keep the global budget from deciding the outcome
      expect(open.send(req).length).toBe(0);
      let bytes = 0;
      for (let i = 0, n = open.handler.takeControlReply(); i < n; i++) bytes += open.handler.controlDatagram(i).length;
      const isMru = (req[1]! & 0x1f) === 10;
      if (!isMru) worst = Math.max(worst, bytes / req.length);
      expect(bytes).toBeLessThanOrEqual(isMru ? MODE6_MAX_RESPONSE_BYTES : 160 * req.length);
      closed.send(req);
      expect(closed.handler.takeControlReply()).toBe(0);
    }), { numRuns: 2000 });
    // The measured factor (answers of ntpd's size: ~57× for a 12-byte peer READVAR).
    expect(worst).toBeGreaterThan(1);
    expect(worst).toBeLessThanOrEqual(160);
  });
});
