/**
 * Mode 6 (ntpq's control protocol) framing: the 12-byte header, request decoding, and the
 * response writer, which reproduces NTPsec ntpd's ctl_putdata/ctl_flushpkt byte for byte
 * (ntp_control.c, 1.2.2): `name=value` items joined by ", " or ",\r\n" (a line is broken before
 * it would reach 72 characters), fragments of at most 468 data bytes with the More bit and
 * offsets, a trailing "\r\n" on the last text fragment when it fits, datagrams zero-padded to a
 * multiple of 4.
 *
 * Header (RFC 1305 appendix B, ntp_control.h):
 *   0: LI(2) VN(3) mode(3)=6   1: R(1) E(1) M(1) opcode(5)   2-3: sequence   4-5: status
 *   6-7: association id        8-9: offset                  10-11: count     12-: data
 *
 * Pure: no IO, no clock; the writer works in a buffer allocated once per responder.
 */

export const CTL_HEADER_LEN = 12;
/** Data bytes per fragment (ntpd's CTL_MAX_DATA_LEN). */
export const CTL_MAX_DATA_LEN = 468;
/** Largest datagram: header + 468 data bytes (already a multiple of 4). */
export const CTL_MAX_DATAGRAM = CTL_HEADER_LEN + CTL_MAX_DATA_LEN;
/** ntpd's MAXDATALINELEN: text lines are broken before they reach this many characters. */
export const MAX_DATA_LINE_LEN = 72;

export const CTL_RESPONSE = 0x80;
export const CTL_ERROR = 0x40;
export const CTL_MORE = 0x20;
export const CTL_OP_MASK = 0x1f;

export const Opcode = {
  Unspec: 0,
  ReadStat: 1,
  ReadVar: 2,
  WriteVar: 3,
  ReadClock: 4,
  WriteClock: 5,
  SetTrap: 6,
  AsyncMsg: 7,
  Configure: 8,
  SaveConfig: 9,
  ReadMru: 10,
  ReadOrdlistA: 11,
  ReqNonce: 12,
  UnsetTrap: 31,
} as const;

/** ntpd's CERR_* codes, sent in the high byte of the status word with the E bit. */
export const ControlError = {
  Unspec: 0,
  Permission: 1,
  BadFormat: 2,
  BadOp: 3,
  BadAssoc: 4,
  UnknownVar: 5,
  BadValue: 6,
  Restrict: 7,
} as const;

export interface ControlRequest {
  readonly leap: number;
  readonly version: number;
  readonly opcode: number;
  readonly sequence: number;
  readonly status: number;
  readonly associd: number;
  readonly offset: number;
  readonly count: number;
  /** The `count` data bytes (a view into the request, not a copy). */
  readonly data: Uint8Array;
}

/** Why a request is not decoded. */
export const RequestProblem = {
  /** Dropped without an answer (ntpd: too short, a response or fragment, a non-zero offset, bad version). */
  Ignore: 1,
  /** Answered with CERR_BADFMT (length not a multiple of 4, count beyond the data or above 468). */
  BadFormat: 2,
} as const;
export type RequestProblem = (typeof RequestProblem)[keyof typeof RequestProblem];

/** Decodes a mode 6 request as ntpd's process_control() checks it; trailing padding and MACs are ignored. */
export function decodeRequest(buf: Uint8Array, length: number): ControlRequest | RequestProblem {
  if (length < CTL_HEADER_LEN || length > buf.length) return RequestProblem.Ignore;
  const b0 = buf[0]!;
  const b1 = buf[1]!;
  const version = (b0 >> 3) & 7;
  const offset = (buf[8]! << 8) | buf[9]!;
  if ((b0 & 7) !== 6 || (b1 & (CTL_RESPONSE | CTL_MORE | CTL_ERROR)) !== 0 || offset !== 0) return RequestProblem.Ignore;
  if (version < 1 || version > 4) return RequestProblem.Ignore;
  const count = (buf[10]! << 8) | buf[11]!;
  if ((length & 3) !== 0 || length - CTL_HEADER_LEN < count || count > CTL_MAX_DATA_LEN) return RequestProblem.BadFormat;
  return {
    leap: b0 >> 6,
    version,
    opcode: b1 & CTL_OP_MASK,
    sequence: (buf[2]! << 8) | buf[3]!,
    status: (buf[4]! << 8) | buf[5]!,
    associd: (buf[6]! << 8) | buf[7]!,
    offset,
    count,
    data: buf.subarray(CTL_HEADER_LEN, CTL_HEADER_LEN + count),
  };
}

/** Echo fields of the response header, fixed for one request. */
export interface ResponseHeader {
  leap: number;
  version: number;
  opcode: number;
  sequence: number;
  associd: number;
}

/**
 * Builds one response as ntpd does, into datagram slots of 480 bytes: datagram i is
 * `buffer[i * 480, i * 480 + lengths[i])`. At most `limit` datagrams are written; text that
 * would need more sets `overflowed` and is dropped (the responder then answers with an error).
 */
export class ResponseWriter {
  readonly buffer: Buffer;
  readonly lengths: Uint16Array;
  /** Datagrams completed so far. */
  datagrams = 0;
  overflowed = false;
  /** Status word of the response header. */
  status = 0;
  private limit = 1;
  private readonly hdr: ResponseHeader = { leap: 0, version: 2, opcode: 0, sequence: 0, associd: 0 };
  /** Data bytes in the fragment being filled. */
  private dlen = 0;
  /** Offset of that fragment in the whole response. */
  private resOffset = 0;
  private lineLen = 0;
  private sent = false;
  private text = false;

