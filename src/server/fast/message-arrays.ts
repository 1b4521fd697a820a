/**
 * The memory the kernel reads and writes for one BatchSocket (batch-socket.ts): the recvmmsg and
 * sendmmsg message arrays and the buffers they point at, allocated once per socket at a fixed
 * address (koffi.alloc) and seen from JS through zero-copy views (koffi.view). Receive side: BATCH
 * mmsghdrs, iovecs, sockaddr buffers, 2 KiB payload buffers and control buffers for the
 * SCM_TIMESTAMPING receive stamp; send side: BATCH mmsghdrs, iovecs and 72-byte reply buffers,
 * plus per slot a send header prepared here (name → that slot's sockaddr, iov → that slot's reply
 * iovec) that the socket copies into the next free place of the send array per reply. Every
 * pointer is written here, once: nothing is computed or allocated per packet.
 *
 * The socket extends this class rather than holding it, so the per-datagram path reads the views
 * and word offsets as its own properties (no extra object between it and the arrays).
 *
 * Layouts come from src/net/linux-abi.ts (checked against the running kernel by
 * test/unit/net/linux-abi.test.ts).
 */
import type { TimeSpec } from '../../clock/clock.js';
import { SOF_TIMESTAMPING_TX_SOFTWARE, cmsgLen, cmsgSpace, findCmsg, readKernelTimespec, type LinuxSocketAbi } from '../../net/linux-abi.js';

/** Datagrams per recvmmsg / sendmmsg. */
export const BATCH = 128;
/** Bytes kept of a request; a longer one is truncated by the kernel (MSG_TRUNC) and dropped. */
export const PAYLOAD_BYTES = 2048;
/** Largest reply of the time path: header + key ID + 20-byte MAC (the handler's REPLY_BYTES). */
export const REPLY_BYTES = 72;
/** A sockaddr_in6 rounded up to 8. */
export const NAME_BYTES = 32;
export const CONTROL_BYTES = 64;

/** A koffi pointer (opaque to JS). */
export type Ptr = unknown;

/** One batch slot: zero-copy views of what the kernel fills and what the shell replies with. */
export interface Slot {
  /** The request's bytes (PAYLOAD_BYTES; the datagram's length is `length(i)`). */
  readonly payload: Buffer;
  /** The sender's sockaddr. */
  readonly name: Buffer;
  /** The reply buffer (REPLY_BYTES). */
  readonly reply: Buffer;
}

export class MessageArrays {
  readonly slots: readonly Slot[];
  /** The receive and send mmsghdr arrays as the kernel is given them, and as bytes. */
  protected readonly rxPtr: Ptr;
  protected readonly txPtr: Ptr;
  protected readonly rx: Buffer;
  protected readonly tx: Buffer;
  /** Per slot, the send header prepared at start (name → slot's sockaddr, iov → slot's reply iovec). */
  protected readonly txTemplates: Buffer;
  /** The receive control buffers, CONTROL_BYTES per slot. */
  protected readonly control: Buffer;
  /** msg_controllen a receive gives the kernel: room for one SCM_TIMESTAMPING message. */
  protected readonly controlSpace: number;
  /** The msg_control / msg_controllen words of a reply that asks for a kernel transmit stamp (SO_TIMESTAMPING TX_SOFTWARE). */
  protected readonly txStampControl: Buffer;
  /**
   * Int32 views of the message arrays and their fields' word offsets: every field the loop
   * touches is 4-byte aligned on the three ABIs, so per-datagram reads and writes are element
   * accesses rather than Buffer method calls (and the reply header copy is a word loop, not a
   * native Buffer.copy: bench profile).
   */
  protected readonly rx32: Int32Array;
  protected readonly tx32: Int32Array;
  protected readonly tpl32: Int32Array;
  protected readonly txIov32: Int32Array;
  protected readonly mmsgW: number;
  protected readonly msghdrW: number;
  protected readonly namelenW: number;
  protected readonly controllenW: number;
  protected readonly flagsW: number;
  protected readonly lenW: number;
  protected readonly iovecW: number;
  protected readonly iovLenW: number;
  protected readonly controlW: number;
  /** msg_control + msg_controllen of a reply that asks for its kernel transmit stamp, as words. */
  protected readonly txStampControl32: Int32Array;
  /** Every slot's reply buffer as words, REPLY_BYTES / 4 a slot (the batch's transmit stamp is copied in as two). */
  readonly replyWords: Int32Array;
  /**
   * rxStamp's common case, in words: the receive control buffers; the first control message's
   * level and type; its software stamp's seconds (low word; the high one follows on LP64) and
   * nanoseconds; the control length that holds it whole.
   */
  private readonly control32: Int32Array;
  private readonly cmsgLevelW: number;
  private readonly cmsgTypeW: number;
  private readonly stampSecW: number;
  private readonly stampSec64: boolean;
  private readonly stampNsecW: number;
  private readonly stampNsec64: boolean;
  private readonly stampControlBytes: number;
  private readonly allocations: Ptr[];

