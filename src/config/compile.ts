/**
 * Placed lines (see include.ts) → GnomonConfig plus every diagnostic.
 *
 * Nothing stops at the first problem: each line is checked on its own, bad tokens are
 * reported and skipped, and whole-file checks run at the end. The config is returned only
 * when there are no errors, so the daemon can never act on half a file.
 */
import { formatIp, parseIp } from './address.js';
import { compileAssociation, compileFudge } from './associations.js';
import { DiagnosticCode, DiagnosticList, formatPosition, hasErrors } from './diagnostics.js';
import { lookupDirective, suggestableDirectives } from './directives.js';
import { resolveIncludePath, type PlacedLine } from './include.js';
import { applyKernelDirective, newKernelDraft, type KernelDraft } from './kernel-config.js';
import {
  BROADCAST_DEFAULTS, DEFAULT_DISCARD, DEFAULT_MRU, DEFAULT_NTP_PORT,
  type AssociationLine, type BroadcastLine, type ConfigDiagnostic, type DiscardSettings, type FudgeLine, type GnomonConfig,
  type RefclockConfig, type RestrictRule, type SourcePosition,
} from './model.js';
import { describeRefclock } from './refclock.js';
import {
  checkDuplicateRefclocks, compileRefclockLine, isModelledNtpdType, refclockFromNtpd, refuseChronyRefclock, type NtpdRefclockLine,
} from './refclock-config.js';
import { compileRestrict, restrictKey } from './restrict.js';
import { applyStatsDirective, freezeStats, newStatsDraft, type StatsDraft } from './stats-config.js';
import { didYouMean } from './suggest.js';
import { checkDirective, type ParsedDirective } from './syntax.js';
import type { Token } from './tree.js';

export interface CompileResult {
  /** Undefined when any diagnostic is an error. */
  readonly config?: GnomonConfig;
  readonly diagnostics: readonly ConfigDiagnostic[];
}

/** Mutable while compiling; frozen into GnomonConfig at the end. */
interface Draft {
  listen: { address: string; at: SourcePosition }[];
  port: number;
  restrict: RestrictRule[];
  discard: DiscardSettings;
  mruMaxdepth: number;
  associations: AssociationLine[];
  fudge: { line: FudgeLine; file: string; token: Token }[];
  /** In reading order; ntpd lines become RefclockConfig once every fudge line is known. */
  refclocks: ({ readonly ntpd: NtpdRefclockLine } | { readonly config: RefclockConfig })[];
  driftfile?: string;
  logfile?: string;
  user?: string;
  leapfile?: { path: string; at: SourcePosition };
  leapSmearIntervalS?: number;
  holdoverS: number;
  maxDistanceS: number;
  minSane: number;
  orphanStratum?: number;
  broadcastClient?: { novolley: boolean; groups: string[]; at: SourcePosition };
  /** Set by the first statistics/statsdir/filegen line. */
  stats?: StatsDraft;
  /** enable/disable kernel and tinker step/panic (kernel-config.ts). */
  kernel: KernelDraft;
  broadcast: BroadcastLine[];
  keys?: { path: string; at: SourcePosition };
  trustedKeys: { id: number; at: SourcePosition }[];
}

