/**
 * Diagnostic codes and the compiler-style one-line format.
 *
 * Codes are part of the interface: tests, `gnomon config validate --json` consumers and the
 * web page match on them, so a code is never renamed or reused for a different problem.
 */
import type { ConfigDiagnostic, SourcePosition } from './model.js';
import type { Token } from './tree.js';

export const DiagnosticCode = {
  /** Not a directive of ntpd, chrony or Gnomon. */
  UnknownDirective: 'CONFIG_UNKNOWN_DIRECTIVE',
  /** A chrony.conf directive whose ntp.conf equivalent must be written instead. */
  ForeignDirective: 'CONFIG_FOREIGN_DIRECTIVE',
  /** A known directive Gnomon accepts but does not act on yet (warning). */
  NotImplemented: 'CONFIG_NOT_IMPLEMENTED',
  /** A known option of an acted directive that Gnomon does not act on yet (warning). */
  OptionNotImplemented: 'CONFIG_OPTION_NOT_IMPLEMENTED',
  UnknownOption: 'CONFIG_UNKNOWN_OPTION',
  MissingArgument: 'CONFIG_MISSING_ARGUMENT',
  MissingValue: 'CONFIG_MISSING_VALUE',
  UnexpectedArgument: 'CONFIG_UNEXPECTED_ARGUMENT',
  InvalidValue: 'CONFIG_INVALID_VALUE',
  OutOfRange: 'CONFIG_OUT_OF_RANGE',
  /** In range for Gnomon but outside what ntpd accepts or recommends (warning). */
  DiscouragedValue: 'CONFIG_DISCOURAGED_VALUE',
  InvalidAddress: 'CONFIG_INVALID_ADDRESS',
  InvalidMask: 'CONFIG_INVALID_MASK',
  /** Address bits set beyond the mask; they are cleared (warning). */
  HostBitsSet: 'CONFIG_HOST_BITS_SET',
  FamilyMismatch: 'CONFIG_FAMILY_MISMATCH',
  ConflictingOptions: 'CONFIG_CONFLICTING_OPTIONS',
  DuplicateOption: 'CONFIG_DUPLICATE_OPTION',
  DuplicateDirective: 'CONFIG_DUPLICATE_DIRECTIVE',
  UnterminatedQuote: 'CONFIG_UNTERMINATED_QUOTE',
  InvalidRefclock: 'CONFIG_INVALID_REFCLOCK',
  RefclockNotImplemented: 'CONFIG_REFCLOCK_NOT_IMPLEMENTED',
  FudgeWithoutServer: 'CONFIG_FUDGE_WITHOUT_SERVER',
  /** Two refclocks of one kind with the same unit, or two on one GPIO line. */
  DuplicateRefclock: 'CONFIG_DUPLICATE_REFCLOCK',
  IncludeCycle: 'CONFIG_INCLUDE_CYCLE',
  IncludeTooDeep: 'CONFIG_INCLUDE_TOO_DEEP',
  IncludeMissing: 'CONFIG_INCLUDE_MISSING',
  IncludeUnreadable: 'CONFIG_INCLUDE_UNREADABLE',
  /** parseConfigText was given no way to read included files (warning). */
  IncludeNotFollowed: 'CONFIG_INCLUDE_NOT_FOLLOWED',
  /** A file named by `keys` or `leapfile` does not exist (warning). */
  FileMissing: 'CONFIG_FILE_MISSING',
  /** The file is not valid UTF-8; it is read byte for byte as Latin-1 (warning). */
  NotUtf8: 'CONFIG_NOT_UTF8',
} as const;
export type DiagnosticCode = (typeof DiagnosticCode)[keyof typeof DiagnosticCode];

export interface DiagnosticInput {
  readonly code: DiagnosticCode;
  readonly message: string;
  readonly hint?: string;
  readonly directive?: string;
}

/** Collects diagnostics for one pass; every problem is recorded, none stops the pass. */
export class DiagnosticList {
  readonly items: ConfigDiagnostic[] = [];

  error(file: string, token: Pick<Token, 'line' | 'column'>, input: DiagnosticInput): void {
    this.add('error', { file, line: token.line, column: token.column }, input);
  }

  warning(file: string, token: Pick<Token, 'line' | 'column'>, input: DiagnosticInput): void {
    this.add('warning', { file, line: token.line, column: token.column }, input);
  }

  add(severity: ConfigDiagnostic['severity'], at: SourcePosition, input: DiagnosticInput): void {
    const base = { severity, code: input.code, message: input.message, at };
    this.items.push({
      ...base,
      ...(input.hint !== undefined ? { hint: input.hint } : {}),
      ...(input.directive !== undefined ? { directive: input.directive } : {}),
    });
  }
}

/** `FILE:LINE:COL: error: MESSAGE [CODE] (hint: ...)`, the shape editors and CI logs link. */
export function formatDiagnostic(d: ConfigDiagnostic): string {
  const hint = d.hint ? ` (hint: ${d.hint})` : '';
  return `${formatPosition(d.at)}: ${d.severity}: ${d.message} [${d.code}]${hint}`;
}

export function formatPosition(at: SourcePosition): string {
  return `${at.file}:${at.line}:${at.column}`;
}

export function hasErrors(diagnostics: readonly ConfigDiagnostic[]): boolean {
  return diagnostics.some((d) => d.severity === 'error');
}
