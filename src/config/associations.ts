/**
 * `server` / `pool` / `peer` lines → AssociationLine, and `fudge` lines → FudgeLine.
 *
 * Refclocks use ntpd's pseudo-address 127.127.TYPE.UNIT on a `server` line; `fudge` with the
 * same address calibrates it. Pairing fudge lines with servers is a whole-file check and
 * lives in compile.ts.
 */
import { DiagnosticCode, type DiagnosticList } from './diagnostics.js';
import type { AssociationLine, FudgeLine, SourcePosition } from './model.js';
import { describeRefclock, refclockSupport } from './refclock.js';
import type { ParsedArg, ParsedDirective } from './syntax.js';
import { parseRefclockAddress } from './values.js';

type Refclock = { readonly type: number; readonly unit: number };

export function compileAssociation(p: ParsedDirective, out: DiagnosticList): AssociationLine | undefined {
  const kind = p.spec.name as AssociationLine['kind'];
  const target = p.args[0];
  if (!target || target.value.kind !== 'host') return undefined;
  const { host, address } = target.value;
  const refclock = parseRefclockAddress(host);
  let ok = true;

  if (refclock) {
    if (kind !== 'server') {
      out.error(p.file, target.token, {
        code: DiagnosticCode.InvalidRefclock, directive: kind,
        message: `${kind}: ${host} is a refclock address; refclocks are configured with "server"`,
        hint: `write "server ${host}"`,
      });
      ok = false;
    } else {
      ok = checkRefclock(p, target, refclock, out);
    }
  } else if (address && p.family !== undefined && address.family !== p.family) {
    out.error(p.file, target.token, {
      code: DiagnosticCode.FamilyMismatch, directive: kind,
      message: `${kind}: ${host} is IPv${address.family} but the line says -${p.family}`,
      hint: `remove -${p.family} or write an IPv${p.family} address`,
    });
    ok = false;
  }

  const minpoll = numberOption(p, 'minpoll');
  const maxpoll = numberOption(p, 'maxpoll');
  const maxpollToken = p.options.get('maxpoll')?.value?.token;
  if (minpoll !== undefined && maxpoll !== undefined && minpoll > maxpoll && maxpollToken) {
    out.error(p.file, maxpollToken, {
      code: DiagnosticCode.ConflictingOptions, directive: kind,
      message: `${kind}: maxpoll ${maxpoll} is below minpoll ${minpoll}`,
      hint: `make maxpoll at least ${minpoll}, or lower minpoll`,
    });
    ok = false;
  }
  if (!ok) return undefined;

  const version = numberOption(p, 'version');
  const key = numberOption(p, 'key');
  const port = numberOption(p, 'port');
  return {
    kind, host, iburst: p.options.has('iburst'), burst: p.options.has('burst'), prefer: p.options.has('prefer'),
    noselect: p.options.has('noselect'), true: p.options.has('true'), autokey: p.options.has('autokey'),
    ...(refclock ? { refclock: { type: refclock.type, unit: refclock.unit } } : {}),
    ...(minpoll !== undefined ? { minpoll } : {}),
    ...(maxpoll !== undefined ? { maxpoll } : {}),
    ...(version !== undefined ? { version } : {}),
    ...(key !== undefined ? { key } : {}),
    ...(port !== undefined ? { port } : {}),
    at: positionOf(p),
  };
}

export function compileFudge(p: ParsedDirective, out: DiagnosticList): FudgeLine | undefined {
  const target = p.args[0];
  if (!target || target.value.kind !== 'refclock') return undefined;
  if (!checkRefclock(p, target, target.value, out)) return undefined;
  const flags: { flag1?: boolean; flag2?: boolean; flag3?: boolean; flag4?: boolean } = {};
  for (const name of ['flag1', 'flag2', 'flag3', 'flag4'] as const) {
    const value = p.options.get(name)?.value?.value;
    if (value?.kind === 'bool') flags[name] = value.bool;
  }
  const stratum = numberOption(p, 'stratum');
  const time1S = numberOption(p, 'time1');
  const time2S = numberOption(p, 'time2');
  const refidValue = p.options.get('refid')?.value?.value;
  return {
    refclock: { type: target.value.type, unit: target.value.unit },
    ...(stratum !== undefined ? { stratum } : {}),
    ...(time1S !== undefined ? { time1S } : {}),
    ...(time2S !== undefined ? { time2S } : {}),
    ...(refidValue?.kind === 'text' ? { refid: refidValue.text } : {}),
    flags,
    at: positionOf(p),
  };
}

/** Errors for impossible driver numbers, warnings for ntpd drivers Gnomon does not have. */
function checkRefclock(p: ParsedDirective, target: ParsedArg, refclock: Refclock, out: DiagnosticList): boolean {
  const directive = p.spec.name;
  const support = refclockSupport(refclock.type);
  if (support === 'invalid') {
    out.error(p.file, target.token, {
      code: DiagnosticCode.InvalidRefclock, directive,
      message: `${directive}: ${target.token.value} names refclock driver type ${refclock.type}, which does not exist`,
      hint: 'driver types are 1 to 46 as in ntpd; Gnomon has 1 (local clock), 20 (NMEA), 22 (PPS), 46 (gpsd)',
    });
    return false;
  }
  if (support === 'ntpd-only' && directive === 'server') {
    out.warning(p.file, target.token, {
      code: DiagnosticCode.RefclockNotImplemented, directive,
      message: `${directive}: ${describeRefclock(refclock.type, refclock.unit)} uses ntpd refclock driver type ${refclock.type}, `
        + 'which Gnomon does not have; this source will never be reachable',
      hint: 'Gnomon has drivers 1 (local clock), 20 (NMEA), 22 (PPS) and 46 (gpsd)',
    });
  }
  return true;
}

function numberOption(p: ParsedDirective, name: string): number | undefined {
  const value = p.options.get(name)?.value?.value;
  return value?.kind === 'number' ? value.number : undefined;
}

function positionOf(p: ParsedDirective): SourcePosition {
  return { file: p.file, line: p.name.line, column: p.name.column };
}
