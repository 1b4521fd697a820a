import { readFileSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import { DiagnosticCode } from '../../../src/config/diagnostics.js';
import { DIRECTIVES, lookupDirective } from '../../../src/config/directives.js';
import { RESTRICT_FLAGS } from '../../../src/config/model.js';
import { closestMatch, editDistance } from '../../../src/config/suggest.js';
import { usage } from '../../../src/config/syntax.js';

describe('the directive table', () => {
  test('names are unique, and option names are unique within a directive', () => {
    const names = DIRECTIVES.map((d) => d.name);
    expect(new Set(names).size).toBe(names.length);
    for (const d of DIRECTIVES) {
      const options = (d.options ?? []).map((o) => o.name);
      expect(new Set(options).size, d.name).toBe(options.length);
    }
  });

  test('covers every directive the seed articles use and the ones Gnomon adds', () => {
    for (const name of ['driftfile', 'logfile', 'restrict', 'server', 'pool', 'peer', 'fudge', 'broadcast', 'broadcastclient',
      'multicastclient', 'manycastserver', 'manycastclient', 'crypto', 'includefile', 'keys', 'trustedkey', 'requestkey',
      'controlkey', 'statistics', 'interface', 'port', 'discard', 'mru', 'user', 'tinker', 'tos', 'leapfile', 'statsdir',
      'filegen', 'enable', 'disable', 'broadcastdelay', 'setvar']) {
      expect(lookupDirective(name), name).toBeDefined();
    }
  });

  test('restrict accepts every flag of the model, and the model flags are acted on', () => {
    const restrict = lookupDirective('restrict');
    for (const flag of RESTRICT_FLAGS) expect(restrict?.options?.find((o) => o.name === flag)).toMatchObject({ acted: true });
  });

  test('everything not acted on says why; foreign directives say what to write instead', () => {
    for (const d of DIRECTIVES) {
      if (d.support !== 'acted') expect(d.note, d.name).toBeTruthy();
      if (d.support === 'acted') {
        for (const o of d.options ?? []) if (!o.acted) expect(o.note, `${d.name} ${o.name}`).toBeTruthy();
      }
    }
  });

  test('usage lines come from the table and stay short for long option lists', () => {
    expect(usage(lookupDirective('fudge')!)).toBe('usage: fudge REFCLOCK [time1 X] [time2 X] [stratum N] [refid REFID] [flag1 0|1] [flag2 0|1] [flag3 0|1] [flag4 0|1] [...]');
    expect(usage(lookupDirective('trustedkey')!)).toBe('usage: trustedkey KEY...');
  });
});

describe('docs/configuration.md', () => {
  const docs = readFileSync(new URL('../../../docs/configuration.md', import.meta.url), 'utf8');

  test('names every directive in the table', () => {
    for (const d of DIRECTIVES) expect(new RegExp(`\`${d.name}[\` ]`).test(docs), d.name).toBe(true);
  });

  test('lists every diagnostic code', () => {
    for (const code of Object.values(DiagnosticCode)) expect(docs.includes(`\`${code}\``), code).toBe(true);
  });
});

describe('did you mean', () => {
  test('edit distance counts adjacent transpositions as one edit', () => {
    expect(editDistance('server', 'server')).toBe(0);
    expect(editDistance('sevrer', 'server')).toBe(1);
    expect(editDistance('sever', 'server')).toBe(1);
    expect(editDistance('', 'abc')).toBe(3);
  });

  test('only close matches are offered', () => {
    expect(closestMatch('restirct', ['restrict', 'server'])).toBe('restrict');
    expect(closestMatch('drfitfile', ['driftfile', 'logfile'])).toBe('driftfile');
    expect(closestMatch('xyz', ['server', 'port'])).toBeUndefined();
    expect(closestMatch('prot', ['port', 'peer'])).toBe('port');
  });
});
