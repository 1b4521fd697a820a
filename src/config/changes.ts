/**
 * Config changes for the CLI and the web page, pure: ConfigChange + file text → new text, or
 * refusal with field-level errors (docs/config-service.md).
 *
 * Every change is checked twice: first its own values (an address that is an IP literal, a
 * prefix in range, known flags, integers in range, a broadcast address that is one), which
 * also keeps hostile text (quotes, line breaks, "#", HTML) out of the file entirely; then the
 * whole resulting file is compiled with the daemon's compiler, and its errors on the edited
 * line are mapped back to the field that produced the offending token. Only the edited lines
 * change (edit.ts); every other byte of the file stays as it was.
 */
import { addressBits, formatIp, networkOf, parseIp, prefixFromMask, sameAddress, type IpAddress } from './address.js';
import { compileConfig } from './compile.js';
import { formatDiagnostic } from './diagnostics.js';
import { ConfigEditError, insertDirective, removeLine, replaceArguments } from './edit.js';
import { expandIncludes, type IncludeRead, type PlacedLine } from './include.js';
import { RESTRICT_FLAGS, BROADCAST_DEFAULTS, type ConfigDiagnostic, type RestrictFlag } from './model.js';
import { finish } from './parse.js';
import { didYouMean } from './suggest.js';
import { parseTree, type ConfigLine, type ConfigTree } from './tree.js';

export type ConfigChange =
  | { kind: 'restrict-add'; address: string; prefixLength?: number; mask?: string; flags: string[] }
  | { kind: 'restrict-remove'; address: string; prefixLength?: number; mask?: string }
  | { kind: 'restrict-set-default'; flags: string[]; family?: 'ipv4' | 'ipv6' }
  | { kind: 'broadcast-add'; address: string; ttl?: number; key?: number; minpoll?: number; version?: number }
  | { kind: 'broadcast-remove'; address: string };

/**
 * A problem with one input of a change. `field` names the input: address, prefixLength, mask,
 * flags, family, ttl, key, minpoll, version; or `config` for an error elsewhere in the file.
 */
export interface FieldError {
  field: string;
  code: string;
  message: string;
  hint?: string;
}

export type ChangeOutcome =
  | { ok: true; text: string; warnings: string[] }
  | { ok: false; code: 'CONFIG_INVALID' | 'CONFIG_NO_SUCH_ENTRY'; message: string; fieldErrors: FieldError[]; diagnostics: string[] };

export interface ChangeContext {
  /** The file's path, for diagnostics and relative includefile paths. */
  readonly fileName: string;
  /** Supplies included files (store.ts reads them from disk); without it includes are not followed. */
  readonly readInclude?: (path: string) => IncludeRead;
  /**
   * The directed broadcast addresses of the box's IPv4 interfaces (address | ~netmask), which
   * `broadcast-add` accepts besides multicast groups and 255.255.255.255.
   */
  readonly broadcastAddresses: readonly string[];
}

/** Field error codes beyond the compiler's (diagnostics.ts). */
export const ChangeCode = {
  InvalidAddress: 'CONFIG_INVALID_ADDRESS',
  InvalidMask: 'CONFIG_INVALID_MASK',
  HostBitsSet: 'CONFIG_HOST_BITS_SET',
  UnknownFlag: 'CONFIG_UNKNOWN_OPTION',
  OutOfRange: 'CONFIG_OUT_OF_RANGE',
  ConflictingOptions: 'CONFIG_CONFLICTING_OPTIONS',
  FamilyMismatch: 'CONFIG_FAMILY_MISMATCH',
  /** broadcast-add to an address that is neither multicast, 255.255.255.255 nor an interface's broadcast address. */
  NotBroadcast: 'CONFIG_NOT_BROADCAST',
  NoSuchEntry: 'CONFIG_NO_SUCH_ENTRY',
  /** A change object that is not one of ConfigChange's shapes (the web passes JSON). */
  BadChange: 'CONFIG_BAD_CHANGE',
} as const;

/** One restrict line, for `gnomon config restrict list` and the web page. */
export interface RestrictEntry {
  readonly file: string;
  readonly line: number;
  /** Lines in the root file can be edited; lines from includefile files are shown only. */
  readonly editable: boolean;
  readonly kind: 'default' | 'source' | 'address';
  readonly family: 'any' | 'ipv4' | 'ipv6';
  /** Network address (canonical) for kind 'address'. */
  readonly address?: string;
  readonly prefixLength?: number;
  readonly flags: readonly string[];
  /** The line as written, without its ending. */
  readonly text: string;
  readonly comment?: string;
  /** This line's own errors (a hand-written line Gnomon refuses), formatted; empty when it compiles. */
  readonly errors: readonly string[];
}

