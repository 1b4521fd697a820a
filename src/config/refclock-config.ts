/**
 * Reference clocks in every spelling users bring → RefclockConfig.
 *
 * - ntpd: `server 127.127.20.U mode M` (NMEA), `127.127.22.U` (PPS/ATOM), `127.127.46.U`
 *   (GPSD_JSON), calibrated by `fudge 127.127.T.U time1 time2 refid stratum flag1..4`.
 * - NTPsec: `refclock nmea|pps|gpsd unit U path P ppspath P baud B time1 time2 ...`.
 * - Gnomon: `refclock pps-gpio chip C line L [edge assert|clear]`, `refclock pps-sysfs path P`.
 * - chrony's `refclock PPS /dev/pps0` / `refclock SHM 0` is refused with the spelling to use.
 *
 * Defaults follow ntpd's drivers: NMEA reads /dev/gpsU at 4800 baud and, with flag1 1, pulses
 * from /dev/gpsppsU (refclock_nmea.c's DEVICE and PPSDEV); the PPS driver reads /dev/ppsU and
 * takes the clear edge with flag2 1; the gpsd driver follows /dev/gpsU on 127.0.0.1:2947.
 */
import { DiagnosticCode, type DiagnosticList, formatPosition } from './diagnostics.js';
import type { AssociationLine, FudgeLine, RefclockConfig, RefclockKind, SourcePosition } from './model.js';
import type { RefclockDriverName } from './refclock.js';
import type { ParsedDirective, ParsedOption } from './syntax.js';
import type { Token } from './tree.js';

/** Serial speeds the NMEA driver opens (drivers/nmea/io.ts), in ntpd's mode-bit order. */
export const NMEA_BAUD_RATES = [4800, 9600, 19200, 38400, 57600, 115200] as const;
export const GPSD_DEFAULT_HOST = '127.0.0.1';
export const GPSD_DEFAULT_PORT = 2947;

const NTPD_TYPES: ReadonlyMap<number, RefclockKind> = new Map([[20, 'nmea'], [22, 'pps-kernel'], [46, 'gpsd']]);
const KIND_OF: Readonly<Record<RefclockDriverName, RefclockKind>> = {
  nmea: 'nmea', pps: 'pps-kernel', gpsd: 'gpsd', 'pps-gpio': 'pps-gpio', 'pps-sysfs': 'pps-sysfs',
};

const COMMON = ['unit', 'time1', 'stratum', 'refid', 'prefer', 'noselect', 'minpoll', 'maxpoll', 'flag1', 'flag2', 'flag3', 'flag4',
  'mode', 'subtype', 'holdover', 'iburst'];
/** Which `refclock` options each driver takes; the table (directives.ts) holds their spelling and ranges. */
const OPTIONS_FOR: Readonly<Record<RefclockDriverName, readonly string[]>> = {
  nmea: [...COMMON, 'path', 'ppspath', 'baud', 'time2'],
  pps: [...COMMON, 'path', 'ppspath', 'edge'],
  gpsd: [...COMMON, 'path', 'time2', 'host', 'port'],
  'pps-gpio': [...COMMON, 'chip', 'line', 'edge'],
  'pps-sysfs': [...COMMON, 'path', 'edge'],
};

/** chrony's driver names; NTPsec's and Gnomon's are lowercase, so the case tells the two apart. */
const CHRONY_HINTS: Readonly<Record<string, string>> = {
  PPS: 'write `refclock pps path /dev/ppsN` (NTPsec) or `server 127.127.22.N` (ntpd)',
  SHM: 'Gnomon has no shared-memory driver; if gpsd feeds it, read gpsd directly: `refclock gpsd unit 0` or `server 127.127.46.0`',
  SOCK: 'Gnomon has no socket driver; if gpsd feeds it, read gpsd directly: `refclock gpsd unit 0` or `server 127.127.46.0`',
  PHC: 'Gnomon has no PTP hardware clock driver; for a GPS receiver write `refclock nmea unit 0 path /dev/ttyAMA0 baud 9600`',
  RTC: 'Gnomon has no RTC driver; for a GPS receiver write `refclock nmea unit 0 path /dev/ttyAMA0 baud 9600`',
};

/**
 * A located error for chrony's `refclock DRIVER PARAMETER ...` (uppercase driver, or a path
 * second), or false when the line is NTPsec/Gnomon syntax for the table to check.
 */
