// The mode 6 client against real exchanges between NTPsec 1.2.2's ntpq and ntpd (../shared/captures/mode6):
// our requests are byte for byte ntpq's, the captured responses reassemble and parse, and the table built from
// them equals what ntpq -p printed (01_ntpq_p.out, the -p part of 13_ntpq_cv_nmea_refclock.out) in every
// column but `when`, which depends on the moment ntpq ran.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { SHARED_DIR, readPcapUdp, type UdpDatagram } from '../../../support/pcap.js';
import {
  ClientOpcode, decodeFragment, encodeRequest, parseAssociations, ResponseAssembler,
} from '../../../../src/control/client/protocol.js';
import { parseVarList } from '../../../../src/control/client/varlist.js';
import { peerRow, tableHeader, tableRule } from '../../../../src/control/client/peers-table.js';

const mode6 = new URL('captures/mode6/', SHARED_DIR);

interface Exchange {
  request: UdpDatagram;
  opcode: number;
  sequence: number;
  associd: number;
  assembler: ResponseAssembler;
}

/** Every request in the capture with its response reassembled from the server's datagrams. */
function exchanges(file: string): Exchange[] {
  const datagrams = readPcapUdp(fileURLToPath(new URL(file, mode6)));
  const out: Exchange[] = [];
  for (const d of datagrams) {
    const f = decodeFragment(d.payload);
    if (!f) continue;
    if (d.dstPort === 123 && !f.response) {
      out.push({ request: d, opcode: f.opcode, sequence: f.sequence, associd: f.associd,
        assembler: new ResponseAssembler(f.opcode, f.sequence, f.associd) });
    } else if (d.srcPort === 123) {
      for (const x of out) x.assembler.add(d.payload);
    }
  }
  return out;
}

/** The rows ntpq printed after its `remote` header, up to the rc= line. */
function printedTable(file: string): string[] {
  const lines = readFileSync(new URL(file, mode6), 'latin1').split('\n');
  const start = lines.findIndex((l) => l.startsWith('     remote'));
  const end = lines.findIndex((l, i) => i > start && l.startsWith('rc='));
  return lines.slice(start, end);
}

/** The `when` column (4 characters after "st t ") blanked; every other character compared. */
const WHEN_AT = tableHeader().indexOf('when');
function maskWhen(line: string): string {
  return line.slice(0, WHEN_AT) + '....' + line.slice(WHEN_AT + 4);
}

/** The table from the last READSTAT in the capture and the READVARs that follow it. */
function tableFrom(file: string, nowUnix: number): { lines: string[]; statuses: number[] } {
  const ex = exchanges(file);
  const statIndex = ex.map((e) => e.opcode).lastIndexOf(ClientOpcode.ReadStat);
  expect(statIndex).toBeGreaterThanOrEqual(0);
  const stat = ex[statIndex]!;
  expect(stat.assembler.complete).toBe(true);
  const associations = parseAssociations(stat.assembler.data());
  const lines = [tableHeader(), tableRule()];
  const statuses: number[] = [];
  for (const a of associations) {
    const rv = ex.slice(statIndex + 1).find((e) => e.opcode === ClientOpcode.ReadVar && e.associd === a.associd);
    expect(rv, `READVAR of ${a.associd}`).toBeDefined();
    expect(rv!.assembler.complete).toBe(true);
    statuses.push(rv!.assembler.status);
    lines.push(peerRow(a.associd, rv!.assembler.status, parseVarList(rv!.assembler.data()), { nowUnix }).line);
  }
  return { lines, statuses };
}

// Capture day (2026-11-22T07:00Z); only `when` depends on it.
const NOW = Date.UTC(2026, 10, 22, 7, 0, 20) / 1000;

