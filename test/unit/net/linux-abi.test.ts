// The Linux socket ABI table (src/net/linux-abi.ts): its arithmetic, its decoding, and the entry
// for this machine against the running kernel (constants accepted with the meaning the table gives
// them; timestamps read back in the layout it names, from a datagram just sent on loopback).
import dgram from 'node:dgram';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AF_INET, MSG_DONTWAIT, SOCKADDR_IN, SOCK_DGRAM, cmsgLen, cmsgSpace,
  ENOENT, ENOMSG, IP_RECVERR, LINUX_SOCKET_ABIS, MSG_ERRQUEUE, SCM_TSTAMP_SND, SOCK_EXTENDED_ERR, SOF_TIMESTAMPING_RX_SOFTWARE,
  SOF_TIMESTAMPING_SOFTWARE, SOF_TIMESTAMPING_TX_SOFTWARE, SOL_IP, SO_EE_ORIGIN_TIMESTAMPING, SO_TIMESTAMPING_NEW, SO_TIMESTAMPING_OLD, findCmsg, SIOCGSTAMPNS_NEW, SIOCGSTAMPNS_OLD, SOL_SOCKET, SO_TIMESTAMPNS_NEW, SO_TIMESTAMPNS_OLD, iocRead, linuxSocketAbi, readKernelTimespec,
} from '../../../src/net/linux-abi.js';
import { dgramSocketFd } from '../../../src/server/kernel-rx-stamp.js';
import { socketLibc } from '../../../src/server/fast/batch-socket.js';
import { udpPayloadOffset } from '../../../src/server/interleave/frame.js';

