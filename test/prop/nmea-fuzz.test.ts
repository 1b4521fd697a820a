// Property tests: the NMEA framer and decoder never throw on any bytes, and never emit a time
// that a checksum-valid sentence in the input did not carry.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { NmeaDecoder, type NmeaEpoch } from '../../drivers/nmea/decode.js';
import { NmeaFramer } from '../../drivers/nmea/framing.js';
import { checksum } from '../unit/drivers/nmea/sentences.js';

const NS_PER_DAY = 86_400n * 1_000_000_000n;

// Captured sentences (../shared/nmea-corpus) as the seed pool: several talkers, fractions, no-fix.
const POOL = [
  '$GPGGA,202640.000,4404.1306,N,12118.8515,W,2,10,0.98,1127.7,M,-19.6,M,0000,0000*6C',
  '$GPGSA,A,3,20,16,09,03,07,10,23,19,27,30,,,1.64,0.98,1.31*05',
  '$GPRMC,202640.000,A,4404.1306,N,12118.8515,W,0.03,225.97,130415,,,D*73',
  '$GPZDA,202640.000,13,04,2015,,*54',
  '$GNGGA,074150.799,,,,,0,00,,,M,0.0,M,,0000,*64',
  '$GNGNS,074150.799,,,,,NNNN,00,,,0.0,,0000*63',
  '$GNRMC,074150.799,V,,,,,,,250215,,,N*52',
  '$GPRMC,132820.60,A,4134.49821229,N,09345.03351845,W,3.252,92.308,180320,11.5985,E,D*1A',
  '$GPGSV,3,1,12,09,88,089,31,07,60,281,44,23,55,123,33,10,44,274,32*78',
  '$PMTK010,002*2D',
];

/** Independent oracle: the time-of-day and date fields of every checksum-valid sentence in the input. */
function carried(input: Uint8Array): { tods: Set<bigint>; days: Set<number> } {
  const text = Buffer.from(input).toString('latin1');
  const tods = new Set<bigint>();
  const days = new Set<number>();
  for (const m of text.matchAll(/[$!]([\x20-\x20\x22\x23\x25-\x7e]{0,116})\*([0-9A-Fa-f]{2})\r?\n/g)) {
    const body = m[1]!;
    if (checksum(body) !== m[2]!.toUpperCase()) continue;
    const f = body.split(',');
    const type = (f[0] ?? '').slice(-3);
    if (!['RMC', 'GGA', 'GNS', 'ZDA'].includes(type)) continue;
    const t = /^(\d\d)(\d\d)(\d\d)(?:\.(\d*))?$/.exec(f[1] ?? '');
    if (t) tods.add(BigInt(Number(t[1]) * 3600 + Number(t[2]) * 60 + Number(t[3])) * 1_000_000_000n + BigInt((t[4] ?? '').slice(0, 9).padEnd(9, '0')));
    const dayOf = (y: number, mo: number, d: number) => Date.UTC(y, mo - 1, d) / 86_400_000;
    const r = /^(\d\d)(\d\d)(\d\d)$/.exec(f[9] ?? '');
    if (type === 'RMC' && r) days.add(dayOf((Number(r[3]) >= 80 ? 1900 : 2000) + Number(r[3]), Number(r[2]), Number(r[1])));
    if (type === 'ZDA' && /^\d+$/.test(f[4] ?? '') && /^\d+$/.test(f[3] ?? '') && /^\d+$/.test(f[2] ?? '')) {
      days.add(dayOf(Number(f[4]), Number(f[3]), Number(f[2])));
    }
  }
  return { tods, days };
}

function run(chunks: Uint8Array[]): NmeaEpoch[] {
  const framer = new NmeaFramer({ byteTimeNs: 1_041_667 });
  // Pivot 0: no rollover correction, so every emitted date must be one a sentence carried.
  const decoder = new NmeaDecoder({ pivotUnixNs: 0n });
  const epochs: NmeaEpoch[] = [];
  chunks.forEach((c, i) => {
    for (const s of framer.push(c, BigInt(i) * 1_000_000_000n)) epochs.push(...decoder.push(s));
    if (i % 7 === 6) epochs.push(...decoder.flush());
  });
  epochs.push(...decoder.end());
  return epochs;
}

