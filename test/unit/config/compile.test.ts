import { describe, expect, test } from 'vitest';
import { formatDiagnostic } from '../../../src/config/diagnostics.js';
import type { ConfigDiagnostic } from '../../../src/config/model.js';
import { parseConfigText } from '../../../src/config/parse.js';

const check = (text: string) => parseConfigText(text, 'gnomon.conf');
const brief = (diagnostics: readonly ConfigDiagnostic[]): string[] =>
  diagnostics.map((d) => `${d.at.line}:${d.at.column} ${d.severity} ${d.code}`);

describe('every error is reported, with its position', () => {
  test('ten different mistakes give exactly ten located errors', () => {
    const text = [
      '# ten different mistakes among valid lines',
      'sever 192.0.2.1 iburst',
      'server 192.0.2.2 minpoll 2O',
      'server 192.0.2.3 maxpoll 18',
      'restrict default kod nomodify notrap nopeer noquery',
      'restrict 10.0.0.0 mask 255.0.255.0 nomodify',
      'restrict 10.0.0.0 mask 255.0.0.0 nomodfy',
      'server 127.127.1.0',
      'fudge 127.127.1.0 stratum 5',
      'interface listen eth0',
      'discard average',
      'allow 192.168.0.0/16',
      'restrict -4 ::1',
      'driftfile "/var/lib/ntp/drift',
      '',
    ].join('\n');
    const result = check(text);
    expect(brief(result.diagnostics)).toEqual([
      '2:1 error CONFIG_UNKNOWN_DIRECTIVE',
      '3:26 error CONFIG_INVALID_VALUE',
      '4:26 error CONFIG_OUT_OF_RANGE',
      '6:24 error CONFIG_INVALID_MASK',
      '7:34 error CONFIG_UNKNOWN_OPTION',
      '10:18 error CONFIG_INVALID_ADDRESS',
      '11:9 error CONFIG_MISSING_VALUE',
      '12:1 error CONFIG_FOREIGN_DIRECTIVE',
      '13:13 error CONFIG_FAMILY_MISMATCH',
      '14:11 error CONFIG_UNTERMINATED_QUOTE',
    ]);
    expect(result.config).toBeUndefined();
    for (const d of result.diagnostics) {
      expect(d.at.file).toBe('gnomon.conf');
      expect(d.hint, d.code).toBeTruthy();
    }
    expect(result.diagnostics[0]?.hint).toBe('did you mean "server"?');
    expect(result.diagnostics[2]?.message).toBe('server: maxpoll expects an integer from 0 to 17, got "18"');
    expect(result.diagnostics[4]?.hint).toBe('did you mean "nomodify"?');
  });

  test('several mistakes on one line are all reported', () => {
    expect(brief(check('server 192.0.2.1 minpoll x maxpoll y version 9 bogus\n').diagnostics)).toEqual([
      '1:26 error CONFIG_INVALID_VALUE', '1:36 error CONFIG_INVALID_VALUE', '1:46 error CONFIG_OUT_OF_RANGE', '1:48 error CONFIG_UNKNOWN_OPTION',
    ]);
  });

  test('the compiler format names file, line, column, severity, message, code and hint', () => {
    const [d] = check('\n  sevrer a.example\n').diagnostics;
    expect(d && formatDiagnostic(d)).toBe('gnomon.conf:2:3: error: unknown directive "sevrer" [CONFIG_UNKNOWN_DIRECTIVE] (hint: did you mean "server"?)');
  });
});

