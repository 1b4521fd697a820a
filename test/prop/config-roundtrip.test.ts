/**
 * Principle 7: printing an unedited tree gives back the same text, for any text at all;
 * edits change only the lines they name.
 */
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { appendDirective, removeLine, replaceArguments } from '../../src/config/edit.js';
import { parseTree, printTree } from '../../src/config/tree.js';

/** Characters that matter to the lexer, plus non-ASCII, astral, BOM and a lone surrogate. */
const STRUCTURAL = fc.constantFrom('\n', '\r', '\r\n', ' ', '\t', '\v', '\f', '#', '"', 'a', 'Z', '0', '.', ':', '/', '-',
  'é', '時', '😀', '\uFEFF', '\u00a0', '\ud800', '\u0000');
const structuralText = fc.array(STRUCTURAL, { maxLength: 200 }).map((parts) => parts.join(''));
const anyText = fc.oneof(fc.string({ unit: 'binary', maxLength: 300 }), fc.string({ unit: 'grapheme', maxLength: 300 }), structuralText);

const WORDS = ['server', 'pool', 'peer', 'restrict', 'fudge', 'driftfile', 'includefile', 'discard', 'mru', 'interface', 'port',
  'default', '-6', '127.127.1.0', '::1', '10.0.0.0', 'mask', '255.255.255.0', 'iburst', 'prefer', 'minpoll', '4', 'stratum',
  'nomodify', 'notrap', '"quoted value"', 'listen', 'sevrer', '時間'];
const spacing = fc.constantFrom(' ', '  ', '\t', ' \t ');
const plausibleLine = fc.record({
  indent: fc.constantFrom('', ' ', '\t', '  '),
  words: fc.array(fc.constantFrom(...WORDS), { minLength: 1, maxLength: 6 }),
  gaps: fc.array(spacing, { minLength: 6, maxLength: 6 }),
  trailing: fc.constantFrom('', ' ', '\t  '),
  comment: fc.option(fc.constantFrom('# note', '#', '# 配置时间服务器 (time server)', '#"'), { nil: undefined }),
  blank: fc.boolean(),
}).map((l) => (l.blank ? l.indent : l.indent + l.words.map((w, i) => (i === 0 ? w : (l.gaps[i] ?? ' ') + w)).join('') + l.trailing) + (l.comment ?? ''));
const plausibleConfig = fc.record({
  lines: fc.array(plausibleLine, { maxLength: 30 }),
  endings: fc.array(fc.constantFrom('\n', '\r\n'), { minLength: 30, maxLength: 30 }),
  finalNewline: fc.boolean(),
}).map(({ lines, endings, finalNewline }) =>
  lines.map((l, i) => l + (i < lines.length - 1 || finalNewline ? endings[i] ?? '\n' : '')).join(''));

function codePoints(s: string): number {
  return [...s].length;
}

describe('parse/print round trip', () => {
  test('print(parse(x)) === x for arbitrary strings', () => {
    fc.assert(fc.property(anyText, (text) => printTree(parseTree(text)) === text), { numRuns: 2000 });
  });

  test('print(parse(x)) === x for plausible configs with mixed line endings', () => {
    fc.assert(fc.property(plausibleConfig, (text) => printTree(parseTree(text)) === text), { numRuns: 1000 });
  });

  test('token positions always point at their text', () => {
    fc.assert(fc.property(fc.oneof(anyText, plausibleConfig), (text) => {
      const tree = parseTree(text);
      tree.lines.forEach((line, i) => {
        expect(line.number).toBe(i + 1);
        expect(line.raw.includes('\n')).toBe(false);
        let previousEnd = 0;
        for (const t of line.tokens) {
          expect(line.raw.slice(t.start, t.end)).toBe(t.text);
          expect(t.line).toBe(line.number);
          expect(t.column).toBe(codePoints(line.raw.slice(0, t.start)) + 1);
          expect(t.start).toBeGreaterThanOrEqual(previousEnd);
          previousEnd = t.end;
        }
        if (line.comment) expect(line.raw.slice(line.comment.start)).toBe(line.comment.text);
      });
    }), { numRuns: 1000 });
  });
});

describe('edits touch only their line', () => {
  test('replaceArguments and removeLine keep every other line byte-identical', () => {
    fc.assert(fc.property(plausibleConfig, fc.nat(), fc.array(fc.constantFrom('a', 'b c', '10.0.0.1', '#x'), { maxLength: 3 }), (text, pick, args) => {
      const tree = parseTree(text);
      const directives = tree.lines.filter((l) => l.tokens.length > 0);
      const target = directives[pick % Math.max(1, directives.length)];
      if (!target) return;
      const others = (t: typeof tree, skip: number): string[] => t.lines.filter((l) => l.number !== skip).map((l) => l.raw + l.ending);
      const replaced = replaceArguments(tree, target.number, args);
      expect(others(replaced, target.number)).toEqual(others(tree, target.number));
      expect(replaced.lines[target.number - 1]?.tokens.slice(1).map((t) => t.value)).toEqual(args);
      const removed = removeLine(tree, target.number);
      expect(removed.lines.map((l) => l.raw + l.ending)).toEqual(others(tree, target.number));
    }), { numRuns: 500 });
  });

  test('appendDirective keeps the existing text as a prefix and ends it with a line break', () => {
    fc.assert(fc.property(plausibleConfig, (text) => {
      const printed = printTree(appendDirective(parseTree(text), 'port', ['11123']));
      expect(printed.startsWith(text)).toBe(true);
      expect(/^(\r?\n)?port 11123\r?\n$/.test(printed.slice(text.length))).toBe(true);
      expect(parseTree(printed).lines.at(-1)?.tokens.map((t) => t.value)).toEqual(['port', '11123']);
    }), { numRuns: 500 });
  });
});
