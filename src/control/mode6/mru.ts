/**
 * `ntpq -c mrulist`: REQ_NONCE and READ_MRU as NTPsec ntpd answers them (ntp_control.c
 * req_nonce, read_mru_list, send_mru_entry).
 *
 * The nonce is ntpd's: 24 hex digits, the receive timestamp (seconds, fraction) and 32 bits of a
 * keyed hash of that timestamp and the client address. READ_MRU is answered only when the nonce
 * hashes right for the address it comes from and is less than 16 s old (NONCE_TIMEOUT), so the
 * list, the one large answer of mode 6, only goes to an address that proved it receives what is
 * sent to it; anything else gets no answer at all, as from ntpd.
 */
import { createHmac } from 'node:crypto';
import type { NtpTimestamp } from '../../ntp/timestamp.js';
import { ControlError, type ResponseWriter } from './packet.js';
import { addrPort, fixed, hex, int, splitItems, ts } from './format.js';
import type { MruEntry } from './view.js';

/** ntpd's NONCE_TIMEOUT, s. */
export const NONCE_TIMEOUT_S = 16;
/** ntpd's MRU_ROW_LIMIT and MRU_FRAGS_LIMIT (what is accepted in a request). */
export const MRU_ROW_LIMIT = 256;
export const MRU_FRAGS_LIMIT = 128;
/** Gnomon's cap on frags=: a page is at most this many datagrams (+1 for the closing now=). */
export const MRU_MAX_FRAGS = 15;

export class NonceKeeper {
  constructor(private readonly secret: Uint8Array) {}

  private derive(address: string, seconds: number, fraction: number): number {
    const h = createHmac('sha256', this.secret);
    h.update(`${address.toLowerCase()}|${seconds >>> 0}|${fraction >>> 0}`);
    return h.digest().readUInt32BE(0);
  }

  /** ntpd's generate_nonce: "%08x%08x%08x" of the receive time and the derived value. */
  make(address: string, rx: NtpTimestamp): string {
    const h8 = (x: number): string => (x >>> 0).toString(16).padStart(8, '0');
    return h8(rx.seconds) + h8(rx.fraction) + h8(this.derive(address, rx.seconds, rx.fraction));
  }

  /** ntpd's validate_nonce: right hash for this address, and now − stamp in [0, 16 s). */
  check(nonce: string, address: string, now: NtpTimestamp): boolean {
    const m = /^([0-9a-fA-F]{8})([0-9a-fA-F]{8})([0-9a-fA-F]{8})/.exec(nonce);
    if (!m) return false;
    const s = parseInt(m[1]!, 16);
    const f = parseInt(m[2]!, 16);
    if (this.derive(address, s, f) !== parseInt(m[3]!, 16)) return false;
    const two64 = 1n << 64n;
    const d = (((BigInt(now.seconds >>> 0) << 32n) | BigInt(now.fraction >>> 0)) - ((BigInt(s) << 32n) | BigInt(f)) + two64) % two64;
    return d >> 32n < BigInt(NONCE_TIMEOUT_S);
  }
}

interface MruParams {
  nonce?: string;
  frags: number;
  limit: number;
  mincount: number;
  mindrop: number;
  minscore: number;
  resall: number;
  resany: number;
  maxlstint: number;
  minlstint: number;
  recent: number;
  last: (NtpTimestamp | undefined)[];
  addr: (string | undefined)[];
  priors: number;
}

/** sscanf("%u")-like: leading white space, optional sign, digits; undefined if none. */
function scanInt(s: string): number | undefined {
  const m = /^\s*([+-]?\d+)/.exec(s);
  return m ? Number(m[1]) : undefined;
}