/** One broadcast line, for `gnomon config broadcast list` and the web page. */
export interface BroadcastEntry {
  readonly file: string;
  readonly line: number;
  readonly editable: boolean;
  readonly address: string;
  readonly multicast: boolean;
  readonly ttl: number;
  readonly minpoll: number;
  readonly version: number;
  readonly key?: number;
  readonly text: string;
  readonly comment?: string;
  readonly errors: readonly string[];
}

const FLAG_SET: ReadonlySet<string> = new Set(RESTRICT_FLAGS);
const MAX_VALUE_LENGTH = 64;

/** Applies `change` to the file text. Pure: the caller does the IO (store.ts). */
export function applyChange(text: string, change: ConfigChange, ctx: ChangeContext): ChangeOutcome {
  const shape = checkShape(change);
  if (shape) return refuse([shape]);
  const tree = parseTree(text);
  let edit: Edit | FieldError[] | NoEntry;
  try {
    switch (change.kind) {
      case 'restrict-add': edit = restrictAdd(tree, change, ctx); break;
      case 'restrict-remove': edit = restrictRemove(tree, change, ctx); break;
      case 'restrict-set-default': edit = restrictSetDefault(tree, change, ctx); break;
      case 'broadcast-add': edit = broadcastAdd(tree, change, ctx); break;
      case 'broadcast-remove': edit = broadcastRemove(tree, change, ctx); break;
    }
  } catch (error) {
    // Values are checked before they reach edit.ts; this is a last line of defence.
    if (!(error instanceof ConfigEditError)) throw error;
    return refuse([{ field: 'config', code: error.code, message: error.message }]);
  }
  if (Array.isArray(edit)) return refuse(edit);
  if ('noEntry' in edit) {
    return { ok: false, code: 'CONFIG_NO_SUCH_ENTRY', message: edit.noEntry, fieldErrors: [{ field: edit.field, code: ChangeCode.NoSuchEntry, message: edit.noEntry }], diagnostics: [] };
  }
  return judge(edit, ctx);
}

/** Every diagnostic of a whole text, compiled as the daemon compiles it. */
export function validateText(text: string, ctx: Pick<ChangeContext, 'fileName' | 'readInclude'>): { ok: boolean; diagnostics: readonly ConfigDiagnostic[] } {
  const result = compile(text, ctx);
  return { ok: !result.diagnostics.some((d) => d.severity === 'error'), diagnostics: result.diagnostics };
}

export function listRestrict(text: string, ctx: Pick<ChangeContext, 'fileName' | 'readInclude'>): RestrictEntry[] {
  return placedLines(text, ctx).filter(({ line }) => line.tokens[0]?.value === 'restrict').map(({ file, line }) => {
    const alone = compileConfig([{ file, line }]);
    const rule = alone.config?.restrict[0];
    const errors = alone.diagnostics.filter((d) => d.severity === 'error').map(formatDiagnostic);
    const common = { file, line: line.number, editable: file === ctx.fileName, text: line.raw, errors, ...(line.comment ? { comment: line.comment.text } : {}) };
    if (!rule) return { ...common, kind: 'address' as const, family: 'any' as const, address: line.tokens[1]?.value ?? '', flags: [] };
    return {
      ...common, kind: rule.kind, family: rule.family, flags: [...rule.flags],
      ...(rule.address !== undefined ? { address: rule.address } : {}),
      ...(rule.prefixLength !== undefined ? { prefixLength: rule.prefixLength } : {}),
    };
  });
}

export function listBroadcast(text: string, ctx: Pick<ChangeContext, 'fileName' | 'readInclude'>): BroadcastEntry[] {
  return placedLines(text, ctx).filter(({ line }) => line.tokens[0]?.value === 'broadcast').map(({ file, line }) => {
    const alone = compileConfig([{ file, line }]);
    const b = alone.config?.broadcast?.[0];
    const errors = alone.diagnostics.filter((d) => d.severity === 'error').map(formatDiagnostic);
    const common = { file, line: line.number, editable: file === ctx.fileName, text: line.raw, errors, ...(line.comment ? { comment: line.comment.text } : {}) };
    if (!b) return { ...common, address: line.tokens[1]?.value ?? '', multicast: false, ...BROADCAST_DEFAULTS };
    return { ...common, address: b.address, multicast: b.multicast, ttl: b.ttl, minpoll: b.minpoll, version: b.version, ...(b.key !== undefined ? { key: b.key } : {}) };
  });
}

