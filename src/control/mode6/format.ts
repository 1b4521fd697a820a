/**
 * ntpd's value formats for mode 6 items (ntp_control.c ctl_put*), as text.
 * C's printf is the model: %.3f / %.6f for doubles, %u / %d, 0x%x, 0x%08x.%08x, "%s".
 */
import type { NtpTimestamp } from '../../ntp/timestamp.js';

/** printf("%.*f"): toFixed, with C's spelling of non-finite values and no exponent form. */
export function fixed(x: number, digits: number): string {
  if (Number.isNaN(x)) return 'nan';
  if (!Number.isFinite(x)) return x > 0 ? 'inf' : '-inf';
  if (Math.abs(x) >= 1e21) return (x < 0 ? '-' : '') + BigInt(Math.trunc(Math.abs(x))).toString() + (digits > 0 ? '.' + '0'.repeat(digits) : '');
  const s = x.toFixed(digits);
  // C keeps the sign of a negative value that rounds to zero ("-0.000"); so does toFixed, except for -0 itself.
  return Object.is(x, -0) ? '-' + s : s;
}

/** printf("%u") / ("%d") of an integer-valued count; non-finite → 0. */
export function int(x: number): string {
  if (!Number.isFinite(x)) return '0';
  return String(Math.trunc(x));
}

export function hex(x: number): string {
  if (!Number.isFinite(x) || x < 0) return '0x0';
  return '0x' + Math.trunc(x).toString(16);
}

function hex8(x: number): string {
  return ((x >>> 0).toString(16)).padStart(8, '0');
}

/** ctl_putts: 0x%08x.%08x */
export function ts(t: NtpTimestamp): string {
  return `0x${hex8(t.seconds)}.${hex8(t.fraction)}`;
}

/** ctl_putstr: tag="value", cut like ntpd's 512-byte buffer. Quotes are not escaped (ntpd does not). */
export function quoted(tag: string, value: string): string {
  const s = `${tag}="${value}`;
  return (s.length > 510 ? s.slice(0, 510) : s) + '"';
}

/** ctl_putrefid: printable characters kept, others shown as '.', ends at a NUL. */
export function refidText(refid: string): string {
  let out = '';
  for (let i = 0; i < refid.length; i++) {
    const c = refid.charCodeAt(i);
    if (c === 0) break;
    out += c > 0x20 && c < 0x7f ? refid[i] : '.';
  }
  return out;
}

/** sockporttoa: a.b.c.d:port or [v6]:port. */
export function addrPort(address: string, port: number): string {
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
}

/** ctl_putarray: " %.2f" per sample, newest first (ntpd's buffer without its uninitialised prefix). */
export function filterArray(values: readonly number[]): string {
  let s = '';
  for (let i = 0; i < 8; i++) s += ' ' + fixed(values[i] ?? 0, 2);
  return s;
}

/** One item of a request's variable list, as ntpd's ctl_getitem() splits it. */
export interface RequestItem {
  readonly name: string;
  /** Text after '=', trimmed; undefined when there is no '='. */
  readonly value: string | undefined;
}

/**
 * Splits request data like ctl_getitem(): items separated by ',', leading commas and white space
 * skipped, the name runs up to the first '=' (trailing spaces kept, as ntpd compares them), the
 * value is trimmed. A value of 128 characters or more ends the list (ntpd's "ntpdx exploit"
 * guard: the rest of the packet is ignored); `truncated` says so.
 */
export function splitItems(data: Uint8Array): { items: RequestItem[]; truncated: boolean } {
  const items: RequestItem[] = [];
  const end = data.length;
  let p = 0;
  const isSpace = (c: number): boolean => c === 0x20 || (c >= 0x09 && c <= 0x0d);
  const text = (a: number, b: number): string => {
    let s = '';
    for (let i = a; i < b; i++) s += String.fromCharCode(data[i]!);
    return s;
  };
  while (items.length <= CTL_ITEMS_MAX) {
    while (p < end && (data[p] === 0x2c || isSpace(data[p]!))) p++;
    if (p >= end) return { items, truncated: false };
    let eq = -1;
    let cp = p;
    for (; cp < end; cp++) {
      if (data[cp] === 0x3d && eq < 0) eq = cp;
      if (data[cp] === 0x2c) break;
    }
    let value: string | undefined;
    if (eq >= 0) {
      let h = eq + 1;
      let t = cp;
      while (h !== t && isSpace(data[h]!)) h++;
      while (h !== t && isSpace(data[t - 1]!)) t--;
      if (t - h >= 128) return { items, truncated: true };
      value = text(h, t);
    }
    items.push({ name: text(p, eq >= 0 ? eq : cp), value });
    p = cp + (cp !== end ? 1 : 0);
  }
  return { items, truncated: true };
}

/** More items than fit in 468 bytes cannot occur; a guard for the loop all the same. */
const CTL_ITEMS_MAX = 256;