export function refuseChronyRefclock(file: string, tokens: readonly Token[], out: DiagnosticList): boolean {
  const [name, driver] = tokens;
  if (!name || !driver || driver.quoted) return false;
  const chrony = /^[A-Z][A-Z0-9]*$/.test(driver.value) || driver.value.startsWith('/');
  if (!chrony) return false;
  out.error(file, driver, {
    code: DiagnosticCode.ForeignDirective, directive: 'refclock',
    message: `refclock ${driver.value}: this is chrony.conf syntax; Gnomon reads ntp.conf (NTPsec) syntax, driver name first in lowercase`,
    hint: CHRONY_HINTS[driver.value]
      ?? 'write `refclock nmea|pps|gpsd unit N path DEVICE ...` (NTPsec), `server 127.127.TYPE.UNIT` (ntpd), or `refclock pps-gpio chip gpiochip0 line 18`',
  });
  return true;
}

function option(p: ParsedDirective, name: string): ParsedOption | undefined {
  return p.options.get(name);
}
function num(p: ParsedDirective, name: string): number | undefined {
  const value = option(p, name)?.value?.value;
  return value?.kind === 'number' ? value.number : undefined;
}
function text(p: ParsedDirective, name: string): string | undefined {
  const value = option(p, name)?.value?.value;
  if (value?.kind === 'text') return value.text;
  if (value?.kind === 'host') return value.host;
  return undefined;
}
function bit(p: ParsedDirective, name: string): boolean | undefined {
  const value = option(p, name)?.value?.value;
  return value?.kind === 'bool' ? value.bool : undefined;
}
function positionOf(p: ParsedDirective): SourcePosition {
  return { file: p.file, line: p.name.line, column: p.name.column };
}

/** The 4800..115200 check shared by `baud B` and ntpd's mode bits. */
function checkBaud(baud: number, file: string, token: Token, directive: string, out: DiagnosticList): boolean {
  if ((NMEA_BAUD_RATES as readonly number[]).includes(baud)) return true;
  out.error(file, token, {
    code: DiagnosticCode.OutOfRange, directive,
    message: `${directive}: baud ${baud} is not a serial speed the NMEA driver opens`,
    hint: `use one of ${NMEA_BAUD_RATES.join(', ')}`,
  });
  return false;
}