describe('linux socket ABI table', () => {
  it('SIOCGSTAMPNS_NEW is _IOR(0x89, 0x07, long long[2])', () => {
    expect(iocRead(0x89, 0x07, 16)).toBe(SIOCGSTAMPNS_NEW);
    expect(SIOCGSTAMPNS_NEW).toBe(0x80108907);
  });

  it('picks by process.platform/arch; anything else is unsupported', () => {
    expect(linuxSocketAbi('linux', 'x64')?.name).toBe('x86_64');
    expect(linuxSocketAbi('linux', 'arm64')?.name).toBe('aarch64');
    expect(linuxSocketAbi('linux', 'arm')?.name).toBe('armhf');
    for (const [p, a] of [['linux', 'ia32'], ['linux', 'riscv64'], ['darwin', 'arm64'], ['win32', 'x64'], ['freebsd', 'x64']] as const) {
      expect(linuxSocketAbi(p, a)).toBeUndefined();
    }
  });

  it('LP64 asks the 64-bit SIOCGSTAMPNS (= _OLD there); armhf asks _NEW (64-bit time) first, then the 32-bit _OLD', () => {
    for (const abi of [LINUX_SOCKET_ABIS.x86_64, LINUX_SOCKET_ABIS.aarch64]) {
      expect(abi.stampIoctls.map((i) => [i.request, i.timespec.size])).toEqual([[SIOCGSTAMPNS_OLD, 16]]);
    }
    expect(LINUX_SOCKET_ABIS.armhf.stampIoctls.map((i) => [i.name, i.request, i.timespec.size, i.timespec.secBytes])).toEqual([
      ['SIOCGSTAMPNS_NEW', SIOCGSTAMPNS_NEW, 16, 8],
      ['SIOCGSTAMPNS_OLD', SIOCGSTAMPNS_OLD, 8, 4],
    ]);
  });

  it('message structs: LP64 and armhf offsets as a C compiler lays them out', () => {
    const lp64 = {
      iovec: { size: 16, base: 0, len: 8 },
      msghdr: { size: 56, name: 0, namelen: 8, iov: 16, iovlen: 24, control: 32, controllen: 40, flags: 48 },
      mmsghdr: { size: 64, len: 56 },
      cmsghdr: { len: 0, level: 8, type: 12, data: 16 },
    };
    expect(LINUX_SOCKET_ABIS.x86_64.messages).toEqual(lp64);
    expect(LINUX_SOCKET_ABIS.aarch64.messages).toEqual(lp64);
    expect(LINUX_SOCKET_ABIS.armhf.messages).toEqual({
      iovec: { size: 8, base: 0, len: 4 },
      msghdr: { size: 28, name: 0, namelen: 4, iov: 8, iovlen: 12, control: 16, controllen: 20, flags: 24 },
      mmsghdr: { size: 32, len: 28 },
      cmsghdr: { len: 0, level: 4, type: 8, data: 12 },
    });
    expect([cmsgLen(LINUX_SOCKET_ABIS.x86_64, 16), cmsgSpace(LINUX_SOCKET_ABIS.x86_64, 16), cmsgSpace(LINUX_SOCKET_ABIS.x86_64, 4)]).toEqual([32, 32, 24]);
    expect([cmsgLen(LINUX_SOCKET_ABIS.armhf, 8), cmsgSpace(LINUX_SOCKET_ABIS.armhf, 8), cmsgSpace(LINUX_SOCKET_ABIS.armhf, 16)]).toEqual([20, 20, 28]);
  });

  it('decodes both timespec layouts, little-endian, and refuses non-instants', () => {
    const t = { sec: 0, nsec: 0 };
    const b16 = Buffer.alloc(16);
    b16.writeBigInt64LE(5_000_000_123n, 0); // past 2^32: the 64-bit seconds are read whole
    b16.writeBigInt64LE(999_999_999n, 8);
    expect(readKernelTimespec(b16, LINUX_SOCKET_ABIS.x86_64.stampIoctls[0]!.timespec, t)).toBe(true);
    expect(t).toEqual({ sec: 5_000_000_123, nsec: 999_999_999 });
    const b8 = Buffer.alloc(8);
    b8.writeInt32LE(1_795_333_730, 0);
    b8.writeInt32LE(123, 4);
    expect(readKernelTimespec(b8, LINUX_SOCKET_ABIS.armhf.stampIoctls[1]!.timespec, t)).toBe(true);
    expect(t).toEqual({ sec: 1_795_333_730, nsec: 123 });
    b16.writeBigInt64LE(1_000_000_000n, 8);
    expect(readKernelTimespec(b16, LINUX_SOCKET_ABIS.x86_64.stampIoctls[0]!.timespec, t)).toBe(false);
    b16.writeBigInt64LE(-1n, 0);
    b16.writeBigInt64LE(0n, 8);
    expect(readKernelTimespec(b16, LINUX_SOCKET_ABIS.x86_64.stampIoctls[0]!.timespec, t)).toBe(false);
    expect(t).toEqual({ sec: 1_795_333_730, nsec: 123 }); // untouched on refusal
    // Seconds past 2^53 (random bytes found it): refused, not rounded.
    b16.writeBigInt64LE(2n ** 60n, 0);
    expect(readKernelTimespec(b16, LINUX_SOCKET_ABIS.x86_64.stampIoctls[0]!.timespec, t)).toBe(false);
  });

  it('any 16 bytes: never throws; accepted values are valid instants', () => {
    fc.assert(fc.property(fc.uint8Array({ minLength: 16, maxLength: 16 }), fc.constantFrom(...Object.values(LINUX_SOCKET_ABIS).flatMap((a) => a.stampIoctls)), (bytes, io) => {
      const t = { sec: -7, nsec: -7 };
      if (readKernelTimespec(bytes, io.timespec, t)) {
        expect(Number.isSafeInteger(t.sec) && t.sec > 0).toBe(true);
        expect(Number.isInteger(t.nsec) && t.nsec >= 0 && t.nsec < 1e9).toBe(true);
      } else {
        expect(t).toEqual({ sec: -7, nsec: -7 });
      }
    }), { numRuns: 2000 });
  });
});

