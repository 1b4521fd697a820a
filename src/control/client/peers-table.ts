/**
 * The `ntpq -p` table, reproduced from NTPsec 1.2.2's pylib/util.py (PeerSummary, f8dot4, f8dot3,
 * prettyinterval, high_truncate) for the "peers" display mode:
 *
 *      remote           refid      st t when poll reach   delay   offset   jitter
 * ===============================================================================
 * *NMEA(0)         .GPS.            0 l   13   16    7   0.0000  -7.1355   0.0835
 *
 * - tally: " x.-+#*o"[selection bits of the status word of the READVAR response];
 * - remote: srchost for refclocks (srcadr 127.127.*) and pool slots (0.0.0.0 / ::), else srcadr, or
 *   the name the caller resolved for it (ntpq resolves unless -n);
 * - refid: as sent, wrapped in dots unless it contains '.' or ':' (so LOCL → .LOCL., 10.1.2.3 stays);
 * - t: from hmode, srcadr and srchost (l refclock, u unicast, p pool, b/B/M broadcast, s/S symmetric,
 *   a manycast, a digit for NTS cookies);
 * - when: now - rec (or reftime, whichever the server listed last), in whole seconds, '-' if not positive;
 *   poll: 2^min(ppoll, hpoll); both through prettyinterval (m/h/d above 2048 s);
 * - reach in octal; delay, offset and jitter in ms with 4 decimals when ntpd sent delay with 6
 *   (x.6 floats, NTPsec), else 3, scaled to fit 8 characters.
 *
 * Number formatting reproduces Python's %-formatting (correctly rounded, ties to even).
 * Pure: the caller passes "now" and the resolved names.
 */
import { TALLY_CODES, PEER_SELECTION, peerSelection } from './protocol.js';
import type { VarList, VarValue } from './varlist.js';

/** NTP_MINPOLL: what ntpq uses for a negative ppoll/hpoll. */
const NTP_MINPOLL = 3;
const NTP_UNIX_OFFSET = 2_208_988_800;

export interface TableLayout {
  /** Terminal width ntpq would use: 80 when stdout is not a terminal. */
  readonly termWidth: number;
}

export const DEFAULT_LAYOUT: TableLayout = { termWidth: 80 };

function horizontalSlack(layout: TableLayout): number {
  return Math.min(layout.termWidth - 80, 24);
}

function nameWidth(layout: TableLayout): number {
  return Math.max(1, 15 + horizontalSlack(layout));
}

const REFID_WIDTH = 15;

export function tableHeader(layout: TableLayout = DEFAULT_LAYOUT): string {
  return '     remote    '.padEnd(nameWidth(layout)) + '       refid      '.padEnd(REFID_WIDTH) +
    'st t when poll reach   delay   offset   ' + 'jitter';
}

export function tableRule(layout: TableLayout = DEFAULT_LAYOUT): string {
  return '='.repeat(Math.max(1, 79 + horizontalSlack(layout)));
}

// ---- Python %-formatting ----

/** Python's '%.<digits>f' % x: the exact binary value rounded to `digits` decimals, ties to even. */
export function pyFixed(x: number, digits: number): string {
  if (Number.isNaN(x)) return 'nan';
  if (!Number.isFinite(x)) return x > 0 ? 'inf' : '-inf';
  const negative = x < 0 || Object.is(x, -0);
  const abs = Math.abs(x);
  let intPart: string;
  let frac: string;
  if (abs >= 1e21) {
    intPart = BigInt(abs).toString();
    frac = '';
  } else {
    const exact = abs.toFixed(100);
    const dot = exact.indexOf('.');
    intPart = exact.slice(0, dot);
    frac = exact.slice(dot + 1);
  }
  let kept = (intPart + frac.slice(0, digits).padEnd(digits, '0')).split('').map(Number);
  const rest = frac.slice(digits);
  const first = rest.length > 0 ? Number(rest[0]) : 0;
  const beyond = /[1-9]/.test(rest.slice(1));
  const lastKept = kept[kept.length - 1] ?? 0;
  const roundUp = first > 5 || (first === 5 && (beyond || lastKept % 2 === 1));
  if (roundUp) {
    let i = kept.length - 1;
    while (i >= 0) {
      if (kept[i] === 9) {
        kept[i] = 0;
        i--;
      } else {
        kept[i] = kept[i]! + 1;
        break;
      }
    }
    if (i < 0) kept = [1, ...kept];
  }
  const all = kept.join('');
  const ip = all.slice(0, all.length - digits).replace(/^0+(?=\d)/, '') || '0';
  const fp = all.slice(all.length - digits);
  return (negative ? '-' : '') + ip + (digits > 0 ? '.' + fp : '');
}

/** Python's '%d' % x for a float: truncated toward zero. */
function pyIntText(x: number): string {
  if (Number.isNaN(x)) return 'nan';
  if (!Number.isFinite(x)) return x > 0 ? 'inf' : '-inf';
  return BigInt(Math.trunc(x)).toString();
}

type Cell = number | string;

