// Interleaved mode's server side (src/server/interleave/server.ts) through the request handler, with
// chrony's rules: which requests count as interleaved, what goes in origin/receive/transmit, what a
// missing kernel stamp gives; and the looped-back frames the kernel returns (captured on loopback).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseKeyFile } from '../../../../src/auth/keys.js';
import { KeyRing, PreparedKey } from '../../../../src/auth/mac.js';
import { udpPayloadOffset } from '../../../../src/server/interleave/frame.js';
import { InterleavedServer } from '../../../../src/server/interleave/server.js';
import { clientRequest, makeRig } from '../../../support/server.js';

/** A request as chronyd sends it in interleaved mode: origin = our last receive timestamp, receive = its own receive time of that reply. */
function xleaveRequest(prev: Buffer | undefined, clientTx: [number, number], version = 4): Buffer {
  const r = Buffer.from(clientRequest(version));
  r.writeUInt32BE(clientTx[0], 40);
  r.writeUInt32BE(clientTx[1], 44);
  if (prev) {
    prev.copy(r, 24, 32, 40); // origin ← the server's receive timestamp
    r.writeUInt32BE(prev.readUInt32BE(40), 32); // receive ← about when the reply came
    r.writeUInt32BE((prev.readUInt32BE(44) + 5000) >>> 0, 36);
  }
  return r;
}

function rig() {
  const r = makeRig();
  const xl = new InterleavedServer(64, 64);
  r.handler.setInterleave(xl);
  return { ...r, xl };
}

const hex = (b: Buffer, from: number): string => b.subarray(from, from + 8).toString('hex');