describe('directives', () => {
  test('unknown directives get the closest suggestion, or a pointer to the docs', () => {
    expect(check('SERVER a').diagnostics[0]?.hint).toBe('did you mean "server"?');
    expect(check('restirct default').diagnostics[0]?.hint).toBe('did you mean "restrict"?');
    expect(check('frobnicate 1').diagnostics[0]?.hint).toMatch(/docs\/configuration\.md/);
  });

  test('known but unimplemented directives are warnings that name them', () => {
    const result = check('broadcastdelay 0.004\ntos minclock 3 maxclock 6\nstatsdir /var/log/ntpstats/\nfilegen loopstats file loopstats type day enable\nsetvar x\n');
    expect(result.config).toBeDefined();
    expect(result.diagnostics.map((d) => [d.code, d.directive])).toEqual([
      // statsdir and filegen are acted on: test/unit/config/stats.test.ts
      // tos acts on maxdist and holdover only: its other options are named one by one.
      ['CONFIG_NOT_IMPLEMENTED', 'broadcastdelay'], ['CONFIG_OPTION_NOT_IMPLEMENTED', 'tos'], ['CONFIG_OPTION_NOT_IMPLEMENTED', 'tos'],
      ['CONFIG_NOT_IMPLEMENTED', 'setvar'],
    ]);
    expect(result.diagnostics[0]?.message).toBe('broadcastdelay: known ntpd directive, accepted but Gnomon does not act on it yet');
  });

  test('unimplemented directives are still checked', () => {
    expect(brief(check('trustedkey 4 x 0\nstatistics loopstat\nrequestkey x\n').diagnostics)).toEqual([
      '1:14 error CONFIG_INVALID_VALUE', '1:16 error CONFIG_OUT_OF_RANGE',
      '2:12 error CONFIG_INVALID_VALUE', '3:1 warning CONFIG_NOT_IMPLEMENTED', '3:12 error CONFIG_INVALID_VALUE',
    ]);
    expect(check('statistics loopstat').diagnostics[0]?.hint).toBe('did you mean "loopstats"?');
  });

  test('keys and trustedkey compile (paths relative to the naming file, trusted keys merged without repeats)', () => {
    const { config, diagnostics } = check('keys ntp.keys\ntrustedkey 2 1\ntrustedkey 2 3\n');
    expect(diagnostics).toEqual([]);
    expect(config?.keys?.path).toBe('ntp.keys'); // beside gnomon.conf
    expect(config?.keys?.at).toMatchObject({ line: 1, column: 6 });
    expect(config?.trustedKeys?.map((k) => k.id)).toEqual([2, 1, 3]);
  });

  test('chrony spellings are refused with the ntp.conf equivalent', () => {
    const [d] = check('bindaddress 192.0.2.1\n').diagnostics;
    expect(d).toMatchObject({ severity: 'error', code: 'CONFIG_FOREIGN_DIRECTIVE', hint: 'write `interface listen ADDRESS`' });
  });

  test('missing and unexpected arguments', () => {
    expect(brief(check('server\nport 123 456\ndriftfile\nbroadcastclient yes\nmulticastclient\nmanycastserver\n').diagnostics)).toEqual([
      '1:1 error CONFIG_MISSING_ARGUMENT',
      '2:10 error CONFIG_UNEXPECTED_ARGUMENT',
      '3:1 error CONFIG_MISSING_ARGUMENT',
      '4:17 error CONFIG_UNKNOWN_OPTION',
      '6:1 warning CONFIG_NOT_IMPLEMENTED', '6:1 error CONFIG_MISSING_ARGUMENT',
    ]);
    expect(check('server iburst').diagnostics[0]).toMatchObject({ code: 'CONFIG_MISSING_ARGUMENT', at: { column: 8 } });
    expect(check('server').diagnostics[0]?.hint).toMatch(/^usage: server \[-4\|-6\] ADDRESS \[iburst\]/);
  });

  test('a repeated single-valued directive warns and the later line wins', () => {
    const result = check('port 11123\nport 11124\n');
    expect(result.config?.port).toBe(11124);
    expect(result.diagnostics).toEqual([expect.objectContaining({
      severity: 'warning', code: 'CONFIG_DUPLICATE_DIRECTIVE', message: 'port: already set at gnomon.conf:1:1; this later line wins', at: { file: 'gnomon.conf', line: 2, column: 1 },
    })]);
  });

  test('a repeated option warns and the last value counts', () => {
    const result = check('server a.example minpoll 4 minpoll 5');
    expect(result.config?.associations[0]?.minpoll).toBe(5);
    expect(brief(result.diagnostics)).toEqual(['1:28 warning CONFIG_DUPLICATE_OPTION']);
  });
});

