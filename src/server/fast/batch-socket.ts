/**
 * A UDP socket of Gnomon's own (not node:dgram), read with recvmmsg and written with sendmmsg
 * through koffi: the IO half of the batched fast path (issue 9, docs/server.md "The fast path").
 *
 * The memory the kernel reads and writes (message arrays, sockaddr, payload, control and reply
 * buffers) is allocated once per socket and laid out by MessageArrays (message-arrays.ts), which
 * this class extends; the error queue (kernel transmit stamps of replies that asked for one:
 * interleaved mode) has its own (error-queue.ts). Per batch the socket resets the lengths the
 * kernel overwrote (name and control lengths) and, per reply, copies the header prepared for that
 * slot into the next free place of the send array: no pointer is computed and nothing allocated
 * per packet.
 *
 * Constants come from src/net/linux-abi.ts (checked against the running kernel by
 * test/unit/net/linux-abi.test.ts); the few socket options only this path needs are below.
 *
 * Blocking: the socket is blocking with SO_RCVTIMEO, and recvmmsg gets MSG_WAITFORONE, so a call
 * returns as soon as one datagram is there (with whatever else is queued, up to BATCH) or after
 * the timeout with nothing: the worker checks its stop flag at least that often. Sends use
 * MSG_DONTWAIT: a full send buffer drops replies (counted), it never blocks the receive loop.
 */
import { createRequire } from 'node:module';
import type { TimeSpec } from '../../clock/clock.js';
import { formatIpv6Groups, parseAddress, ParsedAddress } from '../../net/address.js';
import {
  AF_INET, AF_INET6, MSG_DONTWAIT, SOCKADDR_IN, SOCKADDR_IN6, SOCK_DGRAM, SOF_TIMESTAMPING_RX_SOFTWARE, SOF_TIMESTAMPING_SOFTWARE,
  type LinuxSocketAbi,
} from '../../net/linux-abi.js';
import { BATCH, MessageArrays, NAME_BYTES, type Ptr } from './message-arrays.js';

export { BATCH, PAYLOAD_BYTES, REPLY_BYTES, type Slot } from './message-arrays.js';

/** Socket options of asm-generic/socket.h and in.h / in6.h (the same numbers on x86_64, arm64 and arm). */
export const SO_REUSEADDR = 2;
export const SO_RCVBUF = 8;
export const SO_REUSEPORT = 15;
/** SO_RCVTIMEO_OLD: a struct timeval of two native `long`s (16 bytes on LP64, 8 on armhf). */
export const SO_RCVTIMEO = 20;
export const IPPROTO_IPV6 = 41;
export const IPV6_V6ONLY = 26;
export const IPPROTO_IP = 0;
export const IP_MTU_DISCOVER = 10;
export const IP_PMTUDISC_DO = 2;
/** recvmmsg: turn on MSG_DONTWAIT after the first datagram. */
export const MSG_WAITFORONE = 0x10000;
/** msg_flags: the datagram was longer than the buffer. */
export const MSG_TRUNC = 0x20;
export const EAGAIN = 11;
export const EINTR = 4;

interface SocketLibc {
  readonly koffi: typeof import('koffi');
  socket(domain: number, type: number, proto: number): number;
  setsockopt(fd: number, level: number, name: number, val: Buffer, len: number): number;
  bind(fd: number, addr: Buffer, len: number): number;
  getsockname(fd: number, addr: Buffer, len: Buffer): number;
  close(fd: number): number;
  recvmmsg(fd: number, msgs: Ptr, vlen: number, flags: number, timeout: null): number;
  sendmmsg(fd: number, msgs: Ptr, vlen: number, flags: number): number;
  sendto(fd: number, buf: Uint8Array, len: number, flags: number, addr: Uint8Array, addrLen: number): number;
}

let libc: SocketLibc | undefined;

