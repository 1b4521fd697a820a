import { describe, expect, test } from 'vitest';
import type { ConfigDiagnostic } from '../../../src/config/model.js';
import { parseConfigText } from '../../../src/config/parse.js';

const check = (text: string) => parseConfigText(text, 'ntp.conf');
const brief = (diagnostics: readonly ConfigDiagnostic[]): string[] =>
  diagnostics.map((d) => `${d.at.line}:${d.at.column} ${d.severity} ${d.code}`);

describe('server, pool and peer', () => {
  test('flags and numeric options land in the model', () => {
    const result = check('server 192.168.163.131 prefer minpoll 4 maxpoll 10\npool pool.ntp.org iburst\npeer 192.168.163.132 burst noselect true version 3\n');
    expect(result.diagnostics).toEqual([]);
    expect(result.config?.associations).toEqual([
      { kind: 'server', host: '192.168.163.131', iburst: false, burst: false, prefer: true, noselect: false, true: false, autokey: false,
        minpoll: 4, maxpoll: 10, at: { file: 'ntp.conf', line: 1, column: 1 } },
      { kind: 'pool', host: 'pool.ntp.org', iburst: true, burst: false, prefer: false, noselect: false, true: false, autokey: false,
        at: { file: 'ntp.conf', line: 2, column: 1 } },
      { kind: 'peer', host: '192.168.163.132', iburst: false, burst: true, prefer: false, noselect: true, true: true, autokey: false,
        version: 3, at: { file: 'ntp.conf', line: 3, column: 1 } },
    ]);
  });

  test('key and port (chrony\'s remote port) are acted on: they land in the model without warnings', () => {
    const result = check('server 192.0.2.1 key 7 port 11123\npeer 192.0.2.2 key 7\nserver 192.0.2.3 port 0\n');
    expect(result.config).toBeUndefined();
    expect(brief(result.diagnostics)).toEqual(['3:23 error CONFIG_OUT_OF_RANGE']);
    const ok = check('server 192.0.2.1 key 7 port 11123\npeer 192.0.2.2 key 7\n');
    expect(ok.diagnostics).toEqual([]);
    expect(ok.config?.associations.map((a) => [a.key, a.port])).toEqual([[7, 11123], [7, undefined]]);
  });

  test('poll below ntpd\'s 3 is a warning; above 17 or minpoll > maxpoll is an error', () => {
    const result = check('server a.example minpoll 2\nserver b.example minpoll 6 maxpoll 4\nserver c.example maxpoll 18\nserver d.example minpoll -1\n');
    expect(brief(result.diagnostics)).toEqual([
      '1:26 warning CONFIG_DISCOURAGED_VALUE', '2:36 error CONFIG_CONFLICTING_OPTIONS', '3:26 error CONFIG_OUT_OF_RANGE', '4:26 error CONFIG_OUT_OF_RANGE',
    ]);
    expect(result.diagnostics[0]?.message).toBe('server: minpoll 2 is outside the usual range 3 to 17');
  });

  test('options Gnomon does not act on are warnings that name the option', () => {
    const result = check('server a.example key 5 autokey mode 1 ttl 2 preempt xleave\n');
    expect(result.diagnostics.map((d) => d.message)).toEqual([
      'server: option "autokey" is accepted but Gnomon does not act on it yet',
      'server: option "mode" is accepted but Gnomon does not act on it yet',
      'server: option "ttl" is accepted but Gnomon does not act on it yet',
      'server: option "preempt" is accepted but Gnomon does not act on it yet',
      'server: option "xleave" is accepted but Gnomon does not act on it yet',
    ]);
    expect(result.config?.associations[0]).toMatchObject({ key: 5, autokey: true });
  });

  test('addresses and host names are checked; -4/-6 must agree with a literal', () => {
    expect(brief(check('server 192.168.1.300\nserver bad_host!\nserver -6 192.0.2.1\nserver -4 time.example\nserver 2001:db8::1 version 5\n').diagnostics)).toEqual([
      '1:8 error CONFIG_INVALID_ADDRESS', '2:8 error CONFIG_INVALID_VALUE', '3:11 error CONFIG_FAMILY_MISMATCH', '5:28 error CONFIG_OUT_OF_RANGE',
    ]);
  });
});

describe('refclocks', () => {
  test('127.127.T.U is a refclock with driver type and unit', () => {
    const result = check('server 127.127.20.0 minpoll 4 prefer\nserver 127.127.22.1\n');
    expect(result.diagnostics).toEqual([]);
    expect(result.config?.associations.map((a) => a.refclock)).toEqual([{ type: 20, unit: 0 }, { type: 22, unit: 1 }]);
  });

  test('ntpd drivers Gnomon lacks are warnings; impossible driver numbers and non-server refclocks are errors', () => {
    const result = check('server 127.127.8.0\nserver 127.127.0.0\nserver 127.127.99.0\npeer 127.127.1.0\npool 127.127.1.0\n');
    expect(brief(result.diagnostics)).toEqual([
      '1:8 warning CONFIG_REFCLOCK_NOT_IMPLEMENTED', '2:8 error CONFIG_INVALID_REFCLOCK', '3:8 error CONFIG_INVALID_REFCLOCK',
      '4:6 error CONFIG_INVALID_REFCLOCK', '5:6 error CONFIG_INVALID_REFCLOCK',
    ]);
  });

  test('fudge sets time1/time2/stratum/refid/flags', () => {
    const result = check('server 127.127.20.0\nfudge 127.127.20.0 time1 0.0 time2 -0.350 stratum 0 refid GPS flag1 1 flag3 0\n');
    expect(result.diagnostics).toEqual([]);
    expect(result.config?.fudge).toEqual([{
      refclock: { type: 20, unit: 0 }, time1S: 0, time2S: -0.35, stratum: 0, refid: 'GPS', flags: { flag1: true, flag3: false },
      at: { file: 'ntp.conf', line: 2, column: 1 },
    }]);
  });

  test('fudge mistakes are located; a fudge without its server line is a warning', () => {
    const result = check('fudge 127.127.1.0 stratum 16 refid TOOLONG flag2 2 time1 abc\nfudge 10.0.0.1 stratum 1\nfudge 127.127.1.1 stratum 5\nfudge\n');
    expect(brief(result.diagnostics)).toEqual([
      '1:7 warning CONFIG_FUDGE_WITHOUT_SERVER', '1:27 error CONFIG_OUT_OF_RANGE', '1:36 error CONFIG_INVALID_VALUE', '1:50 error CONFIG_INVALID_VALUE', '1:58 error CONFIG_INVALID_VALUE',
      '2:7 error CONFIG_INVALID_REFCLOCK', '3:7 warning CONFIG_FUDGE_WITHOUT_SERVER', '4:1 error CONFIG_MISSING_ARGUMENT',
    ]);
    expect(result.diagnostics[2]?.hint).toBe('ntpd would cut it to "TOOL"; write that');
  });

  test('fudge before its server line is fine (ntpd applies servers first too)', () => {
    expect(check('fudge 127.127.1.0 stratum 5\nserver 127.127.1.0\n').diagnostics).toEqual([]);
  });
});
