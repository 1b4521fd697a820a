/**
 * Reference clocks in both spellings users bring (ntpd's 127.127.T.U + fudge, NTPsec's
 * `refclock DRIVER ...`) and Gnomon's pps-gpio/pps-sysfs compile into one RefclockConfig list;
 * chrony's `refclock PPS /dev/pps0` is refused with the spelling to use.
 */
import { describe, expect, test } from 'vitest';
import type { ConfigDiagnostic, RefclockConfig } from '../../../src/config/model.js';
import { parseConfigText } from '../../../src/config/parse.js';

const check = (text: string) => parseConfigText(text, 'ntp.conf');
const brief = (diagnostics: readonly ConfigDiagnostic[]): string[] =>
  diagnostics.map((d) => `${d.at.line}:${d.at.column} ${d.severity} ${d.code}`);
const at = (line: number, column = 1) => ({ file: 'ntp.conf', line, column });
const base = { offsetS: 0, delayS: 0, prefer: false, noselect: false, edge: 'assert', usePps: true } as const;

function refclocks(text: string): readonly RefclockConfig[] {
  const result = check(text);
  expect(result.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
  return result.config?.refclocks ?? [];
}

describe('ntpd style: server 127.127.T.U + fudge', () => {
  test('NMEA (20): /dev/gpsU, baud from mode bits 4-6, time1 offset, time2 delay, flag1 PPS from /dev/gpsppsU', () => {
    expect(refclocks([
      'server 127.127.20.0 mode 17 prefer minpoll 4 maxpoll 4',
      'fudge 127.127.20.0 time1 0.001 time2 0.350 refid GPS stratum 1 flag1 1',
    ].join('\n'))).toEqual([{
      ...base, kind: 'nmea', style: 'ntpd', unit: 0, path: '/dev/gps0', ppsPath: '/dev/gpspps0', baudBps: 9600, mode: 17,
      offsetS: 0.001, delayS: 0.35, refid: 'GPS', stratum: 1, prefer: true, minpoll: 4, maxpoll: 4, at: at(1),
    }]);
  });

  test('every baud the mode bits name; no mode is 4800; without flag1 there is no PPS', () => {
    const modes = [0, 16, 32, 48, 64, 80, 1 + 80];
    const text = modes.map((m, unit) => `server 127.127.20.${unit} mode ${m}`).join('\n') + '\nserver 127.127.20.9\n';
    expect(refclocks(text).map((r) => [r.unit, r.baudBps, r.usePps, r.ppsPath])).toEqual([
      [0, 4800, false, undefined], [1, 9600, false, undefined], [2, 19200, false, undefined], [3, 38400, false, undefined],
      [4, 57600, false, undefined], [5, 115200, false, undefined], [6, 115200, false, undefined], [9, 4800, false, undefined],
    ]);
  });

  test('PPS (22): /dev/ppsU, flag2 1 takes the clear edge; gpsd (46): /dev/gpsU on 127.0.0.1:2947', () => {
    expect(refclocks('fudge 127.127.22.1 flag2 1 refid PPS time1 -0.000002\nserver 127.127.22.1\nserver 127.127.46.0 noselect\nfudge 127.127.46.0 time2 0.1\n')).toEqual([
      { ...base, kind: 'pps-kernel', style: 'ntpd', unit: 1, path: '/dev/pps1', refid: 'PPS', offsetS: -0.000002, edge: 'clear', at: at(2) },
      { ...base, kind: 'gpsd', style: 'ntpd', unit: 0, path: '/dev/gps0', host: '127.0.0.1', port: 2947, delayS: 0.1, noselect: true, at: at(3) },
    ]);
  });

  test('later fudge lines override earlier ones field by field, as ntpd applies them', () => {
    const [r] = refclocks('server 127.127.20.0\nfudge 127.127.20.0 time2 0.2 refid GPS\nfudge 127.127.20.0 time2 0.5\n');
    expect(r).toMatchObject({ delayS: 0.5, refid: 'GPS' });
  });

  test('the local clock and drivers Gnomon lacks stay associations, not refclocks', () => {
    const result = check('server 127.127.1.0\nfudge 127.127.1.0 stratum 10\nserver 127.127.8.0\n');
    expect(result.config?.refclocks).toEqual([]);
    expect(result.config?.associations).toHaveLength(2);
  });

  test('mode bits 96 and 112 name no speed: a located error with the bit values as hint', () => {
    const result = check('server 127.127.20.0 mode 113\n');
    expect(brief(result.diagnostics)).toEqual(['1:21 warning CONFIG_OPTION_NOT_IMPLEMENTED', '1:26 error CONFIG_OUT_OF_RANGE']);
    expect(result.diagnostics[1]?.hint).toContain('16 (9600)');
    expect(result.config).toBeUndefined();
  });
});

describe('NTPsec style: refclock nmea|pps|gpsd', () => {
  test('nmea with path, ppspath, baud, time1, time2, refid, prefer', () => {
    expect(refclocks('refclock nmea unit 0 path /dev/ttyAMA0 ppspath /dev/pps0 baud 115200 time1 0.0 time2 0.480 refid GPS flag1 1 prefer\n')).toEqual([{
      ...base, kind: 'nmea', style: 'ntpsec', unit: 0, path: '/dev/ttyAMA0', ppsPath: '/dev/pps0', baudBps: 115200,
      delayS: 0.48, refid: 'GPS', prefer: true, at: at(1),
    }]);
  });

  test('defaults as NTPsec: unit 0, /dev/gpsU at 4800 (or the mode bits), pps on /dev/ppsU, gpsd on 127.0.0.1:2947', () => {
    expect(refclocks('refclock nmea\nrefclock nmea unit 1 mode 32\nrefclock pps unit 1 ppspath /dev/pps1 refid PPS2 flag2 1 minpoll 4 maxpoll 4\nrefclock gpsd unit 2\nrefclock pps\n')).toEqual([
      { ...base, kind: 'nmea', style: 'ntpsec', unit: 0, path: '/dev/gps0', baudBps: 4800, usePps: false, at: at(1) },
      { ...base, kind: 'nmea', style: 'ntpsec', unit: 1, path: '/dev/gps1', baudBps: 19200, mode: 32, usePps: false, at: at(2) },
      { ...base, kind: 'pps-kernel', style: 'ntpsec', unit: 1, path: '/dev/pps1', refid: 'PPS2', edge: 'clear', minpoll: 4, maxpoll: 4, at: at(3) },
      { ...base, kind: 'gpsd', style: 'ntpsec', unit: 2, path: '/dev/gps2', host: '127.0.0.1', port: 2947, at: at(4) },
      { ...base, kind: 'pps-kernel', style: 'ntpsec', unit: 0, path: '/dev/pps0', at: at(5) },
    ]);
  });

  test('gpsd host and port are Gnomon additions', () => {
    expect(refclocks('refclock gpsd host gps.lan port 12947 path /dev/ttyUSB0\n')[0]).toMatchObject({ host: 'gps.lan', port: 12947, path: '/dev/ttyUSB0' });
  });
});

describe('Gnomon style: refclock pps-gpio / pps-sysfs', () => {
  test('pps-gpio chip and line, edge; a bare chip number means gpiochipN', () => {
    expect(refclocks('refclock pps-gpio chip gpiochip4 line 18\nrefclock pps-gpio unit 1 chip 0 line 23 edge clear refid PPS\n')).toEqual([
      { ...base, kind: 'pps-gpio', style: 'gnomon', unit: 0, chip: 'gpiochip4', line: 18, at: at(1) },
      { ...base, kind: 'pps-gpio', style: 'gnomon', unit: 1, chip: 'gpiochip0', line: 23, edge: 'clear', refid: 'PPS', at: at(2) },
    ]);
  });

  test('pps-sysfs path', () => {
    expect(refclocks('refclock pps-sysfs path /sys/class/pps/pps0 edge assert time1 0.000010\n')).toEqual([
      { ...base, kind: 'pps-sysfs', style: 'gnomon', unit: 0, path: '/sys/class/pps/pps0', offsetS: 0.00001, at: at(1) },
    ]);
  });
});

describe('both styles in one file', () => {
  test('an ntpd NMEA + PPS pair and NTPsec/Gnomon lines come out in reading order', () => {
    const list = refclocks('server 127.127.20.0 mode 16\nrefclock pps-gpio unit 1 chip gpiochip0 line 18\nserver 127.127.22.0\nrefclock gpsd unit 1\n');
    expect(list.map((r) => `${r.style} ${r.kind} ${r.unit}`)).toEqual(['ntpd nmea 0', 'gnomon pps-gpio 1', 'ntpd pps-kernel 0', 'ntpsec gpsd 1']);
  });
});

describe('mistakes, located', () => {
  test('chrony refclock lines are refused at the driver name, with the spelling to use', () => {
    const result = check('refclock PPS /dev/pps0 lock NMEA refid PPS\nrefclock SHM 0 offset 0.5 delay 0.2 refid NMEA\nrefclock /dev/pps0\nrefclock SOCK /run/chrony.sock\n');
    expect(brief(result.diagnostics)).toEqual([
      '1:10 error CONFIG_FOREIGN_DIRECTIVE', '2:10 error CONFIG_FOREIGN_DIRECTIVE', '3:10 error CONFIG_FOREIGN_DIRECTIVE', '4:10 error CONFIG_FOREIGN_DIRECTIVE',
    ]);
    expect(result.diagnostics[0]?.hint).toBe('write `refclock pps path /dev/ppsN` (NTPsec) or `server 127.127.22.N` (ntpd)');
    expect(result.diagnostics[1]?.hint).toContain('refclock gpsd unit 0');
    for (const d of result.diagnostics) expect(d.message).toContain('chrony.conf syntax');
  });

  test('baud out of range, a non-standard baud, unit and GPIO line out of range', () => {
    const result = check('refclock nmea baud 1200\nrefclock nmea baud 14400\nrefclock nmea unit 256\nrefclock pps-gpio chip gpiochip0 line 512\n');
    expect(brief(result.diagnostics)).toEqual([
      '1:20 error CONFIG_OUT_OF_RANGE', '2:20 error CONFIG_OUT_OF_RANGE', '3:20 error CONFIG_OUT_OF_RANGE', '4:39 error CONFIG_OUT_OF_RANGE',
    ]);
    expect(result.diagnostics.find((d) => d.at.line === 2)?.hint).toBe('use one of 4800, 9600, 19200, 38400, 57600, 115200');
    for (const d of result.diagnostics) expect(d.hint, d.message).toBeTruthy();
  });

  test('unknown driver names get a suggestion; options of another driver are refused', () => {
    const result = check('refclock nmae unit 0\nrefclock nmea chip gpiochip0\nrefclock pps-gpio line 18 baud 9600\n');
    expect(brief(result.diagnostics)).toEqual([
      '1:10 error CONFIG_INVALID_VALUE', '2:15 error CONFIG_UNKNOWN_OPTION', '3:1 error CONFIG_MISSING_ARGUMENT', '3:27 error CONFIG_UNKNOWN_OPTION',
    ]);
    expect(result.diagnostics[0]?.hint).toBe('did you mean "nmea"?');
    expect(result.diagnostics[1]?.message).toBe('refclock nmea: option "chip" does not apply to this driver');
  });

  test('duplicate units are errors across both styles (all PPS kinds share units), pointing at the first; one GPIO line cannot serve twice', () => {
    const result = check('server 127.127.20.0\nrefclock nmea unit 0 path /dev/ttyS0\nrefclock pps-gpio chip gpiochip0 line 18\nrefclock pps-gpio unit 1 chip gpiochip0 line 18\nserver 127.127.22.0\nrefclock nmea unit 1\n');
    expect(brief(result.diagnostics)).toEqual(['2:1 error CONFIG_DUPLICATE_REFCLOCK', '4:1 error CONFIG_DUPLICATE_REFCLOCK', '5:1 error CONFIG_DUPLICATE_REFCLOCK']);
    expect(result.diagnostics[0]?.message).toBe('nmea unit 0 is already configured at ntp.conf:1:1');
    expect(result.diagnostics[1]?.message).toBe('pps-gpio: gpiochip0 line 18 is already used at ntp.conf:3:1');
    // Every pulse source is PPS(u) in ntpq and the logs: kernel PPS unit 0 and GPIO PPS unit 0 would be one name.
    expect(result.diagnostics[2]?.message).toBe('a PPS source unit 0 is already configured at ntp.conf:3:1');
    expect(result.config).toBeUndefined();
  });

  test('edge and flag2 must agree; pps-sysfs needs a path', () => {
    expect(brief(check('refclock pps flag2 1 edge assert\nrefclock pps-sysfs edge clear\n').diagnostics)).toEqual([
      '1:22 error CONFIG_CONFLICTING_OPTIONS', '2:1 error CONFIG_MISSING_ARGUMENT',
    ]);
  });

  test('NTPsec options Gnomon does not act on are warnings', () => {
    const result = check('refclock nmea subtype 1 holdover 5 flag3 1 iburst\n');
    expect(brief(result.diagnostics)).toEqual([
      '1:15 warning CONFIG_OPTION_NOT_IMPLEMENTED', '1:25 warning CONFIG_OPTION_NOT_IMPLEMENTED',
      '1:36 warning CONFIG_OPTION_NOT_IMPLEMENTED', '1:44 warning CONFIG_OPTION_NOT_IMPLEMENTED',
    ]);
    expect(result.config?.refclocks).toHaveLength(1);
  });
});