/** libc's socket calls through koffi, declared once per thread (koffi works in worker threads when loaded there). */
export function socketLibc(): SocketLibc {
  if (libc) return libc;
  const koffi = createRequire(import.meta.url)('koffi') as typeof import('koffi');
  const lib = koffi.load('libc.so.6');
  libc = {
    koffi,
    socket: lib.func('int socket(int, int, int)') as SocketLibc['socket'],
    setsockopt: lib.func('int setsockopt(int, int, int, const uint8_t *, uint32_t)') as SocketLibc['setsockopt'],
    bind: lib.func('int bind(int, const uint8_t *, uint32_t)') as SocketLibc['bind'],
    getsockname: lib.func('int getsockname(int, _Out_ uint8_t *, _Inout_ uint8_t *)') as SocketLibc['getsockname'],
    close: lib.func('int close(int)') as SocketLibc['close'],
    recvmmsg: lib.func('int recvmmsg(int, void *, unsigned int, int, void *)') as SocketLibc['recvmmsg'],
    sendmmsg: lib.func('int sendmmsg(int, void *, unsigned int, int)') as SocketLibc['sendmmsg'],
    sendto: lib.func('long sendto(int, const uint8_t *, size_t, int, const uint8_t *, uint32_t)') as SocketLibc['sendto'],
  };
  return libc;
}

/** An OS error from a socket call, with the errno name's number and the call. */
export class SocketCallError extends Error {
  constructor(readonly call: string, readonly errno: number, readonly address: string) {
    super(`${call} failed for ${address}: errno ${errno}${errno === 98 ? ' (EADDRINUSE)' : errno === 13 ? ' (EACCES)' : ''}`);
  }
}

export interface BatchSocketOptions {
  readonly address: string;
  readonly port: number;
  /** SO_RCVBUF bytes (0: the system default). */
  readonly rcvbuf?: number;
  /** SO_RCVTIMEO, ms: the longest a receive blocks (default 50). */
  readonly receiveTimeoutMs?: number;
  /** SO_REUSEPORT (default true: one socket per worker later). */
  readonly reusePort?: boolean;
}

/** Writes a sockaddr for (address, port) into `out`; its length, or 0 when the text is not an address. */
export function writeSockaddr(address: string, port: number, out: Uint8Array, scratch: ParsedAddress = new ParsedAddress()): number {
  if (!parseAddress(address, scratch)) return 0;
  out.fill(0, 0, SOCKADDR_IN6.size);
  const v = new DataView(out.buffer, out.byteOffset, out.byteLength);
  if (scratch.family === 4) {
    v.setUint16(SOCKADDR_IN.family, AF_INET, true);
    v.setUint16(SOCKADDR_IN.port, port, false);
    v.setUint32(SOCKADDR_IN.addr, scratch.words[3]!, false);
    return SOCKADDR_IN.size;
  }
  v.setUint16(SOCKADDR_IN6.family, AF_INET6, true);
  v.setUint16(SOCKADDR_IN6.port, port, false);
  for (let w = 0; w < 4; w++) v.setUint32(SOCKADDR_IN6.addr + 4 * w, scratch.words[w]!, false);
  return SOCKADDR_IN6.size;
}

const sixGroups = new Uint16Array(8);

/**
 * The text of the address in a sockaddr (as node:dgram gives rinfo.address: dotted quad, or
 * RFC 5952 IPv6 with the longest run of ≥ 2 zero groups as "::" and a v4-mapped tail in dotted
 * form). Returns '' for another family. Allocates a string: not for the per-datagram path
 * (sockaddrToAddress is).
 */
export function sockaddrAddress(b: Uint8Array, at = 0): string {
  const family = b[at]! | (b[at + 1]! << 8);
  if (family === AF_INET) {
    const a = at + SOCKADDR_IN.addr;
    return `${b[a]!}.${b[a + 1]!}.${b[a + 2]!}.${b[a + 3]!}`;
  }
  if (family !== AF_INET6) return '';
  const a = at + SOCKADDR_IN6.addr;
  for (let i = 0; i < 8; i++) sixGroups[i] = (b[a + 2 * i]! << 8) | b[a + 2 * i + 1]!;
  if (sixGroups[0] === 0 && sixGroups[1] === 0 && sixGroups[2] === 0 && sixGroups[3] === 0 && sixGroups[4] === 0 && sixGroups[5] === 0xffff) {
    return `::ffff:${b[a + 12]!}.${b[a + 13]!}.${b[a + 14]!}.${b[a + 15]!}`;
  }
  return formatIpv6Groups(sixGroups);
}

/**
 * The address in a sockaddr as words (ParsedAddress's form: IPv4 and v4-mapped IPv6 in word 3
 * with family 4), without allocating. Family 0 for another address family.
 */