/** `refclock DRIVER ...` (NTPsec or Gnomon) → RefclockConfig, or undefined after reporting why not. */
export function compileRefclockLine(p: ParsedDirective, out: DiagnosticList): RefclockConfig | undefined {
  const driverValue = p.args[0]?.value;
  if (driverValue?.kind !== 'text') return undefined;
  const driver = driverValue.text as RefclockDriverName;
  const kind = KIND_OF[driver];
  const allowed = OPTIONS_FOR[driver];
  // A value the syntax check refused (`line 600`) is absent from p.options; do not also call it missing.
  const syntaxErrors = out.items.some((d) => d.severity === 'error' && d.at.file === p.file && d.at.line === p.name.line);
  let ok = !syntaxErrors;
  const report = (token: Token, code: DiagnosticCode, message: string, hint: string): void => {
    out.error(p.file, token, { code, directive: 'refclock', message: `refclock ${driver}: ${message}`, hint });
    ok = false;
  };

  for (const [name, parsed] of p.options) {
    if (!allowed.includes(name)) {
      report(parsed.token, DiagnosticCode.UnknownOption, `option "${name}" does not apply to this driver`,
        `refclock ${driver} takes: ${allowed.filter((o) => o !== 'subtype' && o !== 'holdover').join(', ')}`);
    }
  }

  const unit = num(p, 'unit') ?? 0;
  const flag2 = bit(p, 'flag2');
  const edgeText = text(p, 'edge');
  let edge: 'assert' | 'clear' = edgeText === 'clear' || (edgeText === undefined && flag2 === true) ? 'clear' : 'assert';
  const edgeToken = option(p, 'edge')?.token;
  if (edgeText !== undefined && flag2 !== undefined && (edgeText === 'clear') !== flag2 && edgeToken) {
    report(edgeToken, DiagnosticCode.ConflictingOptions, `edge ${edgeText} contradicts flag2 ${flag2 ? 1 : 0} (flag2 1 means the clear edge)`,
      'keep one of the two');
  }
  if (kind === 'nmea' || kind === 'gpsd') edge = 'assert';

  const baudOption = option(p, 'baud');
  const baud = num(p, 'baud');
  if (baud !== undefined && baudOption?.value && !checkBaud(baud, p.file, baudOption.value.token, 'refclock', out)) ok = false;
  const mode = num(p, 'mode');
  let modeBaud: number | undefined;
  if (kind === 'nmea' && mode !== undefined && baud === undefined) {
    modeBaud = baudFromMode(mode, p.file, option(p, 'mode')?.value?.token ?? p.name, 'refclock', out);
    if (modeBaud === undefined) ok = false;
  }

  const chip = text(p, 'chip');
  const line = num(p, 'line');
  let path = text(p, 'path');
  let ppsPath = text(p, 'ppspath');
  if (kind === 'pps-gpio' && !syntaxErrors) {
    if (chip === undefined) report(p.name, DiagnosticCode.MissingArgument, 'needs `chip gpiochipN`', 'add `chip gpiochip0` (see `gpiodetect`: the chip labelled pinctrl-*)');
    if (line === undefined) report(p.name, DiagnosticCode.MissingArgument, 'needs `line N` (the BCM GPIO number)', 'add e.g. `line 18` for GPIO 18 (header pin 12)');
  }
  if (kind === 'pps-sysfs' && path === undefined && !syntaxErrors) {
    report(p.name, DiagnosticCode.MissingArgument, 'needs `path P` (a kernel PPS device)', 'add e.g. `path /sys/class/pps/pps0`');
  }
  if (kind === 'pps-kernel') {
    path = path ?? ppsPath ?? `/dev/pps${unit}`;
    ppsPath = undefined;
  }
  if (!ok) return undefined;

  const usePps = kind === 'nmea' ? bit(p, 'flag1') === true : true;
  const time2 = num(p, 'time2');
  const refid = text(p, 'refid');
  const stratum = num(p, 'stratum');
  const minpoll = num(p, 'minpoll');
  const maxpoll = num(p, 'maxpoll');
  const host = text(p, 'host');
  const port = num(p, 'port');
  const style = driver === 'pps-gpio' || driver === 'pps-sysfs' ? 'gnomon' : 'ntpsec';
  return {
    kind, style, unit,
    ...(kind === 'nmea' ? { path: path ?? `/dev/gps${unit}`, baudBps: baud ?? modeBaud ?? 4800 } : {}),
    ...(kind === 'nmea' && usePps ? { ppsPath: ppsPath ?? `/dev/gpspps${unit}` } : {}),
    ...(kind === 'pps-kernel' || kind === 'pps-sysfs' ? (path !== undefined ? { path } : {}) : {}),
    ...(kind === 'gpsd' ? { path: path ?? `/dev/gps${unit}`, host: host ?? GPSD_DEFAULT_HOST, port: port ?? GPSD_DEFAULT_PORT } : {}),
    ...(kind === 'pps-gpio' && chip !== undefined && line !== undefined ? { chip: normaliseChip(chip), line } : {}),
    offsetS: num(p, 'time1') ?? 0,
    delayS: (kind === 'nmea' || kind === 'gpsd') ? time2 ?? 0 : 0,
    ...(refid !== undefined ? { refid } : {}),
    ...(stratum !== undefined ? { stratum } : {}),
    prefer: p.options.has('prefer'), noselect: p.options.has('noselect'),
    ...(minpoll !== undefined ? { minpoll } : {}),
    ...(maxpoll !== undefined ? { maxpoll } : {}),
    ...(mode !== undefined ? { mode } : {}),
    edge, usePps,
    at: positionOf(p),
  };
}

/** `0`/`4` → gpiochip0/gpiochip4, as `gpiodetect` names them; anything else as written. */
function normaliseChip(chip: string): string {
  return /^\d+$/.test(chip) ? `gpiochip${chip}` : chip;
}

/** ntpd's NMEA mode bits 4-6 (0x70) select the speed: 0 4800, 16 9600, ... 80 115200. */
export function baudFromMode(mode: number, file: string, token: Token, directive: string, out: DiagnosticList): number | undefined {
  const index = (mode & 0x70) >> 4;
  const baud = NMEA_BAUD_RATES[index];
  if (baud !== undefined) return baud;
  out.error(file, token, {
    code: DiagnosticCode.OutOfRange, directive,
    message: `${directive}: mode ${mode} sets the NMEA baud-rate bits to ${index << 4}, which name no speed`,
    hint: 'bits 4-6 are 0 (4800), 16 (9600), 32 (19200), 48 (38400), 64 (57600) or 80 (115200), added to the sentence bits 0-3',
  });
  return undefined;
}

/** A `server 127.127.T.U` line for one of Gnomon's drivers, with its mode as parsed. */
export interface NtpdRefclockLine {
  readonly association: AssociationLine;
  readonly type: number;
  readonly unit: number;
  readonly mode?: { readonly value: number; readonly token: Token };
}