/** libc through koffi, as the shells load it. */
interface Libc {
  ioctl: (fd: number, req: number, out: Buffer) => number;
  setsockopt: (fd: number, level: number, name: number, val: Buffer, len: number) => number;
  getsockopt: (fd: number, level: number, name: number, val: Buffer, len: Buffer) => number;
  clockGettime: (id: number, out: Buffer) => number;
  socket: (domain: number, type: number, proto: number) => number;
  bind: (fd: number, addr: Buffer, len: number) => number;
  getsockname: (fd: number, addr: Buffer, len: Buffer) => number;
  recvmsg: (fd: number, msg: unknown, flags: number) => number;
  sendmsg: (fd: number, msg: unknown, flags: number) => number;
  recvmmsg: (fd: number, msgs: unknown, vlen: number, flags: number, timeout: null) => number;
  close: (fd: number) => number;
  koffi: typeof import('koffi');
  errno: () => number;
}
/** The fast path's socket calls (src/server/fast/batch-socket.ts), and the few more these checks need. */
function libc(): Libc {
  const s = socketLibc();
  const lib = s.koffi.load('libc.so.6');
  return {
    ...s,
    ioctl: lib.func('int ioctl(int, unsigned long, _Out_ uint8_t *)') as Libc['ioctl'],
    getsockopt: lib.func('int getsockopt(int, int, int, _Out_ uint8_t *, _Inout_ uint8_t *)') as Libc['getsockopt'],
    clockGettime: lib.func('int clock_gettime(int, _Out_ uint8_t *)') as Libc['clockGettime'],
    recvmsg: lib.func('long recvmsg(int, void *, int)') as Libc['recvmsg'],
    sendmsg: lib.func('long sendmsg(int, void *, int)') as Libc['sendmsg'],
    errno: () => s.koffi.errno(),
  };
}

const found = linuxSocketAbi(process.platform, process.arch);
// These tests check the table against the kernel they run on: a machine outside the table has
// nothing to check them against, and must fail loudly rather than pass by returning early.
if (!found) throw new Error(`no socket ABI for ${process.platform}/${process.arch}: run these tests on Linux x86_64, arm64 or armhf`);
const abi: NonNullable<typeof found> = found;

