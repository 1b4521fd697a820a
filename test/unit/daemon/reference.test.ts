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
    expect(plan('server 127.127.1.0\nfudge 127.127.1.0 stratum 7\n')).toMatchObject({ local: { stratum: 7, orphan: false }, refclocks: [] });
  });

  it('without a fudge line the local clock takes ntpd\'s default stratum 5', () => {
    expect(plan('server 127.127.1.0\n').local).toEqual({ stratum: 5, orphan: false });
  });

  it('refclocks Gnomon drives are planned; upstream servers and foreign ntpd drivers are named for a warning', () => {
    const p = plan('server pool.ntp.org iburst\npeer 192.0.2.7\nserver 127.127.20.0 mode 16\nserver 127.127.8.0\n');
    expect(p.local).toBeUndefined();
    expect(p.upstream).toEqual(['server pool.ntp.org', 'peer 192.0.2.7']);
    expect(p.unsupported).toEqual(['127.127.8.0']);
    expect(p.refclocks.map((r) => [r.kind, r.path, r.baudBps])).toEqual([['nmea', '/dev/gps0', 9600]]);
  });

  it('`tos orphan N` is the last resort when no local clock is configured; the local clock wins over it', () => {
    expect(plan('server 192.0.2.1\ntos orphan 10\n').local).toEqual({ stratum: 10, orphan: true });
    expect(plan('server 127.127.1.0\nfudge 127.127.1.0 stratum 8\ntos orphan 10\n').local).toEqual({ stratum: 8, orphan: false });
    expect(plan('tos orphan 16\n').local).toBeUndefined();
  });
});