describe('interleaved mode in the handler', () => {
  it('a chronyd-like client: basic, basic, then interleaved with the previous reply\'s kernel transmit time', () => {
    const r = rig();
    const replies: Buffer[] = [];
    const kernelTx: [number, number][] = [];
    for (let i = 0; i < 4; i++) {
      r.clock.advanceS(1);
      const req = xleaveRequest(replies.at(-1), [0xeead1000 + i, 0x100]);
      const reply = r.send(req);
      expect(reply.length).toBe(48);
      expect(reply[39]! & 1).toBe(1); // every reply's receive timestamp ends in 1 ...
      replies.push(reply);
      // ... the shell sends it, saves its receive timestamp with the daemon's time, then records the kernel's stamp
      const daemonTx: [number, number] = [reply.readUInt32BE(40), reply.readUInt32BE(44)];
      r.xl.commit(...daemonTx);
      kernelTx.push([daemonTx[0], (daemonTx[1] + 30_000) & ~1]);
      const frame = Buffer.alloc(42 + 48);
      frame.writeUInt16BE(0x0800, 12);
      frame[14] = 0x45;
      frame[23] = 17;
      reply.copy(frame, 42);
      r.xl.recordTransmit(frame, udpPayloadOffset(frame, frame.length), 48, ...kernelTx[i]!);
      if (i < 2) {
        // the first request has origin 0; the second's origin was never saved (the first was not interleaved-capable)
        expect(hex(reply, 24)).toBe(hex(req, 40));
        continue;
      }
      expect(hex(reply, 24)).toBe(hex(req, 32)); // origin ← the request's receive timestamp
      expect([reply.readUInt32BE(40), reply.readUInt32BE(44)]).toEqual(kernelTx[i - 1]); // transmit ← the previous reply's, kernel
      expect(reply.readUInt32BE(32)).toBe(replies[i - 1]!.readUInt32BE(32) + 1); // receive: this request's (1 s on), as in basic mode
    }
    expect(r.xl.counts).toEqual({ interleaved: 2, txStampMissing: 0, txStampKernel: 3, txStampUnmatched: 1 });
  });

  it('without a kernel stamp the interleaved reply carries the daemon\'s transmit time (counted missing)', () => {
    const r = rig();
    r.clock.advanceS(1);
    const first = r.send(xleaveRequest(undefined, [1, 2]));
    r.clock.advanceS(1);
    const second = r.send(xleaveRequest(first, [3, 4]));
    const daemonTx = [second.readUInt32BE(32), 0xfff0_0000];
    r.xl.commit(daemonTx[0]!, daemonTx[1]!);
    r.clock.advanceS(1);
    const third = r.send(xleaveRequest(second, [5, 6]));
    expect([third.readUInt32BE(40), third.readUInt32BE(44)]).toEqual(daemonTx);
    expect(r.xl.counts.txStampMissing).toBe(1);
  });

  it('basic mode for: NTPv3, origin ending in 0, receive == transmit, a replayed request, an unknown origin', () => {
    const r = rig();
    r.clock.advanceS(1);
    const a = r.send(xleaveRequest(undefined, [1, 2]));
    r.clock.advanceS(1);
    const b = r.send(xleaveRequest(a, [3, 4]));
    r.xl.commit(b.readUInt32BE(40), b.readUInt32BE(44));
    const basic = (req: Buffer): void => {
      r.clock.advanceS(1);
      const reply = r.send(req);
      expect(hex(reply, 24), req.toString('hex')).toBe(hex(req, 40));
      r.xl.commit(1, 1);
    };
    basic(xleaveRequest(b, [5, 6], 3));
    const evenOrigin = xleaveRequest(b, [5, 6]);
    evenOrigin[31] = evenOrigin[31]! & 0xfe;
    basic(evenOrigin);
    const sameRxTx = xleaveRequest(b, [5, 6]);
    sameRxTx.copy(sameRxTx, 32, 40, 48);
    basic(sameRxTx);
    const unknown = xleaveRequest(b, [5, 6]);
    unknown.writeUInt32BE(0x11111111, 24);
    basic(unknown);
    // the real one is answered once; the same request again (a replay) gets basic mode
    r.clock.advanceS(1);
    const ok = xleaveRequest(b, [7, 8]);
    expect(hex(r.send(ok), 24)).toBe(hex(ok, 32));
    basic(ok);
    expect(r.xl.counts.interleaved).toBe(1);
  });

  it('a basic client (origin 0, as ntpdig and chronyd without xleave send) gets the basic reply, only the receive timestamp\'s last bit set', () => {
    const plain = makeRig();
    const r = rig();
    const req = Buffer.from(clientRequest());
    const a = plain.send(req);
    const b = r.send(req);
    expect(b[39]).toBe(a[39]! | 1);
    b[39] = a[39]!;
    expect(b).toEqual(a);
    expect(r.xl.pendingCount).toBe(0); // nothing to save, no stamp asked
  });

  it('signed (MD5) requests are answered interleaved too, under a MAC that verifies; a wrong MAC gets the crypto-NAK, never interleaved', () => {
    const { keys } = parseKeyFile('1 MD5 md5secret');
    const key = new PreparedKey(keys.get(1)!);
    const sign = (req: Buffer): Buffer => {
      const out = Buffer.alloc(48 + 4 + key.digestLength);
      req.copy(out, 0, 0, 48);
      out.writeUInt32BE(1, 48);
      key.sign(out, 48, out, 52);
      return out;
    };
    const r = rig();
    r.handler.setKeys(new KeyRing(keys.values(), [1]));
    const replies: Buffer[] = [];
    for (let i = 0; i < 3; i++) {
      r.clock.advanceS(1);
      const reply = r.send(sign(xleaveRequest(replies.at(-1), [10 + i, 0])));
      expect(reply.length).toBe(52 + key.digestLength);
      expect(key.verify(reply, 48, reply.length)).toBe(true);
      r.xl.commit(reply.readUInt32BE(32), 0x8000_0000);
      replies.push(reply);
    }
    expect([replies[2]!.readUInt32BE(40), replies[2]!.readUInt32BE(44)]).toEqual([replies[1]!.readUInt32BE(32), 0x8000_0000]);
    expect(r.xl.counts.interleaved).toBe(1);
    r.clock.advanceS(1);
    const bad = sign(xleaveRequest(replies[2], [20, 0]));
    bad[60] = bad[60]! ^ 1;
    const nak = r.send(bad);
    expect(nak.length).toBe(52);
    expect(hex(nak, 24)).toBe(hex(bad, 40));
    expect(r.xl.counts.interleaved).toBe(1);
  });

  it('transmitClock clears the transmit timestamp\'s last bit', () => {
    const xl = new InterleavedServer(4, 4);
    const c = xl.transmitClock({ writeNtp: (b, o) => b.fill(0xff, o, o + 8) });
    const b = Buffer.alloc(8);
    c.writeNtp(b, 0);
    expect(b.toString('hex')).toBe('fffffffffffffffe');
  });
});