// ── the changes ──────────────────────────────────────────────────────────────────────────────

/** A proposed edit: the new text, and which line (of the root file) carries the user's values. */
interface Edit {
  readonly tree: ConfigTree;
  /** Line number of the added/rewritten line in the new text, with the field each argument came from. */
  readonly edited?: { readonly line: number; readonly fields: readonly string[] };
  readonly warnings: string[];
}

interface NoEntry {
  readonly noEntry: string;
  readonly field: string;
}

interface Target {
  readonly address: IpAddress;
  readonly prefixLength: number;
  /** Tokens to write: ["10.0.0.0/8"] or ["10.0.0.0", "mask", "255.0.0.0"] or ["10.0.0.1"]. */
  readonly tokens: readonly string[];
  readonly fields: readonly string[];
}

function restrictAdd(tree: ConfigTree, change: Extract<ConfigChange, { kind: 'restrict-add' }>, ctx: ChangeContext): Edit | FieldError[] {
  const errors: FieldError[] = [];
  const target = restrictTarget(change, errors, true);
  const flags = checkFlags(change.flags, errors);
  if (!target || !flags || errors.length > 0) return errors;
  const args = [...target.tokens, ...flags];
  const fields = [...target.fields, ...flags.map(() => 'flags')];
  const matches = restrictLines(tree, ctx).filter((m) => m.rule.kind === 'address' && m.rule.address === formatIp(target.address) && m.rule.prefixLength === target.prefixLength);
  const written = `${target.tokens.join(' ')}`;
  if (matches.length === 0) {
    const last = restrictLines(tree, ctx).at(-1);
    const lineNumber = last ? last.line.number + 1 : tree.lines.length + 1;
    return { tree: insertDirective(tree, lineNumber, 'restrict', args), edited: { line: lineNumber, fields }, warnings: [] };
  }
  return replaceRule(tree, matches.map((m) => m.line), args, fields, `restrict ${written}`);
}

function restrictRemove(tree: ConfigTree, change: Extract<ConfigChange, { kind: 'restrict-remove' }>, ctx: ChangeContext): Edit | FieldError[] | NoEntry {
  const errors: FieldError[] = [];
  const target = restrictTarget(change, errors, false);
  if (!target || errors.length > 0) return errors;
  const network = formatIp(networkOf(target.address, target.prefixLength));
  const matches = restrictLines(tree, ctx).filter((m) => m.rule.kind === 'address' && m.rule.address === network && m.rule.prefixLength === target.prefixLength);
  if (matches.length === 0) {
    return { noEntry: `no restrict line for ${network}/${target.prefixLength} in ${ctx.fileName}`, field: 'address' };
  }
  return { tree: removeLines(tree, matches.map((m) => m.line.number)), warnings: matches.length > 1 ? [`removed ${matches.length} lines for ${network}/${target.prefixLength} (lines ${matches.map((m) => m.line.number).join(', ')})`] : [] };
}

function restrictSetDefault(tree: ConfigTree, change: Extract<ConfigChange, { kind: 'restrict-set-default' }>, ctx: ChangeContext): Edit | FieldError[] {
  const errors: FieldError[] = [];
  const flags = checkFlags(change.flags, errors);
  if (change.family !== undefined && change.family !== 'ipv4' && change.family !== 'ipv6') {
    errors.push({ field: 'family', code: ChangeCode.FamilyMismatch, message: `family must be ipv4 or ipv6 (or absent for both), got ${describe(change.family)}` });
  }
  if (!flags || errors.length > 0) return errors;
  const family = change.family ?? 'any';
  const prefix = family === 'ipv4' ? ['-4'] : family === 'ipv6' ? ['-6'] : [];
  const args = [...prefix, 'default', ...flags];
  const fields = [...prefix.map(() => 'family'), 'address', ...flags.map(() => 'flags')];
  const all = restrictLines(tree, ctx);
  const matches = all.filter((m) => m.rule.kind === 'default' && m.rule.family === family);
  if (matches.length === 0) {
    const lineNumber = all[0]?.line.number ?? tree.lines.length + 1;
    return { tree: insertDirective(tree, lineNumber, 'restrict', args), edited: { line: lineNumber, fields }, warnings: [] };
  }
  return replaceRule(tree, matches.map((m) => m.line), args, fields, `restrict ${[...prefix, 'default'].join(' ')}`);
}