  constructor(readonly abi: LinuxSocketAbi, private readonly koffi: typeof import('koffi')) {
    const k = koffi;
    const m = abi.messages;
    this.controlSpace = Math.min(CONTROL_BYTES, cmsgSpace(abi, abi.scmTimestamping.size));
    // Memory the kernel sees: one region for the data, one per message array (passed as pointers).
    const iovBytes = BATCH * m.iovec.size;
    const txCmsgBytes = cmsgSpace(abi, 4);
    const dataBytes = BATCH * (NAME_BYTES + PAYLOAD_BYTES + CONTROL_BYTES + REPLY_BYTES) + 2 * iovBytes + txCmsgBytes;
    const dataPtr = k.alloc('uint8_t', dataBytes);
    this.rxPtr = k.alloc('uint8_t', BATCH * m.mmsghdr.size);
    this.txPtr = k.alloc('uint8_t', BATCH * m.mmsghdr.size);
    this.allocations = [dataPtr, this.rxPtr, this.txPtr];
    const data = Buffer.from(k.view(dataPtr, dataBytes) as ArrayBuffer);
    data.fill(0);
    this.rx = Buffer.from(k.view(this.rxPtr, BATCH * m.mmsghdr.size) as ArrayBuffer);
    this.tx = Buffer.from(k.view(this.txPtr, BATCH * m.mmsghdr.size) as ArrayBuffer);
    this.rx.fill(0);
    this.tx.fill(0);
    const base = BigInt(k.address(dataPtr) as bigint);
    const namesAt = 0;
    const payloadAt = namesAt + BATCH * NAME_BYTES;
    const controlAt = payloadAt + BATCH * PAYLOAD_BYTES;
    const replyAt = controlAt + BATCH * CONTROL_BYTES;
    const rxIovAt = replyAt + BATCH * REPLY_BYTES;
    const txIovAt = rxIovAt + iovBytes;
    const txCmsgAt = txIovAt + iovBytes;
    const txIov = data.subarray(txIovAt, txIovAt + iovBytes);
    this.control = data.subarray(controlAt, controlAt + BATCH * CONTROL_BYTES);
    this.txTemplates = Buffer.alloc(BATCH * m.msghdr.size);
    const words = (b: Buffer): Int32Array => {
      if (b.byteOffset % 4 !== 0 || b.length % 4 !== 0) throw new Error('batch socket: message arrays are not word-aligned');
      return new Int32Array(b.buffer, b.byteOffset, b.length / 4);
    };
    for (const off of [m.mmsghdr.size, m.msghdr.size, m.msghdr.namelen, m.msghdr.controllen, m.msghdr.flags, m.mmsghdr.len, m.iovec.size, m.iovec.len]) {
      if (off % 4 !== 0) throw new Error(`batch socket: message field at ${off} is not word-aligned`);
    }
    this.rx32 = words(this.rx);
    this.tx32 = words(this.tx);
    this.tpl32 = words(this.txTemplates);
    this.txIov32 = words(txIov);
    this.mmsgW = m.mmsghdr.size / 4;
    this.msghdrW = m.msghdr.size / 4;
    this.namelenW = m.msghdr.namelen / 4;
    this.controllenW = m.msghdr.controllen / 4;
    this.flagsW = m.msghdr.flags / 4;
    this.lenW = m.mmsghdr.len / 4;
    this.iovecW = m.iovec.size / 4;
    this.iovLenW = m.iovec.len / 4;
    // The one control message a stamped reply carries: SOL_SOCKET / SO_TIMESTAMPING, u32 TX_SOFTWARE (Linux ≥ 4.7 honours it per send).
    this.putWord(data, txCmsgAt + m.cmsghdr.len, cmsgLen(abi, 4));
    data.writeInt32LE(abi.SOL_SOCKET, txCmsgAt + m.cmsghdr.level);
    data.writeInt32LE(abi.SO_TIMESTAMPING, txCmsgAt + m.cmsghdr.type);
    data.writeUInt32LE(SOF_TIMESTAMPING_TX_SOFTWARE, txCmsgAt + m.cmsghdr.data);
    this.txStampControl = Buffer.alloc(2 * abi.longBytes);
    this.putWord(this.txStampControl, 0, base + BigInt(txCmsgAt));
    this.putWord(this.txStampControl, abi.longBytes, txCmsgBytes);
    this.txStampControl32 = words(this.txStampControl);
    this.controlW = m.msghdr.control / 4;
    this.control32 = words(this.control);
    this.replyWords = words(data.subarray(replyAt, replyAt + BATCH * REPLY_BYTES));
    const sw = abi.scmTimestamping.software;
    if (CONTROL_BYTES % 4 !== 0 || m.cmsghdr.data % 4 !== 0 || sw.secOffset % 4 !== 0 || sw.nsecOffset % 4 !== 0) {
      throw new Error('batch socket: the receive stamp is not word-aligned');
    }
    this.cmsgLevelW = m.cmsghdr.level / 4;
    this.cmsgTypeW = m.cmsghdr.type / 4;
    this.stampSecW = (m.cmsghdr.data + sw.secOffset) / 4;
    this.stampSec64 = sw.secBytes === 8;
    this.stampNsecW = (m.cmsghdr.data + sw.nsecOffset) / 4;
    this.stampNsec64 = sw.nsecBytes === 8;
    this.stampControlBytes = m.cmsghdr.data + abi.scmTimestamping.size;
    const slots: Slot[] = [];
    for (let i = 0; i < BATCH; i++) {
      const nameOff = namesAt + i * NAME_BYTES;
      const payOff = payloadAt + i * PAYLOAD_BYTES;
      const ctlOff = controlAt + i * CONTROL_BYTES;
      const repOff = replyAt + i * REPLY_BYTES;
      // Receive: iovec → payload; msghdr → name, iovec, control.
      this.putWord(data, rxIovAt + i * m.iovec.size + m.iovec.base, base + BigInt(payOff));
      this.putWord(data, rxIovAt + i * m.iovec.size + m.iovec.len, PAYLOAD_BYTES);
      const h = i * m.mmsghdr.size;
      this.putWord(this.rx, h + m.msghdr.name, base + BigInt(nameOff));
      this.putWord(this.rx, h + m.msghdr.iov, base + BigInt(rxIovAt + i * m.iovec.size));
      this.putWord(this.rx, h + m.msghdr.iovlen, 1);
      this.putWord(this.rx, h + m.msghdr.control, base + BigInt(ctlOff));
      // Send template: name → the same sockaddr the request came from, iovec → the reply buffer.
      this.putWord(data, txIovAt + i * m.iovec.size + m.iovec.base, base + BigInt(repOff));
      const t = i * m.msghdr.size;
      this.putWord(this.txTemplates, t + m.msghdr.name, base + BigInt(nameOff));
      this.putWord(this.txTemplates, t + m.msghdr.iov, base + BigInt(txIovAt + i * m.iovec.size));
      this.putWord(this.txTemplates, t + m.msghdr.iovlen, 1);
      slots.push({ name: data.subarray(nameOff, nameOff + NAME_BYTES), payload: data.subarray(payOff, payOff + PAYLOAD_BYTES), reply: data.subarray(repOff, repOff + REPLY_BYTES) });
    }
    this.slots = slots;
  }

