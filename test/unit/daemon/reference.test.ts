import { describe, expect, it } from 'vitest';
import { parseConfigText } from '../../../src/config/parse.js';
import { planReference } from '../../../src/daemon/reference.js';

function plan(text: string) {
  const r = parseConfigText(text, 'test.conf');
  expect(r.config, JSON.stringify(r.diagnostics)).toBeDefined();
  return planReference(r.config!);
}

describe('reference plan', () => {
  it('the local clock is served at the fudge stratum (chrony `local stratum N` semantics)', () => {
    expect(plan('server 127.127.1.0\nfudge 127.127.1.0 stratum 7\n')).toMatchObject({ localStratum: 7, refclocks: [] });
  });

  it('without a fudge line the local clock takes ntpd\'s default stratum 5', () => {
    expect(plan('server 127.127.1.0\n').localStratum).toBe(5);
  });

  it('refclocks Gnomon drives are planned; upstream servers and foreign ntpd drivers are named for a warning', () => {
    const p = plan('server pool.ntp.org iburst\npeer 192.0.2.7\nserver 127.127.20.0 mode 16\nserver 127.127.8.0\n');
    expect(p.localStratum).toBeUndefined();
    expect(p.upstream).toEqual(['server pool.ntp.org', 'peer 192.0.2.7']);
    expect(p.unsupported).toEqual(['127.127.8.0']);
    expect(p.refclocks.map((r) => [r.kind, r.path, r.baudBps])).toEqual([['nmea', '/dev/gps0', 9600]]);
  });
});