function broadcastAdd(tree: ConfigTree, change: Extract<ConfigChange, { kind: 'broadcast-add' }>, ctx: ChangeContext): Edit | FieldError[] {
  const errors: FieldError[] = [];
  const address = checkIp(change.address, 'address', errors);
  if (address) {
    const problem = notBroadcast(address, ctx.broadcastAddresses);
    if (problem) errors.push(problem);
  }
  const args: string[] = [];
  const fields: string[] = [];
  if (address) {
    args.push(formatIp(address));
    fields.push('address');
  }
  const options: [keyof typeof BROADCAST_RANGES, number | undefined][] = [['ttl', change.ttl], ['key', change.key], ['minpoll', change.minpoll], ['version', change.version]];
  for (const [name, value] of options) {
    if (value === undefined) continue;
    const [min, max] = BROADCAST_RANGES[name];
    if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
      errors.push({ field: name, code: ChangeCode.OutOfRange, message: `${name} must be an integer from ${min} to ${max}, got ${describe(value)}`, hint: BROADCAST_HINTS[name] });
      continue;
    }
    args.push(name, String(value));
    fields.push(name, name);
  }
  if (!address || errors.length > 0) return errors;
  const matches = broadcastLines(tree).filter((m) => m.address !== undefined && sameAddress(m.address, address));
  if (matches.length === 0) {
    const lineNumber = (broadcastLines(tree).at(-1)?.line.number ?? tree.lines.length) + 1;
    return { tree: insertDirective(tree, lineNumber, 'broadcast', args), edited: { line: lineNumber, fields }, warnings: [] };
  }
  return replaceRule(tree, matches.map((m) => m.line), args, fields, `broadcast ${formatIp(address)}`);
}

function broadcastRemove(tree: ConfigTree, change: Extract<ConfigChange, { kind: 'broadcast-remove' }>, ctx: ChangeContext): Edit | FieldError[] | NoEntry {
  const errors: FieldError[] = [];
  const address = checkIp(change.address, 'address', errors);
  if (!address) return errors;
  const matches = broadcastLines(tree).filter((m) => m.address !== undefined && sameAddress(m.address, address));
  if (matches.length === 0) return { noEntry: `no broadcast line for ${formatIp(address)} in ${ctx.fileName}`, field: 'address' };
  return { tree: removeLines(tree, matches.map((m) => m.line.number)), warnings: [] };
}

const BROADCAST_RANGES = { ttl: [1, 255], key: [1, 65535], minpoll: [0, 17], version: [1, 4] } as const;
const BROADCAST_HINTS = {
  ttl: 'multicast hops; 1 keeps packets on the local link',
  key: 'a symmetric key id from the keys file',
  minpoll: 'one packet every 2^minpoll seconds; ntpd\'s default is 6 (64 s)',
  version: 'NTP version in the packets; 4 unless old clients need 3',
} as const;

/**
 * The rule's flags become exactly the new ones: the first line for that rule is rewritten in
 * place (its indentation and comment kept) and further lines for the same rule are removed,
 * since ntpd ORs the flags of repeated lines and they would otherwise add flags back.
 */
function replaceRule(tree: ConfigTree, lines: readonly ConfigLine[], args: readonly string[], fields: readonly string[], what: string): Edit {
  const [first, ...others] = lines;
  if (!first) throw new Error('replaceRule without a line');
  const warnings = [`${what}: the existing line ${first.number} was rewritten (was: ${first.raw.trim()})`];
  if (others.length > 0) warnings.push(`${what}: ${others.length} more line(s) for the same rule removed (lines ${others.map((l) => l.number).join(', ')}); ntpd would combine their flags`);
  const replaced = replaceArguments(tree, first.number, args);
  return { tree: removeLines(replaced, others.map((l) => l.number)), edited: { line: first.number, fields }, warnings };
}