describe(`the running kernel (${process.platform}/${process.arch}) agrees with the table`, () => {
  let c: Libc;
  let server: dgram.Socket;
  let client: dgram.Socket;
  let fd: number;
  beforeAll(async () => {
    server = dgram.createSocket('udp4');
    client = dgram.createSocket('udp4');
    await new Promise<void>((r) => server.bind(0, '127.0.0.1', r));
    await new Promise<void>((r) => client.bind(0, '127.0.0.1', r));
    fd = dgramSocketFd(server);
    if (abi) c = libc();
  });
  afterAll(() => {
    server.close();
    client.close();
  });

  it('is a supported machine, or the table says it is not', () => {
    // This suite runs on x86_64 here and on arm64/armhf Pis; elsewhere the table must say "unsupported".
    if (['x64', 'arm64', 'arm'].includes(process.arch) && process.platform === 'linux') expect(abi).toBeDefined();
    else expect(abi).toBeUndefined();
    expect(fd).toBeGreaterThanOrEqual(0);
  });

  it('SOL_SOCKET, SO_TIMESTAMPNS and SO_TIMESTAMPNS_NEW: setting one reads back as set, and not as the other', () => {
    expect(abi.SOL_SOCKET).toBe(SOL_SOCKET);
    const probe = dgram.createSocket('udp4');
    return new Promise<void>((resolve) => probe.bind(0, '127.0.0.1', () => {
      const pfd = dgramSocketFd(probe);
      const one = Buffer.alloc(4);
      one.writeInt32LE(1);
      const get = (name: number): number => {
        const v = Buffer.alloc(4);
        const len = Buffer.alloc(4);
        len.writeUInt32LE(4);
        expect(c.getsockopt(pfd, SOL_SOCKET, name, v, len)).toBe(0);
        expect(len.readUInt32LE()).toBe(4);
        return v.readInt32LE();
      };
      expect([get(SO_TIMESTAMPNS_OLD), get(SO_TIMESTAMPNS_NEW)]).toEqual([0, 0]);
      expect(c.setsockopt(pfd, SOL_SOCKET, abi.SO_TIMESTAMPNS, one, 4)).toBe(0);
      expect([get(SO_TIMESTAMPNS_OLD), get(SO_TIMESTAMPNS_NEW)]).toEqual([1, 0]);
      expect(c.setsockopt(pfd, SOL_SOCKET, abi.SO_TIMESTAMPNS_NEW, one, 4)).toBe(0);
      expect([get(SO_TIMESTAMPNS_OLD), get(SO_TIMESTAMPNS_NEW)]).toEqual([0, 1]);
      probe.close();
      resolve();
    }));
  });

  it('SIOCGSTAMPNS in the table\'s layout returns the receive time of a datagram just sent on loopback', async () => {
    const io = abi.stampIoctls[0]!;
    const buf = Buffer.alloc(16);
    // Before any datagram: the first call turns stamping on and has nothing to return.
    const first = c.ioctl(fd, io.request, buf);
    expect(first === 0 || c.errno() === ENOENT).toBe(true);
    const tb = Buffer.alloc(16);
    const now = (): bigint => {
      c.clockGettime(0, tb);
      return tb.readBigInt64LE(0) * 1_000_000_000n + tb.readBigInt64LE(8);
    };
    const got: { before: bigint; stamp: bigint; after: bigint; raw: Buffer }[] = [];
    for (let i = 0; i < 5; i++) {
      const before = now();
      const arrived = new Promise<void>((r) => server.once('message', () => {
        const after = now();
        buf.fill(0xa5);
        expect(c.ioctl(fd, io.request, buf)).toBe(0);
        const t = { sec: 0, nsec: 0 };
        expect(readKernelTimespec(buf, io.timespec, t)).toBe(true);
        got.push({ before, stamp: BigInt(t.sec) * 1_000_000_000n + BigInt(t.nsec), after, raw: Buffer.from(buf) });
        r();
      }));
      client.send(Buffer.alloc(48), server.address().port, '127.0.0.1');
      await arrived;
    }
    for (const g of got) {
      expect(g.stamp).toBeGreaterThanOrEqual(g.before); // received after we sent it ...
      expect(g.stamp).toBeLessThanOrEqual(g.after); // ... and before JS saw it
      expect(g.after - g.stamp).toBeLessThan(50_000_000n); // within ms (50 ms: a busy CI machine)
      // The layout's size is the kernel's: it wrote exactly timespec.size bytes (the filler after them is intact).
      expect(g.raw.subarray(io.timespec.size).every((x) => x === 0xa5)).toBe(true);
    }
    if (abi.longBytes === 8) {
      // LP64: _NEW (__kernel_timespec) must give the same 16 bytes as _OLD: the same layout.
      const again = Buffer.alloc(16);
      expect(c.ioctl(fd, SIOCGSTAMPNS_NEW, again)).toBe(0);
      expect(again).toEqual(got.at(-1)!.raw.subarray(0, 16));
    }
  });
});

/** A socket of our own (koffi), bound to 127.0.0.1, with one int socket option set (a timestamping one); its address. */
function loopbackSocket(c: Libc, level: number, name: number, value: number): { fd: number; sa: Buffer; port: number } {
  const fd = c.socket(AF_INET, SOCK_DGRAM, 0);
  expect(fd).toBeGreaterThanOrEqual(0);
  const sa = Buffer.alloc(SOCKADDR_IN.size);
  sa.writeUInt16LE(AF_INET, SOCKADDR_IN.family);
  Buffer.from([127, 0, 0, 1]).copy(sa, SOCKADDR_IN.addr);
  expect(c.bind(fd, sa, sa.length)).toBe(0);
  const len = Buffer.alloc(4);
  len.writeUInt32LE(sa.length);
  expect(c.getsockname(fd, sa, len)).toBe(0);
  const v = Buffer.alloc(4);
  v.writeInt32LE(value);
  expect(c.setsockopt(fd, level, name, v, 4)).toBe(0);
  return { fd, sa, port: sa.readUInt16BE(SOCKADDR_IN.port) };
}

