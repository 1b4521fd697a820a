/**
 * The error queue of the fast path's socket, read with recvmmsg(MSG_ERRQUEUE | MSG_DONTWAIT): where
 * the kernel returns the transmit stamps of replies sent with a TX_SOFTWARE request (BatchSocket
 * queueReply's `stampTx`; interleaved mode, src/server/fast/txstamp.ts). Each entry is the frame as
 * it left (link-layer, IP and UDP headers and the reply), an SCM_TIMESTAMPING control message and
 * an IP_RECVERR / IPV6_RECVERR one holding a sock_extended_err (src/net/linux-abi.ts).
 *
 * BATCH message headers, iovecs, 256-byte frame and 160-byte control buffers, allocated once at a
 * fixed address (koffi.alloc) like the socket's own; per read only the lengths the kernel wrote are
 * reset. Nothing is allocated per entry.
 */
import type { TimeSpec } from '../../clock/clock.js';
import {
  ENOMSG, IPV6_RECVERR, IP_RECVERR, MSG_DONTWAIT, MSG_ERRQUEUE, SCM_TSTAMP_SND, SOCK_EXTENDED_ERR, SOL_IP, SOL_IPV6,
  SO_EE_ORIGIN_TIMESTAMPING, findCmsg, readKernelTimespec, type LinuxSocketAbi,
} from '../../net/linux-abi.js';
import { BATCH, EAGAIN, EINTR, MSG_TRUNC, socketLibc } from './batch-socket.js';

/** A looped-back reply: link-layer, IP (v6 with room for extension headers) and UDP headers + the reply (≤ 72). */
export const ERR_FRAME_BYTES = 256;
/** Its control messages: SCM_TIMESTAMPING (≤ 64) + IP(V6)_RECVERR (sock_extended_err + the offender's sockaddr, ≤ 64). */
const ERR_CONTROL_BYTES = 160;

export class ErrorQueue {
  private readonly headersPtr: unknown;
  private readonly dataPtr: unknown;
  private readonly headers: Buffer;
  private readonly frames: Buffer[] = [];
  private readonly control: Buffer;
  /** Entries the kernel wrote on the last read (their lengths need resetting); all before the first. */
  private dirty = BATCH;
  private freed = false;

  /** `family`: the socket's (4: IP_RECVERR, 6: IPV6_RECVERR). */
  constructor(private readonly abi: LinuxSocketAbi, private readonly fd: number, private readonly family: 4 | 6) {
    const k = socketLibc().koffi;
    const m = abi.messages;
    const iovBytes = BATCH * m.iovec.size;
    const dataBytes = BATCH * (ERR_FRAME_BYTES + ERR_CONTROL_BYTES) + iovBytes;
    this.headersPtr = k.alloc('uint8_t', BATCH * m.mmsghdr.size);
    this.dataPtr = k.alloc('uint8_t', dataBytes);
    this.headers = Buffer.from(k.view(this.headersPtr, BATCH * m.mmsghdr.size) as ArrayBuffer);
    const data = Buffer.from(k.view(this.dataPtr, dataBytes) as ArrayBuffer);
    this.headers.fill(0);
    data.fill(0);
    const base = BigInt(k.address(this.dataPtr) as bigint);
    const framesAt = 0;
    const controlAt = BATCH * ERR_FRAME_BYTES;
    const iovAt = controlAt + BATCH * ERR_CONTROL_BYTES;
    this.control = data.subarray(controlAt, controlAt + BATCH * ERR_CONTROL_BYTES);
    for (let i = 0; i < BATCH; i++) {
      const frameOff = framesAt + i * ERR_FRAME_BYTES;
      this.putWord(data, iovAt + i * m.iovec.size + m.iovec.base, base + BigInt(frameOff));
      this.putWord(data, iovAt + i * m.iovec.size + m.iovec.len, ERR_FRAME_BYTES);
      const h = i * m.mmsghdr.size;
      this.putWord(this.headers, h + m.msghdr.iov, base + BigInt(iovAt + i * m.iovec.size));
      this.putWord(this.headers, h + m.msghdr.iovlen, 1);
      this.putWord(this.headers, h + m.msghdr.control, base + BigInt(controlAt + i * ERR_CONTROL_BYTES));
      this.frames.push(data.subarray(frameOff, frameOff + ERR_FRAME_BYTES));
    }
  }

