import { describe, expect, test } from 'vitest';
import type { ConfigDiagnostic } from '../../../src/config/model.js';
import { parseConfigText } from '../../../src/config/parse.js';

const check = (text: string) => parseConfigText(text, 'ntp.conf');
const brief = (diagnostics: readonly ConfigDiagnostic[]): string[] =>
  diagnostics.map((d) => `${d.at.line}:${d.at.column} ${d.severity} ${d.code}`);
const rules = (text: string) => check(text).config?.restrict.map(({ at: _at, ...rule }) => rule);

describe('restrict targets', () => {
  test('default, -4 default, -6 default and source', () => {
    expect(rules('restrict default kod nomodify\nrestrict -4 default noquery\nrestrict -6 default ignore\nrestrict source nomodify noquery\n')).toEqual([
      { kind: 'default', family: 'any', flags: ['kod', 'nomodify'] },
      { kind: 'default', family: 'ipv4', flags: ['noquery'] },
      { kind: 'default', family: 'ipv6', flags: ['ignore'] },
      { kind: 'source', family: 'any', flags: ['nomodify', 'noquery'] },
    ]);
  });

  test('a bare address is one host; mask and /LENGTH give a network', () => {
    expect(rules('restrict 127.0.0.1\nrestrict -6 ::1\nrestrict 192.168.163.0 mask 255.255.255.0 nomodify notrap\nrestrict 2001:DB8::/32 noquery\nrestrict ::ffff:10.0.0.0/104\n')).toEqual([
      { kind: 'address', family: 'ipv4', address: '127.0.0.1', prefixLength: 32, flags: [] },
      { kind: 'address', family: 'ipv6', address: '::1', prefixLength: 128, flags: [] },
      { kind: 'address', family: 'ipv4', address: '192.168.163.0', prefixLength: 24, flags: ['nomodify', 'notrap'] },
      { kind: 'address', family: 'ipv6', address: '2001:db8::', prefixLength: 32, flags: ['noquery'] },
      { kind: 'address', family: 'ipv6', address: '::ffff:10.0.0.0', prefixLength: 104, flags: [] },
    ]);
  });

  test('flags keep the order they were written in', () => {
    expect(rules('restrict default noquery nopeer kod limited version nomrulist noepeer lowpriotrap noserve notrust')?.[0]?.flags)
      .toEqual(['noquery', 'nopeer', 'kod', 'limited', 'version', 'nomrulist', 'noepeer', 'lowpriotrap', 'noserve', 'notrust']);
  });

  test('the rule records where it was written', () => {
    expect(check('\n  restrict default').config?.restrict[0]?.at).toEqual({ file: 'ntp.conf', line: 2, column: 3 });
  });
});

describe('restrict mistakes', () => {
  test('host bits under a mask: warning, and the rule covers the network', () => {
    const result = check('restrict 10.0.0.5 mask 255.255.255.0 nomodify\nrestrict 10.1.2.3/8\n');
    expect(brief(result.diagnostics)).toEqual(['1:10 warning CONFIG_HOST_BITS_SET', '2:10 warning CONFIG_HOST_BITS_SET']);
    expect(result.diagnostics[0]?.hint).toBe('write 10.0.0.0 mask 255.255.255.0');
    expect(result.diagnostics[1]?.hint).toBe('write 10.0.0.0/8');
    expect(result.config?.restrict.map((r) => `${r.address}/${r.prefixLength}`)).toEqual(['10.0.0.0/24', '10.0.0.0/8']);
  });

  test('non-contiguous masks, bad prefix lengths and family mismatches are errors', () => {
    expect(brief(check([
      'restrict 10.0.0.0 mask 255.0.255.0',
      'restrict 10.0.0.0 mask ffff::',
      'restrict 10.0.0.0/33',
      'restrict 10.0.0.0/x',
      'restrict -6 10.0.0.0',
      'restrict -4 2001:db8::',
      'restrict 10.0.0.0 mask 255.0.0.O',
    ].join('\n')).diagnostics)).toEqual([
      '1:24 error CONFIG_INVALID_MASK', '2:24 error CONFIG_FAMILY_MISMATCH', '3:10 error CONFIG_INVALID_MASK',
      '4:10 error CONFIG_INVALID_MASK', '5:13 error CONFIG_FAMILY_MISMATCH', '6:13 error CONFIG_FAMILY_MISMATCH',
      '7:24 error CONFIG_INVALID_ADDRESS',
    ]);
  });

  test('host names are refused with a hint; garbage is not an address', () => {
    const [name, garbage] = check('restrict time.example.com nomodify\nrestrict 10.0.0.256\n').diagnostics;
    expect(name).toMatchObject({ code: 'CONFIG_INVALID_ADDRESS', message: 'restrict: "time.example.com" is a host name; restrict needs an IP address' });
    expect(name?.hint).toMatch(/restrict source/);
    expect(garbage).toMatchObject({ code: 'CONFIG_INVALID_ADDRESS', at: { line: 2, column: 10 } });
  });

  test('mask conflicts with default, source and /LENGTH', () => {
    expect(brief(check('restrict default mask 255.0.0.0\nrestrict source mask 255.0.0.0\nrestrict 10.0.0.0/8 mask 255.0.0.0\n').diagnostics)).toEqual([
      '1:18 error CONFIG_CONFLICTING_OPTIONS', '2:17 error CONFIG_CONFLICTING_OPTIONS', '3:21 error CONFIG_CONFLICTING_OPTIONS',
    ]);
  });

  test('unknown flags suggest the closest, missing address and mask values are reported', () => {
    const result = check('restrict default nomodfy notrap\nrestrict nomodify\nrestrict 10.0.0.0 mask\n');
    expect(brief(result.diagnostics)).toEqual(['1:18 error CONFIG_UNKNOWN_OPTION', '2:10 error CONFIG_MISSING_ARGUMENT', '3:19 error CONFIG_MISSING_VALUE']);
    expect(result.diagnostics[0]?.hint).toBe('did you mean "nomodify"?');
  });

  test('ntpd flags Gnomon does not act on are warnings naming the flag', () => {
    const [d] = check('restrict default ntpport ippeerlimit 1\n').diagnostics;
    expect(d).toMatchObject({ severity: 'warning', code: 'CONFIG_OPTION_NOT_IMPLEMENTED', message: 'restrict: option "ntpport" is accepted but Gnomon does not act on it yet' });
  });

  test('repeated rules for the same network are combined, as ntpd does, with a warning', () => {
    const result = check('restrict 127.0.0.1 noquery\nrestrict 127.0.0.1 nomodify noquery\n');
    expect(result.config?.restrict).toHaveLength(1);
    expect(result.config?.restrict[0]).toMatchObject({ flags: ['noquery', 'nomodify'], at: { line: 1 } });
    expect(brief(result.diagnostics)).toEqual(['2:1 warning CONFIG_DUPLICATE_DIRECTIVE']);
  });
});
