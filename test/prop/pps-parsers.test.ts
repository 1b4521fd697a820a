// Property tests for the PPS pure parts: the sysfs parser never throws and reads back exactly what
// the kernel printed; the sequence tracker's new + missed pulses add up to how far the counter moved;
// the GPIO event codec decodes what was encoded.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { LINE_EVENT_SIZE, decodeLineEvents } from '../../drivers/pps/gpio-v2.js';
import { SequenceTracker } from '../../drivers/pps/sequence.js';
import { parsePpsSysfs } from '../../drivers/pps/sysfs-format.js';

const U32 = 2 ** 32;

describe('PPS pure parts (fast-check)', () => {
  it('parsePpsSysfs never throws on any string', () => {
    fc.assert(fc.property(fc.string({ unit: 'binary' }), (text) => {
      expect(['pulse', 'none', 'empty', 'bad']).toContain(parsePpsSysfs(text).kind);
    }), { numRuns: 2000 });
  });

  it('what the kernel prints (%lld.%09d#%u) parses back to the same time and sequence', () => {
    fc.assert(fc.property(
      fc.integer({ min: 0, max: 2 ** 40 }), fc.integer({ min: 0, max: 999_999_999 }), fc.integer({ min: 1, max: U32 - 1 }),
      (sec, nsec, seq) => {
        expect(parsePpsSysfs(`${sec}.${String(nsec).padStart(9, '0')}#${seq}\n`)).toEqual({ kind: 'pulse', time: { sec, nsec }, sequence: seq });
      },
    ));
  });

  it('for a counter moving forward by steps of less than 2^31 (wrapping at 2^32), new + missed = total advance', () => {
    fc.assert(fc.property(
      fc.integer({ min: 0, max: U32 - 1 }), fc.array(fc.integer({ min: 0, max: 1000 }), { maxLength: 200 }),
      (start, steps) => {
        const t = new SequenceTracker();
        t.observe(start);
        let seq = start;
        let seen = 0;
        for (const step of steps) {
          seq = (seq + step) % U32;
          const s = t.observe(seq);
          expect(s.reset).toBe(false);
          expect(s.isNew).toBe(step > 0);
          if (s.isNew) seen += 1 + s.missed;
        }
        expect(seen).toBe(steps.reduce((a, b) => a + b, 0));
      },
    ));
  });

  it('gpio_v2_line_event records decode to the fields written at the header offsets', () => {
    const event = fc.record({
      timestampNs: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
      id: fc.integer({ min: 0, max: U32 - 1 }),
      offset: fc.integer({ min: 0, max: U32 - 1 }),
      seqno: fc.integer({ min: 0, max: U32 - 1 }),
      lineSeqno: fc.integer({ min: 0, max: U32 - 1 }),
    });
    fc.assert(fc.property(fc.array(event, { maxLength: 16 }), fc.integer({ min: 0, max: LINE_EVENT_SIZE - 1 }), (events, extra) => {
      const buf = Buffer.alloc(events.length * LINE_EVENT_SIZE + extra, 0xaa);
      events.forEach((e, i) => {
        const at = i * LINE_EVENT_SIZE;
        buf.writeBigUInt64LE(e.timestampNs, at);
        buf.writeUInt32LE(e.id, at + 8);
        buf.writeUInt32LE(e.offset, at + 12);
        buf.writeUInt32LE(e.seqno, at + 16);
        buf.writeUInt32LE(e.lineSeqno, at + 20);
      });
      expect(decodeLineEvents(buf, buf.length)).toEqual(events);
    }));
  });
});