/** ntpd's decodenetnum for "a.b.c.d[:port]" and "[v6]:port" / bare v6; → "addr:port" key, port 123 by default. */
export function parseAddrPort(s: string): string | undefined {
  let host: string;
  let port = 123;
  const b = /^\[([^\]]+)\](?::(\d+))?$/.exec(s);
  if (b) {
    host = b[1]!;
    if (b[2] !== undefined) port = Number(b[2]);
  } else if (/^[0-9.]+(:\d+)?$/.test(s)) {
    const [h, p] = s.split(':');
    host = h!;
    if (p !== undefined) port = Number(p);
  } else if (/^[0-9a-fA-F:.]+$/.test(s) && s.includes(':')) {
    host = s;
  } else {
    return undefined;
  }
  if (port > 65535) return undefined;
  return addrPort(host.toLowerCase(), port);
}

const keyOf = (e: MruEntry): string => addrPort(e.address.toLowerCase(), e.port);

/** Parses READ_MRU's parameters; undefined = ntpd's "blooper" (bad value: no answer). */
function parseParams(data: Uint8Array): MruParams | undefined {
  const p: MruParams = {
    frags: 0, limit: 0, mincount: 0, mindrop: 0, minscore: 0, resall: 0, resany: 0, maxlstint: 0, minlstint: 0,
    recent: 0, last: new Array(16).fill(undefined), addr: new Array(16).fill(undefined), priors: 0,
  };
  for (const { name, value } of splitItems(data).items) {
    const v = value ?? '';
    const n = scanInt(v);
    const idx = /^(last|addr)\.(\d+)$/.exec(name);
    switch (name) {
      case 'nonce': p.nonce = v === '' ? undefined : v; break;
      case 'frags': if (n === undefined) return undefined; p.frags = n & 0xffff; break;
      case 'limit': if (n === undefined) return undefined; p.limit = n >>> 0; break;
      case 'mincount': if (n === undefined) return undefined; p.mincount = Math.max(0, n); break;
      case 'mindrop': if (n === undefined) return undefined; p.mindrop = n >>> 0; break;
      case 'minscore': {
        const f = parseFloat(v);
        if (Number.isNaN(f)) return undefined;
        p.minscore = Math.max(0, f);
        break;
      }
      case 'resall':
      case 'resany': {
        const m = /^0x([0-9a-fA-F]+)/.exec(v);
        if (!m) return undefined;
        p[name] = parseInt(m[1]!.slice(-4), 16);
        break;
      }
      case 'maxlstint': if (n === undefined) return undefined; p.maxlstint = n >>> 0; break;
      case 'minlstint': if (n === undefined) return undefined; p.minlstint = n >>> 0; break;
      case 'recent': if (n === undefined) return undefined; p.recent = n >>> 0; break;
      case 'laddr': if (parseAddrPort(v) === undefined) return undefined; break; // accepted, not applied (one local address set)
      default: {
        if (!idx || Number(idx[2]) >= 16 || idx[2]!.length > 2) return p; // unknown name: ntpd stops reading here
        const i = Number(idx[2]);
        if (idx[1] === 'last') {
          const m = /^0x([0-9a-fA-F]{1,8})\.([0-9a-fA-F]{1,8})/.exec(v);
          if (!m) return undefined;
          p.last[i] = { seconds: parseInt(m[1]!, 16), fraction: parseInt(m[2]!, 16) };
          if (p.addr[i] !== undefined && i === p.priors) p.priors++;
        } else {
          const a = parseAddrPort(v);
          if (a === undefined) return undefined;
          p.addr[i] = a;
          const l = p.last[i];
          if (l !== undefined && l.seconds !== 0 && l.fraction !== 0 && i === p.priors) p.priors++;
        }
      }
    }
  }
  return p;
}

function putEntry(w: ResponseWriter, e: MruEntry, i: number): void {
  w.putItem(`addr.${i}=${addrPort(e.address, e.port)}`);
  w.putItem(`last.${i}=${ts(e.last)}`);
  w.putItem(`first.${i}=${ts(e.first)}`);
  w.putItem(`ct.${i}=${int(e.count)}`);
  w.putItem(`mv.${i}=${int(((e.version & 7) << 3) | (e.mode & 7))}`);
  w.putItem(`rs.${i}=${hex(e.restrictBits & 0xffff)}`);
  w.putItem(`sc.${i}=${fixed(e.score, 3)}`);
  w.putItem(`dr.${i}=${int(e.drop)}`);
}