describe('looped-back frames (as the kernel returned them on loopback)', () => {
  // From recvmsg(MSG_ERRQUEUE) after a 48-byte send to 127.0.0.1 / ::1 with SO_TIMESTAMPING TX_SOFTWARE.
  const v4 = Buffer.from('00000000000000000000000008004500004c729840004011ca067f0000017f000001c813c8130038fe4b' + '24'.repeat(48), 'hex');
  const v6 = Buffer.from('00000000000000000000000086dd600ed433003811400000000000000000000000000000000100000000000000000000000000000001b5fcb5fc0038004b' + '24'.repeat(48), 'hex');

  it('finds the UDP payload behind Ethernet + IPv4 / IPv6 headers', () => {
    expect(udpPayloadOffset(v4, v4.length)).toBe(42);
    expect(udpPayloadOffset(v6, v6.length)).toBe(62);
  });

  it('skips 802.1Q tags and IPv6 extension headers; takes a bare IP packet; refuses others', () => {
    const tagged = Buffer.concat([v4.subarray(0, 12), Buffer.from('81000064', 'hex'), v4.subarray(12)]);
    expect(udpPayloadOffset(tagged, tagged.length)).toBe(46);
    const ext = Buffer.concat([v6.subarray(0, 54), Buffer.from('1100000000000000', 'hex'), v6.subarray(54)]);
    ext[14 + 6] = 60; // next header: destination options, then UDP
    expect(udpPayloadOffset(ext, ext.length)).toBe(70);
    expect(udpPayloadOffset(v4.subarray(14), v4.length - 14)).toBe(28);
    const arp = Buffer.from(v4);
    arp.writeUInt16BE(0x0806, 12);
    expect(udpPayloadOffset(arp, arp.length)).toBe(-1);
    const tcp = Buffer.from(v4);
    tcp[14 + 9] = 6;
    expect(udpPayloadOffset(tcp, tcp.length)).toBe(-1);
    for (let n = 0; n < 42; n++) expect(udpPayloadOffset(v4, n)).toBe(-1);
  });
});

describe('never throws, never grows (fast-check)', () => {
  it('serve / commit / recordTransmit on arbitrary bytes: pending stays within its bound, the map within its capacity', () => {
    const bytes = fc.uint8Array({ minLength: 0, maxLength: 80 });
    fc.assert(fc.property(fc.array(fc.tuple(bytes, fc.integer({ min: 0, max: 7 }), fc.nat(3), fc.integer({ min: -1, max: 2 ** 32 })), { maxLength: 200 }), (ops) => {
      const xl = new InterleavedServer(16, 4);
      const out = Buffer.alloc(72);
      for (const [b, version, what, n] of ops) {
        const req = Buffer.alloc(48);
        Buffer.from(b).copy(req);
        if (what === 0) xl.serve(req, version, out);
        else if (what === 1) xl.commit(n, n);
        else if (what === 2) xl.recordTransmit(Buffer.from(b), n % 100, b.length, n, n);
        else xl.serve(req, 4, out);
        expect(xl.pendingCount).toBeLessThanOrEqual(4);
        expect(xl.map.size).toBeLessThanOrEqual(xl.map.capacity);
        expect(xl.map.capacity).toBe(16);
      }
    }), { numRuns: 300 });
  });

  it('udpPayloadOffset on arbitrary frames: -1 or an offset inside the frame', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), fc.nat(400), (b, n) => {
      const f = Buffer.from(b);
      const at = udpPayloadOffset(f, n);
      expect(at === -1 || (at > 0 && at <= Math.min(n, f.length))).toBe(true);
    }), { numRuns: 2000 });
  });
});