/** ntpq's f8dot4: scaled to fit 8 characters, 4 decimals in the normal case; strings right-aligned. */
export function f8dot4(f: Cell): string {
  if (typeof f === 'string') return f.padStart(8);
  if (Number.isNaN(f)) return '     nan';
  let text: string;
  if (f >= 0) {
    if (f < 1000) text = pyFixed(f, 4);
    else if (f < 10000) text = pyFixed(f, 3);
    else if (f < 100000) text = pyFixed(f, 2);
    else if (f < 1000000) text = pyFixed(f, 1);
    else text = pyIntText(f);
  } else if (f > -100) text = pyFixed(f, 4);
  else if (f > -1000) text = pyFixed(f, 3);
  else if (f > -10000) text = pyFixed(f, 2);
  else if (f > -100000) text = pyFixed(f, 1);
  else text = pyIntText(f);
  return text.padStart(8);
}

/** ntpq's f8dot3 (used when the server's delay has fewer than 6 decimals). */
export function f8dot3(f: Cell): string {
  if (typeof f === 'string') return f.padStart(8);
  if (Number.isNaN(f)) return '     nan';
  let text: string;
  if (f >= 0) {
    if (f < 10000) text = pyFixed(f, 3);
    else if (f < 100000) text = pyFixed(f, 2);
    else if (f < 1000000) text = pyFixed(f, 1);
    else text = pyIntText(f);
  } else if (f > -1000) text = pyFixed(f, 3);
  else if (f > -10000) text = pyFixed(f, 2);
  else if (f > -100000) text = pyFixed(f, 1);
  else text = pyIntText(f);
  return text.padStart(8);
}

/** ntpq's prettyinterval: '-' unless a positive whole number of seconds; m/h/d above 2048 s. */
export function prettyInterval(diff: number | undefined): string {
  if (diff === undefined || !Number.isInteger(diff) || diff <= 0) return '-';
  if (diff <= 2048) return String(diff);
  // Python 3 true division, truncated by %d only when printed.
  let d = (diff + 29) / 60;
  if (d <= 300) return `${Math.trunc(d)}m`;
  d = (d + 29) / 60;
  if (d <= 96) return `${Math.trunc(d)}h`;
  d = (d + 11) / 24;
  return `${Math.trunc(d)}d`;
}

export function highTruncate(name: string, maxLen: number): string {
  return name.length <= maxLen ? name : '-' + name.slice(name.length - maxLen + 1);
}

/** '%4.4s': right-aligned in 4, cut to 4. */
function s44(s: string): string {
  return s.slice(0, 4).padStart(4);
}

/**
 * ntpd's l_fp text ("0xeead1166.1962415e") as Unix seconds, in the NTP era nearest `nowUnix` (what
 * NTPsec's ntpc.lfptofloat does with the current time as pivot); undefined if not in that form.
 */
export function lfpToUnix(text: string, nowUnix: number): number | undefined {
  const m = /^0x([0-9a-f]{1,8})\.([0-9a-f]{1,8})$/i.exec(text);
  if (!m) return undefined;
  const seconds = parseInt(m[1]!, 16) + parseInt(m[2]!, 16) / 2 ** 32;
  let unix = seconds - NTP_UNIX_OFFSET;
  while (unix < nowUnix - 2 ** 31) unix += 2 ** 32;
  return unix;
}

/** The peer variables ntpq reads for its table, as typed values or absent. */
export interface PeerRow {
  readonly associd: number;
  /** Status word of the READVAR response (ntpq's rstatus). */
  readonly status: number;
  readonly tally: string;
  /** The selection state's name (reject ... sys.peer, pps.peer). */
  readonly selection: string;
  readonly remote: string;
  readonly refid: string;
  readonly stratum: number;
  /** ntpq's t column. */
  readonly type: string;
  /** Seconds since the last sample (rec/reftime), undefined if unknown. */
  readonly when: number | undefined;
  /** Poll interval, seconds: 2^min(ppoll, hpoll). */
  readonly poll: number;
  /** The reach register (8 bits; printed in octal). */
  readonly reach: number;
  /** ms as the server sent them, or the text it sent if not a number; undefined if absent. */
  readonly delay: number | string | undefined;
  readonly offset: number | string | undefined;
  /** jitter, or dispersion when the server sent no jitter. */
  readonly jitter: number | string | undefined;
  /** The table row, exactly as ntpq -p prints it (without the newline). */
  readonly line: string;
}

function num(v: VarValue | undefined, fallback: number): number {
  return v !== undefined && typeof v.value === 'number' && Number.isFinite(v.value) ? Math.trunc(v.value) : fallback;
}

function text(v: VarValue | undefined): string | undefined {
  if (v === undefined) return undefined;
  return typeof v.value === 'string' ? v.value : v.raw;
}

/**
 * Which address ntpq would resolve for this association's remote column (when names are shown):
 * srcadr unless it is a refclock pseudo-address or a pool slot's wildcard.
 */
