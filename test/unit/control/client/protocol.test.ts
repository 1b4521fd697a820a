// Fragment reassembly (by offset and the More bit), the checks ntpq makes on each datagram, error responses,
// and ntpq's variable-list parsing (quotes, \r\n breaks, garbage bytes, Python's int/float typing).
import { describe, expect, it } from 'vitest';
import {
  ControlServerError, encodeRequest, parseAssociations, peerSelection, ResponseAssembler, TALLY_CODES,
} from '../../../../src/control/client/protocol.js';
import { parseVarList, pyFloat, pyInt, varListToJson } from '../../../../src/control/client/varlist.js';

interface FragmentSpec {
  offset: number;
  data: string;
  more?: boolean;
  sequence?: number;
  opcode?: number;
  status?: number;
  associd?: number;
  error?: boolean;
  pad?: boolean;
}

function fragment(s: FragmentSpec): Buffer {
  const data = Buffer.from(s.data, 'latin1');
  const len = s.pad === false ? 12 + data.length : (12 + data.length + 3) & ~3;
  const b = Buffer.alloc(len);
  b[0] = (2 << 3) | 6;
  b[1] = 0x80 | (s.error ? 0x40 : 0) | (s.more ? 0x20 : 0) | (s.opcode ?? 2);
  b.writeUInt16BE(s.sequence ?? 7, 2);
  b.writeUInt16BE(s.status ?? 0x961a, 4);
  b.writeUInt16BE(s.associd ?? 42, 6);
  b.writeUInt16BE(s.offset, 8);
  b.writeUInt16BE(data.length, 10);
  data.copy(b, 12);
  return b;
}

describe('encodeRequest', () => {
  it('builds ntpq\'s header (LI 3, version 2, mode 6) and pads data to 4 bytes without counting the padding', () => {
    const r = encodeRequest({ opcode: 2, sequence: 0x1234, associd: 17767, data: 'srcadr,stratum' });
    expect(r.length).toBe(28);
    expect([...r.subarray(0, 12)]).toEqual([0xd6, 0x02, 0x12, 0x34, 0, 0, 0x45, 0x67, 0, 0, 0, 14]);
    expect(r.subarray(12, 26).toString()).toBe('srcadr,stratum');
    expect([...r.subarray(26)]).toEqual([0, 0]);
    expect(() => encodeRequest({ opcode: 2, sequence: 1, associd: 0, data: 'x'.repeat(469) })).toThrow(RangeError);
  });
});

describe('ResponseAssembler', () => {
  const text = 'a'.repeat(468) + 'b'.repeat(468) + 'tail=1\r\n';

  it('reassembles fragments that arrive out of order and keeps the final fragment\'s status', () => {
    const asm = new ResponseAssembler(2, 7, 42);
    expect(asm.add(fragment({ offset: 936, data: text.slice(936), status: 0x9614 }))).toBe('accepted');
    expect(asm.complete).toBe(false);
    expect(asm.add(fragment({ offset: 0, data: text.slice(0, 468), more: true }))).toBe('accepted');
    expect(asm.complete).toBe(false); // hole at 468
    expect(asm.add(fragment({ offset: 468, data: text.slice(468, 936), more: true }))).toBe('accepted');
    expect(asm.complete).toBe(true);
    expect(asm.data().toString('latin1')).toBe(text);
    expect(asm.status).toBe(0x9614);
  });

  it('ignores duplicates, overlaps, other requests\' answers, requests, unpadded and short datagrams', () => {
    const asm = new ResponseAssembler(2, 7, 42);
    expect(asm.add(fragment({ offset: 0, data: 'x'.repeat(8), more: true }))).toBe('accepted');
    expect(asm.add(fragment({ offset: 0, data: 'x'.repeat(8), more: true }))).toBe('duplicate');
    expect(asm.add(fragment({ offset: 4, data: 'y'.repeat(8), more: true }))).toBe('overlap');
    expect(asm.add(fragment({ offset: 8, data: 'z', sequence: 6 }))).toBe('other-request');
    expect(asm.add(fragment({ offset: 8, data: 'z', opcode: 1 }))).toBe('other-request');
    expect(asm.add(fragment({ offset: 8, data: 'z', pad: false }))).toBe('unpadded');
    const short = fragment({ offset: 8, data: 'zzzz' });
    short.writeUInt16BE(40, 10);
    expect(asm.add(short)).toBe('short');
    expect(asm.add(fragment({ offset: 8, data: '', more: true }))).toBe('empty-more');
    const request = fragment({ offset: 8, data: 'z' });
    request[1] = 2;
    expect(asm.add(request)).toBe('not-control');
    expect(asm.add(Buffer.alloc(8))).toBe('not-control');
    expect(asm.complete).toBe(false);
    expect(asm.add(fragment({ offset: 8, data: 'end' }))).toBe('accepted');
    expect(asm.add(fragment({ offset: 12, data: 'again' }))).toBe('second-last');
    expect(asm.complete).toBe(true);
    expect(asm.data().toString()).toBe('xxxxxxxxend');
    expect(asm.datagrams).toBe(12);
  });

  it('notes an association id other than the request\'s but keeps the data (ntpq only warns)', () => {
    const asm = new ResponseAssembler(2, 7, 42);
    expect(asm.add(fragment({ offset: 0, data: 'a=1', associd: 43 }))).toBe('accepted');
    expect(asm.associdMismatches).toEqual([43]);
    expect(asm.complete).toBe(true);
  });

  it('an error response throws its CERR_ name', () => {
    const asm = new ResponseAssembler(2, 7, 42);
    expect(() => asm.add(fragment({ offset: 0, data: '', error: true, status: 0x0400 }))).toThrow(ControlServerError);
    try {
      asm.add(fragment({ offset: 0, data: '', error: true, status: 0x0700 }));
    } catch (err) {
      expect((err as ControlServerError).code).toBe(7);
      expect((err as Error).message).toBe('server answered CERR_RESTRICT to READVAR of association 42');
    }
  });
});

