/**
 * The mode 6 responder: one request in, up to MODE6_MAX_DATAGRAMS datagrams out, as NTPsec ntpd
 * 1.2.2 answers ntpq and ntpstat (ntp_control.c). Read-only: every opcode that would change
 * state is refused with CERR_PERMISSION; configuration goes through the config layer.
 *
 * Amplification bound (docs/mode6.md): an answer to a request whose source address is unproven
 * is at most MODE6_MAX_PLAIN_DATAGRAMS (4) datagrams of at most 480 bytes; only READ_MRU, which
 * needs a nonce proving the address, may send up to MODE6_MAX_DATAGRAMS (16).
 *
 * Pure: the view, the receive time and the nonce secret are passed in. One response buffer is
 * allocated per responder; a request allocates only its small working strings.
 */
import type { NtpTimestamp } from '../../ntp/timestamp.js';
import { CTL_MAX_DATAGRAM, ControlError, Opcode, RequestProblem, ResponseWriter, decodeRequest, type ControlRequest } from './packet.js';
import { splitItems } from './format.js';
import { CLOCK_VARS, PEER_VARS, READSTAT_PEER_CODES, SYS_VARS, findVar, type SysContext, type VarDef } from './vars.js';
import { MRU_MAX_FRAGS, NonceKeeper, answerMru, answerNonce } from './mru.js';
import type { Association, ControlView } from './view.js';

/** Most datagrams any answer has (a READ_MRU page: MRU_MAX_FRAGS + the closing one). */
export const MODE6_MAX_DATAGRAMS = MRU_MAX_FRAGS + 1;
/** Most datagrams for every other request (its source address unproven). */
export const MODE6_MAX_PLAIN_DATAGRAMS = 4;
/** Datagram i of an answer is at `buffer[i * MODE6_DATAGRAM_STRIDE, ... + lengths[i])`. */
export const MODE6_DATAGRAM_STRIDE = CTL_MAX_DATAGRAM;
/** Upper bound on the bytes of one answer. */
export const MODE6_MAX_RESPONSE_BYTES = MODE6_MAX_DATAGRAMS * CTL_MAX_DATAGRAM;
export const MODE6_MAX_PLAIN_RESPONSE_BYTES = MODE6_MAX_PLAIN_DATAGRAMS * CTL_MAX_DATAGRAM;

/** Opcodes refused with CERR_PERMISSION: writes, configuration, traps, ordered lists (ntpd: need a key). */
const REFUSED = new Set<number>([Opcode.WriteVar, Opcode.WriteClock, Opcode.SetTrap, Opcode.Configure, Opcode.SaveConfig, Opcode.ReadOrdlistA, Opcode.UnsetTrap]);

/** Who asked, for the nonce and for `nomrulist`. */
export interface Mode6Client {
  /** Source address as dgram reports it. */
  readonly address: string;
  /** Receive time on the served timescale (u32 seconds, u32 fraction): the nonce's stamp and mrulist's `now`. */
  readonly rxSeconds: number;
  readonly rxFraction: number;
}

export interface Mode6ResponderOptions {
  /** Key for the mrulist nonce (at least 16 random bytes, made at start-up). */
  readonly nonceSecret: Uint8Array;
}

export class Mode6Responder {
  private readonly w = new ResponseWriter(MODE6_MAX_DATAGRAMS);
  private readonly nonces: NonceKeeper;

  constructor(options: Mode6ResponderOptions) {
    if (options.nonceSecret.length < 16) throw new Error('mode 6: the nonce secret needs at least 16 bytes');
    this.nonces = new NonceKeeper(options.nonceSecret);
  }

  /** The datagrams of the last answer: datagram i is buffer[i * 480, i * 480 + lengths[i]). */
  get buffer(): Buffer {
    return this.w.buffer;
  }

  get lengths(): Uint16Array {
    return this.w.lengths;
  }

  /** Datagram i of the last answer (a view into the responder's buffer; copy it before the next request). */
  datagram(i: number): Buffer {
    const at = i * MODE6_DATAGRAM_STRIDE;
    return this.w.buffer.subarray(at, at + this.w.lengths[i]!);
  }

  /**
   * Answers one mode 6 request. Returns the number of datagrams to send (0: no answer), which
   * `datagram(i)` / `buffer` + `lengths` then hold. Never throws: a failing view is answered
   * with CERR_UNSPEC.
   * @param restrictNoMrulist the source's restrict rule has `nomrulist`.
   */
  respond(req: Uint8Array, length: number, client: Mode6Client, view: ControlView, restrictNoMrulist = false): number {
    const r = decodeRequest(req, length);
    if (r === RequestProblem.Ignore) return 0;
    const w = this.w;
    if (r === RequestProblem.BadFormat) {
      w.begin({ leap: 0, version: (req[0]! >> 3) & 7, opcode: req[1]! & 0x1f, sequence: (req[2]! << 8) | req[3]!, associd: (req[6]! << 8) | req[7]! }, 1);
      w.error(ControlError.BadFormat);
      return 1;
    }
    try {
      return this.dispatch(r, client, view, restrictNoMrulist);
    } catch {
      w.begin({ leap: 3, version: r.version, opcode: r.opcode, sequence: r.sequence, associd: r.associd }, 1);
      w.error(ControlError.Unspec);
      return 1;
    }
  }

