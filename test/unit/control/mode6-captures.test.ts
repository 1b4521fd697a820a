// Every captured ntpq/ntpstat request, replayed against the responder with a view holding the
// captured ntpd's values, gets ntpd's answer: byte for byte (header, text, line breaks,
// fragments, padding) where NTPsec's filter-array garbage is absent, text-equal otherwise.
import { describe, expect, it } from 'vitest';
import { Mode6Responder } from '../../../src/control/mode6/responder.js';
import { captureFiles, exchanges, responseText, viewOf, withoutFilterGarbage, worldOf } from './capture-view.js';

const SECRET = new Uint8Array(32).fill(7);
/** sysinfo names the system peer's address: take the associations from the ntpq -p capture of the same ntpd. */
const CONTEXT: Record<string, string[]> = { '09_ntpq_sysinfo.pcap': ['01_ntpq_p.pcap', '02_ntpq_rv.pcap'] };
const client = { address: '127.0.0.1', rxSeconds: 0xeead1187, rxFraction: 0 };

function checkFraming(datagrams: readonly Buffer[]): void {
  let offset = 0;
  datagrams.forEach((d, i) => {
    expect(d.length % 4).toBe(0);
    expect(d.length).toBeLessThanOrEqual(480);
    const count = d.readUInt16BE(10);
    expect(count).toBeLessThanOrEqual(468);
    expect(d.length).toBe((12 + count + 3) & ~3);
    expect(d.subarray(12 + count).every((b) => b === 0)).toBe(true);
    expect(d.readUInt16BE(8)).toBe(offset);
    expect((d[1]! & 0x20) !== 0).toBe(i < datagrams.length - 1);
    offset += count;
  });
}

describe('mode 6 answers to the captured ntpq/ntpstat requests', () => {
  const files = captureFiles().filter((f) => f !== '11_ntpq_mrulist.pcap');
  it('covers the captures', () => expect(files.length).toBeGreaterThanOrEqual(12));
  for (const file of files) {
    it(file, () => {
      const view = viewOf(worldOf([...(CONTEXT[file] ?? []), file]));
      const responder = new Mode6Responder({ nonceSecret: SECRET });
      let exact = 0;
      for (const ex of exchanges(file)) {
        const req = ex.request.payload;
        const n = responder.respond(req, req.length, client, view);
        const ours = Array.from({ length: n }, (_, i) => Buffer.from(responder.datagram(i)));
        const theirs = ex.responses.map((r) => r.payload);
        expect(n).toBeGreaterThan(0);
        checkFraming(ours);
        const text = responseText(theirs);
        if (text.includes('filtdelay=')) {
          // The garbage changes item lengths, so where ntpd breaks lines: compare the items in order.
          const split = (t: string): string[] => withoutFilterGarbage(t).replace(/\r\n$/, '').split(/,(?: |\r\n)/);
          expect(split(responseText(ours))).toEqual(split(text));
          expect(ours.map((d) => d.subarray(0, 8).toString('hex'))).toEqual(theirs.map((d) => d.subarray(0, 8).toString('hex')));
        } else {
          // Header and data byte for byte, the same datagram lengths; the padding is ours zeros
          // (ntpd's memset starts 12 bytes late, so its padding can hold stale bytes).
          const unpadded = (d: Buffer): string => d.subarray(0, 12 + d.readUInt16BE(10)).toString('latin1');
          expect(ours.map(unpadded)).toEqual(theirs.map(unpadded));
          expect(ours.map((d) => d.length)).toEqual(theirs.map((d) => d.length));
          exact++;
        }
      }
      if (!/0[1457]_|12_/.test(file)) expect(exact).toBeGreaterThan(0);
    });
  }
});