describe('captured ntpq <-> ntpd mode 6 exchanges', () => {
  for (const file of ['01_ntpq_p.pcap', '04_ntpq_n_peers.pcap', '05_ntpq_p_ipv6.pcap', '13_ntpq_cv_nmea_refclock.pcap']) {
    it(`${file}: requests equal ntpq's bytes; every response reassembles`, () => {
      const ex = exchanges(file);
      expect(ex.length).toBeGreaterThanOrEqual(3);
      for (const e of ex) {
        expect(encodeRequest({ opcode: e.opcode, sequence: e.sequence, associd: e.associd }).equals(e.request.payload)).toBe(true);
        expect(e.assembler.complete, `seq ${e.sequence}`).toBe(true);
      }
      const multi = ex.filter((e) => e.assembler.fragmentCount > 1);
      expect(multi.length).toBeGreaterThan(0); // READVAR of a peer takes two fragments
    });
  }

  it('01_ntpq_p: READVAR text parses into ntpd\'s variables despite the binary garbage in filt*', () => {
    const ex = exchanges('01_ntpq_p.pcap');
    const rv = ex.find((e) => e.opcode === ClientOpcode.ReadVar && e.associd === 17767)!;
    const vars = parseVarList(rv.assembler.data());
    expect(vars.get('srcadr')).toEqual({ value: '10.250.0.1', kind: 'string', raw: '10.250.0.1' });
    expect(vars.get('reach')).toEqual({ value: 0x1f, kind: 'int', raw: '0x1f' });
    expect(vars.get('precision')?.value).toBe(-26);
    expect(vars.get('delay')).toEqual({ value: 0.064421, kind: 'float', raw: '0.064421' });
    expect(vars.get('rec')?.value).toBe('0xeead1166.1962415e');
    expect(vars.get('refid')?.raw).toBe('....');
    expect(vars.get('ntscookies')?.value).toBe(-1);
    expect(vars.get('headway')?.value).toBe(56);
    expect([...vars.keys()].slice(0, 5)).toEqual(['srcadr', 'srcport', 'dstadr', 'dstport', 'leap']);
    const local = parseVarList(ex.find((e) => e.opcode === ClientOpcode.ReadVar && e.associd === 17768)!.assembler.data());
    expect(local.get('srchost')).toEqual({ value: 'LOCAL(0)', kind: 'string', raw: '"LOCAL(0)"' });
    expect(local.get('dispersion')?.value).toBe(13937.65);
  });

  it('13_ntpq_cv_nmea_refclock: READCLOCK parses quoted values with commas (the NMEA timecode)', () => {
    const ex = exchanges('13_ntpq_cv_nmea_refclock.pcap');
    const rc = ex.find((e) => e.opcode === ClientOpcode.ReadClock)!;
    expect(rc.assembler.complete).toBe(true);
    const vars = parseVarList(rc.assembler.data());
    expect(vars.get('timecode')?.value).toBe('$GPRMC,071851.00,A,4807.038,N,01131.000,E,0.0,0.0,221126,,,A*52');
    expect(vars.get('name')?.value).toBe('NMEA');
    expect(vars.get('device')?.value).toBe('NMEA GPS Clock');
    expect(vars.get('baddata')?.value).toBe(10);
    expect(rc.assembler.status).toBe(0x00d5);
  });

  const cases: Array<[string, string]> = [
    ['01_ntpq_p.pcap', '01_ntpq_p.out'],
    ['04_ntpq_n_peers.pcap', '04_ntpq_n_peers.out'],
    ['05_ntpq_p_ipv6.pcap', '05_ntpq_p_ipv6.out'],
    ['13_ntpq_cv_nmea_refclock.pcap', '13_ntpq_cv_nmea_refclock.out'],
  ];
  for (const [pcap, out] of cases) {
    it(`${pcap}: the table equals ${out} in every column except when`, () => {
      const want = printedTable(out);
      const got = tableFrom(pcap, NOW).lines;
      expect(got.length).toBe(want.length);
      expect(got[0]).toBe(want[0]);
      expect(got[1]).toBe(want[1]);
      expect(got.map(maskWhen)).toEqual(want.map(maskWhen));
      // The when column holds a seconds count or '-' right-aligned in 4, as ntpq's does.
      for (const line of got.slice(2)) expect(line.slice(WHEN_AT, WHEN_AT + 4)).toMatch(/^ *(\d+[mhd]?|-)$/);
    });
  }

  it('13: the refclock row: tally * from the READVAR status 961a, NMEA(0), .GPS., stratum 0, type l, reach 7', () => {
    const { lines, statuses } = tableFrom('13_ntpq_cv_nmea_refclock.pcap', NOW);
    expect(statuses).toEqual([0x961a]);
    expect(maskWhen(lines[2]!)).toBe(maskWhen('*NMEA(0)         .GPS.            0 l   13   16    7   0.0000  -7.1355   0.0835'));
  });

  it('when = now - rec in whole seconds: 01\'s 12 s and 83 s rows at the moment ntpq ran', () => {
    // ntpq printed 12 for rec=eead1166.1962415e, i.e. it ran 12.x s after that; LOCAL(0)'s rec is 71 s older (83).
    const rec = 0xeead1166 + 0x1962415e / 2 ** 32 - 2_208_988_800;
    const { lines } = tableFrom('01_ntpq_p.pcap', rec + 12.5);
    expect(lines.slice(2)).toEqual(printedTable('01_ntpq_p.out').slice(2));
  });
});
