// The request handler on captured client requests and on each restrict flag.
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { decodeHeader } from '../../../src/ntp/packet.js';
import { KissCode, LeapIndicator, Mode, STRATUM_UNSYNCHRONISED } from '../../../src/ntp/constants.js';
import { formatTimestampHex, ntpFromUnixNs } from '../../../src/ntp/timestamp.js';
import { unsynchronisedSnapshot } from '../../../src/server/state.js';
import { SHARED_DIR, readPcapUdp } from '../../support/pcap.js';
import { START_NS, clientRequest, makeRig, rule, syncedSnapshot } from '../../support/server.js';

const captured = readPcapUdp(fileURLToPath(new URL('captures/client-requests-lo.pcap', SHARED_DIR)))
  .concat(readPcapUdp(fileURLToPath(new URL('captures/ntpd-mode34.pcap', SHARED_DIR))))
  .filter((d) => (d.payload[0]! & 7) === Mode.Client);

describe('mode 3 → mode 4', () => {
  it('answers every captured client request (ntpdig, chronyd, NTPsec; v1-v4) like ntpd and chronyd do', () => {
    expect(captured.length).toBeGreaterThanOrEqual(8);
    const rig = makeRig();
    for (const d of captured) {
      rig.clock.advanceS(10);
      const reply = rig.send(d.payload, d.src);
      expect(reply.length).toBe(48);
      const req = decodeHeader(d.payload);
      const h = decodeHeader(reply);
      expect(h.mode).toBe(Mode.Server);
      expect(h.version).toBe(req.version);
      expect(h.poll).toBe(req.poll);
      expect(h.leap).toBe(LeapIndicator.NoWarning);
      expect(h.stratum).toBe(1);
      expect(h.precision).toBe(-24);
      expect(h.referenceId).toBe(syncedSnapshot().referenceId);
      expect(h.originTimestamp).toEqual(req.transmitTimestamp);
      const now = ntpFromUnixNs(rig.clock.nowNs());
      expect(formatTimestampHex(h.receiveTimestamp)).toBe(formatTimestampHex(now));
      expect(formatTimestampHex(h.transmitTimestamp)).toBe(formatTimestampHex(now));
      expect(h.rootDelay).toBe(Math.ceil(0.000046 * 65536)); // rounded up: an error bound is never understated
    }
    expect(rig.counters.processed).toBe(captured.length);
  });

  it('serves the transmit timestamp from the served timescale, written after the receive stamp', () => {
    const rig = makeRig();
    const reply = decodeHeader(rig.send(clientRequest()));
    expect(formatTimestampHex(reply.transmitTimestamp)).toBe(formatTimestampHex(ntpFromUnixNs(START_NS)));
  });

  it('unsynchronised: LI=3 and stratum 16, never stratum 0', () => {
    const rig = makeRig([], unsynchronisedSnapshot(-24));
    const h = decodeHeader(rig.send(clientRequest()));
    expect(h.leap).toBe(LeapIndicator.Unsynchronised);
    expect(h.stratum).toBe(STRATUM_UNSYNCHRONISED);
    expect(h.mode).toBe(Mode.Server);
  });

  it('refuses to publish stratum 0', () => {
    const rig = makeRig();
    expect(() => rig.state.publish({ ...syncedSnapshot(), stratum: 0 })).toThrow(/kiss/);
  });

  it('a v1 request with mode 0 is answered as a client', () => {
    const rig = makeRig();
    const h = decodeHeader(rig.send(clientRequest(1, 0)));
    expect(h.mode).toBe(Mode.Server);
    expect(h.version).toBe(1);
  });

  it('drops versions 0 and 5-7, and modes it does not serve', () => {
    const rig = makeRig();
    for (const v of [0, 5, 6, 7]) expect(rig.send(clientRequest(v)).length).toBe(0);
    for (const m of [Mode.SymmetricPassive, Mode.Server, Mode.Broadcast, Mode.Private]) expect(rig.send(clientRequest(4, m)).length).toBe(0);
    expect(rig.counters.badFormat).toBe(4);
    expect(rig.counters.declined).toBe(4);
  });

  it('drops truncated packets and malformed extension fields', () => {
    const rig = makeRig();
    const req = Buffer.from(clientRequest());
    for (let n = 0; n < 48; n++) expect(rig.send(req.subarray(0, n)).length).toBe(0);
    const huge = Buffer.concat([req, Buffer.from([0x01, 0x04, 0xff, 0xf0]), Buffer.alloc(28)]);
    expect(rig.send(huge).length).toBe(0);
    const odd = Buffer.concat([req, Buffer.alloc(7)]);
    expect(rig.send(odd).length).toBe(0);
    expect(rig.counters.badFormat).toBe(50);
  });

  it('ignores unknown extension fields (RFC 7822) and answers with a plain header', () => {
    const rig = makeRig();
    const ef = Buffer.alloc(32);
    ef.writeUInt16BE(0x0104, 0);
    ef.writeUInt16BE(32, 2);
    const reply = rig.send(Buffer.concat([Buffer.from(clientRequest()), ef]));
    expect(reply.length).toBe(48);
  });

  it('answers a request with an unverifiable MAC with a crypto-NAK (no keys configured)', () => {
    const rig = makeRig();
    const mac = Buffer.alloc(20);
    mac.writeUInt32BE(42, 0);
    const reply = rig.send(Buffer.concat([Buffer.from(clientRequest()), mac]));
    expect(reply.length).toBe(52);
    expect(reply.readUInt32BE(48)).toBe(0);
    expect(rig.counters.authFailed).toBe(1);
  });
});