export function compileConfig(lines: readonly PlacedLine[]): CompileResult {
  const out = new DiagnosticList();
  const draft: Draft = {
    listen: [], port: DEFAULT_NTP_PORT, restrict: [], discard: { ...DEFAULT_DISCARD }, mruMaxdepth: DEFAULT_MRU.maxdepth,
    associations: [], fudge: [], refclocks: [], kernel: newKernelDraft(), broadcast: [], trustedKeys: [], holdoverS: DEFAULT_HOLDOVER_S, maxDistanceS: DEFAULT_MAXDIST_S, minSane: 1,
  };
  const singletons = new Map<string, SourcePosition>();
  const restrictIndex = new Map<string, number>();

  for (const { file, line } of lines) {
    const name = line.tokens[0];
    if (!name) continue;
    const unterminated = line.tokens.find((t) => t.unterminated);
    if (unterminated) {
      out.error(file, unterminated, {
        code: DiagnosticCode.UnterminatedQuote, directive: name.value,
        message: `${name.value}: the quoted value starting here has no closing quote`,
        hint: 'add a closing " (ntp.conf values cannot span lines)',
      });
      continue;
    }
    if (name.value === 'refclock' && refuseChronyRefclock(file, line.tokens, out)) continue;
    const spec = lookupDirective(name.value);
    if (!spec) {
      out.error(file, name, {
        code: DiagnosticCode.UnknownDirective,
        message: `unknown directive "${name.value}"`,
        hint: didYouMean(name.value, suggestableDirectives()) ?? 'see docs/configuration.md for the directives Gnomon reads',
      });
      continue;
    }
    if (spec.support === 'foreign') {
      out.error(file, name, {
        code: DiagnosticCode.ForeignDirective, directive: spec.name,
        message: `${spec.name}: this is chrony.conf syntax; Gnomon reads ntp.conf syntax`,
        ...(spec.note ? { hint: spec.note } : {}),
      });
      continue;
    }
    if (spec.support === 'ignored') {
      out.warning(file, name, {
        code: DiagnosticCode.NotImplemented, directive: spec.name,
        message: `${spec.name}: known ${spec.origin} directive, accepted but Gnomon does not act on it yet`,
        ...(spec.note ? { hint: spec.note } : {}),
      });
    }
    const parsed = checkDirective(spec, file, line.tokens, out);
    if (spec.singleton) {
      const first = singletons.get(spec.name);
      if (first) {
        out.warning(file, name, {
          code: DiagnosticCode.DuplicateDirective, directive: spec.name,
          message: `${spec.name}: already set at ${formatPosition(first)}; this later line wins`,
          hint: 'remove one of the two lines',
        });
      } else {
        singletons.set(spec.name, { file, line: name.line, column: name.column });
      }
    }
    if (spec.support === 'acted') apply(parsed, draft, out, restrictIndex);
  }

  checkFudgePairs(draft, out);
  const fudgeLines = draft.fudge.map((f) => f.line);
  const refclocks = draft.refclocks.flatMap((r) => {
    const config = 'config' in r ? r.config : refclockFromNtpd(r.ntpd, fudgeLines, out);
    return config ? [config] : [];
  });
  checkDuplicateRefclocks(refclocks, out);
  const diagnostics = out.items;
  if (hasErrors(diagnostics)) return { diagnostics };
  return { config: freeze(draft, refclocks), diagnostics };
}

