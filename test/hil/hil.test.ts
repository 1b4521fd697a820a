// Unit tests of the HIL runner's pure parts: parsing what a box prints (captured from the virtual
// rig: gnomon status --json, NTPsec ntpq -pn, gnomon peers -n, ntpdig -j), threshold evaluation,
// the table, the virtual rig's fault schedule and the CLI's scenario list.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseScenarios } from '../../hil/cli.js';
import { hardwareBox, peersCommand, targetHost } from '../../hil/box.js';
import {
  distanceFromSecondNs, nmeaInterrupted, nmeaWithFix, parseAssert, parseGnomonQuery, parseNtpdig, parsePeers, parseStatus,
  ppsOffsetVsServedNs, ppsPeer, ppsTracking,
} from '../../hil/parse.js';
import { conditionResult, failedResult, formatJson, formatTable, makeReport, numericResult, skippedResult } from '../../hil/results.js';
import { SCENARIOS } from '../../hil/scenarios.js';
import { describeLimit, display, limitFor, meets, THRESHOLDS, thresholdRow } from '../../hil/thresholds.js';
import { shellQuote, sshArgv, type Transport } from '../../hil/transport.js';
import { faultSchedule } from '../../hil/virtual.js';

const fixture = (name: string) => readFileSync(new URL(`./fixtures/${name}`, import.meta.url), 'utf8');
const statusText = fixture('status-tracking.json');

/** The captured status with edits applied to a copy. */
function statusWith(edit: (j: Record<string, any>) => void): string { // eslint-disable-line @typescript-eslint/no-explicit-any
  const j = JSON.parse(statusText);
  edit(j);
  return JSON.stringify(j);
}

describe('gnomon status --json', () => {
  it('reads the server, the NMEA and the PPS refclock of a tracking demo', () => {
    const s = parseStatus(statusText);
    expect(s).toMatchObject({ synchronised: true, stratum: 1, leap: 0, refid: 'PPS', state: 'tracking', selected: 'PPS(0)' });
    expect(s.nmea?.name).toBe('GPS_NMEA(0)');
    expect(s.nmea?.fixMode).toBe('3d');
    expect(s.nmea?.driverState).toBe('running');
    expect(s.nmea?.counters.timecodes).toBeGreaterThan(5);
    expect(s.pps?.name).toBe('PPS(0)');
    expect(s.pps?.phaseState).toBe('ok');
    expect(s.pps?.labelledBy).toBe('GPS_NMEA(0)');
    expect(s.pps?.counters.pulsesAccepted).toBeGreaterThan(0);
    expect(ppsTracking(s)).toBe(true);
    expect(nmeaWithFix(s)).toBe(true);
    expect(nmeaInterrupted(s)).toBe(false);
  });

  it('the PPS offset against served time is the raw-clock offset plus the correction', () => {
    const s = parseStatus(statusWith((j) => {
      j.server.correctionNs = 1500;
      j.refclocks[1].estimate.offsetNs = -1400;
    }));
    expect(ppsOffsetVsServedNs(s)).toBe(100);
    expect(ppsOffsetVsServedNs(parseStatus(statusWith((j) => { j.refclocks[1].estimate = null; })))).toBeNull();
  });

  it('holdover, unsynchronised and NMEA without fix are not PPS tracking', () => {
    expect(ppsTracking(parseStatus(statusWith((j) => { j.server.state = 'holdover'; })))).toBe(false);
    expect(ppsTracking(parseStatus(statusWith((j) => { Object.assign(j.server, { state: 'none', selected: 'none', stratum: 16, leap: 3 }); })))).toBe(false);
    expect(ppsTracking(parseStatus(statusWith((j) => { j.server.selected = 'GPS_NMEA(0)'; })))).toBe(false);
    const nofix = parseStatus(statusWith((j) => { j.refclocks[0].fix.mode = 'none'; }));
    expect(nmeaWithFix(nofix)).toBe(false);
    expect(nmeaInterrupted(nofix)).toBe(false);
  });

  it('a reconnecting driver or an old timecode is an NMEA interruption', () => {
    expect(nmeaInterrupted(parseStatus(statusWith((j) => { j.refclocks[0].drivers[0].state = 'reconnecting'; })))).toBe(true);
    expect(nmeaInterrupted(parseStatus(statusWith((j) => { j.refclocks[0].lastTimecodeAgeNs = 5e9; })))).toBe(true);
    expect(nmeaInterrupted(parseStatus(statusWith((j) => { j.refclocks = [j.refclocks[1]]; })))).toBe(true);
  });

  it('names what is missing instead of failing later', () => {
    expect(() => parseStatus('gnomon: no daemon')).toThrow(/not JSON/);
    expect(() => parseStatus('{}')).toThrow(/server is not an object/);
    expect(() => parseStatus(statusWith((j) => { delete j.server.stratum; }))).toThrow(/server\.stratum is not a number/);
    expect(() => parseStatus(statusWith((j) => { j.refclocks[0].name = 7; }))).toThrow(/refclocks\[0\]\.name/);
  });
});

