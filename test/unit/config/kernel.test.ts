import { describe, expect, test } from 'vitest';
import { lookupDirective } from '../../../src/config/directives.js';
import type { ConfigDiagnostic } from '../../../src/config/model.js';
import { parseConfigText } from '../../../src/config/parse.js';
import { DEFAULT_TINKER } from '../../../src/discipline/steer.js';

const check = (text: string) => parseConfigText(text, 'gnomon.conf');
const brief = (diagnostics: readonly ConfigDiagnostic[]): string[] =>
  diagnostics.map((d) => `${d.at.line}:${d.at.column} ${d.severity} ${d.code}`);

describe('enable/disable kernel', () => {
  test('off by default, unlike ntpd: nothing steers the system clock unless the config says so', () => {
    expect(check('# nothing\n').config).toMatchObject({ kernel: false });
  });

  test('`enable kernel` turns it on, `disable kernel` off; the later line wins', () => {
    expect(check('enable kernel\n')).toMatchObject({ config: { kernel: true }, diagnostics: [] });
    expect(check('enable kernel\ndisable kernel\n').config?.kernel).toBe(false);
    expect(check('disable kernel\nenable kernel\n').config?.kernel).toBe(true);
  });

  test('other flags are accepted and each is warned about by name at its token', () => {
    const result = check('enable kernel monitor\ndisable stats ntp\n');
    expect(result.config?.kernel).toBe(true);
    expect(brief(result.diagnostics)).toEqual([
      '1:15 warning CONFIG_OPTION_NOT_IMPLEMENTED', '2:9 warning CONFIG_OPTION_NOT_IMPLEMENTED', '2:15 warning CONFIG_OPTION_NOT_IMPLEMENTED',
    ]);
    expect(result.diagnostics[0]?.message).toBe('enable: flag "monitor" is accepted but Gnomon does not act on it yet');
    expect(result.diagnostics[0]?.directive).toBe('enable');
  });

  test('unknown flags are errors with a suggestion, and the config is withheld', () => {
    const result = check('enable kernal\n');
    expect(result.config).toBeUndefined();
    expect(brief(result.diagnostics)).toEqual(['1:8 error CONFIG_INVALID_VALUE']);
    expect(check('enable\n').config).toBeUndefined();
  });
});

describe('tinker step / panic', () => {
  test('defaults are ntpd\'s and the same as the steering policy\'s', () => {
    expect(check('\n').config?.tinker).toEqual({ stepS: 0.128, panicS: 1000 });
    expect(check('\n').config?.tinker).toEqual(DEFAULT_TINKER);
  });

  test('step and panic are read; 0 means never step / no panic limit', () => {
    expect(check('tinker step 0.5 panic 0\n')).toMatchObject({ config: { tinker: { stepS: 0.5, panicS: 0 } }, diagnostics: [] });
    expect(check('tinker step 0\n').config?.tinker).toEqual({ stepS: 0, panicS: 1000 });
    expect(check('tinker panic 600\ntinker step 1\n').config?.tinker).toEqual({ stepS: 1, panicS: 600 });
  });

  test('negative thresholds are errors; the other tinker knobs are warned about by name', () => {
    const bad = check('tinker step -1\n');
    expect(bad.config).toBeUndefined();
    expect(brief(bad.diagnostics)).toEqual(['1:13 error CONFIG_OUT_OF_RANGE']);
    expect(bad.diagnostics[0]?.hint).toMatch(/tinker step 0/);
    const knobs = check('tinker stepout 900 step 0.2\n');
    expect(knobs.config?.tinker.stepS).toBe(0.2);
    expect(brief(knobs.diagnostics)).toEqual(['1:8 warning CONFIG_OPTION_NOT_IMPLEMENTED']);
  });

  test('the table says tinker/enable/disable are acted on, and makestep points at tinker step', () => {
    expect(lookupDirective('tinker')?.support).toBe('acted');
    expect(lookupDirective('enable')?.support).toBe('acted');
    expect(lookupDirective('disable')?.support).toBe('acted');
    expect(check('makestep 1 3\n').diagnostics[0]?.hint).toMatch(/tinker step SECONDS/);
  });
});