describe('restrict flags on mode 3 (and mode 1 for nopeer)', () => {
  const v4 = () => clientRequest(4);
  const cases: { flags: Parameters<typeof rule>[1]; expectReply: boolean; note: string }[] = [
    { flags: [], expectReply: true, note: 'no flags: served' },
    { flags: ['ignore'], expectReply: false, note: 'ignore: every packet dropped' },
    { flags: ['noserve'], expectReply: false, note: 'noserve: time service refused (mode 6 stays allowed, issue 5)' },
    { flags: ['notrust'], expectReply: false, note: 'notrust: unauthenticated refused (authenticated ones: test/unit/server/auth.test.ts)' },
    { flags: ['kod'], expectReply: true, note: 'kod alone changes nothing until something is refused' },
    { flags: ['limited'], expectReply: true, note: 'limited: the first packet is within the limit' },
    { flags: ['nomodify'], expectReply: true, note: 'nomodify acts on mode 6/7 writes only' },
    { flags: ['noquery'], expectReply: true, note: 'noquery acts on mode 6/7 only (issue 5)' },
    { flags: ['notrap'], expectReply: true, note: 'notrap acts on mode 6 traps only' },
    { flags: ['lowpriotrap'], expectReply: true, note: 'lowpriotrap acts on mode 6 traps only' },
    { flags: ['nopeer'], expectReply: true, note: 'nopeer acts on mode 1 only' },
    { flags: ['noepeer'], expectReply: true, note: 'noepeer acts on mode 1 only' },
    { flags: ['nomrulist'], expectReply: true, note: 'nomrulist acts on mode 6 mrulist only' },
    { flags: ['version'], expectReply: true, note: 'version: v4 served' },
  ];
  for (const c of cases) {
    it(c.note, () => {
      const rig = makeRig([rule('default', c.flags)]);
      expect(rig.send(v4()).length > 0).toBe(c.expectReply);
    });
  }

  it('version: v1-v3 refused', () => {
    const rig = makeRig([rule('default', ['version'])]);
    for (const v of [1, 2, 3]) expect(rig.send(clientRequest(v)).length).toBe(0);
    expect(rig.counters.restricted).toBe(3);
  });

  it('kod + noserve → DENY kiss; kod + notrust → RSTR kiss', () => {
    let h = decodeHeader(makeRig([rule('default', ['noserve', 'kod'])]).send(v4()));
    expect(h.stratum).toBe(0);
    expect(h.referenceId).toBe(KissCode.DENY);
    h = decodeHeader(makeRig([rule('default', ['notrust', 'kod'])]).send(v4()));
    expect(h.referenceId).toBe(KissCode.RSTR);
  });

  it('kod + limited: a burst gets one RATE kiss, then silence, and service again after a pause', () => {
    const rig = makeRig([rule('default', ['kod', 'limited'])]);
    const replies = [];
    for (let i = 0; i < 20; i++) {
      replies.push(rig.send(v4()));
      rig.clock.advanceS(0.01);
    }
    const kisses = replies.filter((r) => r.length === 48 && r[1] === 0);
    expect(replies[0]!.length).toBe(48);
    expect(replies[0]![1]).toBe(1);
    expect(kisses.length).toBe(1);
    const kiss = decodeHeader(kisses[0]!);
    expect(kiss.referenceId).toBe(KissCode.RATE);
    expect(kiss.leap).toBe(LeapIndicator.Unsynchronised);
    expect(kiss.poll).toBe(6); // max(request poll 6, discard average 3)
    expect(kiss.transmitTimestamp).toEqual(decodeHeader(v4()).transmitTimestamp); // carries no server time
    expect(rig.counters.rateLimited).toBe(19);
    rig.clock.advanceS(120);
    expect(rig.send(v4())[1]).toBe(1);
  });

  it('limited without kod: over-limit packets are dropped silently', () => {
    const rig = makeRig([rule('default', ['limited'])]);
    const sizes = Array.from({ length: 10 }, () => rig.send(v4()).length);
    expect(sizes).toEqual([48, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
  });

  it('limited: one request per 8 s (discard average 3) is always served', () => {
    const rig = makeRig([rule('default', ['limited', 'kod'])]);
    for (let i = 0; i < 50; i++) {
      expect(rig.send(v4())[1]).toBe(1);
      rig.clock.advanceS(8);
    }
  });

  it('nopeer: mode 1 from an unconfigured peer gets no reply; without it, a mode 2 passive reply', () => {
    expect(makeRig([rule('default', ['nopeer'])]).send(clientRequest(4, Mode.SymmetricActive)).length).toBe(0);
    const h = decodeHeader(makeRig([rule('default', [])]).send(clientRequest(4, Mode.SymmetricActive)));
    expect(h.mode).toBe(Mode.SymmetricPassive);
    expect(h.stratum).toBe(1);
  });

  it('the most specific rule wins, per family', () => {
    const rules = [
      rule('default', ['ignore']),
      rule('-6 default', ['noserve']),
      rule('10.0.0.0/8', []),
      rule('10.1.0.0/16', ['ignore']),
      rule('10.1.2.3', []),
      rule('2001:db8::/32', []),
      rule('::1', []),
    ];
    const rig = makeRig(rules);
    const served = (a: string) => rig.send(v4(), a).length > 0;
    expect(served('192.0.2.1')).toBe(false);
    expect(served('10.9.9.9')).toBe(true);
    expect(served('10.1.9.9')).toBe(false);
    expect(served('10.1.2.3')).toBe(true);
    expect(served('::ffff:10.9.9.9')).toBe(true); // IPv4-mapped on a dual-stack socket = IPv4
    expect(served('2001:db8:1::5')).toBe(true);
    expect(served('2001:db9::5')).toBe(false);
    expect(served('::1')).toBe(true);
    expect(served('fe80::1%eth0')).toBe(false);
  });

  it('a flood from one address holds one table slot and does not starve other clients', () => {
    const rig = makeRig([rule('default', ['kod', 'limited'])]);
    const others = Array.from({ length: 20 }, (_, i) => `198.51.100.${i + 1}`);
    for (let round = 0; round < 40; round++) {
      for (let i = 0; i < 250; i++) rig.send(v4(), '203.0.113.66');
      for (const o of others) expect(rig.send(v4(), o)[1], `${o} in round ${round}`).toBe(1);
      rig.clock.advanceS(8);
    }
    const table = rig.handler.clients.entries();
    expect(table.filter((e) => e.address === '203.0.113.66')).toHaveLength(1);
    // 21 clients in 16 sets of 4: a crowded set may have evicted one of the quiet clients (counted).
    expect(table.length + rig.handler.clients.evictions).toBeGreaterThanOrEqual(21);
    expect(table.length).toBeGreaterThanOrEqual(16);
    expect(rig.counters.rateLimited).toBeGreaterThanOrEqual(40 * 249);
  });
});