/** CLOCK_REALTIME through the same libc, ns (the kernel stamps are on this clock). */
function realtimeNs(c: Libc): () => bigint {
  const tb = Buffer.alloc(16);
  return () => {
    c.clockGettime(0, tb);
    return tb.readBigInt64LE(0) * 1_000_000_000n + tb.readBigInt64LE(8);
  };
}

describe(`message structs against the running kernel (${process.platform}/${process.arch}): a known datagram through recvmsg and recvmmsg`, () => {
  /** Memory koffi keeps at a fixed address, and a Buffer over it. */
  function region(c: Libc, bytes: number): { ptr: unknown; buf: Buffer; at: bigint } {
    const ptr = c.koffi.alloc('uint8_t', bytes);
    const buf = Buffer.from(c.koffi.view(ptr, bytes) as ArrayBuffer);
    buf.fill(0);
    return { ptr, buf, at: BigInt(c.koffi.address(ptr) as bigint) };
  }

  function putPtr(a: NonNullable<typeof abi>, b: Buffer, off: number, v: bigint | number): void {
    if (a.longBytes === 8) b.writeBigUInt64LE(BigInt(v), off);
    else b.writeUInt32LE(Number(v), off);
  }
  function getWord(a: NonNullable<typeof abi>, b: Buffer, off: number): number {
    return a.longBytes === 8 ? Number(b.readBigUInt64LE(off)) : b.readUInt32LE(off);
  }

  /** One msghdr (at `m`, offset `o`) over fresh name/iov/payload/control regions. */
  function msghdr(c: Libc, a: NonNullable<typeof abi>, m: Buffer, o: number) {
    const L = a.messages;
    const name = region(c, SOCKADDR_IN.size);
    const payload = region(c, 256);
    const iov = region(c, L.iovec.size);
    const control = region(c, 128);
    putPtr(a, iov.buf, L.iovec.base, payload.at);
    putPtr(a, iov.buf, L.iovec.len, 256);
    putPtr(a, m, o + L.msghdr.name, name.at);
    m.writeUInt32LE(SOCKADDR_IN.size, o + L.msghdr.namelen);
    putPtr(a, m, o + L.msghdr.iov, iov.at);
    putPtr(a, m, o + L.msghdr.iovlen, 1);
    putPtr(a, m, o + L.msghdr.control, control.at);
    putPtr(a, m, o + L.msghdr.controllen, 128);
    m.writeInt32LE(-1, o + L.msghdr.flags);
    return { name, payload, control, keep: [iov] };
  }

  /** Checks what the kernel wrote for one datagram: sender, payload, one SCM_TIMESTAMPNS between the send and now. */
  function checkReceived(c: Libc, a: NonNullable<typeof abi>, m: Buffer, o: number, r: ReturnType<typeof msghdr>, n: number, text: string, clientPort: number, sentNs: bigint, nowNs: bigint) {
    const L = a.messages;
    expect(n).toBe(text.length);
    expect(r.payload.buf.subarray(0, n).toString()).toBe(text);
    expect(m.readUInt32LE(o + L.msghdr.namelen)).toBe(SOCKADDR_IN.size);
    expect(r.name.buf.readUInt16LE(SOCKADDR_IN.family)).toBe(AF_INET);
    expect(r.name.buf.readUInt16BE(SOCKADDR_IN.port)).toBe(clientPort);
    expect([...r.name.buf.subarray(SOCKADDR_IN.addr, SOCKADDR_IN.addr + 4)]).toEqual([127, 0, 0, 1]);
    expect(m.readInt32LE(o + L.msghdr.flags)).toBe(0); // no MSG_TRUNC / MSG_CTRUNC
    const ts = a.cmsgTimespec;
    expect(getWord(a, m, o + L.msghdr.controllen)).toBe(cmsgSpace(a, ts.size));
    const cm = r.control.buf;
    expect(getWord(a, cm, L.cmsghdr.len)).toBe(cmsgLen(a, ts.size));
    expect(cm.readInt32LE(L.cmsghdr.level)).toBe(a.SOL_SOCKET);
    expect(cm.readInt32LE(L.cmsghdr.type)).toBe(a.SO_TIMESTAMPNS); // SCM_TIMESTAMPNS == SO_TIMESTAMPNS
    const t = { sec: 0, nsec: 0 };
    expect(readKernelTimespec(cm.subarray(L.cmsghdr.data), ts, t)).toBe(true);
    const stamp = BigInt(t.sec) * 1_000_000_000n + BigInt(t.nsec);
    expect(stamp).toBeGreaterThanOrEqual(sentNs);
    expect(stamp).toBeLessThanOrEqual(nowNs);
  }

  /** A SO_TIMESTAMPNS socket of our own, a node:dgram client to send it datagrams, and the realtime clock; closed after `body`. */
  async function withProbe(body: (p: { c: Libc; fd: number; port: number; client: dgram.Socket; now: () => bigint; sentNs: bigint }) => Promise<void>): Promise<void> {
    const c = libc();
    const { fd, port } = loopbackSocket(c, abi!.SOL_SOCKET, abi!.SO_TIMESTAMPNS, 1);
    const client = dgram.createSocket('udp4');
    try {
      await new Promise<void>((r) => client.bind(0, '127.0.0.1', r));
      const now = realtimeNs(c);
      await body({ c, fd, port, client, now, sentNs: now() });
    } finally {
      client.close();
      c.close(fd);
    }
  }

  it('recvmsg: name, iovec, control and flags where the table says; the SCM_TIMESTAMPNS stamp in the table\'s timespec', async () => {
    await withProbe(async ({ c, fd, port, client, now, sentNs }) => {
      await new Promise<void>((r, j) => client.send('gnomon abi probe', port, '127.0.0.1', (e) => (e ? j(e) : r())));
      const m = region(c, abi.messages.msghdr.size);
      const r = msghdr(c, abi, m.buf, 0);
      let n = -1;
      for (let i = 0; i < 200 && n < 0; i++) {
        n = c.recvmsg(fd, m.ptr, MSG_DONTWAIT);
        if (n < 0) await new Promise((res) => setTimeout(res, 5));
      }
      checkReceived(c, abi, m.buf, 0, r, n, 'gnomon abi probe', client.address().port, sentNs, now());
    });
  });

  it('recvmmsg: two datagrams, msg_len at the table\'s offset, entries at the table\'s stride', async () => {
    await withProbe(async ({ c, fd, port, client, now, sentNs }) => {
      const texts = ['first datagram', 'the second, longer one'];
      for (const t of texts) await new Promise<void>((r, j) => client.send(t, port, '127.0.0.1', (e) => (e ? j(e) : r())));
      const M = abi.messages.mmsghdr;
      const v = region(c, 2 * M.size);
      const rs = [msghdr(c, abi, v.buf, 0), msghdr(c, abi, v.buf, M.size)];
      v.buf.writeUInt32LE(0xdeadbeef, M.len);
      v.buf.writeUInt32LE(0xdeadbeef, M.size + M.len);
      let got = 0;
      for (let i = 0; i < 200 && got < 2; i++) {
        // Both were sent before the first call on loopback; ask for both at once.
        got = c.recvmmsg(fd, v.ptr, 2, MSG_DONTWAIT, null);
        if (got < 2) await new Promise((res) => setTimeout(res, 5));
      }
      expect(got).toBe(2);
      const end = now();
      for (let i = 0; i < 2; i++) {
        checkReceived(c, abi, v.buf, i * M.size, rs[i]!, v.buf.readUInt32LE(i * M.size + M.len), texts[i]!, client.address().port, sentNs, end);
      }
    });
  });
});