  private dispatch(r: ControlRequest, client: Mode6Client, view: ControlView, noMrulist: boolean): number {
    const w = this.w;
    const sys = view.system();
    w.begin({ leap: sys.leap, version: r.version, opcode: r.opcode, sequence: r.sequence, associd: r.associd }, MODE6_MAX_PLAIN_DATAGRAMS);
    const rx: NtpTimestamp = { seconds: client.rxSeconds >>> 0, fraction: client.rxFraction >>> 0 };
    switch (r.opcode) {
      case Opcode.Unspec: {
        const a = r.associd === 0 ? undefined : find(view, r.associd);
        if (r.associd !== 0 && !a) return this.fail(ControlError.BadAssoc);
        w.status = a ? a.statusWord : sys.statusWord;
        w.flush(false);
        break;
      }
      case Opcode.ReadStat:
        if (r.associd !== 0) {
          const a = find(view, r.associd);
          if (!a) return this.fail(ControlError.BadAssoc);
          w.status = a.statusWord;
          for (const code of READSTAT_PEER_CODES) put(w, PEER_VARS[code]!.put({ a }, false));
        } else {
          w.status = sys.statusWord;
          for (const a of view.associations()) w.putPair(a.associd, a.statusWord);
        }
        w.flush(false);
        break;
      case Opcode.ReadVar:
        if (r.associd !== 0) {
          const a = find(view, r.associd);
          if (!a) return this.fail(ControlError.BadAssoc);
          w.status = a.statusWord;
          if (!this.putVars(PEER_VARS, { a }, r.data)) return this.fail(ControlError.UnknownVar);
        } else {
          w.status = sys.statusWord;
          const ctx: SysContext = { sys, view };
          if (!this.putVars(SYS_VARS, ctx, r.data)) return this.fail(ControlError.UnknownVar);
        }
        w.flush(false);
        break;
      case Opcode.ReadClock: {
        const peers = view.associations();
        let a: Association | undefined;
        if (r.associd !== 0) a = peers.find((p) => p.associd === r.associd);
        else a = peers.find((p) => p.associd === sys.peer && p.clock) ?? peers.find((p) => p.clock);
        if (!a || !a.clock) return this.fail(ControlError.BadAssoc);
        w.status = a.clock.statusWord;
        if (!this.putVars(CLOCK_VARS, a.clock, r.data)) return this.fail(ControlError.UnknownVar);
        w.flush(false);
        break;
      }
      case Opcode.ReqNonce:
        answerNonce(w, this.nonces, client.address, rx);
        break;
      case Opcode.ReadMru: {
        if (noMrulist) return this.fail(ControlError.Permission);
        w.begin({ leap: sys.leap, version: r.version, opcode: r.opcode, sequence: r.sequence, associd: r.associd }, MODE6_MAX_DATAGRAMS);
        if (!answerMru(w, r.data, this.nonces, client.address, rx, () => view.mru())) return 0;
        break;
      }
      default:
        return this.fail(REFUSED.has(r.opcode) ? ControlError.Permission : ControlError.BadOp);
    }
    // A response that would not fit its bound is refused (ntpd's CERR_NORESOURCE is CERR_PERMISSION).
    if (w.overflowed) return this.fail(ControlError.Permission);
    return w.datagrams;
  }

  private fail(code: number): number {
    this.w.error(code);
    return 1;
  }

  /**
   * read_sysvars / read_peervars / read_clockstatus: the named variables in table order, or the
   * defaults when none are named. False for an unknown name (CERR_UNKNOWNVAR).
   */
  private putVars<C>(table: readonly VarDef<C>[], ctx: C, data: Uint8Array): boolean {
    const { items } = splitItems(data);
    const w = this.w;
    if (items.length === 0) {
      for (const v of table) if (v.def) put(w, v.put(ctx, false));
      return true;
    }
    const wants = new Uint8Array(table.length);
    for (const it of items) {
      const i = findVar(table, it.name);
      if (i < 0) return false;
      wants[i] = 1;
    }
    for (let i = 0; i < table.length; i++) if (wants[i]) put(w, table[i]!.put(ctx, true));
    return true;
  }
}

function put(w: ResponseWriter, item: string | undefined): void {
  if (item !== undefined) w.putItem(item);
}

function find(view: ControlView, associd: number): Association | undefined {
  return view.associations().find((a) => a.associd === associd);
}
