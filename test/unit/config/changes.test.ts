import { describe, expect, test } from 'vitest';
import { applyChange, listBroadcast, listRestrict, type ChangeContext, type ConfigChange } from '../../../src/config/changes.js';

const ctx: ChangeContext = { fileName: '/etc/gnomon/ntp.conf', broadcastAddresses: ['192.168.1.255'] };

const BASE = [
  '# Gnomon appliance   (hand-written: keep me)',
  'server 127.127.1.0',
  'fudge 127.127.1.0 stratum 5',
  '\trestrict default kod limited nomodify   # the LAN',
  'restrict 127.0.0.1',
  'driftfile /var/lib/gnomon/drift',
  '',
].join('\n');

function ok(text: string, change: ConfigChange): string {
  const r = applyChange(text, change, ctx);
  if (!r.ok) throw new Error(`${r.message}\n${JSON.stringify(r.fieldErrors)}`);
  return r.text;
}

function refused(text: string, change: ConfigChange) {
  const r = applyChange(text, change, ctx);
  if (r.ok) throw new Error(`accepted: ${r.text}`);
  return r;
}

describe('restrict changes', () => {
  test('add then remove gives back the same bytes; the new line follows the last restrict line', () => {
    const added = ok(BASE, { kind: 'restrict-add', address: '10.0.0.0/8', flags: ['nomodify', 'noquery'] });
    expect(added).toBe(BASE.replace('restrict 127.0.0.1\n', 'restrict 127.0.0.1\nrestrict 10.0.0.0/8 nomodify noquery\n'));
    expect(listRestrict(added, ctx).map((r) => [r.line, r.kind, r.address, r.prefixLength, r.flags])).toEqual([
      [4, 'default', undefined, undefined, ['kod', 'limited', 'nomodify']],
      [5, 'address', '127.0.0.1', 32, []],
      [6, 'address', '10.0.0.0', 8, ['nomodify', 'noquery']],
    ]);
    expect(ok(added, { kind: 'restrict-remove', address: '10.0.0.0', prefixLength: 8 })).toBe(BASE);
  });

  test('mask spelling is kept; removing by CIDR finds a mask line', () => {
    const added = ok(BASE, { kind: 'restrict-add', address: '192.168.0.0', mask: '255.255.0.0', flags: ['ignore'] });
    expect(added).toContain('restrict 192.168.0.0 mask 255.255.0.0 ignore\n');
    expect(ok(added, { kind: 'restrict-remove', address: '192.168.0.0/16' })).toBe(BASE);
  });

  test('adding an existing rule replaces its flags in place, keeping indentation and comment; duplicates go', () => {
    const text = 'restrict 10.0.0.0/8 noquery   # office\nrestrict 10.0.0.0 mask 255.0.0.0 nopeer\n';
    const r = applyChange(text, { kind: 'restrict-add', address: '10.0.0.0/8', flags: ['ignore'] }, ctx);
    expect(r).toMatchObject({ ok: true, text: 'restrict 10.0.0.0/8 ignore   # office\n' });
    expect(r.ok && r.warnings.join('\n')).toMatch(/line 1 was rewritten[\s\S]*1 more line/);
  });

  test('set-default rewrites the default line (tab and comment kept) or inserts one before the first restrict line', () => {
    expect(ok(BASE, { kind: 'restrict-set-default', flags: ['kod', 'noquery'] }))
      .toBe(BASE.replace('\trestrict default kod limited nomodify   #', '\trestrict default kod noquery   #'));
    const v6 = ok(BASE, { kind: 'restrict-set-default', flags: ['ignore'], family: 'ipv6' });
    expect(v6).toBe(BASE.replace('\trestrict default', 'restrict -6 default ignore\n\trestrict default'));
    expect(ok('server 127.127.1.0\n', { kind: 'restrict-set-default', flags: [] })).toBe('server 127.127.1.0\nrestrict default\n');
  });

  test('IPv6 rules', () => {
    const added = ok(BASE, { kind: 'restrict-add', address: '2001:DB8::/32', flags: ['noquery'] });
    expect(added).toContain('restrict 2001:db8::/32 noquery\n');
    expect(ok(added, { kind: 'restrict-remove', address: '2001:db8::', prefixLength: 32 })).toBe(BASE);
  });

  test('invalid input is refused with field errors', () => {
    expect(refused(BASE, { kind: 'restrict-add', address: '10.0.0.0/33', flags: [] }).fieldErrors)
      .toEqual([expect.objectContaining({ field: 'address', code: 'CONFIG_INVALID_MASK' })]);
    expect(refused(BASE, { kind: 'restrict-add', address: '10.0.0.0', prefixLength: 40, flags: [] }).fieldErrors)
      .toEqual([expect.objectContaining({ field: 'prefixLength', code: 'CONFIG_INVALID_MASK' })]);
    expect(refused(BASE, { kind: 'restrict-add', address: '10.0.0.0', mask: '255.0.255.0', flags: [] }).fieldErrors)
      .toEqual([expect.objectContaining({ field: 'mask', code: 'CONFIG_INVALID_MASK' })]);
    const flag = refused(BASE, { kind: 'restrict-add', address: '10.0.0.0/8', flags: ['nosuchflag', 'nomodfy'] });
    expect(flag.fieldErrors.map((f) => [f.field, f.code])).toEqual([['flags', 'CONFIG_UNKNOWN_OPTION'], ['flags', 'CONFIG_UNKNOWN_OPTION']]);
    expect(flag.fieldErrors[1]?.hint).toBe('did you mean "nomodify"?');
    expect(refused(BASE, { kind: 'restrict-add', address: '10.1.0.0/8', flags: [] }).fieldErrors)
      .toEqual([expect.objectContaining({ field: 'address', code: 'CONFIG_HOST_BITS_SET', hint: 'write 10.0.0.0/8' })]);
    expect(refused(BASE, { kind: 'restrict-add', address: 'ntp.example.org', flags: [] }).fieldErrors[0]?.message).toMatch(/host name/);
    expect(refused(BASE, { kind: 'restrict-add', address: 'default', flags: [] }).fieldErrors[0]?.hint).toMatch(/set-default/);
    expect(refused(BASE, { kind: 'restrict-remove', address: '10.9.0.0/16' })).toMatchObject({ code: 'CONFIG_NO_SUCH_ENTRY' });
  });

  test('hostile values never reach the file', () => {
    for (const address of ['10.0.0.1"', '10.0.0.1\nrestrict default', '10.0.0.1 # x', '<script>alert(1)</script>', '10.0.0.1\r\nx', '"']) {
      expect(refused(BASE, { kind: 'restrict-add', address, flags: [] }).fieldErrors[0]).toMatchObject({ field: 'address', code: 'CONFIG_INVALID_ADDRESS' });
    }
    for (const flag of ['ignore\nserver evil', 'ignore #', '"ignore"', '<b>', '']) {
      expect(refused(BASE, { kind: 'restrict-add', address: '10.0.0.1', flags: [flag] }).fieldErrors[0]).toMatchObject({ field: 'flags' });
    }
    expect(refused(BASE, { kind: 'nonsense' } as unknown as ConfigChange).fieldErrors[0]).toMatchObject({ field: 'kind', code: 'CONFIG_BAD_CHANGE' });
  });

  test('an error elsewhere in the file refuses the change with field "config"', () => {
    const r = refused(`${BASE}port 0\n`, { kind: 'restrict-add', address: '10.0.0.0/8', flags: [] });
    expect(r.fieldErrors).toEqual([expect.objectContaining({ field: 'config', code: 'CONFIG_OUT_OF_RANGE' })]);
    expect(r.message).toMatch(/outside the edited line/);
    expect(r.diagnostics[0]).toMatch(/^\/etc\/gnomon\/ntp\.conf:8:6: error:/);
  });
});

