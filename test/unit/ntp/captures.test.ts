// Real mode 3/4 packets (ntpdig, chronyd and NTPsec clients, chronyd and ntpd servers) decode to
// the fields the capture's decoded text lists.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { decodePacket, encodeHeader } from '../../../src/ntp/packet.js';
import { formatTimestampHex, secondsFromShort } from '../../../src/ntp/timestamp.js';
import { SHARED_DIR, readPcapUdp } from '../../support/pcap.js';

const captures = new URL('captures/', SHARED_DIR);
const decodedText = readFileSync(new URL('mode34-decoded.txt', captures), 'utf8');

interface Expected {
  route: string;
  fields: Record<string, string>;
}

/** The decoded text: "=== file" sections, each packet two lines of key=value. */
function expectations(): Map<string, Expected[]> {
  const bySection = new Map<string, Expected[]>();
  let current: Expected[] = [];
  const lines = decodedText.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (line.startsWith('=== ')) {
      current = [];
      bySection.set(line.slice(4).trim(), current);
    } else if (/^ \S+ -> \S+ len=/.test(line)) {
      const text = line + ' ' + (lines[i + 1] ?? '');
      const route = line.trim().split(' len=')[0]!;
      const fields: Record<string, string> = {};
      for (const m of text.matchAll(/(\w+)=(\S+)/g)) fields[m[1]!] = m[2]!;
      current.push({ route, fields });
      i++;
    }
  }
  return bySection;
}

const PCAPS = ['client-requests-lo.pcap', 'chronyd-mode34-versions.pcap', 'ntpd-mode34.pcap'];

describe('captured mode 3/4 packets', () => {
  const expected = expectations();
  for (const file of PCAPS) {
    it(`${file} decodes to the fields in mode34-decoded.txt`, () => {
      const datagrams = readPcapUdp(fileURLToPath(new URL(file, captures)));
      const want = expected.get(file);
      expect(want, `section for ${file}`).toBeDefined();
      expect(datagrams.length).toBe(want!.length);
      expect(datagrams.length).toBeGreaterThanOrEqual(8);
      datagrams.forEach((d, i) => {
        const w = want![i]!.fields;
        const p = decodePacket(d.payload);
        const h = p.header;
        expect(`${d.src}:${d.srcPort} -> ${d.dst}:${d.dstPort}`).toBe(want![i]!.route);
        expect(String(d.payload.length)).toBe(w.len);
        expect(String(h.leap)).toBe(w.li);
        expect(String(h.version)).toBe(w.vn);
        expect(String(h.mode)).toBe(w.mode);
        expect(String(h.stratum)).toBe(w.stratum);
        expect(String(h.poll)).toBe(w.poll);
        expect(String(h.precision)).toBe(w.prec);
        expect(secondsFromShort(h.rootDelay).toFixed(6)).toBe(w.rootdelay);
        expect(secondsFromShort(h.rootDispersion).toFixed(6)).toBe(w.rootdisp);
        expect(`refid=${h.referenceId.toString(16).padStart(8, '0')}(`).toBe(`refid=${w.refid!.split('(')[0]}(`);
        expect(formatTimestampHex(h.referenceTimestamp)).toBe(w.ref);
        expect(formatTimestampHex(h.originTimestamp)).toBe(w.org);
        expect(formatTimestampHex(h.receiveTimestamp)).toBe(w.rec);
        expect(formatTimestampHex(h.transmitTimestamp)).toBe(w.xmt);
        expect(String(p.extensions.length + (p.mac ? 1 : 0))).toBe(w.extra);
        // Re-encoding the decoded header gives the captured bytes back.
        expect(Buffer.from(encodeHeader(h)).equals(d.payload.subarray(0, 48))).toBe(true);
      });
    });
  }
});