/** REQ_NONCE. */
export function answerNonce(w: ResponseWriter, nonces: NonceKeeper, address: string, rx: NtpTimestamp): void {
  w.putItem(`nonce=${nonces.make(address, rx)}`);
  w.flush(false);
}

/**
 * READ_MRU. Returns false when ntpd would not answer (no nonce, a bad nonce, a bad parameter).
 * `entries` are most recent first (ControlView.mru()); they are sent oldest first, like ntpd.
 */
export function answerMru(w: ResponseWriter, data: Uint8Array, nonces: NonceKeeper, address: string, rx: NtpTimestamp,
  entries: () => readonly MruEntry[]): boolean {
  const p = parseParams(data);
  if (p === undefined || p.nonce === undefined) return false;
  if (!nonces.check(p.nonce, address, rx)) return false;
  if ((p.frags === 0 && !(p.limit > 0 && p.limit <= MRU_ROW_LIMIT)) || p.frags > MRU_FRAGS_LIMIT) {
    w.error(ControlError.BadValue);
    return true;
  }
  let { frags, limit } = p;
  if (frags !== 0 && limit === 0) limit = Number.MAX_SAFE_INTEGER;
  else if (limit !== 0 && frags === 0) frags = MRU_FRAGS_LIMIT;
  frags = Math.min(frags, MRU_MAX_FRAGS);
  const list = [...entries()].reverse(); // oldest first
  const byKey = new Map(list.map((e, i) => [keyOf(e), i] as const));

  if (limit === 1) {
    for (let i = 0; i < 16; i++) {
      const k = p.addr[i];
      const at = k === undefined ? undefined : byKey.get(k);
      if (at !== undefined) putEntry(w, list[at]!, i);
    }
    w.putItem(`nonce=${nonces.make(address, rx)}`);
    w.putItem(`now=${ts(rx)}`);
    w.flush(false);
    return true;
  }

  let next = 0;
  if (p.priors > 0) {
    let found = -1;
    for (let i = 0; i < p.priors && found < 0; i++) {
      const at = byKey.get(p.addr[i]!);
      const e = at === undefined ? undefined : list[at]!;
      if (e && e.last.seconds === p.last[i]!.seconds && e.last.fraction === p.last[i]!.fraction) found = at!;
    }
    if (found < 0) {
      w.error(ControlError.UnknownVar); // ntpq backs up to older entries and asks again
      return true;
    }
    w.putItem(`last.older=${ts(list[found]!.last)}`);
    w.putItem(`addr.older=${addrPort(list[found]!.address, list[found]!.port)}`);
    next = found + 1;
  }
  w.putItem(`nonce=${nonces.make(address, rx)}`);
  let countdown = list.length;
  let count = 0;
  let prior: MruEntry | undefined;
  for (; next < list.length && w.currentDatagram + 1 < frags && count < limit; next++) {
    const e = list[next]!;
    if (e.count < p.mincount || e.drop < p.mindrop || e.score < p.minscore) continue;
    if (p.resall !== 0 && (p.resall & e.restrictBits) !== p.resall) continue;
    if (p.resany !== 0 && (p.resany & e.restrictBits) === 0) continue;
    const age = (rx.seconds - e.last.seconds) >>> 0;
    if (p.maxlstint > 0 && age > p.maxlstint) continue;
    if (p.minlstint > 0 && age < p.minlstint) continue;
    if (p.recent !== 0 && countdown-- > p.recent) continue;
    putEntry(w, e, count);
    count++;
    prior = e;
  }
  if (next >= list.length) {
    w.putItem(`now=${ts(rx)}`);
    if (prior) w.putItem(`last.newest=${ts(prior.last)}`);
  }
  w.flush(false);
  return true;
}