function removeLines(tree: ConfigTree, numbers: readonly number[]): ConfigTree {
  return [...numbers].sort((a, b) => b - a).reduce((t, n) => removeLine(t, n), tree);
}

// ── checking values ──────────────────────────────────────────────────────────────────────────

function checkShape(change: unknown): FieldError | undefined {
  const c = change as { kind?: unknown } | null;
  const kinds = ['restrict-add', 'restrict-remove', 'restrict-set-default', 'broadcast-add', 'broadcast-remove'];
  if (typeof c !== 'object' || c === null || typeof c.kind !== 'string' || !kinds.includes(c.kind)) {
    return { field: 'kind', code: ChangeCode.BadChange, message: `not a config change (kind must be one of ${kinds.join(', ')})` };
  }
  const record = c as Record<string, unknown>;
  if ((c.kind === 'restrict-add' || c.kind === 'restrict-set-default') && !Array.isArray(record.flags)) {
    return { field: 'flags', code: ChangeCode.BadChange, message: 'flags must be a list of restrict flags (it may be empty)' };
  }
  if (c.kind !== 'restrict-set-default' && typeof record.address !== 'string') {
    return { field: 'address', code: ChangeCode.InvalidAddress, message: 'an address is required' };
  }
  return undefined;
}

/** An IP literal and nothing else: this is also what keeps quotes, "#", spaces and markup out of the file. */
function checkIp(value: string, field: string, errors: FieldError[]): IpAddress | undefined {
  const text = value.trim();
  if (text === '') {
    errors.push({ field, code: ChangeCode.InvalidAddress, message: 'an address is required', hint: 'e.g. 192.168.1.0/24, 10.0.0.5 or 2001:db8::/32' });
    return undefined;
  }
  const address = text.length <= MAX_VALUE_LENGTH && /^[0-9A-Fa-f:.]+$/.test(text) ? parseIp(text) : undefined;
  if (!address) {
    const name = /^[A-Za-z0-9.-]+$/.test(text) && /[A-Za-z]/.test(text);
    errors.push({
      field, code: ChangeCode.InvalidAddress,
      message: name ? `${describe(text)} is a host name; an IP address is needed` : `${describe(text)} is not an IP address`,
      hint: name ? 'access rules and broadcast targets are never resolved through DNS; write the address' : 'e.g. 192.168.1.0/24, 10.0.0.5 or 2001:db8::/32',
    });
  }
  return address;
}

function restrictTarget(change: { address: string; prefixLength?: number; mask?: string }, errors: FieldError[], strict: boolean): Target | undefined {
  const raw = change.address.trim();
  if (raw === 'default' || raw === 'source') {
    errors.push({ field: 'address', code: ChangeCode.InvalidAddress, message: `restrict ${raw} is not an address rule`, hint: raw === 'default' ? 'use set-default to change the default rule' : '"restrict source" is edited by hand in the file' });
    return undefined;
  }
  const slash = raw.indexOf('/');
  const address = checkIp(slash === -1 ? raw : raw.slice(0, slash), 'address', errors);
  if (!address) return undefined;
  const bits = addressBits(address.family);
  let prefixLength = bits;
  let spelling: 'bare' | 'cidr' | 'mask' = 'bare';
  let prefixField = 'address';
  const given = [slash !== -1, change.prefixLength !== undefined, change.mask !== undefined && change.mask !== ''].filter(Boolean).length;
  if (given > 1) {
    errors.push({ field: change.mask !== undefined ? 'mask' : 'prefixLength', code: ChangeCode.ConflictingOptions, message: 'give the network size once: ADDRESS/LENGTH, a prefix length or a mask', hint: 'e.g. 10.0.0.0/8 or 10.0.0.0 mask 255.0.0.0' });
    return undefined;
  }
  if (slash !== -1 || change.prefixLength !== undefined) {
    const lengthText = slash !== -1 ? raw.slice(slash + 1) : String(change.prefixLength);
    prefixField = slash !== -1 ? 'address' : 'prefixLength';
    if (!/^\d{1,3}$/.test(lengthText) || Number(lengthText) > bits) {
      errors.push({ field: prefixField, code: ChangeCode.InvalidMask, message: `prefix length ${describe(slash !== -1 ? `/${lengthText}` : change.prefixLength)} is not 0 to ${bits}`, hint: `e.g. ${formatIp(address)}/${address.family === 4 ? 24 : 64}` });
      return undefined;
    }
    prefixLength = Number(lengthText);
    spelling = 'cidr';
  } else if (change.mask !== undefined && change.mask !== '') {
    prefixField = 'mask';
    const mask = checkIp(change.mask, 'mask', errors);
    if (!mask) return undefined;
    if (mask.family !== address.family) {
      errors.push({ field: 'mask', code: ChangeCode.FamilyMismatch, message: `mask ${formatIp(mask)} is IPv${mask.family} but ${formatIp(address)} is IPv${address.family}` });
      return undefined;
    }
    const fromMask = prefixFromMask(mask);
    if (fromMask === undefined) {
      errors.push({ field: 'mask', code: ChangeCode.InvalidMask, message: `mask ${formatIp(mask)} is not contiguous`, hint: 'a mask is ones then zeros, e.g. 255.255.255.0 (/24)' });
      return undefined;
    }
    prefixLength = fromMask;
    spelling = 'mask';
  }
  const network = networkOf(address, prefixLength);
  if (strict && !sameAddress(network, address)) {
    errors.push({ field: 'address', code: ChangeCode.HostBitsSet, message: `${formatIp(address)} has bits set outside its /${prefixLength} prefix`, hint: `write ${formatIp(network)}/${prefixLength}` });
    return undefined;
  }
  const base = formatIp(network);
  if (prefixLength === bits || spelling === 'bare') return { address: network, prefixLength, tokens: [base], fields: ['address'] };
  if (spelling === 'mask') {
    const maskText = formatIp(maskOf(address.family, prefixLength));
    return { address: network, prefixLength, tokens: [base, 'mask', maskText], fields: ['address', 'mask', 'mask'] };
  }
  return { address: network, prefixLength, tokens: [`${base}/${prefixLength}`], fields: ['address'] };
}