  constructor(readonly capacity: number) {
    this.buffer = Buffer.alloc(capacity * CTL_MAX_DATAGRAM);
    this.lengths = new Uint16Array(capacity);
  }

  begin(header: ResponseHeader, limit: number): void {
    Object.assign(this.hdr, header);
    this.limit = Math.max(1, Math.min(limit, this.capacity));
    this.datagrams = 0;
    this.overflowed = false;
    this.status = 0;
    this.dlen = 0;
    this.resOffset = 0;
    this.lineLen = 0;
    this.sent = false;
    this.text = false;
  }

  /** The datagram being filled is number `datagrams` (0-based); ntpd's res_frags is this + 1. */
  get currentDatagram(): number {
    return this.datagrams;
  }

  private get base(): number {
    return this.datagrams * CTL_MAX_DATAGRAM + CTL_HEADER_LEN;
  }

  private byte(b: number): void {
    this.buffer[this.base + this.dlen] = b;
    this.dlen++;
  }

  /** ntpd's ctl_putdata(s, false): one `name=value` item (latin1 bytes). */
  putItem(s: string): void {
    if (this.overflowed) return;
    this.text = true;
    let n = s.length;
    if (this.sent) {
      this.byte(0x2c); // ','
      this.lineLen++;
      if (n + this.lineLen + 1 >= MAX_DATA_LINE_LEN) {
        this.byte(0x0d);
        this.byte(0x0a);
        this.lineLen = 0;
      } else {
        this.byte(0x20);
        this.lineLen++;
      }
    }
    let i = 0;
    // Keep room for the next separator (ntpd's overhead of 3).
    while (n + 3 + this.dlen > CTL_MAX_DATA_LEN) {
      const chunk = Math.min(n, CTL_MAX_DATA_LEN - this.dlen);
      for (let k = 0; k < chunk; k++) this.byte(s.charCodeAt(i + k) & 0xff);
      i += chunk;
      n -= chunk;
      this.lineLen += chunk;
      if (!this.flush(true)) return;
    }
    for (let k = 0; k < n; k++) this.byte(s.charCodeAt(i + k) & 0xff);
    this.lineLen += n;
    this.sent = true;
  }

  /** ntpd's ctl_putdata(p, 4, true) for one (associd, status) pair of READSTAT. */
  putPair(a: number, b: number): void {
    if (this.overflowed) return;
    const bytes = [(a >> 8) & 0xff, a & 0xff, (b >> 8) & 0xff, b & 0xff];
    let i = 0;
    let n = 4;
    while (n + this.dlen > CTL_MAX_DATA_LEN) {
      const chunk = Math.min(n, CTL_MAX_DATA_LEN - this.dlen);
      for (let k = 0; k < chunk; k++) this.byte(bytes[i + k]!);
      i += chunk;
      n -= chunk;
      if (!this.flush(true)) return;
    }
    for (let k = 0; k < n; k++) this.byte(bytes[i + k]!);
    this.sent = true;
  }

  /** ntpd's ctl_flushpkt(more). Returns false (and marks the response overflowed) past the limit. */
  flush(more: boolean): boolean {
    if (this.overflowed) return false;
    if (this.datagrams >= this.limit || (more && this.datagrams + 1 >= this.limit)) {
      this.overflowed = true;
      return false;
    }
    if (!more && this.text && this.dlen + 2 < CTL_MAX_DATA_LEN) {
      this.byte(0x0d);
      this.byte(0x0a);
    }
    const start = this.datagrams * CTL_MAX_DATAGRAM;
    this.writeHeader(start, CTL_RESPONSE | (more ? CTL_MORE : 0), this.status, this.resOffset, this.dlen);
    let len = CTL_HEADER_LEN + this.dlen;
    while ((len & 3) !== 0) this.buffer[start + len++] = 0;
    this.lengths[this.datagrams] = len;
    this.datagrams++;
    this.resOffset += this.dlen;
    this.dlen = 0;
    return true;
  }

  /** ntpd's ctl_error(code): replaces whatever was built with one 12-byte error datagram. */
  error(code: number): void {
    this.datagrams = 0;
    this.overflowed = false;
    this.dlen = 0;
    this.writeHeader(0, CTL_RESPONSE | CTL_ERROR, (code << 8) & 0xff00, 0, 0);
    this.lengths[0] = CTL_HEADER_LEN;
    this.datagrams = 1;
  }

  private writeHeader(at: number, flags: number, status: number, offset: number, count: number): void {
    const h = this.hdr;
    const b = this.buffer;
    b[at] = ((h.leap & 3) << 6) | ((h.version & 7) << 3) | 6;
    b[at + 1] = flags | (h.opcode & CTL_OP_MASK);
    b.writeUInt16BE(h.sequence & 0xffff, at + 2);
    b.writeUInt16BE(status & 0xffff, at + 4);
    b.writeUInt16BE(h.associd & 0xffff, at + 6);
    b.writeUInt16BE(offset & 0xffff, at + 8);
    b.writeUInt16BE(count & 0xffff, at + 10);
  }
}
