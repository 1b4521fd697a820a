import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  GpsdLineFramer, MAX_LINE_BYTES, newProtocolCounters, parseGpsdLine, parseIsoTimeNs, type GpsdMessage,
} from '../../../../drivers/gpsd/protocol.js';

/**
 * A whole session captured from gpsd 3.22 (Debian bookworm) on a pty fed with ../shared/nmea-corpus/mt3339.log,
 * read with `?WATCH={"enable":true,"json":true,"pps":true}` (bytes as gpsd sent them, CR LF). gpsd moved the
 * 2015 dates to 2034 (its WKRO check, no `# Date:` given): a real gpsd quirk, kept.
 */
const SESSION = readFileSync(new URL('./fixtures/gpsd-3.22-mt3339.jsonl', import.meta.url));
/** Also captured from gpsd 3.22 here: its answer to an unknown command. */
const ERROR_LINE = `{"class":"ERROR","message":"Unrecognized request '?BOGUS;\\n'"}`;
/** In the shape of gpsd_json(5)'s PPS example (no PPS hardware on the capture machine). */
const PPS_LINE = '{"class":"PPS","device":"/dev/ttyAMA0","real_sec":1795339037,"real_nsec":0,' +
  '"clock_sec":1795339036,"clock_nsec":999998200,"precision":-20}';

const NS = 1_000_000_000n;

function parseAll(bytes: Buffer, chunkBytes = bytes.length) {
  const counters = newProtocolCounters();
  const framer = new GpsdLineFramer(counters);
  const messages: GpsdMessage[] = [];
  for (let i = 0; i < bytes.length; i += chunkBytes) {
    for (const line of framer.push(bytes.subarray(i, i + chunkBytes))) {
      const m = parseGpsdLine(line, counters);
      if (m !== null) messages.push(m);
    }
  }
  return { counters, messages };
}