function maskOf(family: 4 | 6, prefixLength: number): IpAddress {
  const bytes = Array.from({ length: family === 4 ? 4 : 16 }, (_, i) => {
    const keep = Math.max(0, Math.min(8, prefixLength - 8 * i));
    return (0xff << (8 - keep)) & 0xff;
  });
  return { family, bytes };
}

function checkFlags(flags: readonly unknown[], errors: FieldError[]): RestrictFlag[] | undefined {
  const out: RestrictFlag[] = [];
  let bad = false;
  for (const flag of flags) {
    const text = typeof flag === 'string' ? flag.trim() : '';
    if (!FLAG_SET.has(text)) {
      bad = true;
      const suggestion = typeof flag === 'string' && flag.length <= MAX_VALUE_LENGTH ? didYouMean(flag, RESTRICT_FLAGS) : undefined;
      errors.push({ field: 'flags', code: ChangeCode.UnknownFlag, message: `${describe(flag)} is not a restrict flag`, hint: suggestion ?? `flags are: ${RESTRICT_FLAGS.join(', ')}` });
      continue;
    }
    if (!out.includes(text as RestrictFlag)) out.push(text as RestrictFlag);
  }
  return bad ? undefined : out;
}

/**
 * The strictest rule that needs no netmask in the file: a multicast group (224.0.0.0/4,
 * ff00::/8), the limited broadcast 255.255.255.255, or the directed broadcast address of one of
 * the box's own IPv4 interfaces as the kernel reports them. Anything else may be a host, which
 * would get unicast mode 5 packets nobody asked for.
 */
function notBroadcast(address: IpAddress, interfaceBroadcasts: readonly string[]): FieldError | undefined {
  const b = address.bytes;
  const text = formatIp(address);
  if (address.family === 4 && (b[0]! & 0xf0) === 0xe0) return undefined;
  if (address.family === 6 && b[0] === 0xff) return undefined;
  if (address.family === 6) {
    return { field: 'address', code: ChangeCode.NotBroadcast, message: `${text} is not a multicast address, and IPv6 has no broadcast`, hint: 'use an IPv6 multicast group, e.g. ff05::101 or ff02::101' };
  }
  if (b.every((x) => x === 255)) return undefined;
  if (interfaceBroadcasts.includes(text)) return undefined;
  const known = interfaceBroadcasts.length > 0 ? `this box's interfaces broadcast to ${interfaceBroadcasts.join(', ')}` : 'no interface of this box has a broadcast address';
  return {
    field: 'address', code: ChangeCode.NotBroadcast,
    message: `${text} is not a broadcast address of this box (${known}) nor a multicast group; broadcast to a host address is refused`,
    hint: 'use the subnet\'s broadcast address (192.168.1.255 for 192.168.1.0/24) or the NTP multicast group 224.0.1.1',
  };
}

