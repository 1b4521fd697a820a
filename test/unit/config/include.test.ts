import { describe, expect, test } from 'vitest';
import { MAX_INCLUDE_DEPTH, expandIncludes, resolveIncludePath, type IncludeRead } from '../../../src/config/include.js';
import { parseConfigText } from '../../../src/config/parse.js';

/** An in-memory file system for the pure expander. */
function reader(files: Record<string, string>): (path: string) => IncludeRead {
  return (path) => {
    const text = files[path];
    return text === undefined ? { ok: false, reason: 'missing', detail: 'no such file' } : { ok: true, text };
  };
}

describe('includefile', () => {
  test('included lines are read where the includefile line is, with their own file name', () => {
    const result = parseConfigText('port 1\nincludefile servers.conf\nuser ntp\n', '/etc/gnomon/ntp.conf', {
      readInclude: reader({ '/etc/gnomon/servers.conf': 'server a.example\nserver b.example minpoll 99\n' }),
    });
    expect(result.config).toBeUndefined();
    expect(result.diagnostics.map((d) => `${d.at.file}:${d.at.line}:${d.at.column} ${d.code}`)).toEqual([
      '/etc/gnomon/servers.conf:2:26 CONFIG_OUT_OF_RANGE',
    ]);
    expect(result.files.map((f) => f.path)).toEqual(['/etc/gnomon/ntp.conf', '/etc/gnomon/servers.conf']);
  });

  test('the included file\'s directives reach the model in reading order', () => {
    const result = parseConfigText('server first.example\nincludefile /x/inc.conf\nserver last.example\n', 'main.conf', {
      readInclude: reader({ '/x/inc.conf': 'server middle.example\n' }),
    });
    expect(result.config?.associations.map((a) => [a.host, a.at.file])).toEqual([
      ['first.example', 'main.conf'], ['middle.example', '/x/inc.conf'], ['last.example', 'main.conf'],
    ]);
  });

  test('a missing include is a located warning and the rest still loads', () => {
    const result = parseConfigText('includefile /etc/ntp/crypto/pw\nport 11123\n', 'ntp.conf', { readInclude: reader({}) });
    expect(result.config?.port).toBe(11123);
    expect(result.diagnostics).toEqual([expect.objectContaining({
      severity: 'warning', code: 'CONFIG_INCLUDE_MISSING', directive: 'includefile', at: { file: 'ntp.conf', line: 1, column: 13 },
    })]);
  });

  test('a cycle is a located error naming the chain', () => {
    const files = { '/c/a.conf': 'includefile b.conf\n', '/c/b.conf': 'port 1\nincludefile /c/a.conf\n' };
    const result = parseConfigText('includefile a.conf\n', '/c/main.conf', { readInclude: reader(files) });
    expect(result.config).toBeUndefined();
    expect(result.diagnostics).toEqual([expect.objectContaining({
      severity: 'error', code: 'CONFIG_INCLUDE_CYCLE', at: { file: '/c/b.conf', line: 2, column: 13 },
      message: 'includefile: /c/a.conf includes itself: /c/main.conf -> /c/a.conf -> /c/b.conf -> /c/a.conf',
    })]);
  });

  test('a file including itself is a cycle too', () => {
    const result = parseConfigText('includefile ./main.conf\n', '/c/main.conf', { readInclude: reader({}) });
    expect(result.diagnostics.map((d) => d.code)).toEqual(['CONFIG_INCLUDE_CYCLE']);
  });

  test('the same file included twice (not a cycle) is read twice and listed once', () => {
    const result = parseConfigText('includefile r.conf\nincludefile r.conf\n', '/c/main.conf', { readInclude: reader({ '/c/r.conf': 'restrict default\n' }) });
    expect(result.files).toHaveLength(2);
    expect(result.diagnostics.map((d) => d.code)).toEqual(['CONFIG_DUPLICATE_DIRECTIVE']);
  });

  test(`nesting deeper than ${MAX_INCLUDE_DEPTH} levels is an error`, () => {
    const files: Record<string, string> = {};
    for (let i = 1; i <= 7; i++) files[`/d/${i}.conf`] = `includefile ${i + 1}.conf\n`;
    const expansion = expandIncludes('/d/0.conf', 'includefile 1.conf\n', reader(files));
    expect(expansion.diagnostics.map((d) => [d.code, d.at.file])).toEqual([['CONFIG_INCLUDE_TOO_DEEP', '/d/5.conf']]);
  });

  test('unreadable files are warnings with the reason', () => {
    const result = parseConfigText('includefile /etc/shadow\n', 'ntp.conf', { readInclude: () => ({ ok: false, reason: 'unreadable', detail: 'permission denied' }) });
    expect(result.diagnostics[0]).toMatchObject({ severity: 'warning', code: 'CONFIG_INCLUDE_UNREADABLE', message: 'includefile: cannot read /etc/shadow (permission denied); its directives are skipped' });
  });

  test('relative paths are taken from the including file\'s folder', () => {
    expect(resolveIncludePath('/etc/gnomon/ntp.conf', 'conf.d/a.conf')).toBe('/etc/gnomon/conf.d/a.conf');
    expect(resolveIncludePath('/etc/gnomon/ntp.conf', '../ntp/keys')).toBe('/etc/ntp/keys');
    expect(resolveIncludePath('/etc/gnomon/ntp.conf', '/abs//x.conf')).toBe('/abs/x.conf');
    expect(resolveIncludePath('ntp.conf', 'x.conf')).toBe('x.conf');
  });
});
