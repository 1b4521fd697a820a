import { describe, expect, test } from 'vitest';
import {
  formatClockstats, formatLoopstats, formatMjdTime, formatPeerstats, mjdTime, peerStatusWord, utcDayStamp,
} from '../../../src/discipline/stats-format.js';

/** Unix ns of MJD `mjd`, `sod` seconds and `ns` nanoseconds past UTC midnight. */
const at = (mjd: number, sod: number, ns = 0): bigint => (BigInt(mjd - 40_587) * 86_400n + BigInt(sod)) * 1_000_000_000n + BigInt(ns);

describe('MJD and seconds past midnight (NTPsec timespec_to_MJDtime, "%lu %lu.%03lu")', () => {
  test('the Unix epoch is MJD 40587, and milliseconds are truncated, not rounded', () => {
    expect(formatMjdTime(0n)).toBe('40587 0.000');
    expect(formatMjdTime(999_999_999n)).toBe('40587 0.999');
    expect(formatMjdTime(86_399_999_999_999n)).toBe('40587 86399.999');
    expect(formatMjdTime(86_400_000_000_000n)).toBe('40588 0.000');
    expect(mjdTime(at(60_000, 12, 5_000_000))).toEqual({ mjd: 60_000, sod: 12, ms: 5 });
  });

  test('the UTC day stamp of ntpd\'s type day files', () => {
    expect(utcDayStamp(0n)).toBe('19700101');
    // 1992-12-10, the example in ntpd's filegen documentation: MJD 48966
    expect(utcDayStamp(at(48_966, 86_399, 999_999_999))).toBe('19921210');
    expect(utcDayStamp(at(48_967, 0))).toBe('19921211');
    expect(utcDayStamp(1_709_164_800_000_000_000n)).toBe('20240229');
  });
});

describe('lines as NTPsec documents them (docs/includes/mon-commands.adoc)', () => {
  test('loopstats: "50935 75440.031 0.000006019 13.778190 0.000351733 0.013380 6"', () => {
    // ntpd's offset +6.019 µs (reference − local) is Gnomon's −6019 ns; its frequency 13.778190
    // (the correction, + = speed up) is Gnomon's −13.778190 ppm (the clock runs slow).
    expect(formatLoopstats({
      utcNs: at(50_935, 75_440, 31_999_999), offsetNs: -6019, freqPpm: -13.77819, sysJitterNs: 351_733, clkWanderPpm: 0.01338, timeConstant: 6,
    })).toBe('50935 75440.031 0.000006019 13.778190 0.000351733 0.013380 6\n');
  });

  test('loopstats signs: a local clock ahead and running fast gives negative offset and frequency', () => {
    expect(formatLoopstats({ utcNs: 0n, offsetNs: 2500, freqPpm: 3.25, sysJitterNs: 0, clkWanderPpm: 0, timeConstant: 0 }))
      .toBe('40587 0.000 -0.000002500 -3.250000 0.000000000 0.000000 0\n');
  });

  test('peerstats: "48773 10847.650 SPECTRACOM(4) 9714 -0.001605376 0.000000000 0.001424877 0.000958674"', () => {
    const status = peerStatusWord({ selected: true, ppsPeer: true, usable: true, reachable: true, events: 1, lastEvent: 4 });
    expect(status).toBe(0x9714);
    expect(formatPeerstats({
      utcNs: at(48_773, 10_847, 650_000_000), srcadr: 'SPECTRACOM(4)', status, offsetNs: 1_605_376, delayNs: 0, dispersionNs: 1_424_877, jitterNs: 958_674,
    })).toBe('48773 10847.650 SPECTRACOM(4) 9714 -0.001605376 0.000000000 0.001424877 0.000958674\n');
  });

  test('peerstats with ntpd Classic\'s refclock address', () => {
    const status = peerStatusWord({ selected: true, usable: true, reachable: true });
    expect(formatPeerstats({ utcNs: at(60_000, 1), srcadr: '127.127.22.0', status, offsetNs: -1500, delayNs: 0, dispersionNs: 2000, jitterNs: 300 }))
      .toBe('60000 1.000 127.127.22.0 9600 0.000001500 0.000000000 0.000002000 0.000000300\n');
  });

  test('clockstats: "49213 525.624 SPECTRACOM(1) 93 226 00:08:29.606"', () => {
    expect(formatClockstats({ utcNs: at(49_213, 525, 624_000_000), srcadr: 'SPECTRACOM(1)', timecode: '93 226 00:08:29.606' }))
      .toBe('49213 525.624 SPECTRACOM(1) 93 226 00:08:29.606\n');
    expect(formatClockstats({ utcNs: 0n, srcadr: '127.127.20.0', timecode: '$GPRMC,1\r\n' }))
      .toBe('40587 0.000 127.127.20.0 $GPRMC,1 \n');
  });

  test('a record stays one line with whitespace-free fields; non-finite values as printf spells them', () => {
    const line = formatPeerstats({ utcNs: 0n, srcadr: 'my clock', status: 0, offsetNs: Number.NaN, delayNs: Infinity, dispersionNs: 0, jitterNs: 0 });
    expect(line).toBe('40587 0.000 my_clock 0 nan inf 0.000000000 0.000000000\n');
  });
});

describe('peer status word (NTPsec ctlpeerstatus)', () => {
  test('selection codes: sys.peer 6, candidate 4, reject 0; config 0x80, reach 0x10', () => {
    expect(peerStatusWord({ selected: true, usable: true, reachable: true }).toString(16)).toBe('9600');
    expect(peerStatusWord({ selected: false, usable: true, reachable: true }).toString(16)).toBe('9400');
    expect(peerStatusWord({ selected: false, usable: false, reachable: true }).toString(16)).toBe('9000');
    expect(peerStatusWord({ selected: false, usable: false, reachable: false }).toString(16)).toBe('8000');
    expect(peerStatusWord({ selected: false, usable: true, falseticker: true, reachable: true }).toString(16)).toBe('9100');
    expect(peerStatusWord({ selected: false, usable: false, reachable: false, configured: false })).toBe(0);
    expect(peerStatusWord({ selected: true, usable: true, reachable: true, events: 17, lastEvent: 0x1b }).toString(16)).toBe('961b');
  });
});