describe('broadcast changes', () => {
  test('add, replace, list, remove round trip', () => {
    const one = ok(BASE, { kind: 'broadcast-add', address: '224.0.1.1', ttl: 4, minpoll: 5 });
    expect(one).toBe(`${BASE}broadcast 224.0.1.1 ttl 4 minpoll 5\n`);
    const two = ok(one, { kind: 'broadcast-add', address: '192.168.1.255', key: 7, version: 3 });
    expect(two).toBe(`${one}broadcast 192.168.1.255 key 7 version 3\n`);
    expect(listBroadcast(two, ctx).map((b) => [b.line, b.address, b.multicast, b.ttl, b.minpoll, b.version, b.key])).toEqual([
      [7, '224.0.1.1', true, 4, 5, 4, undefined],
      [8, '192.168.1.255', false, 1, 6, 3, 7],
    ]);
    const replaced = ok(two, { kind: 'broadcast-add', address: '224.0.1.1' });
    expect(replaced).toBe(`${BASE}broadcast 224.0.1.1\nbroadcast 192.168.1.255 key 7 version 3\n`);
    expect(ok(ok(replaced, { kind: 'broadcast-remove', address: '192.168.1.255' }), { kind: 'broadcast-remove', address: '224.0.1.1' })).toBe(BASE);
    expect(ok(BASE, { kind: 'broadcast-add', address: 'FF05::101' })).toBe(`${BASE}broadcast ff05::101\n`);
    expect(ok(BASE, { kind: 'broadcast-add', address: '255.255.255.255' })).toBe(`${BASE}broadcast 255.255.255.255\n`);
  });

  test('a file without a final newline gets one before the added line', () => {
    expect(ok('server 127.127.1.0', { kind: 'broadcast-add', address: '224.0.1.1' })).toBe('server 127.127.1.0\nbroadcast 224.0.1.1\n');
  });

  test('broadcast to a unicast host address, IPv6 unicast, bad numbers are refused by field', () => {
    expect(refused(BASE, { kind: 'broadcast-add', address: '192.168.1.7' }).fieldErrors)
      .toEqual([expect.objectContaining({ field: 'address', code: 'CONFIG_NOT_BROADCAST' })]);
    expect(refused(BASE, { kind: 'broadcast-add', address: '10.0.0.255' }).fieldErrors[0]?.message).toMatch(/192\.168\.1\.255/);
    expect(refused(BASE, { kind: 'broadcast-add', address: '2001:db8::1' }).fieldErrors[0]?.code).toBe('CONFIG_NOT_BROADCAST');
    const r = refused(BASE, { kind: 'broadcast-add', address: '224.0.1.1', ttl: 0, key: 70000, minpoll: 1.5, version: 5 });
    expect(r.fieldErrors.map((f) => f.field)).toEqual(['ttl', 'key', 'minpoll', 'version']);
    expect(refused(BASE, { kind: 'broadcast-remove', address: '224.0.1.1' }).code).toBe('CONFIG_NO_SUCH_ENTRY');
  });

  test('a discouraged value is accepted with the compiler\'s warning', () => {
    const r = applyChange(BASE, { kind: 'broadcast-add', address: '224.0.1.1', minpoll: 2 }, ctx);
    expect(r.ok).toBe(true);
    expect(r.ok && r.warnings.join('\n')).toMatch(/CONFIG_DISCOURAGED_VALUE/);
  });
});