  /**
   * The kernel's receive time (raw CLOCK_REALTIME) of datagram i, from its SCM_TIMESTAMPING control
   * message (the software stamp, ts[0]), into `out`. False when there is none (or it is not a valid instant).
   * Per datagram: the stamp is the only control message the socket asks for, so it is read as words
   * where the kernel puts the first one; anything else takes the general walk (findCmsg). The word
   * reads cost a third of the walk's byte reads (bench profile: rxStamp 1.4 % of the server's CPU).
   */
  rxStamp(i: number, out: TimeSpec): boolean {
    // msg_controllen: a size_t on 64-bit ABIs, but never above CONTROL_BYTES, so its low word is all of it.
    const clen = this.rx32[i * this.mmsgW + this.controllenW]! >>> 0;
    const c = this.control32;
    const w = i * (CONTROL_BYTES / 4);
    if (clen >= this.stampControlBytes && c[w + this.cmsgLevelW] === this.abi.SOL_SOCKET && c[w + this.cmsgTypeW] === this.abi.SO_TIMESTAMPING) {
      const sw = w + this.stampSecW;
      const sec = this.stampSec64 ? (c[sw]! >>> 0) + c[sw + 1]! * 4_294_967_296 : c[sw]!;
      const nw = w + this.stampNsecW;
      const nsec = this.stampNsec64 && c[nw + 1] !== 0 ? -1 : c[nw]!;
      // As readKernelTimespec: a seconds field past 2^53 is garbage, and so is a negative one.
      if (!(sec > 0 && sec <= Number.MAX_SAFE_INTEGER) || !(nsec >= 0 && nsec < 1e9)) return false;
      out.sec = sec;
      out.nsec = nsec;
      return true;
    }
    const at = findCmsg(this.abi, this.control, i * CONTROL_BYTES, clen, this.abi.SOL_SOCKET, this.abi.SO_TIMESTAMPING);
    if (at < 0 || at + this.abi.scmTimestamping.size > (i + 1) * CONTROL_BYTES) return false;
    return readKernelTimespec(this.control, this.abi.scmTimestamping.software, out, at);
  }

  private putWord(b: Buffer, at: number, v: bigint | number): void {
    if (this.abi.longBytes === 8) b.writeBigUInt64LE(BigInt(v), at);
    else b.writeUInt32LE(Number(v), at);
  }

  /** Frees the memory: no view of it (slots included) may be used after. */
  protected freeArrays(): void {
    for (const p of this.allocations) this.koffi.free(p);
  }
}