describe(`kernel timestamping against the running kernel (${process.platform}/${process.arch}): SO_TIMESTAMPING, a stamped send, the error queue`, () => {
  it('SO_TIMESTAMPING reads back its flags; _OLD and _NEW are the table\'s numbers', () => {
    const c = libc();
    expect([abi.SO_TIMESTAMPING, SO_TIMESTAMPING_OLD, SO_TIMESTAMPING_NEW]).toEqual([37, 37, 65]);
    const fd = c.socket(AF_INET, SOCK_DGRAM, 0);
    try {
      const v = Buffer.alloc(4);
      const len = Buffer.alloc(4);
      const flags = SOF_TIMESTAMPING_RX_SOFTWARE | SOF_TIMESTAMPING_SOFTWARE;
      v.writeInt32LE(flags);
      expect(c.setsockopt(fd, abi.SOL_SOCKET, abi.SO_TIMESTAMPING, v, 4)).toBe(0);
      v.fill(0);
      len.writeUInt32LE(4);
      expect(c.getsockopt(fd, abi.SOL_SOCKET, abi.SO_TIMESTAMPING, v, len)).toBe(0);
      expect(v.readInt32LE(0)).toBe(flags);
    } finally {
      c.close(fd);
    }
  });

  it('a send asking TX_SOFTWARE per message (cmsg): SCM_TIMESTAMPING on receive and the frame + sock_extended_err on the error queue, in the table\'s layouts', async () => {
    const c = libc();
    const L = abi.messages;
    const { fd, sa } = loopbackSocket(c, abi.SOL_SOCKET, abi.SO_TIMESTAMPING, SOF_TIMESTAMPING_RX_SOFTWARE | SOF_TIMESTAMPING_SOFTWARE);
    try {
      const now = realtimeNs(c);
      // sendmsg to itself: name, one iovec, one control message SOL_SOCKET/SO_TIMESTAMPING holding a u32.
      const mem = (n: number) => { const ptr = c.koffi.alloc('uint8_t', n); const buf = Buffer.from(c.koffi.view(ptr, n) as ArrayBuffer); buf.fill(0); return { ptr, buf, at: BigInt(c.koffi.address(ptr) as bigint) }; };
      const put = (b: Buffer, o: number, x: bigint | number) => (abi.longBytes === 8 ? b.writeBigUInt64LE(BigInt(x), o) : b.writeUInt32LE(Number(x), o));
      const word = (b: Buffer, o: number) => (abi.longBytes === 8 ? Number(b.readBigUInt64LE(o)) : b.readUInt32LE(o));
      const text = Buffer.from('gnomon tx stamp probe: forty-eight bytes long..!');
      const payload = mem(256);
      text.copy(payload.buf);
      const name = mem(SOCKADDR_IN.size);
      sa.copy(name.buf);
      const iov = mem(L.iovec.size);
      put(iov.buf, L.iovec.base, payload.at);
      put(iov.buf, L.iovec.len, text.length);
      const ctl = mem(cmsgSpace(abi, 4));
      put(ctl.buf, L.cmsghdr.len, cmsgLen(abi, 4));
      ctl.buf.writeInt32LE(abi.SOL_SOCKET, L.cmsghdr.level);
      ctl.buf.writeInt32LE(abi.SO_TIMESTAMPING, L.cmsghdr.type);
      ctl.buf.writeUInt32LE(SOF_TIMESTAMPING_TX_SOFTWARE, L.cmsghdr.data);
      const m = mem(L.msghdr.size);
      put(m.buf, L.msghdr.name, name.at);
      m.buf.writeUInt32LE(SOCKADDR_IN.size, L.msghdr.namelen);
      put(m.buf, L.msghdr.iov, iov.at);
      put(m.buf, L.msghdr.iovlen, 1);
      put(m.buf, L.msghdr.control, ctl.at);
      put(m.buf, L.msghdr.controllen, cmsgSpace(abi, 4));
      const sentNs = now();
      expect(c.sendmsg(fd, m.ptr, MSG_DONTWAIT)).toBe(text.length);
      const afterSendNs = now();

      // Receive and error queue through the same msghdr, pointed at a 256-byte buffer and 256 bytes of control.
      const control = mem(256);
      const read = (flags: number): number => {
        put(iov.buf, L.iovec.len, 256);
        payload.buf.fill(0);
        control.buf.fill(0);
        m.buf.writeUInt32LE(SOCKADDR_IN.size, L.msghdr.namelen);
        put(m.buf, L.msghdr.control, control.at);
        put(m.buf, L.msghdr.controllen, 256);
        m.buf.writeInt32LE(0, L.msghdr.flags);
        return c.recvmsg(fd, m.ptr, flags | MSG_DONTWAIT);
      };
      const stampAt = (at: number): bigint => {
        const t = { sec: 0, nsec: 0 };
        expect(readKernelTimespec(control.buf, abi.scmTimestamping.software, t, at)).toBe(true);
        // ts[1] (deprecated) and ts[2] (raw hardware) are zero: the struct is as long as the table says and no longer.
        expect(control.buf.subarray(at + abi.scmTimestamping.software.size, at + abi.scmTimestamping.size).every((x) => x === 0)).toBe(true);
        return BigInt(t.sec) * 1_000_000_000n + BigInt(t.nsec);
      };

      expect(read(0)).toBe(text.length);
      let clen = word(m.buf, L.msghdr.controllen);
      expect(clen).toBe(cmsgSpace(abi, abi.scmTimestamping.size)); // one control message: SCM_TIMESTAMPING
      expect(word(control.buf, L.cmsghdr.len)).toBe(cmsgLen(abi, abi.scmTimestamping.size));
      const rxAt = findCmsg(abi, control.buf, 0, clen, abi.SOL_SOCKET, abi.SO_TIMESTAMPING);
      expect(rxAt).toBe(L.cmsghdr.data);
      const rxNs = stampAt(rxAt);
      expect(rxNs).toBeGreaterThanOrEqual(sentNs);
      expect(rxNs).toBeLessThanOrEqual(now());

      const n = read(MSG_ERRQUEUE);
      expect(n).toBeGreaterThan(text.length); // the frame, from its link-layer header
      expect(m.buf.readInt32LE(L.msghdr.flags) & MSG_ERRQUEUE).toBe(MSG_ERRQUEUE);
      const off = udpPayloadOffset(payload.buf, n);
      expect(off).toBe(n - text.length);
      expect(payload.buf.subarray(off, n)).toEqual(text);
      clen = word(m.buf, L.msghdr.controllen);
      const ee = findCmsg(abi, control.buf, 0, clen, SOL_IP, IP_RECVERR);
      expect(ee).toBeGreaterThan(0);
      expect(control.buf.readUInt32LE(ee + SOCK_EXTENDED_ERR.errno)).toBe(ENOMSG);
      expect(control.buf[ee + SOCK_EXTENDED_ERR.origin]).toBe(SO_EE_ORIGIN_TIMESTAMPING);
      expect(control.buf.readUInt32LE(ee + SOCK_EXTENDED_ERR.info)).toBe(SCM_TSTAMP_SND);
      const txNs = stampAt(findCmsg(abi, control.buf, 0, clen, abi.SOL_SOCKET, abi.SO_TIMESTAMPING));
      expect(txNs).toBeGreaterThanOrEqual(sentNs); // stamped inside the send (loopback's driver) ...
      expect(txNs).toBeLessThanOrEqual(afterSendNs);
      expect(txNs).toBeLessThanOrEqual(rxNs); // ... before the same datagram was received
      expect(read(MSG_ERRQUEUE)).toBe(-1); // one stamp for one stamped send
      for (const r of [payload, name, iov, ctl, m, control]) c.koffi.free(r.ptr);
    } finally {
      c.close(fd);
    }
  });
});