function describe(value: unknown): string {
  return JSON.stringify(typeof value === 'string' && value.length > MAX_VALUE_LENGTH ? `${value.slice(0, MAX_VALUE_LENGTH)}…` : value) ?? String(value);
}

// ── reading the file's lines ─────────────────────────────────────────────────────────────────

interface PlacedRule {
  readonly line: ConfigLine;
  readonly rule: { kind: 'default' | 'source' | 'address'; family: 'any' | 'ipv4' | 'ipv6'; address?: string; prefixLength?: number };
}

/** Restrict lines of the root file that compile on their own, with their rule. */
function restrictLines(tree: ConfigTree, ctx: Pick<ChangeContext, 'fileName'>): PlacedRule[] {
  return tree.lines.filter((line) => line.tokens[0]?.value === 'restrict').flatMap((line) => {
    const rule = compileConfig([{ file: ctx.fileName, line }]).config?.restrict[0];
    return rule ? [{ line, rule }] : [];
  });
}

function broadcastLines(tree: ConfigTree): { line: ConfigLine; address?: IpAddress }[] {
  return tree.lines.filter((line) => line.tokens[0]?.value === 'broadcast').map((line) => {
    const token = line.tokens[1];
    const address = token ? parseIp(token.value) : undefined;
    return address ? { line, address } : { line };
  });
}

function placedLines(text: string, ctx: Pick<ChangeContext, 'fileName' | 'readInclude'>): readonly PlacedLine[] {
  return expandIncludes(ctx.fileName, text, ctx.readInclude ?? notFollowed).lines;
}

const notFollowed = (): IncludeRead => ({ ok: false, reason: 'not-followed', detail: 'includes are not followed here' });

function compile(text: string, ctx: Pick<ChangeContext, 'fileName' | 'readInclude'>) {
  return finish(expandIncludes(ctx.fileName, text, ctx.readInclude ?? notFollowed), []);
}

// ── judging the result ───────────────────────────────────────────────────────────────────────

function judge(edit: Edit, ctx: ChangeContext): ChangeOutcome {
  const text = edit.tree.lines.map((l) => l.raw + l.ending).join('');
  const result = compile(text, ctx);
  const errors = result.diagnostics.filter((d) => d.severity === 'error');
  const onEdited = (d: ConfigDiagnostic): boolean => edit.edited !== undefined && d.at.file === ctx.fileName && d.at.line === edit.edited.line;
  const warnings = [...edit.warnings, ...result.diagnostics.filter((d) => d.severity === 'warning' && onEdited(d)).map(formatDiagnostic)];
  if (errors.length === 0) return { ok: true, text, warnings };
  const line = edit.edited ? edit.tree.lines[edit.edited.line - 1] : undefined;
  const fieldErrors = errors.map((d): FieldError => {
    let field = 'config';
    if (onEdited(d) && line && edit.edited) {
      // Token 0 is the directive name; token i + 1 came from fields[i].
      const index = line.tokens.findIndex((t) => t.column === d.at.column);
      field = index >= 1 ? edit.edited.fields[index - 1] ?? 'config' : edit.edited.fields[0] ?? 'config';
    }
    return { field, code: d.code, message: d.message, ...(d.hint !== undefined ? { hint: d.hint } : {}) };
  });
  const elsewhere = errors.filter((d) => !onEdited(d)).length;
  const message = elsewhere > 0 && elsewhere === errors.length
    ? `the config would not load: ${elsewhere} error(s) outside the edited line (run gnomon config validate); nothing was written`
    : `the change is invalid: ${errors[0]?.message ?? 'error'}; nothing was written`;
  return { ok: false, code: 'CONFIG_INVALID', message, fieldErrors, diagnostics: errors.map(formatDiagnostic) };
}

function refuse(fieldErrors: FieldError[]): ChangeOutcome {
  const first = fieldErrors[0];
  return {
    ok: false, code: 'CONFIG_INVALID',
    message: `${first ? `${first.field}: ${first.message}` : 'invalid change'}; nothing was written`,
    fieldErrors, diagnostics: [],
  };
}