function apply(p: ParsedDirective, draft: Draft, out: DiagnosticList, restrictIndex: Map<string, number>): void {
  const text = (i: number): string | undefined => {
    const value = p.args[i]?.value;
    return value?.kind === 'text' ? value.text : undefined;
  };
  const number = (name: string): number | undefined => {
    const value = p.options.get(name)?.value?.value;
    return value?.kind === 'number' ? value.number : undefined;
  };
  switch (p.spec.name) {
    case 'server': case 'pool': case 'peer': {
      const association = compileAssociation(p, out);
      if (association) draft.associations.push(association);
      if (association?.refclock && isModelledNtpdType(association.refclock.type)) {
        const mode = p.options.get('mode')?.value;
        draft.refclocks.push({ ntpd: {
          association, type: association.refclock.type, unit: association.refclock.unit,
          ...(mode?.value.kind === 'number' ? { mode: { value: mode.value.number, token: mode.token } } : {}),
        } });
      }
      return;
    }
    case 'refclock': {
      const config = compileRefclockLine(p, out);
      if (config) draft.refclocks.push({ config });
      return;
    }
    case 'fudge': {
      const fudge = compileFudge(p, out);
      const token = p.args[0]?.token;
      if (fudge && token) draft.fudge.push({ line: fudge, file: p.file, token });
      return;
    }
    case 'restrict': {
      const rule = compileRestrict(p, out);
      if (rule) mergeRestrict(rule, draft, out, restrictIndex);
      return;
    }
    case 'interface':
      applyInterface(p, draft, out);
      return;
    case 'port': {
      const value = p.args[0]?.value;
      if (value?.kind === 'number') draft.port = value.number;
      return;
    }
    case 'discard':
      draft.discard = {
        averageLog2S: number('average') ?? draft.discard.averageLog2S,
        minimumLog2S: number('minimum') ?? draft.discard.minimumLog2S,
        monitor: number('monitor') ?? draft.discard.monitor,
      };
      return;
    case 'mru':
      draft.mruMaxdepth = number('maxdepth') ?? draft.mruMaxdepth;
      return;
    case 'driftfile': draft.driftfile = text(0) ?? draft.driftfile; return;
    case 'logfile': draft.logfile = text(0) ?? draft.logfile; return;
    case 'user': draft.user = text(0) ?? draft.user; return;
    case 'leapfile': {
      const arg = p.args[0];
      if (arg?.value.kind === 'text') {
        draft.leapfile = { path: resolveIncludePath(p.file, arg.value.text), at: { file: p.file, line: arg.token.line, column: arg.token.column } };
      }
      return;
    }
    case 'keys': {
      const arg = p.args[0];
      if (arg?.value.kind === 'text') {
        draft.keys = { path: resolveIncludePath(p.file, arg.value.text), at: { file: p.file, line: arg.token.line, column: arg.token.column } };
      }
      return;
    }
    case 'trustedkey':
      for (const arg of p.rest) {
        const v = arg.value;
        if (v.kind === 'number' && !draft.trustedKeys.some((k) => k.id === v.number)) {
          draft.trustedKeys.push({ id: v.number, at: { file: p.file, line: arg.token.line, column: arg.token.column } });
        }
      }
      return;
    case 'leapsmearinterval':
      applyLeapSmear(p, draft, out);
      return;
    case 'statistics': case 'statsdir': case 'filegen':
      applyStatsDirective(p, draft.stats ??= newStatsDraft(), out);
      return;
    case 'tos':
      applyTos(p, draft, out);
      return;
    case 'enable': case 'disable': case 'tinker':
      applyKernelDirective(p, draft.kernel, out);
      return;
    case 'broadcast': {
      const line = compileBroadcast(p, out);
      if (line) draft.broadcast.push(line);
      return;
    }
    case 'broadcastclient': case 'multicastclient': {
      const at = { file: p.file, line: p.name.line, column: p.name.column };
      const bc = draft.broadcastClient ??= { novolley: false, groups: [], at };
      if (p.options.has('novolley')) bc.novolley = true;
      if (p.spec.name === 'multicastclient') {
        const groups = p.rest.flatMap((a) => (a.value.kind === 'address' ? [formatIp(a.value.address)] : []));
        for (const g of groups.length > 0 ? groups : ['224.0.1.1']) if (!bc.groups.includes(g)) bc.groups.push(g);
      }
      return;
    }
    case 'includefile': return; // followed by the expander (include.ts) before compiling
    default:
      throw new Error(`directive "${p.spec.name}" is marked acted but compile.ts has no case for it`);
  }
}

/** ntpd keeps one entry per address and mask and ORs the flags of repeated lines; so do we. */
function mergeRestrict(rule: RestrictRule, draft: Draft, out: DiagnosticList, index: Map<string, number>): void {
  const key = restrictKey(rule);
  const existingAt = index.get(key);
  const existing = existingAt === undefined ? undefined : draft.restrict[existingAt];
  if (existingAt === undefined || !existing) {
    index.set(key, draft.restrict.length);
    draft.restrict.push(rule);
    return;
  }
  out.warning(rule.at.file, rule.at, {
    code: DiagnosticCode.DuplicateDirective, directive: 'restrict',
    message: `restrict: the same rule is already at ${formatPosition(existing.at)}; their flags are combined, as ntpd does`,
    hint: 'merge the flags into one line',
  });
  draft.restrict[existingAt] = { ...existing, flags: [...new Set([...existing.flags, ...rule.flags])] };
}

/** Special targets ntpd accepts after `interface listen`, as the addresses they stand for. */
const WILDCARDS: Readonly<Record<string, readonly string[]>> = { all: ['0.0.0.0', '::'], wildcard: ['0.0.0.0', '::'], ipv4: ['0.0.0.0'], ipv6: ['::'] };

