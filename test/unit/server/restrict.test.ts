import { describe, expect, it } from 'vitest';
import { RestrictBits, RestrictTable } from '../../../src/server/access/restrict.js';
import { at, rule } from '../../support/server.js';

describe('restrict table', () => {
  it('`restrict source` applies its flags to the addresses of configured servers and peers', () => {
    const t = new RestrictTable([
      rule('default', ['noquery', 'nopeer']),
      { kind: 'source', family: 'any', flags: ['nomodify'], at },
    ], ['192.0.2.10', '2001:db8::10']);
    expect(t.lookup('192.0.2.10')).toBe(RestrictBits.nomodify);
    expect(t.lookup('2001:db8::10')).toBe(RestrictBits.nomodify);
    expect(t.lookup('192.0.2.11')).toBe(RestrictBits.noquery | RestrictBits.nopeer);
  });

  it('repeated lines for one network add their flags, as ntpd does', () => {
    const t = new RestrictTable([rule('10.0.0.0/8', ['kod']), rule('10.0.0.0/8', ['limited'])]);
    expect(t.lookup('10.1.2.3')).toBe(RestrictBits.kod | RestrictBits.limited);
  });

  it('-4 default and -6 default act on their own family only; with no default, noquery (NTPsec) except on the loopback', () => {
    const t = new RestrictTable([rule('-4 default', ['ignore'])]);
    expect(t.lookup('192.0.2.1')).toBe(RestrictBits.ignore);
    expect(t.lookup('2001:db8::1')).toBe(RestrictBits.noquery);
    expect(t.lookup('::1')).toBe(0);
    const none = new RestrictTable([]);
    expect(none.lookup('192.0.2.1')).toBe(RestrictBits.noquery);
    expect(none.lookup('127.0.0.1')).toBe(0);
    expect(none.lookup('127.1.2.3')).toBe(0);
    expect(none.lookup('::1')).toBe(0);
    // An explicit default applies as written: no implicit loopback exception then (ntpd semantics).
    expect(new RestrictTable([rule('default', ['noquery'])]).lookup('127.0.0.1')).toBe(RestrictBits.noquery);
  });

  it('a mask given as an IPv4-mapped IPv6 network covers IPv4 clients on dual-stack sockets', () => {
    const t = new RestrictTable([rule('default', ['ignore']), rule('::ffff:10.0.0.0/104', [])]);
    expect(t.lookup('10.9.8.7')).toBe(0);
    expect(t.lookup('::ffff:10.9.8.7')).toBe(0);
    expect(t.lookup('11.0.0.1')).toBe(RestrictBits.ignore);
  });
});
