/**
 * Mode 6 (ntpq's control protocol), the CLIENT side: request encoding, response decoding and the
 * reassembly of fragmented responses, with the checks NTPsec's ntpq applies (pylib/packet.py,
 * ControlSession.getresponse and __validate_packet, 1.2.2).
 *
 * Header (RFC 1305 appendix B, ntp_control.h):
 *   0: LI(2) VN(3) mode(3)=6   1: R(1) E(1) M(1) opcode(5)   2-3: sequence   4-5: status
 *   6-7: association id        8-9: offset                  10-11: count     12-: data
 *
 * The header layout, flag bits and codes are the server side's (src/control/mode6/packet.ts):
 * one definition for both.
 *
 * Pure: no IO, no clock.
 */
import { CTL_HEADER_LEN, CTL_MAX_DATA_LEN, CTL_RESPONSE, CTL_ERROR, CTL_MORE, CTL_OP_MASK, ControlError, Opcode } from '../mode6/packet.js';

export { CTL_HEADER_LEN, CTL_MAX_DATA_LEN, CTL_RESPONSE, CTL_ERROR, CTL_MORE, CTL_OP_MASK };
export const MODE_CONTROL = 6;
/** ntpq sends version 2 requests (NTP_OLDVERSION + 1) and accepts responses of versions 1-4. */
export const CLIENT_VERSION = 2;
/** ntpq's MAXFRAGS: a response of more fragments than this is not collected. */
export const MAX_FRAGMENTS = 32;

/** The requests this client sends. */
export const ClientOpcode = { ReadStat: Opcode.ReadStat, ReadVar: Opcode.ReadVar, ReadClock: Opcode.ReadClock } as const;

/** ntpq's names for the opcodes, for messages. */
export const OPCODE_NAMES: Readonly<Record<number, string>> = {
  [Opcode.ReadStat]: 'READSTAT', [Opcode.ReadVar]: 'READVAR', [Opcode.WriteVar]: 'WRITEVAR', [Opcode.ReadClock]: 'READCLOCK',
  [Opcode.WriteClock]: 'WRITECLOCK', [Opcode.Configure]: 'CONFIGURE', [Opcode.ReadMru]: 'READ_MRU',
  [Opcode.ReadOrdlistA]: 'READ_ORDLIST_A', [Opcode.ReqNonce]: 'REQ_NONCE',
};

/** "CERR_BADASSOC" for ControlError.BadAssoc. */
export const CERR_NAMES: Readonly<Record<number, string>> = Object.fromEntries(
  Object.entries(ControlError).map(([name, code]) => [code, `CERR_${name.toUpperCase()}`]),
);

export function cerrName(code: number): string {
  return CERR_NAMES[code] ?? `CERR_${code}`;
}

export interface RequestFields {
  readonly opcode: number;
  readonly sequence: number;
  readonly associd: number;
  /** Request payload (a variable list such as "srcadr,stratum"); empty asks for everything. */
  readonly data?: string | Uint8Array;
  readonly version?: number;
}

/**
 * A request as ntpq builds it: LI 3 (not in sync, as ntpq sends), status and offset 0, the data
 * zero-padded to a multiple of 4 (the padding not counted).
 */
export function encodeRequest(r: RequestFields): Buffer {
  const data = typeof r.data === 'string' ? Buffer.from(r.data, 'latin1') : Buffer.from(r.data ?? new Uint8Array(0));
  if (data.length > CTL_MAX_DATA_LEN) throw new RangeError(`mode 6 request data of ${data.length} bytes exceeds ${CTL_MAX_DATA_LEN}`);
  const length = (CTL_HEADER_LEN + data.length + 3) & ~3;
  const buf = Buffer.alloc(length);
  buf[0] = (3 << 6) | ((r.version ?? CLIENT_VERSION) << 3) | MODE_CONTROL;
  buf[1] = r.opcode & CTL_OP_MASK;
  buf.writeUInt16BE(r.sequence & 0xffff, 2);
  buf.writeUInt16BE(0, 4);
  buf.writeUInt16BE(r.associd & 0xffff, 6);
  buf.writeUInt16BE(0, 8);
  buf.writeUInt16BE(data.length, 10);
  data.copy(buf, CTL_HEADER_LEN);
  return buf;
}

export interface ResponseFragment {
  readonly leap: number;
  readonly version: number;
  readonly mode: number;
  readonly response: boolean;
  readonly error: boolean;
  readonly more: boolean;
  readonly opcode: number;
  readonly sequence: number;
  /** The status word (for an error response, the CERR code is its high byte). */
  readonly status: number;
  readonly associd: number;
  readonly offset: number;
  readonly count: number;
  /** The `count` data bytes (MAC and padding cut off). */
  readonly data: Buffer;
}

/** Decodes a datagram's header and data; undefined when shorter than a header. Checks nothing else. */
export function decodeFragment(buf: Uint8Array): ResponseFragment | undefined {
  if (buf.length < CTL_HEADER_LEN) return undefined;
  const b = Buffer.from(buf.buffer, buf.byteOffset, buf.length);
  const count = b.readUInt16BE(10);
  return {
    leap: b[0]! >> 6,
    version: (b[0]! >> 3) & 7,
    mode: b[0]! & 7,
    response: (b[1]! & CTL_RESPONSE) !== 0,
    error: (b[1]! & CTL_ERROR) !== 0,
    more: (b[1]! & CTL_MORE) !== 0,
    opcode: b[1]! & CTL_OP_MASK,
    sequence: b.readUInt16BE(2),
    status: b.readUInt16BE(4),
    associd: b.readUInt16BE(6),
    offset: b.readUInt16BE(8),
    count,
    data: b.subarray(CTL_HEADER_LEN, Math.min(b.length, CTL_HEADER_LEN + count)),
  };
}

