import { describe, expect, test } from 'vitest';
import {
  ConfigEditError, appendDirective, dominantEnding, findDirectives, formatToken, insertDirective, removeLine, replaceArguments,
} from '../../../src/config/edit.js';
import { parseTree, printTree } from '../../../src/config/tree.js';

const TEXT = '# 時間\r\nserver  a.example  iburst   # upstream\r\nfudge\t127.127.1.0 stratum 5\r\n\r\nport 123';

describe('formatToken', () => {
  test('leaves plain words bare and quotes spaces, "#" and empty values', () => {
    expect(formatToken('/var/lib/ntp/drift')).toBe('/var/lib/ntp/drift');
    expect(formatToken('a b')).toBe('"a b"');
    expect(formatToken('x#y')).toBe('"x#y"');
    expect(formatToken('')).toBe('""');
  });

  test('refuses values ntp.conf cannot spell', () => {
    expect(() => formatToken('a"b')).toThrow(ConfigEditError);
    expect(() => formatToken('a\nb')).toThrow(expect.objectContaining({ code: 'CONFIG_EDIT_UNWRITABLE_TOKEN' }));
  });
});

describe('edits keep every other byte', () => {
  test('appendDirective adds a line with the file\'s line ending and ends the unterminated last line', () => {
    const tree = appendDirective(parseTree(TEXT), 'user', ['ntp']);
    expect(printTree(tree)).toBe(`${TEXT}\r\nuser ntp\r\n`);
    expect(tree.lines[5]?.tokens[1]).toMatchObject({ value: 'ntp', line: 6, column: 6 });
  });

  test('appendDirective on an empty file uses \\n', () => {
    expect(printTree(appendDirective(parseTree(''), 'port', ['11123']))).toBe('port 11123\n');
  });

  test('insertDirective puts the line before the given line number', () => {
    const tree = insertDirective(parseTree('a\nb\n'), 2, 'restrict', ['::1']);
    expect(printTree(tree)).toBe('a\nrestrict ::1\nb\n');
  });

  test('removeLine drops one line and renumbers the rest', () => {
    const tree = removeLine(parseTree(TEXT), 2);
    expect(printTree(tree)).toBe('# 時間\r\nfudge\t127.127.1.0 stratum 5\r\n\r\nport 123');
    expect(tree.lines[1]?.tokens[0]).toMatchObject({ value: 'fudge', line: 2 });
  });

  test('replaceArguments keeps indentation, the spacing after the name and the trailing comment', () => {
    const tree = replaceArguments(parseTree(TEXT), 2, ['b.example', 'prefer']);
    expect(printTree(tree)).toBe(TEXT.replace('server  a.example  iburst   # upstream', 'server  b.example prefer   # upstream'));
    const fudge = replaceArguments(parseTree(TEXT), 3, ['127.127.1.0', 'stratum', '4']);
    expect(printTree(fudge)).toBe(TEXT.replace('stratum 5', 'stratum 4'));
  });

  test('replaceArguments on a directive without arguments adds a space', () => {
    expect(printTree(replaceArguments(parseTree('broadcastclient # c\n'), 1, ['novolley']))).toBe('broadcastclient novolley # c\n');
    expect(printTree(replaceArguments(parseTree('port 1 # c\n'), 1, []))).toBe('port # c\n');
  });

  test('bad line numbers and comment lines are typed errors', () => {
    const tree = parseTree(TEXT);
    expect(() => removeLine(tree, 0)).toThrow(expect.objectContaining({ code: 'CONFIG_EDIT_NO_SUCH_LINE' }));
    expect(() => removeLine(tree, 6)).toThrow(expect.objectContaining({ code: 'CONFIG_EDIT_NO_SUCH_LINE' }));
    expect(() => insertDirective(tree, 7, 'port', ['1'])).toThrow(ConfigEditError);
    expect(() => replaceArguments(tree, 1, ['x'])).toThrow(expect.objectContaining({ code: 'CONFIG_EDIT_NOT_A_DIRECTIVE' }));
    expect(() => appendDirective(tree, 'bad name', [])).toThrow(expect.objectContaining({ code: 'CONFIG_EDIT_UNWRITABLE_TOKEN' }));
  });
});

describe('helpers', () => {
  test('dominantEnding follows the majority of lines', () => {
    expect(dominantEnding(parseTree('a\r\nb\r\nc\n'))).toBe('\r\n');
    expect(dominantEnding(parseTree('a\r\nb\n'))).toBe('\n');
  });

  test('findDirectives lists lines by directive name', () => {
    expect(findDirectives(parseTree('server a\n# server b\nserver c\n'), 'server').map((l) => l.number)).toEqual([1, 3]);
  });
});
