/**
 * ntpd's variable-list text (`name=value, name="quoted, value",\r\nname=value\r\n`) parsed as
 * NTPsec's ntpq parses it (pylib/packet.py, ControlSession.__parse_varlist, 1.2.2):
 *
 * - the bytes are read as Latin-1 and everything outside 1-126 is dropped (ntpd 1.2.2 leaks binary
 *   garbage into filtdelay/filtoffset/filtdisp), control characters such as \r\n are kept and stripped
 *   around names and values later;
 * - a comma outside double quotes separates items; quotes are kept until the value is typed;
 * - a value is typed as Python's int(value, 0) would (decimal without leading zeros, 0x/0o/0b), else as
 *   float(value), else it is a string, with surrounding double quotes removed;
 * - a repeated name keeps its first position and takes the later value (Python's OrderedDict).
 *
 * Pure: no IO.
 */

export type VarKind = 'int' | 'float' | 'string';

export interface VarValue {
  /** The typed value: a number for int and float, the unquoted text for a string. */
  readonly value: number | string;
  readonly kind: VarKind;
  /** The value text as sent (quotes included, whitespace stripped): ntpq's "rawvalue". */
  readonly raw: string;
}

export type VarList = Map<string, VarValue>;

/** Python's str.strip() over the characters that survive the filter (1-126). */
const PY_WHITESPACE = new Set([0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x1c, 0x1d, 0x1e, 0x1f, 0x20]);

export function pyStrip(s: string): string {
  let a = 0;
  let b = s.length;
  while (a < b && PY_WHITESPACE.has(s.charCodeAt(a))) a++;
  while (b > a && PY_WHITESPACE.has(s.charCodeAt(b - 1))) b--;
  return s.slice(a, b);
}

const PY_INT = /^[+-]?(?:0[xX](?:_?[0-9a-fA-F])+|0[oO](?:_?[0-7])+|0[bB](?:_?[01])+|0(?:_?0)*|[1-9](?:_?[0-9])*)$/;
const DIGITS = '[0-9](?:_?[0-9])*';
const PY_FLOAT = new RegExp(`^[+-]?(?:(?:${DIGITS}(?:\\.(?:${DIGITS})?)?|\\.${DIGITS})(?:[eE][+-]?${DIGITS})?|inf|infinity|nan)$`, 'i');

/** Python's int(text, 0), or undefined where Python raises ValueError. */
export function pyInt(text: string): number | undefined {
  if (!PY_INT.test(text)) return undefined;
  const t = text.replace(/_/g, '');
  const negative = t.startsWith('-');
  const body = t.replace(/^[+-]/, '');
  let v: number;
  if (/^0[xX]/.test(body)) v = parseInt(body.slice(2), 16);
  else if (/^0[oO]/.test(body)) v = parseInt(body.slice(2), 8);
  else if (/^0[bB]/.test(body)) v = parseInt(body.slice(2), 2);
  else v = parseInt(body, 10);
  return negative ? -v : v;
}

/** Python's float(text), or undefined where Python raises ValueError. */
export function pyFloat(text: string): number | undefined {
  if (!PY_FLOAT.test(text)) return undefined;
  const t = text.replace(/_/g, '').toLowerCase();
  const sign = t.startsWith('-') ? -1 : 1;
  const body = t.replace(/^[+-]/, '');
  if (body === 'nan') return NaN;
  if (body === 'inf' || body === 'infinity') return sign * Infinity;
  return Number(t);
}

export function typeValue(raw: string): VarValue {
  if (raw === '') return { value: '', kind: 'string', raw };
  const i = pyInt(raw);
  if (i !== undefined) return { value: i, kind: 'int', raw };
  const f = pyFloat(raw);
  if (f !== undefined) return { value: f, kind: 'float', raw };
  const unquoted = raw.length >= 1 && raw.startsWith('"') && raw.endsWith('"') ? raw.slice(1, -1) : raw;
  return { value: unquoted, kind: 'string', raw };
}

/** Splits the text into `name=value` items as ntpq does (see the module comment). */
export function splitItems(data: Uint8Array): string[] {
  const items: string[] = [];
  let inString = false;
  let current = '';
  for (const c of data) {
    if (c === 0x22) {
      current += '"';
      inString = !inString;
    } else if (!inString && c === 0x2c) {
      items.push(pyStrip(current));
      current = '';
    } else if (c > 0 && c < 127) {
      current += String.fromCharCode(c);
    }
  }
  if (current !== '') items.push(pyStrip(current));
  return items;
}

/** Parses a READVAR/READCLOCK response. Items without a name (an empty item between commas) are dropped. */
export function parseVarList(data: Uint8Array | string): VarList {
  const bytes = typeof data === 'string' ? Buffer.from(data, 'latin1') : data;
  const vars: VarList = new Map();
  for (const item of splitItems(bytes)) {
    const eq = item.indexOf('=');
    const name = pyStrip(eq >= 0 ? item.slice(0, eq) : item);
    const raw = eq >= 0 ? pyStrip(item.slice(eq + 1)) : '';
    if (name === '') continue;
    vars.set(name, typeValue(raw));
  }
  return vars;
}

/** The typed values as a plain object for JSON (non-finite floats as their text). */
export function varListToJson(vars: VarList): Record<string, number | string> {
  const out: Record<string, number | string> = {};
  for (const [name, v] of vars) out[name] = typeof v.value === 'number' && !Number.isFinite(v.value) ? v.raw : v.value;
  return out;
}
