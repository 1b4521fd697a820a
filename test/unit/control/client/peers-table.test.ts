// The ntpq -p row formatting against NTPsec 1.2.2's own functions: ntpsec-format.json holds f8dot4, f8dot3 and
// prettyinterval outputs computed by /usr/lib/python3/dist-packages/ntp/util.py for 424 values (ties, every
// scaling range, both signs) and 17 intervals. Plus the columns derived from variables (t, remote, refid, poll).
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  addressToResolve, f8dot3, f8dot4, highTruncate, lfpToUnix, peerRow, prettyInterval, pyFixed, tableHeader, tableRule,
} from '../../../../src/control/client/peers-table.js';
import { parseVarList } from '../../../../src/control/client/varlist.js';

const golden = JSON.parse(readFileSync(new URL('ntpsec-format.json', import.meta.url), 'utf8')) as {
  f8dot4: Array<[number, string]>;
  f8dot3: Array<[number, string]>;
  prettyinterval: Array<[number, string]>;
};

describe('number formatting as NTPsec\'s pylib/util.py', () => {
  it('f8dot4 equals NTPsec for every golden value', () => {
    expect(golden.f8dot4.length).toBeGreaterThan(400);
    expect(golden.f8dot4.map(([v]) => f8dot4(v))).toEqual(golden.f8dot4.map(([, s]) => s));
  });

  it('f8dot3 equals NTPsec for every golden value', () => {
    expect(golden.f8dot3.map(([v]) => f8dot3(v))).toEqual(golden.f8dot3.map(([, s]) => s));
  });

  it('prettyinterval equals NTPsec (Python 3 true division, truncated by %d)', () => {
    expect(golden.prettyinterval.map(([v]) => prettyInterval(v))).toEqual(golden.prettyinterval.map(([, s]) => s));
    expect(prettyInterval(undefined)).toBe('-');
    expect(prettyInterval(1.5)).toBe('-');
  });

  it('pyFixed rounds exact ties to even and everything else to nearest, as printf does', () => {
    expect([0.03125, 0.09375, -0.03125, 2.5, 0.125].map((x) => pyFixed(x, x === 2.5 ? 0 : 4))).toEqual(['0.0312', '0.0938', '-0.0312', '2', '0.1250']);
    expect(pyFixed(0.00005, 4)).toBe('0.0001'); // 0.00005 is slightly above the tie in binary
    expect(pyFixed(9.99995, 4)).toBe('10.0000'); // slightly above in binary
    expect(pyFixed(2.00005, 4)).toBe('2.0000'); // slightly below in binary
    expect(pyFixed(99.99996, 4)).toBe('100.0000');
    expect(f8dot4('.')).toBe('       .');
  });
});

describe('peerRow', () => {
  const now = 1_795_330_800;
  const ntpHex = (unix: number): string => `0x${(unix + 2_208_988_800).toString(16)}.00000000`;

  it('a unicast server: numeric or resolved remote, IPv4 refid as is, t u, poll 2^min(ppoll,hpoll), reach octal', () => {
    const vars = parseVarList(`srcadr=192.0.2.7, hmode=3, stratum=2, ppoll=6, hpoll=4, refid=10.1.2.3, rec=${ntpHex(now - 5)}, ` +
      'reach=0xff, delay=0.123456, offset=-0.0105, jitter=0.002, ntscookies=-1');
    const row = peerRow(1, 0x9414, vars, { nowUnix: now + 0.9 });
    expect(row.line).toBe('+192.0.2.7       10.1.2.3         2 u    5   16  377   0.1235  -0.0105   0.0020');
    expect(addressToResolve(vars)).toBe('192.0.2.7');
    const named = peerRow(1, 0x9414, vars, { nowUnix: now + 0.9, nameOf: () => 'a-very-long-host-name.example.org' });
    expect(named.line.slice(0, 17)).toBe('+a-very-long-hos ');
  });

  it('a refclock: srchost, dotted refid, t l; no jitter falls back to dispersion; 3 decimals without x.6 delay', () => {
    const vars = parseVarList('srcadr=127.127.20.0, hmode=3, stratum=0, ppoll=4, hpoll=4, refid=GPS, reach=0x7, ' +
      'delay=0.000, offset=-7.135, dispersion=1937.697, srchost="NMEA(0)"');
    const row = peerRow(1, 0x961a, vars, { nowUnix: now });
    expect(row.line).toBe('*NMEA(0)         .GPS.            0 l    -   16    7    0.000   -7.135 1937.697');
    expect(addressToResolve(vars)).toBeUndefined();
  });

  it('t for pool, broadcast, manycast, symmetric and NTS; missing variables as ntpq shows them', () => {
    const t = (text: string): string => peerRow(1, 0, parseVarList(text), { nowUnix: now }).type;
    expect(t('srcadr=0.0.0.0, hmode=3, refid=POOL, srchost="pool.ntp.org"')).toBe('p');
    expect(t('srcadr=192.0.2.1, hmode=5')).toBe('B');
    expect(t('srcadr=224.0.1.1, hmode=5')).toBe('M');
    expect(t('srcadr=224.0.1.1, hmode=3')).toBe('a');
    expect(t('srcadr=192.0.2.1, hmode=6')).toBe('b');
    expect(t('srcadr=192.0.2.1, hmode=1')).toBe('s');
    expect(t('srcadr=192.0.2.1, hmode=2')).toBe('S');
    expect(t('srcadr=192.0.2.1, hmode=3, ntscookies=8')).toBe('8');
    expect(t('srcadr=192.0.2.1')).toBe('?');
    const empty = peerRow(1, 0, parseVarList(''), { nowUnix: now });
    expect(empty.line).toBe('                 ..              20 ?    -    1    0        .        .        .');
  });

  it('long refids are cut on the left; IPv6 refids are not dotted', () => {
    expect(highTruncate('2001:db8::1234:5678', 15)).toBe('-db8::1234:5678');
    const row = peerRow(1, 0, parseVarList('srcadr=::1, refid=2001:db8::1234:5678, hmode=3'), { nowUnix: now });
    expect(row.refid).toBe('2001:db8::1234:5678');
    expect(row.line.slice(17, 33)).toBe('-db8::1234:5678 ');
  });

  it('header, rule and a wider terminal as ntpq lays them out', () => {
    expect(tableHeader()).toBe('     remote           refid      st t when poll reach   delay   offset   jitter');
    expect(tableRule()).toBe('='.repeat(79));
    expect(tableHeader({ termWidth: 120 })).toBe('     remote' + ' '.repeat(28) + '       refid      st t when poll reach   delay   offset   jitter');
    expect(tableRule({ termWidth: 90 }).length).toBe(89);
  });

  it('l_fp text to Unix seconds in the era nearest now (ntpc.lfptofloat), undefined if not l_fp', () => {
    expect(lfpToUnix('0xeead1166.1962415e', now)).toBeCloseTo(1_795_330_790.0991554, 6);
    expect(lfpToUnix('0x00000000.00000000', now)).toBe(2_085_978_496);
    expect(lfpToUnix('eead1166', now)).toBeUndefined();
  });
});