export function addressToResolve(vars: VarList): string | undefined {
  const srcadr = text(vars.get('srcadr') ?? vars.get('peeradr'));
  if (srcadr === undefined || srcadr === '0.0.0.0' || srcadr === '::' || srcadr.startsWith('127.127')) return undefined;
  return srcadr;
}

export interface RowContext {
  /** Unix seconds (ntpq's time.time() when it formats the row). */
  readonly nowUnix: number;
  /** The name to show for an address (ntpq's canonicalize_dns), or undefined to show it numerically. */
  readonly nameOf?: (address: string) => string | undefined;
  readonly layout?: TableLayout;
}

/** One association's row, from READVAR's variables and the response's status word. */
export function peerRow(associd: number, rstatus: number, vars: VarList, ctx: RowContext): PeerRow {
  const layout = ctx.layout ?? DEFAULT_LAYOUT;
  const nw = nameWidth(layout);
  let estDelay: Cell | undefined;
  let estOffset: Cell | undefined;
  let estJitter: Cell | undefined;
  let estDisp: Cell | undefined;
  let saw6 = false;
  let hmode: number | undefined;
  let ppoll = 0;
  let hpoll = 0;
  let reach = 0;
  let stratum = 20;
  let refid = '';
  let srcadr: string | undefined;
  let srchost: string | undefined;
  let ntscookies = -1;
  let lastSync: number | undefined;
  for (const [name, v] of vars) {
    switch (name) {
      case 'delay':
        estDelay = v.value;
        if (v.raw.length > 6 && v.raw[v.raw.length - 7] === '.') saw6 = true;
        break;
      case 'hmode':
        hmode = typeof v.value === 'number' ? v.value : undefined;
        break;
      case 'hpoll':
        hpoll = num(v, 0);
        if (hpoll < 0) hpoll = NTP_MINPOLL;
        break;
      case 'ppoll':
        ppoll = num(v, 0);
        if (ppoll < 0) ppoll = NTP_MINPOLL;
        break;
      case 'jitter':
        estJitter = v.value;
        break;
      case 'offset':
        estOffset = v.value;
        break;
      case 'reach':
        reach = num(v, 0);
        break;
      case 'refid':
        refid = v.raw;
        break;
      case 'rec':
      case 'reftime': {
        const t = lfpToUnix(text(v) ?? '', ctx.nowUnix);
        if (t !== undefined) lastSync = Math.trunc(ctx.nowUnix - t);
        break;
      }
      case 'rootdisp':
      case 'dispersion':
        estDisp = v.value;
        break;
      case 'srcadr':
      case 'peeradr':
        srcadr = text(v);
        break;
      case 'srchost':
        srchost = text(v);
        break;
      case 'stratum':
        stratum = num(v, 20);
        break;
      case 'ntscookies':
        ntscookies = num(v, -1);
        break;
      default:
        break;
    }
  }

  const isClock = srchost !== undefined && srchost.includes('(');
  const src = srcadr ?? '';
  let type = '?';
  if (hmode === 6) type = 'b';
  else if (hmode === 5) type = src.startsWith('224.') ? 'M' : 'B';
  else if (hmode === 3) {
    if (isClock) type = 'l';
    else if (refid === 'POOL') type = 'p';
    else if (src.startsWith('224.')) type = 'a';
    else if (ntscookies > -1) type = String.fromCharCode(ntscookies + 48);
    else type = 'u';
  } else if (hmode === 1) type = 's';
  else if (hmode === 2) type = 'S';

  const pollExp = Math.min(ppoll, hpoll);
  const pollSec = 2 ** pollExp;
  const selection = peerSelection(rstatus);
  const tally = TALLY_CODES[selection]!;

  let remote: string;
  if (srcadr !== undefined && srcadr !== '0.0.0.0' && !srcadr.startsWith('127.127') && srcadr !== '::') {
    remote = ctx.nameOf?.(srcadr) ?? srcadr;
  } else {
    remote = srchost ?? srcadr ?? '';
  }

  let visibleRefid = refid;
  if (!visibleRefid.includes('.') && !visibleRefid.includes(':')) visibleRefid = `.${visibleRefid}.`;

  const jd = estJitter !== undefined ? estJitter : estDisp;
  const fini = saw6 ? f8dot4 : f8dot3;
  const octal = reach < 0 ? `-${(-reach).toString(8)}` : reach.toString(8);
  const line = tally + remote.slice(0, nw).padEnd(nw) + ' ' +
    highTruncate(visibleRefid, REFID_WIDTH) + ' '.repeat(Math.max(0, REFID_WIDTH - visibleRefid.length)) +
    ` ${String(stratum).padStart(2)} ${type} ${s44(prettyInterval(lastSync))} ${s44(prettyInterval(pollSec))}` +
    `  ${octal.padStart(3)} ${fini(estDelay ?? '.')} ${fini(estOffset ?? '.')} ${fini(jd ?? '.')}`;

  return {
    associd, status: rstatus, tally, selection: PEER_SELECTION[selection]!,
    remote, refid: visibleRefid, stratum, type, when: lastSync, poll: pollSec, reach,
    delay: estDelay, offset: estOffset, jitter: jd, line,
  };
}