describe('gpsd protocol: a captured gpsd 3.22 session', () => {
  const { counters, messages } = parseAll(SESSION);

  it('parses every line, nothing unknown or malformed', () => {
    expect(counters).toEqual({ lines: 72, garbage: 0, unknownClass: 0, badFields: 0, overlong: 0 });
    const classes = messages.map((m) => m.class);
    expect(classes.slice(0, 4)).toEqual(['VERSION', 'DEVICES', 'WATCH', 'DEVICE']);
    expect(classes.filter((c) => c === 'TPV')).toHaveLength(32);
    expect(classes.filter((c) => c === 'TOFF')).toHaveLength(30);
    expect(classes.filter((c) => c === 'SKY')).toHaveLength(6);
  });

  it('VERSION, WATCH, DEVICE', () => {
    expect(messages[0]).toEqual({ class: 'VERSION', release: '3.22', protoMajor: 3, protoMinor: 14 });
    expect(messages[2]).toEqual({ class: 'WATCH', enable: true, json: true, pps: true });
    expect(messages[3]).toEqual({ class: 'DEVICE', device: { path: '/tmp/gpsx/gps1', driver: 'NMEA0183', activated: true } });
  });

  it('TPV time is the ISO text as exact Unix ns; TPVs without time have none', () => {
    const text = SESSION.toString('latin1');
    const isoTimes = [...text.matchAll(/"class":"TPV".*?(?:"time":"([^"]+)"|\r\n)/g)].map((m) => m[1]);
    const tpvs = messages.filter((m) => m.class === 'TPV');
    expect(tpvs.map((t) => t.timeNs)).toEqual(isoTimes.map((t) => (t === undefined ? null : BigInt(Date.parse(t)) * 1_000_000n)));
    expect(tpvs[2]).toMatchObject({ mode: 3, timeNs: 2_048_272_000n * NS, leapSeconds: null, device: '/tmp/gpsx/gps1' });
  });

  it('each TOFF (sent before its TPV) carries that TPV\'s second as real and the local clock of the cycle start', () => {
    for (let i = 0; i < messages.length; i++) {
      const m = messages[i]!;
      if (m.class !== 'TOFF') continue;
      const next = messages.slice(i + 1).find((n) => n.class === 'TPV');
      expect(next?.class === 'TPV' ? next.timeNs : undefined).toBe(m.realNs);
    }
    const first = messages.find((m) => m.class === 'TOFF');
    // Captured with a space after the comma: {"real_sec":2048272000, "real_nsec":0,...}
    expect(first).toMatchObject({ realNs: 2_048_272_000n * NS, clockNs: 1_795_339_036_419_163_513n, precision: null });
  });

  it('SKY: used/visible satellites and HDOP', () => {
    expect(messages.find((m) => m.class === 'SKY')).toEqual({
      class: 'SKY', device: '/tmp/gpsx/gps1', satellitesUsed: 11, satellitesVisible: 12, hdop: 0.84,
    });
  });

  it('gives the same messages whatever the TCP chunking', () => {
    for (const size of [1, 2, 7, 64, 1000]) expect(parseAll(SESSION, size).messages).toEqual(messages);
  });
});

describe('gpsd protocol: PPS, TOFF, ERROR', () => {
  it('PPS: real is the reference second of the edge, clock the local clock at it (offset = real − clock)', () => {
    const c = newProtocolCounters();
    const pps = parseGpsdLine(PPS_LINE, c);
    expect(pps).toEqual({ class: 'PPS', device: '/dev/ttyAMA0', realNs: 1_795_339_037n * NS, clockNs: 1_795_339_036_999_998_200n, precision: -20 });
    // The local clock read 1.8 µs before the second: it is behind, so the offset is positive.
    if (pps?.class === 'PPS') expect(pps.realNs - pps.clockNs).toBe(1800n);
  });

  it('ERROR keeps gpsd\'s message', () => {
    expect(parseGpsdLine(ERROR_LINE, newProtocolCounters())).toEqual({ class: 'ERROR', message: "Unrecognized request '?BOGUS;\n'" });
  });

  it('PPS/TOFF with missing, fractional or out-of-range fields are counted, not reported', () => {
    const c = newProtocolCounters();
    for (const bad of [
      '{"class":"PPS","real_sec":1,"real_nsec":1000000000,"clock_sec":1,"clock_nsec":0}',
      '{"class":"TOFF","real_sec":1.5,"real_nsec":0,"clock_sec":1,"clock_nsec":0}',
      '{"class":"TOFF","real_sec":1,"real_nsec":0,"clock_sec":1}',
      '{"class":"PPS","real_sec":-1,"real_nsec":0,"clock_sec":1,"clock_nsec":0}',
      '{"class":"TPV","mode":3,"time":"2015-02-29T00:00:00.000Z"}',
      '{"class":"TPV","mode":3,"time":1428956800}',
      '{"class":"TPV","mode":7}',
      '{"class":"DEVICES","devices":[{"driver":"x"}]}',
    ]) expect(parseGpsdLine(bad, c)).toBeNull();
    expect(c).toMatchObject({ lines: 8, badFields: 8, garbage: 0 });
  });
});

describe('gpsd protocol: garbage', () => {
  it('counts non-JSON, non-objects and objects without a class as garbage, other classes as unknown', () => {
    const c = newProtocolCounters();
    for (const line of ['hello', '{"class":"TPV"', '[1,2]', 'null', '42', '{"klass":"TPV"}', '{"class":3}']) {
      expect(parseGpsdLine(line, c)).toBeNull();
    }
    for (const line of ['{"class":"ATT","device":"/dev/ttyACM0"}', '{"class":"GST"}', '{"class":"tpv"}']) {
      expect(parseGpsdLine(line, c)).toBeNull();
    }
    expect(c).toMatchObject({ lines: 10, garbage: 7, unknownClass: 3, badFields: 0 });
  });

  it('never throws on random bytes, and a good line after them still parses', () => {
    let seed = 12345;
    const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    const c = newProtocolCounters();
    const framer = new GpsdLineFramer(c, 256);
    for (let round = 0; round < 200; round++) {
      const bytes = Buffer.from(Array.from({ length: Math.floor(random() * 600) }, () => Math.floor(random() * 256)));
      for (const line of framer.push(bytes)) parseGpsdLine(line, c);
    }
    const after = framer.push(Buffer.from('\n{"class":"TPV","mode":2,"time":"2026-11-22T09:00:00Z"}\r\n'));
    expect(parseGpsdLine(after.at(-1)!, c)).toMatchObject({ class: 'TPV', mode: 2 });
    expect(c.garbage + c.overlong).toBeGreaterThan(0);
  });
});

describe('GpsdLineFramer', () => {
  it('strips CR, skips blank lines, keeps a partial line for the next chunk', () => {
    const f = new GpsdLineFramer(newProtocolCounters());
    expect(f.push(Buffer.from('{"a":1}\r\n\r\n\n{"b"'))).toEqual(['{"a":1}']);
    expect(f.push(Buffer.from(':2}\n'))).toEqual(['{"b":2}']);
  });

  it('joins a UTF-8 character cut between chunks', () => {
    const f = new GpsdLineFramer(newProtocolCounters());
    const bytes = Buffer.from('{"message":"µs"}\n');
    expect([...f.push(bytes.subarray(0, 13)), ...f.push(bytes.subarray(13))]).toEqual(['{"message":"µs"}']);
  });

  it('drops a line over the bound, counts it, and resumes at the next LF', () => {
    const c = newProtocolCounters();
    const f = new GpsdLineFramer(c);
    const long = Buffer.alloc(MAX_LINE_BYTES + 1, 0x61);
    expect(f.push(long.subarray(0, 10_000))).toEqual([]);
    expect(f.push(Buffer.concat([long.subarray(10_000), Buffer.from('tail\n{"ok":1}\n')]))).toEqual(['{"ok":1}']);
    expect(c.overlong).toBe(1);
  });

  it('reset drops a partial line', () => {
    const f = new GpsdLineFramer(newProtocolCounters());
    f.push(Buffer.from('{"half'));
    f.reset();
    expect(f.push(Buffer.from('{"x":1}\n'))).toEqual(['{"x":1}']);
  });
});

describe('parseIsoTimeNs', () => {
  it('keeps fractions of any length exactly (truncating past ns)', () => {
    expect(parseIsoTimeNs('2015-04-13T20:26:40.000Z')).toBe(1_428_956_800n * NS);
    expect(parseIsoTimeNs('2015-04-13T20:26:40Z')).toBe(1_428_956_800n * NS);
    expect(parseIsoTimeNs('2015-04-13T20:26:40.1Z')).toBe(1_428_956_800n * NS + 100_000_000n);
    expect(parseIsoTimeNs('2015-04-13T20:26:40.123456789Z')).toBe(1_428_956_800n * NS + 123_456_789n);
    expect(parseIsoTimeNs('2015-04-13T20:26:40.1234567899Z')).toBe(1_428_956_800n * NS + 123_456_789n);
  });

  it('agrees with Date.parse over four centuries of days', () => {
    for (let ms = Date.UTC(1900, 0, 1); ms < Date.UTC(2300, 0, 1); ms += 86_400_000 * 37 + 3_723_000) {
      const iso = new Date(ms).toISOString();
      expect(parseIsoTimeNs(iso), iso).toBe(BigInt(ms) * 1_000_000n);
    }
  });

  it('leap years and a leap second', () => {
    expect(parseIsoTimeNs('2024-02-29T00:00:00Z')).toBe(BigInt(Date.UTC(2024, 1, 29)) * 1_000_000n);
    expect(parseIsoTimeNs('2000-02-29T00:00:00Z')).not.toBeNull();
    expect(parseIsoTimeNs('1900-02-29T00:00:00Z')).toBeNull();
    expect(parseIsoTimeNs('2016-12-31T23:59:60.500Z')).toBe(BigInt(Date.UTC(2017, 0, 1)) * 1_000_000n + 500_000_000n);
  });

  it('refuses what is not gpsd\'s format', () => {
    for (const bad of ['2015-04-13 20:26:40Z', '2015-04-13T20:26:40', '2015-04-13T20:26:40+00:00', '2015-13-01T00:00:00Z',
      '2015-04-31T00:00:00Z', '2015-04-13T24:00:00Z', '2015-04-13T20:60:00Z', '2015-04-13T20:26:61Z', '2015-04-13T20:26:40.Z', '']) {
      expect(parseIsoTimeNs(bad), bad).toBeNull();
    }
  });
});
