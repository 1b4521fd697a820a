/**
 * Small, byte-preserving edits of a config tree, for the CLI and the web page.
 *
 * Each edit rewrites only the lines it names and re-parses the result, so line numbers and
 * token positions are always consistent and every other line keeps its exact bytes.
 * Edits do not validate semantics; compile the new tree before writing it.
 */
import { parseTree, type ConfigLine, type ConfigTree, type LineEnding } from './tree.js';

export type ConfigEditErrorCode = 'CONFIG_EDIT_NO_SUCH_LINE' | 'CONFIG_EDIT_NOT_A_DIRECTIVE' | 'CONFIG_EDIT_UNWRITABLE_TOKEN';

export class ConfigEditError extends Error {
  override readonly name = 'ConfigEditError';
  constructor(readonly code: ConfigEditErrorCode, message: string) {
    super(message);
  }
}

/**
 * A value as token text: bare when it can be, double-quoted when it holds spaces or "#".
 * ntp.conf has no escapes, so a value with a double quote or a line break cannot be written.
 */
export function formatToken(value: string): string {
  if (/["\n\r]/.test(value)) {
    throw new ConfigEditError('CONFIG_EDIT_UNWRITABLE_TOKEN', `cannot write ${JSON.stringify(value)}: ntp.conf has no way to escape quotes or line breaks`);
  }
  return value !== '' && !/[\s#]/.test(value) ? value : `"${value}"`;
}

/** New line text for a directive, single-spaced. */
export function formatDirective(name: string, args: readonly string[]): string {
  if (!/^[A-Za-z][A-Za-z0-9_]*$/.test(name)) {
    throw new ConfigEditError('CONFIG_EDIT_UNWRITABLE_TOKEN', `"${name}" is not a directive name`);
  }
  return [name, ...args.map(formatToken)].join(' ');
}

/** The ending most lines use, so added lines match the file's convention. */
export function dominantEnding(tree: ConfigTree): '\n' | '\r\n' {
  let crlf = 0;
  let lf = 0;
  for (const line of tree.lines) {
    if (line.ending === '\r\n') crlf++;
    else if (line.ending === '\n') lf++;
  }
  return crlf > lf ? '\r\n' : '\n';
}

export function appendDirective(tree: ConfigTree, name: string, args: readonly string[]): ConfigTree {
  return insertDirective(tree, tree.lines.length + 1, name, args);
}

/** Inserts a directive so that it becomes line `lineNumber` (length + 1 appends). */
export function insertDirective(tree: ConfigTree, lineNumber: number, name: string, args: readonly string[]): ConfigTree {
  if (!Number.isInteger(lineNumber) || lineNumber < 1 || lineNumber > tree.lines.length + 1) {
    throw noSuchLine(tree, lineNumber);
  }
  const ending = dominantEnding(tree);
  const pieces = tree.lines.map(lineText);
  const lastIndex = pieces.length - 1;
  const last = tree.lines[lastIndex];
  // A final line without a newline must get one, or the new directive would join it.
  if (last && last.ending === '' && lineNumber === tree.lines.length + 1) pieces[lastIndex] = last.raw + ending;
  pieces.splice(lineNumber - 1, 0, formatDirective(name, args) + ending);
  return parseTree(pieces.join(''));
}

export function removeLine(tree: ConfigTree, lineNumber: number): ConfigTree {
  lineAt(tree, lineNumber);
  return parseTree(tree.lines.filter((line) => line.number !== lineNumber).map(lineText).join(''));
}

/**
 * Replaces everything after the directive name, keeping the indentation, the spacing after
 * the name and any trailing spaces and comment: `fudge  127.127.1.0 stratum 5  # lan`
 * with ["127.127.1.0", "stratum", "4"] keeps the two spaces and "  # lan".
 */
export function replaceArguments(tree: ConfigTree, lineNumber: number, args: readonly string[]): ConfigTree {
  const line = lineAt(tree, lineNumber);
  const [name, first] = line.tokens;
  const lastToken = line.tokens[line.tokens.length - 1];
  if (!name || !lastToken) {
    throw new ConfigEditError('CONFIG_EDIT_NOT_A_DIRECTIVE', `line ${lineNumber} is blank or a comment; it has no arguments to replace`);
  }
  const separator = first ? line.raw.slice(name.end, first.start) : ' ';
  const newArgs = args.map(formatToken).join(' ');
  const raw = line.raw.slice(0, name.end) + (newArgs === '' ? '' : separator + newArgs) + line.raw.slice(lastToken.end);
  return parseTree(tree.lines.map((l) => (l.number === lineNumber ? raw + l.ending : lineText(l))).join(''));
}

/** Lines whose directive is `name`, in file order. */
export function findDirectives(tree: ConfigTree, name: string): ConfigLine[] {
  return tree.lines.filter((line) => line.tokens[0]?.value === name);
}

function lineText(line: { readonly raw: string; readonly ending: LineEnding }): string {
  return line.raw + line.ending;
}

function lineAt(tree: ConfigTree, lineNumber: number): ConfigLine {
  const line = tree.lines[lineNumber - 1];
  if (!Number.isInteger(lineNumber) || !line) throw noSuchLine(tree, lineNumber);
  return line;
}

function noSuchLine(tree: ConfigTree, lineNumber: number): ConfigEditError {
  return new ConfigEditError('CONFIG_EDIT_NO_SUCH_LINE', `no line ${lineNumber}: the file has ${tree.lines.length} lines`);
}
