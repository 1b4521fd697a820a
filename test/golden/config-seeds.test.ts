/**
 * The configs users arrive with (../shared/seed-configs) and the ones we ship (config/)
 * load without errors; warnings name exactly what Gnomon does not act on.
 */
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import type { ConfigDiagnostic } from '../../src/config/model.js';
import { printTree } from '../../src/config/tree.js';

const SEEDS = fileURLToPath(new URL('../../../shared/seed-configs/', import.meta.url));
const SHIPPED = fileURLToPath(new URL('../../config/', import.meta.url));

/** Warnings that depend on the machine (whether /etc/ntp/keys exists), not on the file. */
const ENVIRONMENTAL = new Set(['CONFIG_INCLUDE_MISSING', 'CONFIG_FILE_MISSING']);

/** `broadcast ADDR autokey` (lines 17 and 19 of all-directives-uncommented.conf): broadcast acts, autokey is an option warning. */
const AUTOKEY_ON_BROADCAST = (d: ConfigDiagnostic): boolean => d.code === 'CONFIG_OPTION_NOT_IMPLEMENTED' && d.directive === 'broadcast';

function notImplemented(diagnostics: readonly ConfigDiagnostic[]): string[] {
  return diagnostics.filter((d) => d.code === 'CONFIG_NOT_IMPLEMENTED').map((d) => `${d.at.line} ${d.directive ?? ''}`);
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = `${dir}${name}`;
    return statSync(path).isDirectory() ? filesUnder(`${path}/`) : name.endsWith('.md') ? [] : [path];
  });
}

describe('seed configs', () => {
  const expectedWarnings: Record<string, string[]> = {
    'all-directives-uncommented.conf': [
      '21 manycastserver', '22 manycastclient',
      '23 crypto', '27 requestkey', '28 controlkey', '29 statistics',
    ],
    'centos6-default.conf': [],
    'lan-client.conf': [],
    'lan-server-local-clock.conf': [],
  };

  test('the seed folder holds the files this test knows about', () => {
    expect(readdirSync(SEEDS).filter((n) => n.endsWith('.conf')).sort()).toEqual(Object.keys(expectedWarnings).sort());
  });

  for (const [name, warnings] of Object.entries(expectedWarnings)) {
    test(`${name}: no errors; warnings name the directives Gnomon does not act on`, async () => {
      const result = await loadConfig(`${SEEDS}${name}`);
      expect(result.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
      expect(result.config).toBeDefined();
      expect(notImplemented(result.diagnostics)).toEqual(warnings);
      for (const d of result.diagnostics) {
        expect(d.severity).toBe('warning');
        if (d.code !== 'CONFIG_NOT_IMPLEMENTED' && !AUTOKEY_ON_BROADCAST(d)) expect(ENVIRONMENTAL.has(d.code), d.code).toBe(true);
        if (d.code === 'CONFIG_NOT_IMPLEMENTED') expect(d.message).toContain(`${d.directive}: known ntpd directive`);
      }
      expect(printTree(result.files[0]!.tree)).toBe(readFileSync(`${SEEDS}${name}`, 'utf8'));
    });
  }

  test('the missing /etc/ntp/crypto/pw include is located at its path token', async () => {
    const result = await loadConfig(`${SEEDS}centos6-default.conf`);
    const include = result.diagnostics.find((d) => d.directive === 'includefile');
    // On a machine with ntpd's files installed there is nothing to warn about.
    if (include) expect(include).toMatchObject({ code: 'CONFIG_INCLUDE_MISSING', at: { line: 31, column: 13 } });
  });

  test('lan-server-local-clock.conf compiles to the expected model', async () => {
    const file = `${SEEDS}lan-server-local-clock.conf`;
    const at = (line: number, column = 1) => ({ file, line, column });
    const { config } = await loadConfig(file);
    expect(config).toEqual({
      listen: [], port: 123,
      restrict: [
        { kind: 'default', family: 'any', flags: ['nomodify', 'notrap', 'nopeer', 'noquery'], at: at(4) },
        { kind: 'address', family: 'ipv4', address: '127.0.0.1', prefixLength: 32, flags: [], at: at(5) },
        { kind: 'address', family: 'ipv6', address: '::1', prefixLength: 128, flags: [], at: at(6) },
        { kind: 'address', family: 'ipv4', address: '192.168.163.0', prefixLength: 24, flags: ['nomodify', 'notrap'], at: at(7) },
      ],
      discard: { averageLog2S: 3, minimumLog2S: 1, monitor: 3000 }, mru: { maxdepth: 8192 },
      associations: [{
        kind: 'server', host: '127.127.1.0', refclock: { type: 1, unit: 0 }, iburst: false, burst: false, prefer: false,
        noselect: false, true: false, autokey: false, at: at(12),
      }],
      fudge: [{ refclock: { type: 1, unit: 0 }, stratum: 5, flags: {}, at: at(13) }],
      // The local clock (127.127.1.0) is an association, not one of the GPS/PPS refclocks.
      refclocks: [],
      driftfile: '/var/lib/ntp/drift', logfile: '/var/log/ntpd.log',
      kernel: false, tinker: { stepS: 0.128, panicS: 1000 }, discipline: { holdoverS: 3600, maxDistanceS: 1.5, minSane: 1 },
      keys: { path: '/etc/ntp/keys', at: at(16, 6) },
    });
  });

  test('the seeds\' only refclock is the local clock (127.127.1.0), which is not a GPS/PPS refclock', async () => {
    for (const name of Object.keys(expectedWarnings)) {
      const { config } = await loadConfig(`${SEEDS}${name}`);
      expect(config?.refclocks, name).toEqual([]);
      for (const a of config?.associations ?? []) if (a.refclock) expect(a.refclock.type, name).toBe(1);
    }
  });

  test('lan-client.conf: the prefer and iburst servers', async () => {
    const { config } = await loadConfig(`${SEEDS}lan-client.conf`);
    expect(config?.associations.map((a) => [a.host, a.prefer, a.iburst])).toEqual([['192.168.163.131', true, false], ['192.168.163.132', false, true]]);
  });
});

describe('shipped configs (config/)', () => {
  const files = filesUnder(SHIPPED);

  test('there is at least the appliance default', () => {
    expect(files).toContain(`${SHIPPED}gnomon.conf`);
  });

  for (const path of files) {
    test(`${path.slice(SHIPPED.length)} validates with zero errors`, async () => {
      const result = await loadConfig(path);
      expect(result.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
      expect(result.config).toBeDefined();
    });
  }

  test('gnomon.conf: local clock at stratum 5 on 127.0.0.1:11123, with no warnings', async () => {
    const result = await loadConfig(`${SHIPPED}gnomon.conf`);
    expect(result.diagnostics).toEqual([]);
    expect(result.config).toMatchObject({ port: 11123, listen: [{ address: '127.0.0.1' }], fudge: [{ stratum: 5 }] });
  });
});
