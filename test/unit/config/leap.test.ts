import { describe, expect, test } from 'vitest';
import type { ConfigDiagnostic } from '../../../src/config/model.js';
import { parseConfigText } from '../../../src/config/parse.js';

const check = (text: string, file = '/etc/gnomon/ntp.conf') => parseConfigText(text, file);
const brief = (diagnostics: readonly ConfigDiagnostic[]): string[] =>
  diagnostics.map((d) => `${d.at.line}:${d.at.column} ${d.severity} ${d.code}`);

describe('leapfile', () => {
  test('compiles to {path, at}, at the path token; no "not implemented" warning any more', () => {
    const result = check('leapfile /usr/share/zoneinfo/leap-seconds.list\n');
    expect(result.diagnostics).toEqual([]);
    expect(result.config?.leapfile).toEqual({
      path: '/usr/share/zoneinfo/leap-seconds.list', at: { file: '/etc/gnomon/ntp.conf', line: 1, column: 10 },
    });
    expect(result.config?.leapSmearIntervalS).toBeUndefined();
  });

  test('a relative path is taken from the folder of the file that names it, as includefile', () => {
    expect(check('leapfile leap-seconds.list\n').config?.leapfile?.path).toBe('/etc/gnomon/leap-seconds.list');
    expect(check('leapfile "../ntp/leap-seconds.list"\n').config?.leapfile?.path).toBe('/etc/ntp/leap-seconds.list');
  });

  test('missing argument is a located error; a repeat warns and the later line wins', () => {
    expect(brief(check('leapfile\n').diagnostics)).toEqual(['1:1 error CONFIG_MISSING_ARGUMENT']);
    const twice = check('leapfile /a.list\nleapfile /b.list\n');
    expect(brief(twice.diagnostics)).toEqual(['2:1 warning CONFIG_DUPLICATE_DIRECTIVE']);
    expect(twice.config?.leapfile?.path).toBe('/b.list');
  });

  test('absent leapfile: no field', () => {
    expect(check('port 11123\n').config).not.toHaveProperty('leapfile');
  });
});

describe('leapsmearinterval', () => {
  test('N > 0 smears over N seconds; 0 (ntpd\'s "off") leaves the field out', () => {
    const on = check('leapsmearinterval 86400\n');
    expect(on.diagnostics).toEqual([]);
    expect(on.config?.leapSmearIntervalS).toBe(86_400);
    const off = check('leapsmearinterval 0\n');
    expect(off.diagnostics).toEqual([]);
    expect(off.config).not.toHaveProperty('leapSmearIntervalS');
  });

  test('outside ntpd\'s advice (7200 to 86400) it is accepted with a located warning', () => {
    for (const [value, hint] of [['3600', /clients follow/], ['172800', /Google and AWS/]] as const) {
      const result = check(`leapsmearinterval ${value}\n`);
      expect(brief(result.diagnostics)).toEqual(['1:19 warning CONFIG_DISCOURAGED_VALUE']);
      expect(result.diagnostics[0]?.hint).toMatch(hint);
      expect(result.config?.leapSmearIntervalS).toBe(Number(value));
    }
    expect(check('leapsmearinterval 7200\n').diagnostics).toEqual([]);
  });

  test('bad values are located errors', () => {
    const result = check('leapsmearinterval -1\nleapsmearinterval day\nleapsmearinterval 864001\nleapsmearinterval 1.5\n');
    expect(brief(result.diagnostics.filter((d) => d.code !== 'CONFIG_DUPLICATE_DIRECTIVE'))).toEqual([
      '1:19 error CONFIG_OUT_OF_RANGE', '2:19 error CONFIG_INVALID_VALUE', '3:19 error CONFIG_OUT_OF_RANGE', '4:19 error CONFIG_INVALID_VALUE',
    ]);
    expect(result.diagnostics[0]?.message).toBe('leapsmearinterval: seconds expects an integer from 0 to 864000, got "-1"');
    expect(result.config).toBeUndefined();
  });
});

describe('chrony\'s leap directives', () => {
  test('leapsecmode is refused with the ntp.conf line to write', () => {
    const [d] = check('leapsecmode slew\n').diagnostics;
    expect(d).toMatchObject({ severity: 'error', code: 'CONFIG_FOREIGN_DIRECTIVE', at: { line: 1, column: 1 } });
    expect(d?.hint).toContain('leapsmearinterval 86400');
  });

  test('leapsectz is accepted with a warning whose hint is the leapfile line', () => {
    const result = check('leapsectz right/UTC\n');
    expect(result.config).toBeDefined();
    expect(result.diagnostics[0]).toMatchObject({ severity: 'warning', code: 'CONFIG_NOT_IMPLEMENTED' });
    expect(result.diagnostics[0]?.hint).toContain('leapfile /usr/share/zoneinfo/leap-seconds.list');
  });
});