export function sockaddrToAddress(b: Uint8Array, out: ParsedAddress, at = 0): void {
  const family = b[at]! | (b[at + 1]! << 8);
  const w = out.words;
  if (family === AF_INET) {
    const a = at + SOCKADDR_IN.addr;
    w[0] = w[1] = w[2] = 0;
    w[3] = ((b[a]! << 24) | (b[a + 1]! << 16) | (b[a + 2]! << 8) | b[a + 3]!) >>> 0;
    out.family = 4;
    return;
  }
  if (family !== AF_INET6) {
    out.family = 0;
    return;
  }
  const a = at + SOCKADDR_IN6.addr;
  for (let i = 0; i < 4; i++) {
    const o = a + 4 * i;
    w[i] = ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;
  }
  if (w[0] === 0 && w[1] === 0 && w[2] === 0xffff) {
    w[2] = 0;
    out.family = 4;
  } else {
    out.family = 6;
  }
}

/** The port (host order) in a sockaddr_in / sockaddr_in6. */
export function sockaddrPort(b: Uint8Array, at = 0): number {
  return (b[at + 2]! << 8) | b[at + 3]!;
}

/** The socket's descriptor and what it was bound to (port 0 resolved). */
interface OpenedSocket {
  readonly fd: number;
  readonly family: 4 | 6;
  readonly port: number;
  readonly address: string;
}

/** Opens, configures and binds the socket; closes it again and throws a SocketCallError if a call fails. */
function openSocket(c: SocketLibc, abi: LinuxSocketAbi, opts: BatchSocketOptions): OpenedSocket {
  const k = c.koffi;
  const sa = Buffer.alloc(NAME_BYTES);
  const saLen = writeSockaddr(opts.address, opts.port, sa);
  if (saLen === 0) throw new SocketCallError('parse', 22, opts.address);
  const family = saLen === SOCKADDR_IN.size ? 4 : 6;
  const fd = c.socket(family === 4 ? AF_INET : AF_INET6, SOCK_DGRAM, 0);
  if (fd < 0) throw new SocketCallError('socket', k.errno(), opts.address);
  const fail = (call: string): never => {
    const e = k.errno();
    c.close(fd);
    throw new SocketCallError(call, e, `${opts.address}:${opts.port}`);
  };
  const int = Buffer.alloc(4);
  const setInt = (level: number, name: number, v: number, call: string): void => {
    int.writeInt32LE(v, 0);
    if (c.setsockopt(fd, level, name, int, 4) !== 0) fail(call);
  };
  setInt(abi.SOL_SOCKET, SO_REUSEADDR, 1, 'setsockopt(SO_REUSEADDR)');
  if (opts.reusePort ?? true) setInt(abi.SOL_SOCKET, SO_REUSEPORT, 1, 'setsockopt(SO_REUSEPORT)');
  // Receive stamps as SCM_TIMESTAMPING (software, ts[0]) rather than SO_TIMESTAMPNS: with both on,
  // every datagram would carry two stamps, and the error queue's transmit stamps come this way anyway.
  // Transmit stamps are asked per reply (queueReply), not here: only replies that may be answered interleaved.
  setInt(abi.SOL_SOCKET, abi.SO_TIMESTAMPING, SOF_TIMESTAMPING_RX_SOFTWARE | SOF_TIMESTAMPING_SOFTWARE, 'setsockopt(SO_TIMESTAMPING)');
  if (opts.rcvbuf) setInt(abi.SOL_SOCKET, SO_RCVBUF, opts.rcvbuf, 'setsockopt(SO_RCVBUF)');
  if (family === 6) setInt(IPPROTO_IPV6, IPV6_V6ONLY, 1, 'setsockopt(IPV6_V6ONLY)'); // as dgram's ipv6Only
  // DF set and never fragment (replies are ≤ 72 bytes, mode 6 datagrams ≤ 500): Linux UDP sends DF by default
  // already, but with IP_PMTUDISC_WANT it still draws an IP ID per datagram from the shared generator
  // (__ip_select_ident, ~2 % of the send path in the bench profile); with _DO an atomic datagram gets ID 0 (RFC 6864).
  if (family === 4) setInt(IPPROTO_IP, IP_MTU_DISCOVER, IP_PMTUDISC_DO, 'setsockopt(IP_MTU_DISCOVER)');
  const tv = Buffer.alloc(2 * abi.longBytes);
  const ms = opts.receiveTimeoutMs ?? 50;
  const sec = Math.floor(ms / 1000);
  const usec = (ms - sec * 1000) * 1000;
  if (abi.longBytes === 8) {
    tv.writeBigInt64LE(BigInt(sec), 0);
    tv.writeBigInt64LE(BigInt(usec), 8);
  } else {
    tv.writeInt32LE(sec, 0);
    tv.writeInt32LE(usec, 4);
  }
  if (c.setsockopt(fd, abi.SOL_SOCKET, SO_RCVTIMEO, tv, tv.length) !== 0) fail('setsockopt(SO_RCVTIMEO)');
  if (c.bind(fd, sa, saLen) !== 0) fail('bind');
  const len = Buffer.alloc(4);
  len.writeUInt32LE(NAME_BYTES);
  if (c.getsockname(fd, sa, len) !== 0) fail('getsockname');
  return { fd, family, port: sockaddrPort(sa), address: sockaddrAddress(sa) };
}