describe('the compiled model', () => {
  test('defaults when the file says nothing', () => {
    expect(check('# nothing\n').config).toEqual({
      listen: [], port: 123, restrict: [], discard: { averageLog2S: 3, minimumLog2S: 1, monitor: 3000 }, mru: { maxdepth: 8192 },
      associations: [], fudge: [], refclocks: [], kernel: false, tinker: { stepS: 0.128, panicS: 1000 },
      discipline: { holdoverS: 3600, maxDistanceS: 1.5, minSane: 1 },
    });
  });

  test('port, user, driftfile, logfile, discard and mru', () => {
    const result = check('port 11123\nuser ntp\ndriftfile /var/lib/gnomon/drift\nlogfile /var/log/gnomon.log\n'
      + 'discard average 4 minimum 2\ndiscard monitor 1000\nmru maxdepth 1024\n');
    expect(result.diagnostics).toEqual([]);
    expect(result.config).toMatchObject({
      port: 11123, user: 'ntp', driftfile: '/var/lib/gnomon/drift', logfile: '/var/log/gnomon.log',
      discard: { averageLog2S: 4, minimumLog2S: 2, monitor: 1000 }, mru: { maxdepth: 1024 },
    });
  });

  test('out-of-range numbers are errors; knobs Gnomon ignores are warnings', () => {
    expect(brief(check('port 0\ndiscard average 18\nmru maxdepth 0 maxage 64\n').diagnostics)).toEqual([
      '1:6 error CONFIG_OUT_OF_RANGE', '2:17 error CONFIG_OUT_OF_RANGE', '3:14 error CONFIG_OUT_OF_RANGE', '3:16 warning CONFIG_OPTION_NOT_IMPLEMENTED',
    ]);
  });

  test('interface listen takes addresses and ntpd\'s wildcards; ignore/drop are warnings', () => {
    const result = check('interface listen 127.0.0.1\ninterface listen 2001:DB8::1\ninterface listen ipv6\ninterface ignore wildcard\ninterface drop eth1\n');
    expect(result.config?.listen.map((l) => l.address)).toEqual(['127.0.0.1', '2001:db8::1', '::']);
    expect(result.config?.listen[1]?.at).toEqual({ file: 'gnomon.conf', line: 2, column: 1 });
    expect(brief(result.diagnostics)).toEqual(['4:11 warning CONFIG_NOT_IMPLEMENTED', '5:11 warning CONFIG_NOT_IMPLEMENTED']);
    expect(check('interface listen all').config?.listen.map((l) => l.address)).toEqual(['0.0.0.0', '::']);
    expect(brief(check('interface listen 10.0.0.0/8\ninterface bind x').diagnostics)).toEqual(['1:18 error CONFIG_INVALID_ADDRESS', '2:11 error CONFIG_INVALID_VALUE']);
  });

  test('the config is withheld when there is any error, kept with warnings only', () => {
    expect(check('tos minclock 3\n').config).toBeDefined();
    expect(check('tos minclock 3\nport x\n').config).toBeUndefined();
  });

  test('includefile without a reader is a warning, not an error', () => {
    const result = check('includefile /etc/gnomon/extra.conf\nport 1\n');
    expect(result.config?.port).toBe(1);
    expect(brief(result.diagnostics)).toEqual(['1:13 warning CONFIG_INCLUDE_NOT_FOLLOWED']);
  });
});

describe('tos maxdist and holdover (the discipline\'s holdover limits)', () => {
  test('compile into discipline; out of range is a located error', () => {
    expect(check('tos maxdist 0.5 holdover 600\n').config?.discipline).toEqual({ holdoverS: 600, maxDistanceS: 0.5, minSane: 1 });
    expect(check('tos holdover 0\n').config?.discipline).toEqual({ holdoverS: 0, maxDistanceS: 1.5, minSane: 1 });
    expect(brief(check('tos maxdist 0 holdover -1\n').diagnostics)).toEqual(['1:13 error CONFIG_OUT_OF_RANGE', '1:24 error CONFIG_OUT_OF_RANGE']);
  });
});

describe('tos minsane and orphan, broadcastclient and multicastclient', () => {
  test('minsane joins the discipline; orphan below 16 is the last resort, 16 turns it off', () => {
    const c = check('tos minsane 2 orphan 10\n').config!;
    expect(c.discipline.minSane).toBe(2);
    expect(c.orphanStratum).toBe(10);
    expect(check('tos orphan 16\n').config!.orphanStratum).toBeUndefined();
    expect(brief(check('tos minsane 0 orphan 17\n').diagnostics)).toEqual(['1:13 error CONFIG_OUT_OF_RANGE', '1:22 error CONFIG_OUT_OF_RANGE']);
  });

  test('broadcastclient and multicastclient compile into one broadcastClient; multicast defaults to 224.0.1.1', () => {
    expect(check('broadcastclient novolley\n').config!.broadcastClient).toMatchObject({ novolley: true, groups: [] });
    expect(check('multicastclient\nmulticastclient ff05::101 224.0.1.1\n').config!.broadcastClient).toMatchObject({ novolley: false, groups: ['224.0.1.1', 'ff05::101'] });
    expect(check('server 192.0.2.1\n').config!.broadcastClient).toBeUndefined();
  });
});