function applyInterface(p: ParsedDirective, draft: Draft, out: DiagnosticList): void {
  const action = p.args[0]?.value;
  const target = p.args[1];
  if (action?.kind !== 'text' || !target || target.value.kind !== 'text') return;
  if (action.text !== 'listen') {
    out.warning(p.file, p.args[0]?.token ?? p.name, {
      code: DiagnosticCode.NotImplemented, directive: 'interface',
      message: `interface ${action.text}: accepted but Gnomon does not act on it yet`,
      hint: 'Gnomon binds only the `interface listen` addresses (every interface when there are none), so other interfaces are already ignored',
    });
    return;
  }
  const at: SourcePosition = { file: p.file, line: p.name.line, column: p.name.column };
  const wildcard = WILDCARDS[target.value.text];
  const address = parseIp(target.value.text);
  if (wildcard) {
    for (const a of wildcard) draft.listen.push({ address: a, at });
  } else if (address) {
    draft.listen.push({ address: formatIp(address), at });
  } else {
    const prefix = target.value.text.includes('/');
    out.error(p.file, target.token, {
      code: DiagnosticCode.InvalidAddress, directive: 'interface',
      message: `interface listen: "${target.value.text}" is not an address`,
      hint: prefix
        ? 'give one address per `interface listen` line'
        : 'interface names are not resolved yet; write the interface\'s address (e.g. interface listen 192.168.1.10), or all/ipv4/ipv6',
    });
  }
}

/** ntpd's advice for leapsmearinterval (ntp_misc(5), NTPsec leapsmear.adoc): several hours up to a day. */
const LEAP_SMEAR_ADVISED_S = { min: 7200, max: 86_400 } as const;

/** ntpd's `tos maxdist` default (s) and Gnomon's holdover default (s): docs/discipline.md. */
export const DEFAULT_MAXDIST_S = 1.5;
export const DEFAULT_HOLDOVER_S = 3600;

function applyTos(p: ParsedDirective, draft: Draft, out: DiagnosticList): void {
  for (const [name, min, hint] of [
    ['maxdist', 0.001, 'ntpd\'s default is 1.5 s; the root distance above which served time is no longer vouched for'],
    ['holdover', 0, 'seconds to keep serving on the last frequency after the reference is lost; 0 = none, 3600 = the default'],
  ] as const) {
    const value = p.options.get(name)?.value;
    if (value?.value.kind !== 'number') continue;
    const n = value.value.number;
    if (n < min) {
      out.error(p.file, value.token, { code: DiagnosticCode.OutOfRange, directive: 'tos', message: `tos ${name} ${n}: must be at least ${min}`, hint });
      continue;
    }
    if (name === 'maxdist') draft.maxDistanceS = n;
    else draft.holdoverS = n;
  }
  // Integer ranges are checked by the directive table (minsane 1-15, orphan 1-16).
  const minsane = p.options.get('minsane')?.value?.value;
  if (minsane?.kind === 'number') draft.minSane = minsane.number;
  const orphan = p.options.get('orphan')?.value?.value;
  if (orphan?.kind === 'number') {
    if (orphan.number < 16) draft.orphanStratum = orphan.number;
    else delete draft.orphanStratum;
  }
}

function applyLeapSmear(p: ParsedDirective, draft: Draft, out: DiagnosticList): void {
  const arg = p.args[0];
  if (arg?.value.kind !== 'number') return;
  const seconds = arg.value.number;
  if (seconds === 0) {
    delete draft.leapSmearIntervalS; // ntpd: 0 = no smear; the later line wins, as for every singleton
    return;
  }
  draft.leapSmearIntervalS = seconds;
  if (seconds < LEAP_SMEAR_ADVISED_S.min || seconds > LEAP_SMEAR_ADVISED_S.max) {
    out.warning(p.file, arg.token, {
      code: DiagnosticCode.DiscouragedValue, directive: 'leapsmearinterval',
      message: `leapsmearinterval: ${seconds} s is outside the ${LEAP_SMEAR_ADVISED_S.min} to ${LEAP_SMEAR_ADVISED_S.max} s ntpd recommends`,
      hint: seconds < LEAP_SMEAR_ADVISED_S.min
        ? 'a short smear changes the rate faster than clients follow (ntpd slews at most 500 ppm); 86400 is the common choice'
        : 'a long smear keeps served time away from UTC for longer; 86400 (noon to noon) is what Google and AWS use',
    });
  }
}

/**
 * `broadcast ADDR ...`: IPv4 addresses other than multicast are taken as (subnet) broadcast
 * addresses, since which of them is a subnet's broadcast address depends on the interfaces at
 * run time (the sender logs it if no interface has it). Refused: IPv6 non-multicast (IPv6 has no
 * broadcast), 0.0.0.0, and loopback (127.0.0.0/8, ::1), which would reach nobody. ntpd takes any
 * address and sends unicast mode 5 to a plain host; Gnomon is stricter there only for the
 * addresses that can never be what was meant.
 */
