/**
 * Checks one directive line against its entry in the directive table.
 *
 * Everything table-driven happens here: argument counts, option spelling, value types and
 * ranges, duplicates, "not acted on" warnings. What is left for the compile step is meaning
 * (masks, refclock pairing, cross-line checks). A bad token is reported and skipped, and
 * checking goes on, so one line with three mistakes yields three diagnostics.
 */
import { DiagnosticCode, type DiagnosticList } from './diagnostics.js';
import type { ArgSpec, DirectiveSpec, OptionSpec } from './directives.js';
import { didYouMean } from './suggest.js';
import type { Token } from './tree.js';
import { describeValue, parseValue, type Value, type ValueSpec } from './values.js';

export interface ParsedArg {
  readonly token: Token;
  readonly value: Value;
}

export interface ParsedOption {
  readonly spec: OptionSpec;
  readonly token: Token;
  /** The value of a `name VALUE` option; absent for flags and for invalid values. */
  readonly value?: ParsedArg;
}

export interface ParsedDirective {
  readonly spec: DirectiveSpec;
  readonly file: string;
  readonly name: Token;
  readonly family?: 4 | 6;
  readonly familyToken?: Token;
  /** One slot per `spec.args` entry; undefined where the argument was missing or invalid. */
  readonly args: readonly (ParsedArg | undefined)[];
  /** Valid `spec.rest` arguments, in order. */
  readonly rest: readonly ParsedArg[];
  /** Valid options by name; the last occurrence wins, as in ntpd. */
  readonly options: ReadonlyMap<string, ParsedOption>;
}

export function checkDirective(spec: DirectiveSpec, file: string, tokens: readonly Token[], out: DiagnosticList): ParsedDirective {
  const [name, ...rest] = tokens;
  if (!name) throw new Error('checkDirective needs at least the directive token');
  const directive = spec.name;
  const report = (severity: 'error' | 'warning', token: Token, code: DiagnosticCode, message: string, hint?: string): void => {
    out[severity](file, token, { code, message: `${directive}: ${message}`, directive, ...(hint !== undefined ? { hint } : {}) });
  };

  let i = 0;
  let family: 4 | 6 | undefined;
  let familyToken: Token | undefined;
  const first = rest[0];
  if (spec.familyPrefix && first && (first.value === '-4' || first.value === '-6')) {
    family = first.value === '-4' ? 4 : 6;
    familyToken = first;
    i = 1;
  }

  const checkValue = (valueSpec: ValueSpec, token: Token, what: string): ParsedArg | undefined => {
    const result = parseValue(valueSpec, token.value);
    if (!result.ok) {
      report('error', token, result.problem.code, `${what} expects ${result.problem.expected}, got "${token.value}"`, result.problem.hint);
      return undefined;
    }
    if (result.advice) {
      report('warning', token, result.advice.code, `${what} ${token.value} is outside the usual range ${result.advice.expected}`, result.advice.hint);
    }
    return { token, value: result.value };
  };

  const args: (ParsedArg | undefined)[] = [];
  for (const argSpec of spec.args ?? []) {
    const token = rest[i];
    if (!token || isOptionName(spec, token)) {
      report('error', token ?? name, DiagnosticCode.MissingArgument, `missing ${argSpec.name} (${describeValue(argSpec.value)})`, usage(spec));
      args.push(undefined);
      continue;
    }
    args.push(checkValue(argSpec.value, token, argSpec.name));
    i++;
  }

  const restArgs: ParsedArg[] = [];
  if (spec.rest) {
    const restSpec: ArgSpec & { min: number } = spec.rest;
    let count = 0;
    for (; i < rest.length; i++, count++) {
      const token = rest[i];
      if (!token) break;
      const parsed = checkValue(restSpec.value, token, restSpec.name);
      if (parsed) restArgs.push(parsed);
    }
    if (count < restSpec.min) {
      report('error', rest[rest.length - 1] ?? name, DiagnosticCode.MissingArgument,
        `expects at least ${restSpec.min} ${restSpec.name} (${describeValue(restSpec.value)})`, usage(spec));
    }
  }

  const options = new Map<string, ParsedOption>();
  const seen = new Map<string, Token>();
  for (; i < rest.length; i++) {
    const token = rest[i];
    if (!token) break;
    const optionSpec = spec.options?.find((o) => o.name === token.value);
    if (!optionSpec) {
      if (spec.options && spec.options.length > 0) {
        report('error', token, DiagnosticCode.UnknownOption, `unknown option "${token.value}"`,
          didYouMean(token.value, spec.options.map((o) => o.name)) ?? `options are: ${spec.options.map((o) => o.name).join(', ')}`);
      } else {
        report('error', token, DiagnosticCode.UnexpectedArgument, `unexpected argument "${token.value}"`, usage(spec));
      }
      continue;
    }
    const previous = seen.get(optionSpec.name);
    if (previous) {
      report('warning', token, DiagnosticCode.DuplicateOption, `${optionSpec.name} given twice (first at column ${previous.column}); the last one counts`);
    }
    seen.set(optionSpec.name, token);
    if (spec.support === 'acted' && !optionSpec.acted) {
      report('warning', token, DiagnosticCode.OptionNotImplemented, `option "${optionSpec.name}" is accepted but Gnomon does not act on it yet`, optionSpec.note);
    }
    if (!optionSpec.value) {
      options.set(optionSpec.name, { spec: optionSpec, token });
      continue;
    }
    const valueToken = rest[i + 1];
    if (!valueToken || isOptionName(spec, valueToken)) {
      report('error', token, DiagnosticCode.MissingValue, `${optionSpec.name} needs a value (${describeValue(optionSpec.value)})`, `write "${optionSpec.name} VALUE"`);
      options.delete(optionSpec.name);
      continue;
    }
    i++;
    const value = checkValue(optionSpec.value, valueToken, optionSpec.name);
    if (value) options.set(optionSpec.name, { spec: optionSpec, token, value });
    else options.delete(optionSpec.name);
  }

  return {
    spec, file, name, args, rest: restArgs, options,
    ...(family !== undefined && familyToken ? { family, familyToken } : {}),
  };
}

/** A token that spells one of the directive's option names (so it is not a missing value). */
function isOptionName(spec: DirectiveSpec, token: Token): boolean {
  return !token.quoted && (spec.options?.some((o) => o.name === token.value) ?? false);
}

/** Long option lists (restrict, tos) are cut so a hint stays one readable line. */
const USAGE_OPTIONS = 8;

/** One-line usage from the table, e.g. `server [-4|-6] ADDRESS [iburst] [minpoll N] ...`. */
export function usage(spec: DirectiveSpec): string {
  const parts = [spec.name];
  if (spec.familyPrefix) parts.push('[-4|-6]');
  for (const arg of spec.args ?? []) parts.push(arg.name.toUpperCase());
  if (spec.rest) parts.push(`${spec.rest.name.toUpperCase()}...`);
  const options = spec.options ?? [];
  for (const option of options.slice(0, USAGE_OPTIONS)) {
    parts.push(option.value ? `[${option.name} ${valuePlaceholder(option.value)}]` : `[${option.name}]`);
  }
  if (options.length > USAGE_OPTIONS) parts.push('[...]');
  return `usage: ${parts.join(' ')}`;
}

function valuePlaceholder(spec: ValueSpec): string {
  switch (spec.kind) {
    case 'int': return 'N';
    case 'number': return 'X';
    case 'bit': return '0|1';
    case 'enum': return spec.values.join('|');
    default: return spec.kind.toUpperCase();
  }
}
