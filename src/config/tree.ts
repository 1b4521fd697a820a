/**
 * The lossless ntp.conf tree (ARCHITECTURE.md principle 7).
 *
 * Every line keeps its exact text and line ending, so `printTree(parseTree(x)) === x` for
 * any string x. Tokens are a view onto that text, never a replacement for it: editing a line
 * means producing new line text (see edit.ts), and everything not edited stays byte-identical.
 *
 * Lexical rules, as ntpd reads ntp.conf:
 * - lines end at "\n"; a "\r" just before it is part of the line ending ("\r\n"), a lone
 *   "\r" elsewhere is whitespace;
 * - tokens are separated by spaces, tabs, "\r", "\v", "\f";
 * - "#" outside double quotes starts a comment that runs to the end of the line;
 * - a token starting with a double quote runs to the next double quote (spaces and "#"
 *   included); a missing closing quote is recorded on the token, not thrown, because the
 *   tree must represent every input;
 * - a byte-order mark at the very start of the file is skipped like whitespace.
 *
 * Columns are 1-based and count Unicode code points (a CJK character or an emoji is one
 * column, a tab is one column), which is what editors show in their status bar.
 */

export type LineEnding = '\n' | '\r\n' | '';

export interface Token {
  /** Exact source text, quotes included. */
  readonly text: string;
  /** The value the token stands for: `text` without its quotes. */
  readonly value: string;
  readonly line: number;
  readonly column: number;
  /** UTF-16 offsets of the token within its line's `raw` text; `end` is exclusive. */
  readonly start: number;
  readonly end: number;
  readonly quoted: boolean;
  /** A quoted token whose closing quote is missing; it runs to the end of the line. */
  readonly unterminated: boolean;
}

export interface Comment {
  /** From "#" to the end of the line, excluding the line ending. */
  readonly text: string;
  readonly column: number;
  readonly start: number;
}

export interface ConfigLine {
  /** 1-based. */
  readonly number: number;
  /** The line's text without its ending. */
  readonly raw: string;
  readonly ending: LineEnding;
  /** Directive name first, then its arguments; empty for blank and comment-only lines. */
  readonly tokens: readonly Token[];
  readonly comment?: Comment;
}

export interface ConfigTree {
  readonly lines: readonly ConfigLine[];
}

const BYTE_ORDER_MARK = '\uFEFF';

export function parseTree(text: string): ConfigTree {
  const lines: ConfigLine[] = [];
  let pos = 0;
  while (pos < text.length) {
    const newline = text.indexOf('\n', pos);
    let raw: string;
    let ending: LineEnding;
    if (newline === -1) {
      raw = text.slice(pos);
      ending = '';
      pos = text.length;
    } else if (newline > pos && text.charCodeAt(newline - 1) === 0x0d) {
      raw = text.slice(pos, newline - 1);
      ending = '\r\n';
      pos = newline + 1;
    } else {
      raw = text.slice(pos, newline);
      ending = '\n';
      pos = newline + 1;
    }
    lines.push(parseLine(raw, ending, lines.length + 1));
  }
  return { lines };
}

export function printTree(tree: ConfigTree): string {
  let text = '';
  for (const line of tree.lines) text += line.raw + line.ending;
  return text;
}

/** The directive name token of a line, if the line has one. */
export function directiveToken(line: ConfigLine): Token | undefined {
  return line.tokens[0];
}

function isSeparator(ch: string): boolean {
  return ch === ' ' || ch === '\t' || ch === '\r' || ch === '\v' || ch === '\f';
}

function parseLine(raw: string, ending: LineEnding, number: number): ConfigLine {
  const tokens: Token[] = [];
  let comment: Comment | undefined;
  let i = 0;
  let column = 1;
  // Walk by code point so columns match what an editor shows, even past astral characters.
  const advance = (): void => {
    i += (raw.codePointAt(i) ?? 0) > 0xffff ? 2 : 1;
    column++;
  };
  if (number === 1 && raw.startsWith(BYTE_ORDER_MARK)) advance();
  while (i < raw.length) {
    const ch = raw.charAt(i);
    if (isSeparator(ch)) {
      advance();
      continue;
    }
    if (ch === '#') {
      comment = { text: raw.slice(i), column, start: i };
      break;
    }
    const start = i;
    const startColumn = column;
    if (ch === '"') {
      advance();
      while (i < raw.length && raw.charAt(i) !== '"') advance();
      const terminated = i < raw.length;
      if (terminated) advance();
      const text = raw.slice(start, i);
      tokens.push({
        text, value: terminated ? text.slice(1, -1) : text.slice(1), line: number, column: startColumn,
        start, end: i, quoted: true, unterminated: !terminated,
      });
      continue;
    }
    while (i < raw.length && !isSeparator(raw.charAt(i)) && raw.charAt(i) !== '#') advance();
    const text = raw.slice(start, i);
    tokens.push({ text, value: text, line: number, column: startColumn, start, end: i, quoted: false, unterminated: false });
  }
  return comment ? { number, raw, ending, tokens, comment } : { number, raw, ending, tokens };
}