describe('ntpq -p tables', () => {
  it("NTPsec's ntpq -pn and gnomon peers -n: PPS is 'o'", () => {
    for (const name of ['ntpq-pn.txt', 'gnomon-peers-n.txt']) {
      const rows = parsePeers(fixture(name));
      expect(rows.map((r) => [r.tally, r.remote, r.refid, r.stratum])).toEqual([['*', 'GPS_NMEA(0)', '.GPS.', 0], ['o', 'PPS(0)', '.PPS.', 0]]);
      const pps = ppsPeer(rows);
      expect(pps?.tally).toBe('o');
      expect(Math.abs(pps!.offsetMs)).toBeLessThan(0.01);
      expect(pps!.jitterMs).toBeGreaterThan(0);
    }
  });

  it("classic ntpd's refclock addresses and a wrapped long remote", () => {
    const text = [
      '     remote           refid      st t when poll reach   delay   offset  jitter',
      '==============================================================================',
      '*127.127.22.0    .PPS.            0 l    3   16  377    0.000   -0.002   0.003',
      '+a-very-long-server-name.example.org',
      '                 192.0.2.1        2 u   33   64  377    1.234    0.456   0.078',
      ' 10.0.0.9        .INIT.          16 u    -   64    0    0.000    0.000   0.000',
      '',
    ].join('\n');
    const rows = parsePeers(text);
    expect(rows).toHaveLength(3);
    expect(ppsPeer(rows)).toMatchObject({ tally: '*', remote: '127.127.22.0', offsetMs: -0.002, jitterMs: 0.003, reach: '377' });
    expect(rows[1]).toMatchObject({ tally: '+', remote: 'a-very-long-server-name.example.org', refid: '192.0.2.1', stratum: 2, offsetMs: 0.456 });
    expect(rows[2]).toMatchObject({ tally: ' ', stratum: 16 });
  });

  it('no table is an error with the text', () => {
    expect(() => parsePeers('ntpq: read: Connection refused')).toThrow(/no ===== line.*Connection refused/);
  });
});

