import { readFileSync, readdirSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import { parseTree, printTree, type ConfigLine } from '../../../src/config/tree.js';

const SEEDS = new URL('../../../../shared/seed-configs/', import.meta.url);

function values(line: ConfigLine | undefined): string[] {
  return (line?.tokens ?? []).map((t) => t.value);
}

describe('parseTree: lines and endings', () => {
  test('splits on \\n and keeps \\r\\n, a missing final newline and blank lines', () => {
    const tree = parseTree('a\r\n\nb \t\nc');
    expect(tree.lines.map((l) => [l.number, l.raw, l.ending])).toEqual([
      [1, 'a', '\r\n'], [2, '', '\n'], [3, 'b \t', '\n'], [4, 'c', ''],
    ]);
  });

  test('empty text has no lines; a lone newline is one blank line', () => {
    expect(parseTree('').lines).toEqual([]);
    expect(parseTree('\n').lines.map((l) => [l.raw, l.ending])).toEqual([['', '\n']]);
  });

  test('a lone \\r is part of the line and separates tokens', () => {
    const tree = parseTree('server\ra\r\r\nx\r');
    expect(tree.lines.map((l) => [l.raw, l.ending])).toEqual([['server\ra\r', '\r\n'], ['x\r', '']]);
    expect(values(tree.lines[0])).toEqual(['server', 'a']);
  });
});

describe('parseTree: tokens', () => {
  test('tokens carry 1-based line and column, comments are split off', () => {
    const tree = parseTree('# head\n  server\t192.0.2.1  iburst # time server\n');
    const line = tree.lines[1];
    expect(line?.tokens.map((t) => [t.value, t.line, t.column])).toEqual([
      ['server', 2, 3], ['192.0.2.1', 2, 10], ['iburst', 2, 21],
    ]);
    expect(line?.comment).toEqual({ text: '# time server', column: 28, start: 27 });
    expect(tree.lines[0]?.tokens).toEqual([]);
    expect(tree.lines[0]?.comment?.text).toBe('# head');
  });

  test('"#" inside a word starts a comment', () => {
    const line = parseTree('keys /etc/ntp/keys#old').lines[0];
    expect(values(line)).toEqual(['keys', '/etc/ntp/keys']);
    expect(line?.comment?.text).toBe('#old');
  });

  test('double quotes group spaces and "#", and are removed from the value', () => {
    const line = parseTree('setvar "a # b" x').lines[0];
    expect(line?.tokens.map((t) => [t.text, t.value, t.quoted, t.column])).toEqual([
      ['setvar', 'setvar', false, 1], ['"a # b"', 'a # b', true, 8], ['x', 'x', false, 16],
    ]);
    expect(line?.comment).toBeUndefined();
  });

  test('an unterminated quote runs to the end of the line and is flagged', () => {
    const token = parseTree('logfile "/var/log/x # y\nnext').lines[0]?.tokens[1];
    expect(token).toMatchObject({ value: '/var/log/x # y', unterminated: true, column: 9 });
  });

  test('columns count code points: CJK, emoji and tabs are one column each', () => {
    const line = parseTree('\t時間 😀 server').lines[0];
    expect(line?.tokens.map((t) => [t.value, t.column])).toEqual([['時間', 2], ['😀', 5], ['server', 7]]);
  });

  test('a byte-order mark at the start of the file is not part of the first token', () => {
    const tree = parseTree('\uFEFFserver a\n\uFEFFx');
    expect(tree.lines[0]?.tokens[0]).toMatchObject({ value: 'server', column: 2 });
    expect(tree.lines[1]?.tokens[0]?.value).toBe('\uFEFFx');
    expect(printTree(tree)).toBe('\uFEFFserver a\n\uFEFFx');
  });

  test('token offsets slice the raw text back out', () => {
    for (const line of parseTree('  restrict  -6 ::1 "q q"  # c\n').lines) {
      for (const t of line.tokens) expect(line.raw.slice(t.start, t.end)).toBe(t.text);
    }
  });
});

describe('printTree', () => {
  test('returns the exact text for odd input', () => {
    const odd = 'server a   \r\n\t# 時間服務器 \u00a0\n\n\u0000\u0007 x\r\n"unterminated\rlast line no newline  ';
    expect(printTree(parseTree(odd))).toBe(odd);
  });

  test('returns every seed config byte for byte', () => {
    const names = readdirSync(SEEDS).filter((n) => n.endsWith('.conf'));
    expect(names.length).toBeGreaterThanOrEqual(4);
    for (const name of names) {
      const text = readFileSync(new URL(name, SEEDS), 'utf8');
      expect(printTree(parseTree(text))).toBe(text);
    }
  });

  test('the CentOS seed keeps its CJK comments and trailing spaces', () => {
    const text = readFileSync(new URL('centos6-default.conf', SEEDS), 'utf8');
    const tree = parseTree(text);
    const server = tree.lines.find((l) => l.tokens[1]?.value === 'pool.ntp.org');
    expect(server?.comment?.text).toBe('# 配置时间服务器 (time server)');
    expect(tree.lines.find((l) => l.raw === 'restrict 127.0.0.1 ')).toBeDefined();
  });
});
