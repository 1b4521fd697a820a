// The fast path's own socket (src/server/fast/batch-socket.ts) against the running kernel: batches of
// known datagrams through recvmmsg with their SCM_TIMESTAMPING stamps and senders, replies through one
// sendmmsg back to each sender, a receive that times out empty, and the sockaddr text helpers.
import dgram from 'node:dgram';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cmsgLen, cmsgSpace, findCmsg, linuxSocketAbi, readKernelTimespec } from '../../../../src/net/linux-abi.js';
import { CONTROL_BYTES } from '../../../../src/server/fast/message-arrays.js';
import { BATCH, BatchSocket, sockaddrAddress, sockaddrPort, socketLibc, writeSockaddr } from '../../../../src/server/fast/batch-socket.js';
import { systemRealtimeClock } from '../../../../src/clock/posix.js';
import { udpPayloadOffset } from '../../../../src/server/interleave/frame.js';
import { ErrorQueue } from '../../../../src/server/fast/error-queue.js';

const found = linuxSocketAbi(process.platform, process.arch);
if (!found) throw new Error(`no socket ABI for ${process.platform}/${process.arch}: run these tests on Linux x86_64, arm64 or armhf`);
const abi = found;
const clock = systemRealtimeClock();
const nowNs = (): number => {
  const t = { sec: 0, nsec: 0 };
  clock.read(t);
  return t.sec * 1e9 + t.nsec;
};