/** A response the server sent with the E bit: the request was refused. */
export class ControlServerError extends Error {
  constructor(readonly code: number, readonly opcode: number, readonly associd: number) {
    super(`server answered ${cerrName(code)} to ${OPCODE_NAMES[opcode] ?? `opcode ${opcode}`}` +
      (associd !== 0 ? ` of association ${associd}` : ''));
    this.name = 'ControlServerError';
  }
}

/** What a datagram did to the collection (for debugging output and tests). */
export type FragmentVerdict =
  | 'accepted'
  | 'not-control' // too short, wrong mode, version outside 1-4, or a request
  | 'other-request' // sequence or opcode of another request (a late answer to an earlier one)
  | 'unpadded' // datagram length not a multiple of 4
  | 'short' // fewer data bytes than the count claims
  | 'empty-more' // count 0 in a non-final fragment
  | 'second-last' // a second fragment without the More bit
  | 'duplicate'
  | 'overlap';

/**
 * Collects the fragments of one response, as ntpq does: by offset, accepting them in any order,
 * ignoring duplicates and overlaps, complete once the fragment without the More bit has been seen and
 * the fragments from offset 0 are contiguous. An error response throws ControlServerError.
 */
export class ResponseAssembler {
  private readonly fragments: ResponseFragment[] = [];
  private lastSeen = false;
  private lastStatus = 0;
  private received = 0;
  /** Association ids that did not match the request (ntpq only warns about these). */
  readonly associdMismatches: number[] = [];

  constructor(readonly opcode: number, readonly sequence: number, readonly associd: number) {}

  /** Datagrams looked at so far (ntpq gives up after 2 * MAXFRAGS). */
  get datagrams(): number {
    return this.received;
  }

  get fragmentCount(): number {
    return this.fragments.length;
  }

  add(datagram: Uint8Array): FragmentVerdict {
    this.received++;
    const f = decodeFragment(datagram);
    if (!f || f.mode !== MODE_CONTROL || f.version < 1 || f.version > 4 || !f.response) return 'not-control';
    if (f.sequence !== this.sequence || f.opcode !== this.opcode) return 'other-request';
    if (f.error) throw new ControlServerError(f.status >> 8, f.opcode, this.associd);
    if (f.associd !== this.associd) this.associdMismatches.push(f.associd);
    if ((datagram.length & 3) !== 0) return 'unpadded';
    if (datagram.length < ((CTL_HEADER_LEN + f.count + 3) & ~3)) return 'short';
    if (f.count === 0 && f.more) return 'empty-more';
    if (this.lastSeen && !f.more) return 'second-last';
    const end = (x: ResponseFragment): number => x.offset + x.count;
    const notEarlier = this.fragments.find((x) => x.offset >= f.offset);
    if (notEarlier && notEarlier.offset === f.offset) return 'duplicate';
    const before = [...this.fragments].reverse().find((x) => x.offset < f.offset);
    if (before && end(before) > f.offset) return 'overlap';
    if (notEarlier && end(f) > notEarlier.offset) return 'overlap';
    this.fragments.push({ ...f, data: Buffer.from(f.data) });
    this.fragments.sort((a, b) => a.offset - b.offset);
    if (!f.more) {
      this.lastSeen = true;
      this.lastStatus = f.status;
    }
    return 'accepted';
  }

  /** All fragments are in: the last one arrived and there is no hole from offset 0. */
  get complete(): boolean {
    if (!this.lastSeen || this.fragments[0]?.offset !== 0) return false;
    for (let i = 1; i < this.fragments.length; i++) {
      const prev = this.fragments[i - 1]!;
      if (prev.offset + prev.count !== this.fragments[i]!.offset) return false;
    }
    return true;
  }

  /** The status word of the final fragment (ntpq's rstatus: a peer's status word for READVAR of it). */
  get status(): number {
    return this.lastStatus;
  }

  /** The reassembled data; only meaningful once complete. */
  data(): Buffer {
    return Buffer.concat(this.fragments.map((f) => f.data));
  }
}

export interface AssociationStatus {
  readonly associd: number;
  /** The peer status word (selection in bits 8-10, see PEER_SELECTION). */
  readonly status: number;
}

/** READSTAT's data: (association id, status) pairs, sorted by association id as ntpq sorts them. */
export function parseAssociations(data: Uint8Array): AssociationStatus[] {
  if (data.length % 4 !== 0) throw new Error(`READSTAT response of ${data.length} bytes is not a list of 4-byte entries`);
  const b = Buffer.from(data.buffer, data.byteOffset, data.length);
  const out: AssociationStatus[] = [];
  for (let i = 0; i < b.length; i += 4) out.push({ associd: b.readUInt16BE(i), status: b.readUInt16BE(i + 2) });
  return out.sort((a, b2) => a.associd - b2.associd);
}

/** The selection state (CTL_PEER_STATVAL & 7) names, as ntpq's `as` shows them. */
export const PEER_SELECTION = ['reject', 'falsetick', 'excess', 'outlier', 'candidate', 'backup', 'sys.peer', 'pps.peer'] as const;
/** The tally code ntpq -p prints for each selection state. */
export const TALLY_CODES = ' x.-+#*o';

export function peerSelection(status: number): number {
  return (status >> 8) & 7;
}