function compileBroadcast(p: ParsedDirective, out: DiagnosticList): BroadcastLine | undefined {
  const arg = p.args[0];
  if (arg?.value.kind !== 'address') return undefined;
  const a = arg.value.address;
  const b = a.bytes;
  const multicast = a.family === 4 ? (b[0]! & 0xf0) === 0xe0 : b[0] === 0xff;
  const text = formatIp(a);
  const refuse = (message: string, hint: string): undefined => {
    out.error(p.file, arg.token, { code: DiagnosticCode.InvalidAddress, directive: 'broadcast', message, hint });
    return undefined;
  };
  if (a.family === 6 && !multicast) {
    return refuse(`broadcast: ${text} is not a multicast address, and IPv6 has no broadcast`,
      'use an IPv6 multicast group, e.g. ff05::101 (NTP, site-local) or ff02::101 (link-local)');
  }
  if (a.family === 4 && (b.every((x) => x === 0) || b[0] === 127)) {
    return refuse(`broadcast: ${text} reaches no other host`,
      'write the subnet\'s broadcast address (e.g. 192.168.1.255 for 192.168.1.0/24) or the NTP multicast group 224.0.1.1');
  }
  const number = (name: string): number | undefined => {
    const value = p.options.get(name)?.value?.value;
    return value?.kind === 'number' ? value.number : undefined;
  };
  const key = number('key');
  return {
    address: text, family: a.family, multicast,
    ttl: number('ttl') ?? BROADCAST_DEFAULTS.ttl,
    minpoll: number('minpoll') ?? BROADCAST_DEFAULTS.minpoll,
    version: number('version') ?? BROADCAST_DEFAULTS.version,
    ...(key !== undefined ? { key } : {}),
    at: { file: p.file, line: p.name.line, column: p.name.column },
  };
}

function checkFudgePairs(draft: Draft, out: DiagnosticList): void {
  for (const { line, file, token } of draft.fudge) {
    const { type, unit } = line.refclock;
    if (draft.associations.some((a) => a.refclock?.type === type && a.refclock.unit === unit)) continue;
    out.warning(file, token, {
      code: DiagnosticCode.FudgeWithoutServer, directive: 'fudge',
      message: `fudge: no server line configures refclock ${describeRefclock(type, unit)}; this fudge has no effect`,
      hint: `add "server 127.127.${type}.${unit}"`,
    });
  }
}

function freeze(draft: Draft, refclocks: readonly RefclockConfig[]): GnomonConfig {
  const stats = freezeStats(draft.stats);
  return {
    listen: draft.listen, port: draft.port, restrict: draft.restrict, discard: draft.discard,
    mru: { maxdepth: draft.mruMaxdepth }, associations: draft.associations, fudge: draft.fudge.map((f) => f.line), refclocks,
    kernel: draft.kernel.kernel, tinker: { stepS: draft.kernel.stepS, panicS: draft.kernel.panicS },
    discipline: { holdoverS: draft.holdoverS, maxDistanceS: draft.maxDistanceS, minSane: draft.minSane },
    ...(draft.orphanStratum !== undefined ? { orphanStratum: draft.orphanStratum } : {}),
    ...(draft.broadcastClient !== undefined ? { broadcastClient: draft.broadcastClient } : {}),
    ...(draft.driftfile !== undefined ? { driftfile: draft.driftfile } : {}),
    ...(draft.logfile !== undefined ? { logfile: draft.logfile } : {}),
    ...(draft.user !== undefined ? { user: draft.user } : {}),
    ...(draft.leapfile !== undefined ? { leapfile: draft.leapfile } : {}),
    ...(draft.leapSmearIntervalS !== undefined ? { leapSmearIntervalS: draft.leapSmearIntervalS } : {}),
    ...(stats !== undefined ? { stats } : {}),
    ...(draft.broadcast.length > 0 ? { broadcast: draft.broadcast } : {}),
    ...(draft.keys !== undefined ? { keys: draft.keys } : {}),
    ...(draft.trustedKeys.length > 0 ? { trustedKeys: draft.trustedKeys } : {}),
  };
}
