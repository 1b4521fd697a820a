/**
 * Argument and option value types: how one token is checked and what it becomes.
 *
 * A parser returns what was expected rather than a finished message, because only the
 * caller knows which directive and option the token belongs to ("server: minpoll expects
 * an integer from 0 to 17").
 */
import { parseIp, parseIpv4, type IpAddress } from './address.js';
import { DiagnosticCode } from './diagnostics.js';
import { didYouMean } from './suggest.js';

export type ValueSpec =
  | {
    readonly kind: 'int'; readonly min: number; readonly max: number;
    /** Accepted but warned about outside this range (ntpd's own limits, usually). */
    readonly advised?: { readonly min: number; readonly max: number; readonly why: string };
  }
  /** A decimal number such as ntpd's fudge time1 0.350 or tinker step 0.128. */
  | { readonly kind: 'number' }
  | { readonly kind: 'bit' }
  /** Any single token: names, free text. */
  | { readonly kind: 'word' }
  /** A file path; `mustExist` makes the loader check it (a missing one is a warning). */
  | { readonly kind: 'path'; readonly mustExist?: boolean }
  | { readonly kind: 'host' }
  | { readonly kind: 'address' }
  | { readonly kind: 'enum'; readonly values: readonly string[] }
  /** Up to four printable ASCII characters (ntpd refid). */
  | { readonly kind: 'refid' }
  /** ntpd's refclock pseudo-address 127.127.T.U. */
  | { readonly kind: 'refclock' };

export type Value =
  | { readonly kind: 'number'; readonly number: number }
  | { readonly kind: 'bool'; readonly bool: boolean }
  | { readonly kind: 'text'; readonly text: string }
  | { readonly kind: 'address'; readonly address: IpAddress }
  /** A host name or address as written, with the parsed address when it is a literal. */
  | { readonly kind: 'host'; readonly host: string; readonly address?: IpAddress }
  | { readonly kind: 'refclock'; readonly type: number; readonly unit: number };

export interface ValueProblem {
  readonly code: DiagnosticCode;
  /** Completes "... expects ___" (e.g. "an integer from 0 to 17"); for advice, the usual range ("3 to 17"). */
  readonly expected: string;
  readonly hint?: string;
}

export type ValueResult =
  | { readonly ok: true; readonly value: Value; readonly advice?: ValueProblem }
  | { readonly ok: false; readonly problem: ValueProblem };

export function describeValue(spec: ValueSpec): string {
  switch (spec.kind) {
    case 'int': return `an integer from ${spec.min} to ${spec.max}`;
    case 'number': return 'a decimal number';
    case 'bit': return '0 or 1';
    case 'word': return 'a word';
    case 'path': return 'a file path';
    case 'host': return 'a host name or IP address';
    case 'address': return 'an IPv4 or IPv6 address';
    case 'enum': return `one of ${spec.values.join(', ')}`;
    case 'refid': return 'a reference ID of 1 to 4 ASCII characters';
    case 'refclock': return 'a refclock address 127.127.TYPE.UNIT';
  }
}

const DECIMAL = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;
const HOST_LABEL = /^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;

export function parseValue(spec: ValueSpec, text: string): ValueResult {
  const fail = (code: DiagnosticCode, hint?: string): ValueResult => ({
    ok: false, problem: { code, expected: describeValue(spec), ...(hint !== undefined ? { hint } : {}) },
  });
  switch (spec.kind) {
    case 'int': {
      if (!/^[+-]?\d+$/.test(text)) return fail(DiagnosticCode.InvalidValue, `write a whole number such as ${spec.min}`);
      const n = Number(text);
      if (n < spec.min || n > spec.max) return fail(DiagnosticCode.OutOfRange, `use a value from ${spec.min} to ${spec.max}`);
      const advised = spec.advised;
      if (advised && (n < advised.min || n > advised.max)) {
        return {
          ok: true, value: { kind: 'number', number: n },
          advice: { code: DiagnosticCode.DiscouragedValue, expected: `${advised.min} to ${advised.max}`, hint: advised.why },
        };
      }
      return { ok: true, value: { kind: 'number', number: n } };
    }
    case 'number': {
      const n = Number(text);
      if (!DECIMAL.test(text) || !Number.isFinite(n)) return fail(DiagnosticCode.InvalidValue, 'write a decimal number such as 0.350');
      return { ok: true, value: { kind: 'number', number: n } };
    }
    case 'bit':
      if (text !== '0' && text !== '1') return fail(DiagnosticCode.InvalidValue, 'write 1 to set the flag or 0 to clear it');
      return { ok: true, value: { kind: 'bool', bool: text === '1' } };
    case 'word':
    case 'path':
      if (text === '') return fail(DiagnosticCode.InvalidValue);
      return { ok: true, value: { kind: 'text', text } };
    case 'enum':
      if (!spec.values.includes(text)) return fail(DiagnosticCode.InvalidValue, didYouMean(text, spec.values));
      return { ok: true, value: { kind: 'text', text } };
    case 'address': {
      const address = parseIp(text);
      if (!address) return fail(DiagnosticCode.InvalidAddress, addressHint(text));
      return { ok: true, value: { kind: 'address', address } };
    }
    case 'host':
      return parseHost(text, fail);
    case 'refid':
      if (!/^[\x21-\x7e]{1,4}$/.test(text)) {
        return fail(DiagnosticCode.InvalidValue, text.length > 4 ? `ntpd would cut it to "${text.slice(0, 4)}"; write that` : 'use printable ASCII such as GPS or PPS');
      }
      return { ok: true, value: { kind: 'text', text } };
    case 'refclock': {
      const refclock = parseRefclockAddress(text);
      if (!refclock) return fail(DiagnosticCode.InvalidRefclock, 'refclocks are addressed as 127.127.TYPE.UNIT, e.g. 127.127.20.0 for the NMEA driver');
      return { ok: true, value: refclock };
    }
  }
}

/** 127.127.T.U → driver type and unit; anything else → undefined. */
export function parseRefclockAddress(text: string): Extract<Value, { kind: 'refclock' }> | undefined {
  const v4 = parseIpv4(text);
  if (!v4 || v4.bytes[0] !== 127 || v4.bytes[1] !== 127) return undefined;
  return { kind: 'refclock', type: v4.bytes[2] ?? 0, unit: v4.bytes[3] ?? 0 };
}

function parseHost(text: string, fail: (code: DiagnosticCode, hint?: string) => ValueResult): ValueResult {
  if (text.includes(':') || /^[\d.]+$/.test(text)) {
    // Looks like a literal: it must be a valid one, not a "host name" of digits.
    const address = parseIp(text);
    if (!address) return fail(DiagnosticCode.InvalidAddress, addressHint(text));
    return { ok: true, value: { kind: 'host', host: text, address } };
  }
  const name = text.endsWith('.') ? text.slice(0, -1) : text;
  if (name.length === 0 || name.length > 253 || !name.split('.').every((label) => HOST_LABEL.test(label))) {
    return fail(DiagnosticCode.InvalidValue, 'host names use letters, digits, "-" and "."');
  }
  return { ok: true, value: { kind: 'host', host: text } };
}

function addressHint(text: string): string {
  if (/^\d+(\.\d+){3}$/.test(text)) return 'each IPv4 part is 0 to 255, written without leading zeros';
  if (text.includes('%')) return 'zone ids (%eth0) are not supported here; use the address alone';
  if (text.includes('/')) return 'write the prefix with `mask` or as ADDRESS/LENGTH where the directive allows it';
  return 'write an address such as 192.0.2.1 or 2001:db8::1';
}