export class BatchSocket extends MessageArrays {
  readonly fd: number;
  readonly family: 4 | 6;
  /** The bound port (port 0 resolves here). */
  readonly port: number;
  readonly address: string;
  /** Replies queued since the last flush. */
  private queued = 0;
  /** Per place in the send array, whose header it holds: 2 × slot (+ 1 with the stamp request); -1 unknown. */
  private readonly txHolds = new Int32Array(BATCH).fill(-1);
  /** Replies the kernel did not take (send buffer full, unreachable). */
  sendDropped = 0;
  private readonly c: SocketLibc;
  private closed = false;
  /** Slots the kernel wrote on the last receive (their lengths need resetting); all of them before the first. */
  private dirty = BATCH;

  constructor(abi: LinuxSocketAbi, opts: BatchSocketOptions) {
    const c = socketLibc();
    // The socket first, then its memory: a socket that cannot bind allocates nothing.
    const s = openSocket(c, abi, opts);
    super(abi, c.koffi);
    this.c = c;
    this.fd = s.fd;
    this.family = s.family;
    this.port = s.port;
    this.address = s.address;
  }

  /**
   * Waits (up to the receive timeout) for datagrams and reads up to `max` (≤ BATCH); with `wait`
   * false, reads only what is queued. Returns how many (0 on timeout, EAGAIN or EINTR), or -errno
   * on another error.
   */
  receive(max = BATCH, wait = true): number {
    this.prepareReceive();
    const n = this.c.recvmmsg(this.fd, this.rxPtr, max, wait ? MSG_WAITFORONE : MSG_DONTWAIT, null);
    this.dirty = n > 0 ? n : 0;
    if (n >= 0) return n;
    const e = this.c.koffi.errno();
    return e === EAGAIN || e === EINTR ? 0 : -e;
  }

  /** The kernel overwrote these in the slots it filled last time: give them their full lengths back. */
  private prepareReceive(): void {
    const rx = this.rx32;
    const wide = this.abi.longBytes === 8;
    const dirty = Math.max(this.dirty, 0);
    for (let i = 0; i < dirty; i++) {
      const h = i * this.mmsgW;
      rx[h + this.namelenW] = NAME_BYTES;
      rx[h + this.controllenW] = this.controlSpace;
      if (wide) rx[h + this.controllenW + 1] = 0;
      rx[h + this.flagsW] = 0;
    }
  }

  /** Bytes of datagram i of the last receive. */
  length(i: number): number {
    return this.rx32[i * this.mmsgW + this.lenW]! >>> 0;
  }

  /** Whether datagram i was longer than PAYLOAD_BYTES (cut by the kernel). */
  truncated(i: number): boolean {
    return (this.rx32[i * this.mmsgW + this.flagsW]! & MSG_TRUNC) !== 0;
  }

  /** The sockaddr length the kernel wrote for datagram i. */
  nameLength(i: number): number {
    return this.rx32[i * this.mmsgW + this.namelenW]! >>> 0;
  }

