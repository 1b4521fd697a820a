// `broadcast ADDR [key K] [ttl T] [minpoll P] [version V]` compiled into GnomonConfig.broadcast.
import { describe, expect, test } from 'vitest';
import type { ConfigDiagnostic } from '../../../src/config/model.js';
import { parseConfigText } from '../../../src/config/parse.js';

const check = (text: string) => parseConfigText(text, 'gnomon.conf');
const brief = (diagnostics: readonly ConfigDiagnostic[]): string[] =>
  diagnostics.map((d) => `${d.at.line}:${d.at.column} ${d.severity} ${d.code}`);

describe('broadcast', () => {
  test('subnet broadcast, IPv4 and IPv6 multicast, with ntpd\'s defaults and positions', () => {
    const result = check('broadcast 192.168.1.255\nbroadcast 224.0.1.1 ttl 4 minpoll 4 version 3\nbroadcast FF05::101 minpoll 10\n');
    expect(result.diagnostics).toEqual([]);
    expect(result.config?.broadcast).toEqual([
      { address: '192.168.1.255', family: 4, multicast: false, ttl: 1, minpoll: 6, version: 4, at: { file: 'gnomon.conf', line: 1, column: 1 } },
      { address: '224.0.1.1', family: 4, multicast: true, ttl: 4, minpoll: 4, version: 3, at: { file: 'gnomon.conf', line: 2, column: 1 } },
      { address: 'ff05::101', family: 6, multicast: true, ttl: 1, minpoll: 10, version: 4, at: { file: 'gnomon.conf', line: 3, column: 1 } },
    ]);
  });

  test('no broadcast line: no broadcast field', () => {
    expect(check('port 11123\n').config).not.toHaveProperty('broadcast');
  });

  test('key and autokey are accepted with a warning (authentication comes later); the key is kept for the MAC hook', () => {
    const result = check('broadcast 10.0.0.255 key 7\nbroadcast 224.0.1.1 autokey\n');
    expect(brief(result.diagnostics)).toEqual(['1:22 warning CONFIG_OPTION_NOT_IMPLEMENTED', '2:21 warning CONFIG_OPTION_NOT_IMPLEMENTED']);
    expect(result.diagnostics[0]?.hint).toMatch(/without a MAC/);
    expect(result.config?.broadcast?.[0]).toMatchObject({ address: '10.0.0.255', key: 7 });
  });

  test('minpoll below ntpd\'s range is honoured with a warning (tests use 1 = 2 s); above 17 is refused', () => {
    const low = check('broadcast 10.0.0.255 minpoll 1\n');
    expect(brief(low.diagnostics)).toEqual(['1:30 warning CONFIG_DISCOURAGED_VALUE']);
    expect(low.config?.broadcast?.[0]?.minpoll).toBe(1);
    expect(brief(check('broadcast 10.0.0.255 minpoll 18\n').diagnostics)).toEqual(['1:30 error CONFIG_OUT_OF_RANGE']);
  });

  test('located errors for addresses that cannot be meant: IPv6 unicast, 0.0.0.0, loopback, names; ttl 0, version 5', () => {
    const result = check([
      'broadcast 2001:db8::1',
      'broadcast 0.0.0.0',
      'broadcast 127.0.0.255',
      'broadcast ntp.example.org',
      'broadcast 224.0.1.1 ttl 0',
      'broadcast 224.0.1.1 version 5',
    ].join('\n'));
    expect(result.config).toBeUndefined();
    expect(brief(result.diagnostics)).toEqual([
      '1:11 error CONFIG_INVALID_ADDRESS', '2:11 error CONFIG_INVALID_ADDRESS', '3:11 error CONFIG_INVALID_ADDRESS',
      '4:11 error CONFIG_INVALID_ADDRESS', '5:25 error CONFIG_OUT_OF_RANGE', '6:29 error CONFIG_OUT_OF_RANGE',
    ]);
    expect(result.diagnostics[0]?.message).toBe('broadcast: 2001:db8::1 is not a multicast address, and IPv6 has no broadcast');
    expect(result.diagnostics[0]?.hint).toMatch(/ff05::101/);
  });

  test('broadcastdelay stays accepted-not-acted', () => {
    expect(brief(check('broadcastdelay 0.004\n').diagnostics)).toEqual(['1:1 warning CONFIG_NOT_IMPLEMENTED']);
  });
});