describe('sockaddr text', () => {
  it('formats as node:dgram does and round-trips through writeSockaddr', () => {
    const b = Buffer.alloc(32);
    for (const [text, want] of [
      ['127.0.0.1', '127.0.0.1'], ['::1', '::1'], ['::', '::'], ['2001:db8::1', '2001:db8::1'], ['2001:0db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
      ['fe80::a:b:c:d', 'fe80::a:b:c:d'], ['1:0:2:3:4:5:6:7', '1:0:2:3:4:5:6:7'], ['1:2:3:4:5:6:7:0', '1:2:3:4:5:6:7:0'],
    ] as const) {
      expect(writeSockaddr(text, 4242, b)).toBe(text.includes(':') ? 28 : 16);
      expect(sockaddrAddress(b)).toBe(want);
      expect(sockaddrPort(b)).toBe(4242);
    }
    expect(writeSockaddr('not an address', 1, b)).toBe(0);
    // v4-mapped (the address parser reads it as IPv4, so written by hand): dotted tail, as dgram prints it.
    writeSockaddr('::1', 1, b);
    b.fill(0, 8, 24);
    b.writeUInt16BE(0xffff, 18);
    Buffer.from([10, 1, 2, 3]).copy(b, 20);
    expect(sockaddrAddress(b)).toBe('::ffff:10.1.2.3');
  });
});

describe(`BatchSocket on loopback (${process.platform}/${process.arch})`, () => {
  let sock: BatchSocket;
  let client: dgram.Socket;
  beforeAll(async () => {
    sock = new BatchSocket(abi, { address: '127.0.0.1', port: 0, receiveTimeoutMs: 20, rcvbuf: 1 << 20 });
    client = dgram.createSocket('udp4');
    await new Promise<void>((r) => client.bind(0, '127.0.0.1', r));
  });
  afterAll(() => {
    sock.close();
    client.close();
  });

  it('a receive with nothing queued returns 0 (the timeout), not an error', () => {
    expect(sock.port).toBeGreaterThan(0);
    expect(sock.address).toBe('127.0.0.1');
    expect(sock.receive()).toBe(0);
  });

  it('reads a burst in batches: each datagram its bytes, sender and kernel stamp; answers all with sendmmsg', async () => {
    const count = BATCH + 36;
    const sentAt: number[] = [];
    for (let i = 0; i < count; i++) {
      const d = Buffer.alloc(48 + (i % 3) * 4, i & 0xff);
      sentAt.push(nowNs());
      await new Promise<void>((r) => client.send(d, sock.port, '127.0.0.1', () => r()));
    }
    const got: { len: number; first: number; stamp: number; from: string; port: number }[] = [];
    const t = { sec: 0, nsec: 0 };
    const replies = new Promise<Buffer[]>((resolve) => {
      const rs: Buffer[] = [];
      client.on('message', (m) => {
        rs.push(m);
        if (rs.length === count) resolve(rs);
      });
    });
    for (let tries = 0; got.length < count && tries < 100; tries++) {
      const n = sock.receive();
      expect(n).toBeGreaterThanOrEqual(0);
      expect(n).toBeLessThanOrEqual(BATCH);
      const readAt = nowNs();
      for (let i = 0; i < n; i++) {
        expect(sock.rxStamp(i, t)).toBe(true);
        const stamp = t.sec * 1e9 + t.nsec;
        expect(stamp).toBeLessThanOrEqual(readAt + 1000); // doubles: ~200 ns of rounding at 1.8e18
        const s = sock.slots[i]!;
        got.push({ len: sock.length(i), first: s.payload[0]!, stamp, from: sockaddrAddress(s.name), port: sockaddrPort(s.name) });
        expect(sock.truncated(i)).toBe(false);
        s.reply.fill(0);
        s.reply.writeUInt32BE(got.length - 1, 0);
        sock.queueReply(i, 8 + (i % 2) * 40);
      }
      expect(sock.flush()).toBe(n);
    }
    expect(got.length).toBe(count);
    for (let i = 0; i < count; i++) {
      expect(got[i]).toMatchObject({ len: 48 + (i % 3) * 4, first: i & 0xff, from: '127.0.0.1', port: client.address().port });
      expect(got[i]!.stamp).toBeGreaterThanOrEqual(sentAt[i]! - 1000); // received after it was sent ...
      if (i > 0) expect(got[i]!.stamp).toBeGreaterThan(got[i - 1]!.stamp); // ... each its own stamp
    }
    const rs = await replies;
    expect(rs.map((r) => r.readUInt32BE(0))).toEqual([...Array(count).keys()]);
    expect(sock.sendDropped).toBe(0);
  });

  it('a datagram longer than the payload buffer is flagged truncated; the slot is whole again for the next one', async () => {
    const send = (d: Buffer) => new Promise<void>((r) => client.send(d, sock.port, '127.0.0.1', () => r()));
    const readOne = (): number => {
      let n = 0;
      for (let tries = 0; n === 0 && tries < 100; tries++) n = sock.receive();
      return n;
    };
    await send(Buffer.alloc(3000, 1));
    expect(readOne()).toBe(1);
    expect(sock.truncated(0)).toBe(true);
    await send(Buffer.alloc(48, 2));
    expect(readOne()).toBe(1);
    expect([sock.truncated(0), sock.length(0), sockaddrAddress(sock.slots[0]!.name)]).toEqual([false, 48, '127.0.0.1']);
    expect(sock.rxStamp(0, { sec: 0, nsec: 0 })).toBe(true);
  });

  it('answers an IPv6 sender on an IPv6 socket', async () => {
    const s6 = new BatchSocket(abi, { address: '::1', port: 0, receiveTimeoutMs: 20 });
    const c6 = dgram.createSocket('udp6');
    try {
      await new Promise<void>((r) => c6.bind(0, '::1', r));
      const reply = new Promise<Buffer>((r) => c6.once('message', r));
      await new Promise<void>((r) => c6.send(Buffer.alloc(48, 7), s6.port, '::1', () => r())); // sent before receive() blocks
      let n = 0;
      for (let tries = 0; n === 0 && tries < 100; tries++) n = s6.receive();
      expect(n).toBe(1);
      expect(sockaddrAddress(s6.slots[0]!.name)).toBe('::1');
      s6.slots[0]!.reply.fill(9, 0, 48);
      s6.queueReply(0, 48);
      expect(s6.flush()).toBe(1);
      expect(await reply).toEqual(Buffer.alloc(48, 9));
    } finally {
      s6.close();
      c6.close();
    }
  });

  it('releaseMemory (after a crash) frees the buffers but leaves the descriptor open for its owner to close', () => {
    const s = new BatchSocket(abi, { address: '127.0.0.1', port: 0, receiveTimeoutMs: 20 });
    const c = socketLibc();
    const open = (): boolean => c.getsockname(s.fd, Buffer.alloc(128), Buffer.from([128, 0, 0, 0])) === 0;
    expect(open()).toBe(true);
    s.releaseMemory();
    s.close(); // a no-op now: no double free, and not a second close
    expect(open()).toBe(true);
    // Its owner (the main thread, in the daemon) closes it.
    expect(c.close(s.fd)).toBe(0);
    expect(open()).toBe(false);
  });

  it('a port in use without SO_REUSEPORT is refused with the errno named', () => {
    const d = dgram.createSocket('udp4');
    return new Promise<void>((resolve) => d.bind(0, '127.0.0.1', () => {
      expect(() => new BatchSocket(abi, { address: '127.0.0.1', port: d.address().port, reusePort: false })).toThrow(/EADDRINUSE/);
      d.close();
      resolve();
    }));
  });

  it('reuses a send header only where it fits: replies to some, then all, with and without stamp requests, reach their own senders', async () => {
    // queueReply keeps the previous batch's header in place j when it was slot i's with the same
    // stamp request (the common case) and writes it again otherwise: each round here changes that.
    const s = new BatchSocket(abi, { address: '127.0.0.1', port: 0, receiveTimeoutMs: 20 });
    const q = new ErrorQueue(abi, s.fd, s.family);
    const clients = [0, 1, 2].map(() => dgram.createSocket('udp4'));
    const got: number[][] = [[], [], []];
    try {
      for (const [k, c] of clients.entries()) {
        await new Promise<void>((r) => c.bind(0, '127.0.0.1', r));
        c.on('message', (m) => got[k]!.push(m[0]!));
      }
      const rounds: { answer: number[]; stamped: number[] }[] = [
        { answer: [0, 1, 2], stamped: [] },
        { answer: [2], stamped: [2] },
        { answer: [0, 1, 2], stamped: [] },
        { answer: [0, 2], stamped: [0] },
        { answer: [1, 2], stamped: [] },
      ];
      const want: number[][] = [[], [], []];
      for (const [round, { answer, stamped }] of rounds.entries()) {
        for (const c of clients) await new Promise<void>((r) => c.send(Buffer.alloc(48, round), s.port, '127.0.0.1', () => r()));
        let n = 0;
        for (let tries = 0; n < 3 && tries < 100; tries++) n += s.receive(3 - n);
        expect(n).toBe(3);
        // Arrival order is send order: slot i holds client i's datagram.
        expect([0, 1, 2].map((i) => sockaddrPort(s.slots[i]!.name))).toEqual(clients.map((c) => c.address().port));
        for (const i of answer) {
          s.slots[i]!.reply.fill(round * 16 + i, 0, 48);
          s.queueReply(i, 48, stamped.includes(i));
          want[i]!.push(round * 16 + i);
        }
        expect(s.flush()).toBe(answer.length);
        for (let tries = 0; got.flat().length < want.flat().length && tries < 200; tries++) await new Promise((r) => setTimeout(r, 5));
        expect(got, `round ${round}`).toEqual(want);
        let e = 0;
        for (let tries = 0; e < stamped.length && tries < 100; tries++) e += q.receive();
        expect(e, `stamps in round ${round}`).toBe(stamped.length);
        expect(q.receive(), `no stamp for an unstamped reply in round ${round}`).toBe(0);
      }
    } finally {
      s.close();
      q.free();
      for (const c of clients) c.close();
    }
  });

  for (const [family, host] of [['udp4', '127.0.0.1'], ['udp6', '::1']] as const) {
    it(`${family}: a reply queued with stampTx comes back on the error queue (ErrorQueue) with the kernel's transmit stamp; one without does not`, async () => {
      const s = new BatchSocket(abi, { address: host, port: 0, receiveTimeoutMs: 20 });
      const q = new ErrorQueue(abi, s.fd, s.family);
      const c = dgram.createSocket(family);
      try {
        await new Promise<void>((r) => c.bind(0, host, r));
        const got = new Promise<void>((r) => { let k = 0; c.on('message', () => { if (++k === 2) r(); }); });
        for (const b of [1, 2]) await new Promise<void>((r) => c.send(Buffer.alloc(48, b), s.port, host, () => r()));
        let n = 0;
        for (let tries = 0; n < 2 && tries < 100; tries++) n += s.receive(2 - n);
        expect(n).toBe(2);
        expect(q.receive()).toBe(0); // nothing sent yet
        s.slots[0]!.reply.fill(0xa1, 0, 48);
        s.slots[1]!.reply.fill(0xb2, 0, 52);
        s.queueReply(0, 48, true);
        s.queueReply(1, 52, false);
        const before = nowNs();
        expect(s.flush()).toBe(2);
        const after = nowNs();
        await got;
        let e = 0;
        for (let tries = 0; e === 0 && tries < 100; tries++) e = q.receive();
        expect(e).toBe(1);
        const t = { sec: 0, nsec: 0 };
        expect(q.txStamp(0, t)).toBe(true);
        const stamp = t.sec * 1e9 + t.nsec;
        expect(stamp).toBeGreaterThanOrEqual(before - 1000);
        expect(stamp).toBeLessThanOrEqual(after + 1000);
        const len = q.length(0);
        const at = udpPayloadOffset(q.frame(0), len);
        expect(len - at).toBe(48);
        expect(q.frame(0).subarray(at, len)).toEqual(Buffer.alloc(48, 0xa1));
        expect(q.receive()).toBe(0); // the unstamped reply left nothing there
      } finally {
        s.close();
        q.free();
        c.close();
      }
    });
  }
});

/** A BatchSocket whose receive control buffers and msg_controllen a test writes, as the kernel would. */
class ControlWriter extends BatchSocket {
  /** Slot i's control buffer (CONTROL_BYTES). */
  controlOf(i: number): Buffer {
    return this.control.subarray(i * CONTROL_BYTES, (i + 1) * CONTROL_BYTES);
  }
  setControlLength(i: number, bytes: number): void {
    this.rx32[i * this.mmsgW + this.controllenW] = bytes;
  }
}

describe('rxStamp: the word-read common case agrees with the general control-message walk', () => {
  const m = abi.messages.cmsghdr;
  const stampBytes = cmsgLen(abi, abi.scmTimestamping.size);
  /** What findCmsg + readKernelTimespec make of a slot's control buffer (the reader rxStamp falls back to). */
  const general = (ctl: Buffer, clen: number): { ok: boolean; sec: number; nsec: number } => {
    const out = { sec: 0, nsec: 0 };
    const at = findCmsg(abi, ctl, 0, clen, abi.SOL_SOCKET, abi.SO_TIMESTAMPING);
    const ok = at >= 0 && at + abi.scmTimestamping.size <= CONTROL_BYTES && readKernelTimespec(ctl, abi.scmTimestamping.software, out, at);
    return { ok, ...(ok ? out : { sec: 0, nsec: 0 }) };
  };
  const writeHeader = (ctl: Buffer, at: number, len: number, level: number, type: number): void => {
    if (abi.longBytes === 8) ctl.writeBigUInt64LE(BigInt(len), at + m.len);
    else ctl.writeUInt32LE(len, at + m.len);
    ctl.writeInt32LE(level, at + m.level);
    ctl.writeInt32LE(type, at + m.type);
  };
  const writeSpec = (ctl: Buffer, at: number, sec: bigint, nsec: bigint): void => {
    const sw = abi.scmTimestamping.software;
    if (sw.secBytes === 8) ctl.writeBigInt64LE(sec, at + sw.secOffset);
    else ctl.writeInt32LE(Number(BigInt.asIntN(32, sec)), at + sw.secOffset);
    if (sw.nsecBytes === 8) ctl.writeBigInt64LE(nsec, at + sw.nsecOffset);
    else ctl.writeInt32LE(Number(BigInt.asIntN(32, nsec)), at + sw.nsecOffset);
  };
  let sock: ControlWriter;
  beforeAll(() => {
    sock = new ControlWriter(abi, { address: '127.0.0.1', port: 0, receiveTimeoutMs: 20 });
  });
  afterAll(() => sock.close());

  it('a stamp first, another message first, a short control length, out-of-range fields: same answer, same instant', () => {
    fc.assert(fc.property(
      fc.constantFrom('stamp', 'other', 'short', 'garbage'), fc.bigInt({ min: -(2n ** 40n), max: 2n ** 54n }),
      fc.oneof(fc.bigInt({ min: -2n, max: 2_000_000_000n }), fc.bigInt({ min: 0n, max: 2n ** 40n })),
      fc.integer({ min: 0, max: BATCH - 1 }), fc.uint8Array({ minLength: CONTROL_BYTES, maxLength: CONTROL_BYTES }),
      (shape, sec, nsec, i, noise) => {
        const ctl = sock.controlOf(i);
        ctl.set(noise);
        let clen = stampBytes;
        if (shape === 'stamp' || shape === 'short') {
          writeHeader(ctl, 0, stampBytes, abi.SOL_SOCKET, abi.SO_TIMESTAMPING);
          writeSpec(ctl, m.data, sec, nsec);
          if (shape === 'short') clen = stampBytes - 4;
        } else if (shape === 'other') {
          writeHeader(ctl, 0, cmsgLen(abi, 4), 0 /* SOL_IP */, 2 /* IP_TTL */);
          clen = cmsgSpace(abi, 4);
        } else {
          clen = CONTROL_BYTES;
        }
        sock.setControlLength(i, clen);
        const out = { sec: 0, nsec: 0 };
        const ok = sock.rxStamp(i, out);
        expect({ ok, ...(ok ? out : { sec: 0, nsec: 0 }) }).toEqual(general(ctl, clen));
        if (shape === 'stamp' && sec > 0n && sec <= BigInt(Number.MAX_SAFE_INTEGER) && nsec >= 0n && nsec < 1_000_000_000n
          && (abi.scmTimestamping.software.secBytes === 8 || sec < 2n ** 31n)) {
          expect(ok).toBe(true);
          expect(out).toEqual({ sec: Number(sec), nsec: Number(nsec) });
        }
      }), { numRuns: 3000 });
  });
});