  /**
   * Queues slot i's reply (`bytes` long, already in slot.reply) to the sender of datagram i;
   * `stampTx`: ask the kernel for its transmit stamp (read back with an ErrorQueue, error-queue.ts).
   */
  queueReply(i: number, bytes: number, stampTx = false): void {
    const j = this.queued++;
    const tx = this.tx32;
    const to = j * this.mmsgW;
    // Place j usually holds slot j's header already (every request answered, the last batch the
    // same): then only the lengths change. The header copy was ~10 % of the per-request JS.
    const holds = stampTx ? 2 * i + 1 : 2 * i;
    if (this.txHolds[j] !== holds) {
      const tpl = this.tpl32;
      const from = i * this.msghdrW;
      for (let w = 0; w < this.msghdrW; w++) tx[to + w] = tpl[from + w]!;
      if (stampTx) {
        // msg_control and msg_controllen are adjacent native words: the one stamp-request cmsg.
        const c = this.txStampControl32;
        for (let w = 0; w < c.length; w++) tx[to + this.controlW + w] = c[w]!;
      }
      this.txHolds[j] = holds;
    }
    tx[to + this.namelenW] = this.rx32[i * this.mmsgW + this.namelenW]!;
    this.txIov32[i * this.iovecW + this.iovLenW] = bytes;
  }

  /** Sends every queued reply with sendmmsg (retrying once where the kernel took only part); returns how many went. */
  flush(): number {
    const q = this.queued;
    if (q === 0) return 0;
    this.queued = 0;
    return this.afterSend(this.c.sendmmsg(this.fd, this.txPtr, q, MSG_DONTWAIT), q);
  }

  /**
   * flush(), unless more than `maxNs` passed since `from` (raw CLOCK_REALTIME, read before the
   * transmit stamp was taken): then nothing is sent and -1 returned, so the caller stamps again.
   * The clock is read here, after this method's entry, because V8 runs pending interrupts (a GC
   * step) at function entries: a pause there would otherwise fall between the stamp's check and
   * the send, unseen. From the read below to the syscall there is no function entry.
   */
  flushIfFresh(clock: { readRaw(out: TimeSpec): void }, from: TimeSpec, maxNs: number, scratch: TimeSpec): number {
    const q = this.queued;
    if (q === 0) return 0;
    clock.readRaw(scratch);
    if ((scratch.sec - from.sec) * 1e9 + (scratch.nsec - from.nsec) > maxNs) return -1;
    this.queued = 0;
    return this.afterSend(this.c.sendmmsg(this.fd, this.txPtr, q, MSG_DONTWAIT), q);
  }

  /** After sendmmsg returned `sent` of `q`: a refused reply (sendmmsg stops there) is skipped and the rest sent from its place. */
  private afterSend(sent: number, q: number): number {
    if (sent < 0) sent = 0;
    if (sent < q) {
      const m = this.abi.messages;
      const rest = q - sent - 1;
      if (rest > 0) {
        this.tx.copy(this.tx, 0, (sent + 1) * m.mmsghdr.size, q * m.mmsghdr.size);
        this.txHolds.fill(-1);
        const more = this.c.sendmmsg(this.fd, this.txPtr, rest, MSG_DONTWAIT);
        const ok = more > 0 ? more : 0;
        this.sendDropped += 1 + rest - ok;
        return sent + ok;
      }
      this.sendDropped += 1;
    }
    return sent;
  }

  /** Sends one datagram to a sockaddr (replies the main thread answers; peers' packets). Thread-safe in the kernel. */
  sendTo(bytes: Uint8Array, length: number, name: Uint8Array, nameLength: number): boolean {
    if (this.closed) return false;
    return this.c.sendto(this.fd, bytes, length, MSG_DONTWAIT, name, nameLength) === length;
  }

  /** Closes the socket and frees the kernel-visible memory: no view of this socket may be used after. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.c.close(this.fd);
    this.freeArrays();
  }

  /**
   * After a crash in the worker: frees the memory the kernel sees (koffi.alloc: not reclaimed when
   * the thread ends) but leaves the descriptor open. The main thread closes it once the worker has
   * exited; closing it here too could close a descriptor number the process has reused by then.
   */
  releaseMemory(): void {
    if (this.closed) return;
    this.closed = true;
    this.freeArrays();
  }
}

/** sendto on a descriptor another thread owns (the main thread answering through the worker's socket). */
export function sendToFd(fd: number, bytes: Uint8Array, length: number, name: Uint8Array, nameLength: number): boolean {
  return socketLibc().sendto(fd, bytes, length, MSG_DONTWAIT, name, nameLength) === length;
}