/** Whether a 127.127.T.U type becomes a RefclockConfig (1, the local clock, does not). */
export function isModelledNtpdType(type: number): boolean {
  return NTPD_TYPES.has(type);
}

/** ntpd `server` + `fudge` lines → RefclockConfig; fudge lines apply in reading order, as in ntpd. */
export function refclockFromNtpd(line: NtpdRefclockLine, fudge: readonly FudgeLine[], out: DiagnosticList): RefclockConfig | undefined {
  const { association: a, type, unit, mode } = line;
  const kind = NTPD_TYPES.get(type);
  if (!kind) return undefined;
  {
    let time1: number | undefined;
    let time2: number | undefined;
    let refid: string | undefined;
    let stratum: number | undefined;
    let flag1: boolean | undefined;
    let flag2: boolean | undefined;
    for (const f of fudge) {
      if (f.refclock.type !== type || f.refclock.unit !== unit) continue;
      time1 = f.time1S ?? time1;
      time2 = f.time2S ?? time2;
      refid = f.refid ?? refid;
      stratum = f.stratum ?? stratum;
      flag1 = f.flags.flag1 ?? flag1;
      flag2 = f.flags.flag2 ?? flag2;
    }
    let baudBps: number | undefined;
    if (kind === 'nmea') {
      baudBps = mode ? baudFromMode(mode.value, a.at.file, mode.token, 'server', out) : 4800;
      if (baudBps === undefined) return undefined;
    }
    const usePps = kind === 'nmea' ? flag1 === true : true;
    return {
      kind, style: 'ntpd', unit,
      path: kind === 'pps-kernel' ? `/dev/pps${unit}` : `/dev/gps${unit}`,
      ...(kind === 'nmea' && usePps ? { ppsPath: `/dev/gpspps${unit}` } : {}),
      ...(baudBps !== undefined ? { baudBps } : {}),
      ...(kind === 'gpsd' ? { host: GPSD_DEFAULT_HOST, port: GPSD_DEFAULT_PORT } : {}),
      offsetS: time1 ?? 0,
      delayS: kind === 'pps-kernel' ? 0 : time2 ?? 0,
      ...(refid !== undefined ? { refid } : {}),
      ...(stratum !== undefined ? { stratum } : {}),
      prefer: a.prefer, noselect: a.noselect,
      ...(a.minpoll !== undefined ? { minpoll: a.minpoll } : {}),
      ...(a.maxpoll !== undefined ? { maxpoll: a.maxpoll } : {}),
      ...(mode ? { mode: mode.value } : {}),
      edge: kind === 'pps-kernel' && flag2 === true ? 'clear' : 'assert',
      usePps,
      at: a.at,
    };
  }
}

/** Two refclocks (in reading order) of one kind (all PPS kinds count as one) with one unit (in either spelling), or two on one GPIO line, are errors. */
export function checkDuplicateRefclocks(refclocks: readonly RefclockConfig[], out: DiagnosticList): void {
  const units = new Map<string, SourcePosition>();
  const lines = new Map<string, SourcePosition>();
  for (const r of refclocks) {
    // Every pulse source is PPS(u) in ntpq and the logs, whichever interface reads it.
    const family = r.kind.startsWith('pps') ? 'pps' : r.kind;
    const unitKey = `${family} ${r.unit}`;
    const first = units.get(unitKey);
    if (first) {
      out.error(r.at.file, r.at, {
        code: DiagnosticCode.DuplicateRefclock, directive: r.style === 'ntpd' ? 'server' : 'refclock',
        message: `${family === 'pps' ? 'a PPS source' : r.kind} unit ${r.unit} is already configured at ${formatPosition(first)}`,
        hint: 'give each refclock of a kind its own unit (`unit N`, or 127.127.T.N), or remove one of the lines',
      });
    } else {
      units.set(unitKey, r.at);
    }
    if (r.kind === 'pps-gpio' && r.chip !== undefined && r.line !== undefined) {
      const lineKey = `${r.chip} ${r.line}`;
      const firstLine = lines.get(lineKey);
      if (firstLine) {
        out.error(r.at.file, r.at, {
          code: DiagnosticCode.DuplicateRefclock, directive: 'refclock',
          message: `pps-gpio: ${r.chip} line ${r.line} is already used at ${formatPosition(firstLine)}`,
          hint: 'one GPIO line carries one PPS signal; remove one of the lines',
        });
      } else {
        lines.set(lineKey, r.at);
      }
    }
  }
}
