import { describe, expect, test } from 'vitest';
import type { ConfigDiagnostic } from '../../../src/config/model.js';
import { parseConfigText } from '../../../src/config/parse.js';

const check = (text: string) => parseConfigText(text, '/etc/gnomon/ntp.conf');
const brief = (diagnostics: readonly ConfigDiagnostic[]): string[] =>
  diagnostics.map((d) => `${d.at.line}:${d.at.column} ${d.severity} ${d.code}`);

describe('statistics, statsdir, filegen', () => {
  test('Debian\'s ntp.conf block compiles to StatsConfig', () => {
    const result = check([
      'statsdir /var/log/ntpstats/',
      'statistics loopstats peerstats clockstats',
      'filegen loopstats file loopstats type day enable',
      'filegen peerstats file peerstats type day enable',
      'filegen clockstats file clockstats type day enable',
      '',
    ].join('\n'));
    expect(result.diagnostics).toEqual([]);
    const at = (line: number) => ({ file: '/etc/gnomon/ntp.conf', line, column: 1 });
    expect(result.config?.stats).toEqual({
      dir: '/var/log/ntpstats',
      enabled: { loopstats: true, peerstats: true, clockstats: true },
      filegen: {
        loopstats: { file: 'loopstats', type: 'day', link: true, at: at(3) },
        peerstats: { file: 'peerstats', type: 'day', link: true, at: at(4) },
        clockstats: { file: 'clockstats', type: 'day', link: true, at: at(5) },
      },
    });
  });

  test('defaults: Debian\'s folder, ntpd\'s names, type day, link; only the listed sets', () => {
    expect(check('statistics loopstats\n').config?.stats).toEqual({
      dir: '/var/log/ntpstats',
      enabled: { loopstats: true, peerstats: false, clockstats: false },
      filegen: {
        loopstats: { file: 'loopstats', type: 'day', link: true },
        peerstats: { file: 'peerstats', type: 'day', link: true },
        clockstats: { file: 'clockstats', type: 'day', link: true },
      },
    });
    expect(check('server 127.127.1.0\n').config?.stats).toBeUndefined();
  });

  test('filegen disable wins over statistics whatever the order; enable alone enables; the later word on a line counts', () => {
    const stats = check('filegen loopstats disable\nstatistics loopstats peerstats\nfilegen clockstats file clk type none nolink enable\n'
      + 'filegen peerstats enable disable\n').config?.stats;
    expect(stats?.enabled).toEqual({ loopstats: false, peerstats: false, clockstats: true });
    expect(stats?.filegen.clockstats).toMatchObject({ file: 'clk', type: 'none', link: false });
    expect(check('filegen loopstats link nolink link\n').config?.stats?.filegen.loopstats.link).toBe(true);
  });

  test('a relative statsdir is taken from the config file\'s folder', () => {
    expect(check('statsdir stats\nstatistics loopstats\n').config?.stats?.dir).toBe('/etc/gnomon/stats');
  });

  test('sets Gnomon does not write are warnings on their names; the rest of the line still counts', () => {
    const result = check('statistics clockstats cryptostats loopstats rawstats\nfilegen sysstats file sysstats type day enable\n');
    expect(brief(result.diagnostics)).toEqual([
      '1:23 warning CONFIG_NOT_IMPLEMENTED', '1:45 warning CONFIG_NOT_IMPLEMENTED', '2:9 warning CONFIG_NOT_IMPLEMENTED',
    ]);
    expect(result.diagnostics[0]?.message).toBe('statistics: known ntpd directive, accepted but Gnomon does not write cryptostats yet');
    expect(result.config?.stats?.enabled).toEqual({ loopstats: true, peerstats: false, clockstats: true });
  });

  test('file types other than day and none: a warning, kept per day', () => {
    const result = check('filegen loopstats type week enable\n');
    expect(brief(result.diagnostics)).toEqual(['1:24 warning CONFIG_NOT_IMPLEMENTED']);
    expect(result.diagnostics[0]?.hint).toMatch(/type day/);
    expect(result.config?.stats?.filegen.loopstats.type).toBe('day');
  });

  test('bad values are located errors', () => {
    const result = check('filegen loopstats file ../../etc/passwd\nfilegen loopstat enable\nfilegen peerstats type hourly\nstatsdir\nstatistics\n');
    expect(brief(result.diagnostics)).toEqual([
      '1:24 error CONFIG_INVALID_VALUE', '2:9 error CONFIG_INVALID_VALUE', '3:24 error CONFIG_INVALID_VALUE',
      '4:1 error CONFIG_MISSING_ARGUMENT', '5:1 error CONFIG_MISSING_ARGUMENT',
    ]);
    expect(result.config).toBeUndefined();
    expect(result.diagnostics[0]?.hint).toMatch(/statsdir/);
    expect(result.diagnostics[1]?.hint).toBe('did you mean "loopstats"?');
  });

  test('statsdir twice: the later wins, with a warning', () => {
    const result = check('statsdir /a\nstatsdir /b/\nstatistics peerstats\n');
    expect(brief(result.diagnostics)).toEqual(['2:1 warning CONFIG_DUPLICATE_DIRECTIVE']);
    expect(result.config?.stats?.dir).toBe('/b');
  });
});