describe('READSTAT data and status words', () => {
  it('parses (associd, status) pairs sorted by associd, and refuses a ragged length', () => {
    const data = Buffer.from([0x45, 0x68, 0x90, 0x14, 0x45, 0x67, 0xb6, 0x1a]);
    expect(parseAssociations(data)).toEqual([{ associd: 17767, status: 0xb61a }, { associd: 17768, status: 0x9014 }]);
    expect(() => parseAssociations(data.subarray(0, 6))).toThrow(/4-byte/);
  });

  it('tally codes from the selection bits: 961a *, 9014 space, 9424 +, 9324 -, 9724 o, 9124 x, 9224 ., 9524 #', () => {
    const codes = [0x961a, 0x9014, 0x9424, 0x9324, 0x9724, 0x9124, 0x9224, 0x9524].map((s) => TALLY_CODES[peerSelection(s)]);
    expect(codes.join('')).toBe('* +-ox.#');
  });
});

describe('parseVarList (ntpq\'s __parse_varlist)', () => {
  it('splits on commas outside quotes, across \\r\\n line breaks, and types values as Python would', () => {
    const vars = parseVarList('leap=0, stratum=2, precision=-24, rootdelay=0.064,\r\nrefid=10.250.0.1, ' +
      'reftime=0xeead1166.1962415e, processor="x86_64",\r\nsystem="Linux, with commas", reach=0x1f, flag,\r\n' +
      'octal=077, big=1e3, name="NMEA(0)"\r\n');
    expect(varListToJson(vars)).toEqual({
      leap: 0, stratum: 2, precision: -24, rootdelay: 0.064, refid: '10.250.0.1', reftime: '0xeead1166.1962415e',
      processor: 'x86_64', system: 'Linux, with commas', reach: 31, flag: '', octal: 77, big: 1000, name: 'NMEA(0)',
    });
    expect(vars.get('octal')?.kind).toBe('float'); // int('077', 0) is a ValueError; float('077') is 77.0
    expect(vars.get('processor')?.raw).toBe('"x86_64"');
  });

  it('drops bytes outside 1-126 (ntpd 1.2.2\'s garbage in filtdelay) and keeps a repeated name in its first place', () => {
    const bytes = Buffer.concat([Buffer.from('filtdelay=O 0.04 0f'), Buffer.from([0x11, 0xad, 0xee, 0x00]),
      Buffer.from(' 0.06, a=1, b=2, a=3\r\n')]);
    const vars = parseVarList(bytes);
    expect(vars.get('filtdelay')?.value).toBe('O 0.04 0f\x11 0.06');
    expect([...vars.keys()]).toEqual(['filtdelay', 'a', 'b']);
    expect(vars.get('a')?.value).toBe(3);
  });

  it('pyInt and pyFloat accept and refuse what Python\'s int(x, 0) and float(x) do', () => {
    expect(['0', '00', '-26', '+5', '0x1F', '0o17', '0b101', '1_000'].map(pyInt)).toEqual([0, 0, -26, 5, 31, 15, 5, 1000]);
    expect(['077', '1.0', '0x', '', 'abc', '1__0'].map(pyInt)).toEqual([undefined, undefined, undefined, undefined, undefined, undefined]);
    expect(['1.5', '.5', '5.', '-7.135465', '1e-3', '077', 'inf', '-Infinity'].map(pyFloat))
      .toEqual([1.5, 0.5, 5, -7.135465, 0.001, 77, Infinity, -Infinity]);
    expect(pyFloat('nan')).toBeNaN();
    expect(['0x1p3', '1.2.3', '10.250.0.1', 'e5', ''].map(pyFloat)).toEqual([undefined, undefined, undefined, undefined, undefined]);
  });
});