function checkEpochs(input: Uint8Array, epochs: NmeaEpoch[]): void {
  const { tods, days } = carried(input);
  for (const e of epochs) {
    expect(tods.has(((e.utcNs % NS_PER_DAY) + NS_PER_DAY) % NS_PER_DAY) || tods.has(NS_PER_DAY + (e.utcNs % NS_PER_DAY))).toBe(true);
    const day = Number(e.utcNs / NS_PER_DAY);
    expect(days.has(day) || days.has(day - 1)).toBe(true); // day - 1: a leap second (23:59:60) lands on the next day
  }
}

/** A mutation of a valid sentence: flip, insert, delete, or edit a field and re-checksum (so it still passes). */
const mutatedSentence = fc.tuple(fc.constantFrom(...POOL), fc.nat(), fc.nat(), fc.uint8Array({ maxLength: 8 }), fc.constantFrom('flip', 'insert', 'delete', 'refield', 'none'), fc.string({ maxLength: 12 }))
  .map(([s, a, b, junk, kind, field]) => {
    const buf = Buffer.from(s + '\r\n', 'latin1');
    const i = a % buf.length;
    switch (kind) {
      case 'flip': buf[i] = buf[i]! ^ (1 << (b % 8)); return buf;
      case 'insert': return Buffer.concat([buf.subarray(0, i), junk, buf.subarray(i)]);
      case 'delete': return Buffer.concat([buf.subarray(0, i), buf.subarray(Math.min(buf.length, i + 1 + (b % 10)))]);
      case 'refield': {
        const body = s.slice(1, -3).split(',');
        body[b % body.length] = field.replace(/[*$\r\n!]/g, '');
        const joined = body.join(',');
        return Buffer.from(`$${joined}*${checksum(joined)}\r\n`, 'latin1');
      }
      default: return buf;
    }
  });

const binary = fc.oneof(
  fc.uint8Array({ maxLength: 64 }),
  fc.uint8Array({ maxLength: 60 }).map((p) => Buffer.concat([Buffer.from([0xb5, 0x62, 0x01, 0x07]), p])),
  fc.uint8Array({ maxLength: 60 }).map((p) => Buffer.concat([Buffer.from([0xa0, 0xa2]), p, Buffer.from([0xb0, 0xb3])])),
  fc.uint8Array({ maxLength: 60 }).map((p) => Buffer.concat([Buffer.from([0xd3, 0x00]), p])),
);

/** Split a byte string at arbitrary points, as a serial port would deliver it. */
function chunked(input: Uint8Array, cuts: number[]): Uint8Array[] {
  const points = [...new Set(cuts.map((c) => c % (input.length + 1)))].sort((x, y) => x - y);
  const out: Uint8Array[] = [];
  let prev = 0;
  for (const p of [...points, input.length]) {
    out.push(input.subarray(prev, p));
    prev = p;
  }
  return out;
}

describe('NMEA framer and decoder properties', () => {
  it('random bytes: never throws, never emits a time no checksum-valid sentence carried', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 2048 }), fc.array(fc.nat(), { maxLength: 8 }), (input, cuts) => {
      checkEpochs(input, run(chunked(input, cuts)));
    }), { numRuns: 2000 });
  });

  it('mutated captured sentences (some re-checksummed) mixed with binary: same', () => {
    const piece = fc.oneof({ weight: 4, arbitrary: mutatedSentence }, { weight: 1, arbitrary: binary });
    fc.assert(fc.property(fc.array(piece, { maxLength: 40 }), fc.array(fc.nat(), { maxLength: 12 }), (pieces, cuts) => {
      const input = Buffer.concat(pieces);
      checkEpochs(input, run(chunked(input, cuts)));
    }), { numRuns: 2000 });
  });

  it('an unmutated stream with binary between sentences loses none of its epochs', () => {
    fc.assert(fc.property(fc.array(binary, { minLength: 4, maxLength: 4 }), fc.array(fc.nat(), { maxLength: 12 }), (bins, cuts) => {
      const parts = [POOL[0]!, POOL[2]!, POOL[4]!, POOL[6]!, POOL[7]!].map((s) => Buffer.from(s + '\r\n', 'latin1'));
      const input = Buffer.concat(parts.flatMap((p, i) => (i < bins.length ? [p, bins[i]!] : [p])));
      expect(run(chunked(input, cuts)).map((e) => e.utcNs)).toEqual([
        BigInt(Date.parse('2015-04-13T20:26:40Z')) * 1_000_000n,
        BigInt(Date.parse('2015-02-25T07:41:50.799Z')) * 1_000_000n,
        BigInt(Date.parse('2020-03-18T13:28:20.600Z')) * 1_000_000n,
      ]);
    }), { numRuns: 1000 });
  });
});
