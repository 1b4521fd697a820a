import { describe, expect, it } from 'vitest';
import { MAX_SENTENCE_CHARS, NmeaFramer, byteTimeNsForBaud } from '../../../../drivers/nmea/framing.js';
import { bytes, sentence } from './sentences.js';

// Captured from the Adafruit Ultimate GPS HAT (mt3339.log in ../shared/nmea-corpus).
const RMC = '$GPRMC,202640.000,A,4404.1306,N,12118.8515,W,0.03,225.97,130415,,,D*73';
const GGA = '$GPGGA,202640.000,4404.1306,N,12118.8515,W,2,10,0.98,1127.7,M,-19.6,M,0000,0000*6C';
const UBX_NAV_PVT_HEAD = Buffer.from([0xb5, 0x62, 0x01, 0x07, 0x5c, 0x00, 0x24, 0x41, 0x0a, 0x0d, 0x00, 0xff]);
const SIRF = Buffer.from([0xa0, 0xa2, 0x00, 0x02, 0x24, 0x24, 0x00, 0x48, 0xb0, 0xb3]);
const RTCM3 = Buffer.from([0xd3, 0x00, 0x13, 0x3e, 0xd0, 0x00, 0x03, 0x24, 0x0d, 0x0a, 0x8a]);

describe('NmeaFramer', () => {
  it('passes checksummed sentences, without CR LF, across arbitrary chunk boundaries', () => {
    const all = bytes(RMC, GGA);
    for (let cut = 0; cut <= all.length; cut++) {
      const f = new NmeaFramer();
      const got = [...f.push(all.subarray(0, cut), 1n), ...f.push(all.subarray(cut), 2n)].map((s) => s.text);
      expect(got).toEqual([RMC, GGA]);
      expect(f.counters.sentences).toBe(2);
    }
  });

  it('stamps a sentence with the arrival of the chunk holding its first byte', () => {
    const f = new NmeaFramer();
    const all = bytes(RMC);
    expect(f.push(all.subarray(0, 10), 1_000n)).toEqual([]);
    const [s] = f.push(all.subarray(10), 2_000n);
    expect(s!.systemTimeNs).toBe(1_000n);
  });

  it('moves the stamp back by the transmission time of the bytes after the first one in its chunk', () => {
    const byteNs = byteTimeNsForBaud(9600);
    expect(byteNs).toBe(1_041_667);
    const f = new NmeaFramer({ byteTimeNs: byteNs });
    const chunk = Buffer.concat([Buffer.from('xx'), bytes(RMC)]);
    const [s] = f.push(chunk, 1_000_000_000n);
    // '$' is byte 2; chunk.length - 3 bytes followed it.
    expect(s!.systemTimeNs).toBe(1_000_000_000n - BigInt(chunk.length - 3) * BigInt(byteNs));
  });

  it('drops and counts a bad checksum, a missing checksum and an overlong line, keeping the next good one', () => {
    const f = new NmeaFramer();
    const bad = RMC.slice(0, -2) + '00';
    const noSum = RMC.slice(0, -3);
    const long = sentence('GPTXT,' + 'A'.repeat(MAX_SENTENCE_CHARS));
    const got = f.push(bytes(bad, noSum, long, GGA), 0n).map((s) => s.text);
    expect(got).toEqual([GGA]);
    expect(f.counters).toMatchObject({ checksumBad: 1, checksumMissing: 1, overlong: 1, sentences: 1 });
  });

  it('accepts lines up to MAX_SENTENCE_CHARS (longer than NMEA\'s 82: real receivers exceed it)', () => {
    const s = sentence('GPTXT,' + 'B'.repeat(MAX_SENTENCE_CHARS - 10));
    expect(s.length).toBe(MAX_SENTENCE_CHARS);
    expect(new NmeaFramer().push(bytes(s), 0n).map((x) => x.text)).toEqual([s]);
    const f = new NmeaFramer();
    expect(f.push(bytes(sentence('GPTXT,' + 'B'.repeat(MAX_SENTENCE_CHARS - 9))), 0n)).toEqual([]);
    expect(f.counters.overlong).toBe(1);
  });

  it('skips UBX, SiRF and RTCM3 frames (even with $ and CR LF inside) without losing the next sentence', () => {
    for (const binary of [UBX_NAV_PVT_HEAD, SIRF, RTCM3]) {
      const f = new NmeaFramer();
      const input = Buffer.concat([bytes(RMC), binary, bytes(GGA), binary, binary, bytes(RMC)]);
      expect(f.push(input, 0n).map((s) => s.text)).toEqual([RMC, GGA, RMC]);
      expect(f.counters.checksumBad + f.counters.checksumMissing + f.counters.truncated + f.counters.skippedBytes).toBeGreaterThan(0);
    }
  });

  it('a sentence cut by binary or a new $ is counted as truncated, never passed on', () => {
    const f = new NmeaFramer();
    const input = Buffer.concat([Buffer.from(RMC.slice(0, 30)), UBX_NAV_PVT_HEAD, Buffer.from(GGA.slice(0, 20)), bytes(RMC)]);
    expect(f.push(input, 0n).map((s) => s.text)).toEqual([RMC]);
    expect(f.counters.truncated).toBe(2);
  });

  it('a CR not followed by LF ends the sentence as truncated', () => {
    const f = new NmeaFramer();
    expect(f.push(Buffer.from(`$\r${RMC.slice(1)}\r\n${GGA}\r\n`), 0n).map((s) => s.text)).toEqual([GGA]);
    expect(f.counters.truncated).toBe(1);
  });

  it('accepts a bare LF line ending and lower-case checksum digits', () => {
    const f = new NmeaFramer();
    const lower = RMC.slice(0, -2) + RMC.slice(-2).toLowerCase();
    expect(f.push(Buffer.from(`${lower}\n`), 0n).map((s) => s.text)).toEqual([lower]);
  });
});