describe('kernel PPS assert', () => {
  it('SEC.NSEC#SEQ, and the distance of the edge from its second', () => {
    expect(parseAssert('1795353005.000001234#18\n')).toEqual({ ns: 1795353005000001234n, seq: 18 });
    expect(parseAssert('0.000000000#0')).toEqual({ ns: 0n, seq: 0 });
    expect(() => parseAssert('')).toThrow(/expected SEC\.NSEC#SEQ/);
    expect(() => parseAssert('1795353005.1234#18')).toThrow();
    expect(distanceFromSecondNs(1795353005000001234n)).toBe(1234);
    expect(distanceFromSecondNs(1795353004999998000n)).toBe(-2000);
    expect(distanceFromSecondNs(1795353004500000000n)).toBe(500_000_000);
  });
});

describe('client answers', () => {
  it('ntpdig -j, and the reason when it drops the reply', () => {
    expect(parseNtpdig(fixture('ntpdig-j.txt'))).toEqual({ stratum: 1, leap: 'no-leap', offsetS: 0.000113 });
    expect(() => parseNtpdig('', '10.0.0.1: Response dropped: stratum too high\n')).toThrow('ntpdig: stratum too high');
    expect(() => parseNtpdig('', '')).toThrow('ntpdig: no answer');
  });

  it('gnomon query --json', () => {
    const out = '[{"host":"127.0.0.1","stratum":1,"leap":0,"refid":"PPS","offsetS":-0.0000136,"ok":true}]';
    expect(parseGnomonQuery(out)).toEqual({ stratum: 1, leap: '0', offsetS: -0.0000136 });
    expect(() => parseGnomonQuery('[]')).toThrow(/no answer/);
  });
});

describe('thresholds', () => {
  it('every row has a unique id, a reason, and a limit it can print', () => {
    const ids = THRESHOLDS.map((r) => r.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const r of THRESHOLDS) {
      expect(r.why.length).toBeGreaterThan(20);
      expect(describeLimit(r.limit, r.unit)).not.toBe('');
    }
  });

  it('the hardware numbers of the brief', () => {
    expect(limitFor('pps.offset', 'hardware')).toEqual({ kind: 'max', value: 5_000 });
    expect(describeLimit(limitFor('pps.offset', 'hardware'), 'ns')).toBe('≤ 5.00 µs');
    expect(describeLimit(limitFor('pps.rate', 'hardware'), 'Hz')).toBe('0.950 Hz … 1.050 Hz');
    expect(describeLimit(limitFor('client.stratum', 'hardware'), 'count')).toBe('= 1');
    expect(describeLimit(limitFor('pairing.locked', 'hardware'), 'ratio')).toBe('≥ 80 %');
  });

  it('the virtual rig uses the hardware limits (no row needs an override today)', () => {
    for (const r of THRESHOLDS) expect(limitFor(r.id, 'virtual')).toEqual(limitFor(r.id, 'hardware'));
  });

  it('max bounds |value|; min and range are inclusive; NaN never passes', () => {
    expect(meets({ kind: 'max', value: 5000 }, 4999)).toBe(true);
    expect(meets({ kind: 'max', value: 5000 }, -5000)).toBe(true);
    expect(meets({ kind: 'max', value: 5000 }, -5001)).toBe(false);
    expect(meets({ kind: 'min', value: 0.8 }, 0.8)).toBe(true);
    expect(meets({ kind: 'min', value: 0.8 }, 0.79)).toBe(false);
    expect(meets({ kind: 'range', min: 0.95, max: 1.05 }, 1)).toBe(true);
    expect(meets({ kind: 'range', min: 0.95, max: 1.05 }, 1.2)).toBe(false);
    expect(meets({ kind: 'max', value: 1 }, NaN)).toBe(false);
    expect(meets({ kind: 'condition', text: 'x' }, 1)).toBe(false);
  });

  it('values are shown in the unit a person reads', () => {
    expect(display(812, 'ns')).toBe('812 ns');
    expect(display(1234, 'ns')).toBe('1.23 µs');
    expect(display(-1_500_000, 'ns')).toBe('-1.500 ms');
    expect(display(2.5e9, 'ns')).toBe('2.500 s');
    expect(display(0.875, 'ratio')).toBe('88 %');
    expect(display(12.34, 's')).toBe('12.3 s');
  });
});

describe('results and the table', () => {
  it('numeric, condition, failed and skipped results', () => {
    expect(numericResult('pps.offset', 'hardware', 1234)).toMatchObject({ measured: '1.23 µs', threshold: '≤ 5.00 µs', result: 'PASS', value: 1234 });
    expect(numericResult('pps.offset', 'hardware', 6000).result).toBe('FAIL');
    expect(numericResult('pps.offset', 'hardware', 1000, 'x', false).result).toBe('FAIL');
    expect(numericResult('antenna.fix-lost', 'hardware', NaN, 'fix still reported')).toMatchObject({ result: 'FAIL', measured: 'fix still reported' });
    expect(numericResult('antenna.fix-lost', 'hardware', NaN)).not.toHaveProperty('value');
    expect(conditionResult('select.pps', 'virtual', true, "'oPPS(0)'")).toMatchObject({ result: 'PASS', threshold: 'PPS tally o or *, tracking, stratum 1' });
    expect(failedResult('nmea.fix', 'hardware', 'gnomon status did not answer').result).toBe('FAIL');
    expect(skippedResult('antenna.holdover-end', 'hardware', 'not asked').result).toBe('SKIP');
  });

  it('one aligned table with a summary; SKIP is not a failure, FAIL is', () => {
    const results = [
      numericResult('pps.offset', 'hardware', 812, 'RMS 812 ns'),
      conditionResult('select.pps', 'hardware', true, "'oPPS(0)'"),
      skippedResult('antenna.holdover-end', 'hardware', 'not asked'),
    ];
    const report = makeReport('hardware', 'pi@gnomon', 0, 12_345, results, []);
    expect(report.pass).toBe(true);
    expect(report.durationS).toBe(12.3);
    const text = formatTable(report);
    const lines = text.split('\n');
    expect(lines[0]).toMatch(/^check\s+measured\s+threshold\s+result$/);
    expect(lines[1]).toMatch(/^-+ {2}-+ {2}-+ {2}-+$/);
    // Columns line up: "measured" starts at the same column in every row.
    const col = lines[0]!.indexOf('measured');
    expect(lines[2]!.slice(col).startsWith('RMS 812 ns')).toBe(true);
    expect(lines[3]!.slice(col).startsWith("'oPPS(0)'")).toBe(true);
    expect(lines[2]!.endsWith('PASS')).toBe(true);
    expect(lines[4]!.endsWith('SKIP')).toBe(true);
    expect(text).toContain('hardware rig pi@gnomon: 2 passed, 0 failed, 1 skipped in 12.3 s: PASS');
    const failing = makeReport('hardware', 'pi@gnomon', 0, 1000, [...results, numericResult('pps.jitter', 'hardware', 20_000)], []);
    expect(failing.pass).toBe(false);
    expect(formatTable(failing)).toContain('1 failed');
    expect(makeReport('virtual', 'x', 0, 1, [], []).pass).toBe(false);
    const json = JSON.parse(formatJson(failing));
    expect(json.results.map((r: { id: string; result: string }) => `${r.id}:${r.result}`)).toContain('pps.jitter:FAIL');
  });

  it('every check id the runner can emit has a row', () => {
    for (const id of ['nmea.rate', 'reboot.stratum1', 'unplug.served'] as const) expect(thresholdRow(id).id).toBe(id);
  });
});

describe('transport and box', () => {
  it('ssh in batch mode with the command as one argument', () => {
    expect(sshArgv('pi@gnomon.local', 'cat /sys/class/pps/pps0/assert', ['-p', '2222']))
      .toEqual(['ssh', '-o', 'BatchMode=yes', '-o', 'ConnectTimeout=10', '-o', 'ServerAliveInterval=5', '-o', 'ServerAliveCountMax=2',
        '-p', '2222', 'pi@gnomon.local', 'cat /sys/class/pps/pps0/assert']);
    expect(shellQuote('/tmp/a b')).toBe("'/tmp/a b'");
    expect(shellQuote("it's")).toBe("'it'\\''s'");
    expect(shellQuote('/dev/serial0')).toBe('/dev/serial0');
  });

  it('a hardware box: Pi paths, ntpq or gnomon peers, clients query the target host', async () => {
    const ran: string[] = [];
    const t: Transport = { describe: 'fake', run: async (c) => { ran.push(c); return { code: 255, stdout: '', stderr: 'closed', timedOut: false }; } };
    const box = hardwareBox(t, 'pi@10.0.0.5', { gnomon: 'sudo gnomon' });
    expect(box.paths).toEqual({ serial: '/dev/serial0', ppsAssert: '/sys/class/pps/pps0/assert' });
    expect(box.commands.status).toBe('sudo gnomon status --json');
    expect(box.commands.peers).toBe(peersCommand('sudo gnomon'));
    expect(box.ntpHost).toBe('10.0.0.5');
    expect(targetHost('gnomon.local')).toBe('gnomon.local');
    await box.reboot();
    expect(ran).toEqual(['sudo -n systemctl reboot || sudo -n reboot']);
  });
});

describe('scenarios', () => {
  it('--scenarios: lists, all, none, canonical order, unknown names refused', () => {
    expect(parseScenarios(undefined, [])).toEqual([]);
    expect(parseScenarios(undefined, SCENARIOS)).toEqual(['antenna', 'unplug', 'reboot']);
    expect(parseScenarios('all', [])).toEqual(['antenna', 'unplug', 'reboot']);
    expect(parseScenarios('none', SCENARIOS)).toEqual([]);
    expect(parseScenarios('reboot,antenna', [])).toEqual(['antenna', 'reboot']);
    expect(() => parseScenarios('antenna,fire', [])).toThrow(/unknown scenario fire/);
  });

  it("the virtual rig's fault schedule: antenna then unplug, windows matching the simulator's", () => {
    const s = faultSchedule(['antenna', 'unplug', 'reboot'], 12, 28);
    expect(s.args).toEqual(['--fault', 'antenna-unplugged@28+18', '--fault', 'unplug@48+10']);
    expect(s.antenna).toEqual({ start: 28, end: 46 });
    // unplug@S+10: the pty is gone in S+4..S+6 and back at S+7 (docs/simulator.md).
    expect(s.unplug).toEqual({ start: 52, end: 55 });
    expect(faultSchedule(['unplug'], 12, 26).args).toEqual(['--fault', 'unplug@26+10']);
    expect(faultSchedule(['reboot'], 12, 26).args).toEqual([]);
    // A holdover shorter than the 8 s the estimate stays fresh still gets a window long enough to see the change.
    expect(faultSchedule(['antenna'], 3, 20).antenna).toEqual({ start: 20, end: 34 });
  });
});
