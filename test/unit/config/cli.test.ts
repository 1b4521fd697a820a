import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { configCommand } from '../../../src/cli/config.js';

const dir = mkdtempSync(join(tmpdir(), 'gnomon-cli-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function run(...argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const code = await configCommand(argv, { stdout: (s) => { stdout += s; }, stderr: (s) => { stderr += s; } });
  return { code, stdout, stderr };
}

function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

describe('gnomon config validate', () => {
  test('a valid file: exit 0 and a summary line', async () => {
    const path = file('ok.conf', 'server 127.127.1.0\nfudge 127.127.1.0 stratum 5\n');
    expect(await run('validate', '--config', path)).toEqual({ code: 0, stdout: `${path}: valid, 0 warnings\n`, stderr: '' });
  });

  test('warnings only: exit 0, one line per warning in compiler format', async () => {
    const path = file('warn.conf', 'broadcastdelay 0.004\nkeys /nonexistent/gnomon/keys\n');
    const { code, stdout } = await run('validate', '-c', path);
    expect(code).toBe(0);
    expect(stdout.split('\n')).toEqual([
      `${path}:1:1: warning: broadcastdelay: known ntpd directive, accepted but Gnomon does not act on it yet [CONFIG_NOT_IMPLEMENTED] (hint: accepted so existing ntp.conf files load; the line has no effect yet)`,
      `${path}:2:6: warning: keys: /nonexistent/gnomon/keys does not exist [CONFIG_FILE_MISSING] (hint: create it, or remove the keys line)`,
      `${path}: valid, 2 warnings`,
      '',
    ]);
  });

  test('errors: exit 1, every error printed, summary counts them', async () => {
    const path = file('bad.conf', 'sever a\nport 0\nrestrict 10.0.0.0 mask 255.0.255.0\ntos minclock 3\n');
    const { code, stdout, stderr } = await run('validate', '--config', path);
    expect(code).toBe(1);
    expect(stderr).toBe('');
    const lines = stdout.trimEnd().split('\n');
    expect(lines.map((l) => /^[^:]+:(\d+:\d+): (\w+):/.exec(l)?.slice(1).join(' '))).toEqual([
      '1:1 error', '2:6 error', '3:24 error', '4:5 warning', undefined,
    ]);
    expect(lines.at(-1)).toBe(`${path}: invalid, 3 errors, 1 warning`);
  });

  test('--json prints one object with the diagnostics', async () => {
    const path = file('json.conf', 'port x\n');
    const { code, stdout } = await run('validate', '--config', path, '--json');
    expect(code).toBe(1);
    const report = JSON.parse(stdout) as { ok: boolean; errors: number; warnings: number; files: string[]; diagnostics: { code: string; at: unknown }[] };
    expect(report).toMatchObject({ file: path, ok: false, errors: 1, warnings: 0, files: [path] });
    expect(report.diagnostics[0]).toMatchObject({ code: 'CONFIG_INVALID_VALUE', at: { file: path, line: 1, column: 6 } });
  });

  test('an unreadable file is a usage error (exit 2) with a clear message', async () => {
    const path = join(dir, 'absent.conf');
    expect(await run('validate', '--config', path)).toEqual({ code: 2, stdout: '', stderr: `gnomon config validate: cannot read ${path}: no such file\n` });
  });

  test('bad arguments are usage errors (exit 2); --help is not', async () => {
    for (const argv of [[], ['frobnicate'], ['validate', '--bogus'], ['validate', 'extra.conf'], ['validate', '--config']]) {
      const result = await run(...argv);
      expect(result.code, argv.join(' ')).toBe(2);
      expect(result.stderr, argv.join(' ')).toMatch(/usage: gnomon config validate/);
    }
    const help = await run('--help');
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^usage: gnomon config validate \[--config FILE\] \[--json\]/);
  });
});