  private putWord(b: Buffer, at: number, v: bigint | number): void {
    if (this.abi.longBytes === 8) b.writeBigUInt64LE(BigInt(v), at);
    else b.writeUInt32LE(Number(v), at);
  }

  private word(b: Buffer, at: number): number {
    return this.abi.longBytes === 8 ? b.readUInt32LE(at) + b.readUInt32LE(at + 4) * 4_294_967_296 : b.readUInt32LE(at);
  }

  /** Reads what is queued, up to BATCH, without waiting. Returns how many (0 when empty), or -errno. */
  receive(): number {
    if (this.freed) return 0;
    const m = this.abi.messages;
    const e = this.headers;
    for (let i = 0; i < this.dirty; i++) {
      const h = i * m.mmsghdr.size;
      e.writeUInt32LE(ERR_CONTROL_BYTES, h + m.msghdr.controllen);
      if (this.abi.longBytes === 8) e.writeUInt32LE(0, h + m.msghdr.controllen + 4);
      e.writeUInt32LE(0, h + m.msghdr.flags);
    }
    const c = socketLibc();
    const n = c.recvmmsg(this.fd, this.headersPtr, BATCH, MSG_ERRQUEUE | MSG_DONTWAIT, null);
    this.dirty = n > 0 ? n : 0;
    if (n >= 0) return n;
    const err = c.koffi.errno();
    return err === EAGAIN || err === EINTR ? 0 : -err;
  }

  /** Entry j of the last read: the looped-back frame, from its link-layer header (`length(j)` bytes). */
  frame(j: number): Buffer {
    return this.frames[j]!;
  }

  /** Bytes of entry j's frame (0 when it was longer than ERR_FRAME_BYTES: cut, unusable). */
  length(j: number): number {
    const m = this.abi.messages;
    const h = j * m.mmsghdr.size;
    if ((this.headers.readInt32LE(h + m.msghdr.flags) & MSG_TRUNC) !== 0) return 0;
    return this.headers.readUInt32LE(h + m.mmsghdr.len);
  }

  /**
   * The kernel's software transmit stamp (raw CLOCK_REALTIME) of entry j into `out`: true only for
   * a sock_extended_err saying "timestamp, sent" (ENOMSG, SO_EE_ORIGIN_TIMESTAMPING, SCM_TSTAMP_SND)
   * with an SCM_TIMESTAMPING message holding a valid software stamp.
   */
  txStamp(j: number, out: TimeSpec): boolean {
    const m = this.abi.messages;
    const clen = this.word(this.headers, j * m.mmsghdr.size + m.msghdr.controllen);
    const start = j * ERR_CONTROL_BYTES;
    const end = start + ERR_CONTROL_BYTES;
    const c = this.control;
    const ee = this.family === 4 ? findCmsg(this.abi, c, start, clen, SOL_IP, IP_RECVERR) : findCmsg(this.abi, c, start, clen, SOL_IPV6, IPV6_RECVERR);
    if (ee < 0 || ee + SOCK_EXTENDED_ERR.size > end) return false;
    if (c.readUInt32LE(ee + SOCK_EXTENDED_ERR.errno) !== ENOMSG || c[ee + SOCK_EXTENDED_ERR.origin] !== SO_EE_ORIGIN_TIMESTAMPING
      || c.readUInt32LE(ee + SOCK_EXTENDED_ERR.info) !== SCM_TSTAMP_SND) return false;
    const ts = findCmsg(this.abi, c, start, clen, this.abi.SOL_SOCKET, this.abi.SO_TIMESTAMPING);
    if (ts < 0 || ts + this.abi.scmTimestamping.size > end) return false;
    return readKernelTimespec(c, this.abi.scmTimestamping.software, out, ts);
  }

  /** Frees the memory (the socket closes): no view may be used after. */
  free(): void {
    if (this.freed) return;
    this.freed = true;
    const k = socketLibc().koffi;
    k.free(this.headersPtr);
    k.free(this.dataPtr);
  }
}
