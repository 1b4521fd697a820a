// `gnomon peers` end to end against a scripted mode 6 server on loopback (ports 12400-12404) that replays
// ntpd's captured responses (01_ntpq_p.pcap), in order or with the fragments reversed, or refuses with an
// error status; and against a port where nothing listens.
import dgram from 'node:dgram';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { SHARED_DIR, readPcapUdp } from '../../../support/pcap.js';
import { decodeFragment } from '../../../../src/control/client/protocol.js';
import { tableHeader } from '../../../../src/control/client/peers-table.js';
import { peersCommand, type PeersJsonEntry } from '../../../../src/cli/peers.js';
import { main } from '../../../../src/cli/main.js';

const mode6 = new URL('captures/mode6/', SHARED_DIR);

/** ntpd's response datagrams in 01_ntpq_p.pcap by "opcode/associd". */
function capturedResponses(): Map<string, Buffer[]> {
  const out = new Map<string, Buffer[]>();
  for (const d of readPcapUdp(fileURLToPath(new URL('01_ntpq_p.pcap', mode6)))) {
    const f = decodeFragment(d.payload);
    if (d.srcPort !== 123 || !f) continue;
    const key = `${f.opcode}/${f.associd}`;
    out.set(key, [...(out.get(key) ?? []), d.payload]);
  }
  return out;
}

type Behaviour = 'replay' | 'reversed' | 'refuse-readvar' | 'silent';

let server: dgram.Socket | undefined;
afterEach(async () => {
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  server = undefined;
});

async function startServer(port: number, behaviour: Behaviour): Promise<{ requests: Buffer[] }> {
  const responses = capturedResponses();
  const requests: Buffer[] = [];
  const s = dgram.createSocket('udp4');
  server = s;
  s.on('message', (msg, rinfo) => {
    requests.push(msg);
    const req = decodeFragment(msg);
    if (!req || behaviour === 'silent') return;
    let replies = (responses.get(`${req.opcode}/${req.associd}`) ?? []).map((r) => Buffer.from(r));
    if (behaviour === 'refuse-readvar' && req.opcode === 2) {
      const err = Buffer.alloc(12);
      msg.copy(err, 0, 0, 12);
      err[1] = 0x80 | 0x40 | req.opcode;
      err.writeUInt16BE(0x0400, 4); // CERR_BADASSOC
      replies = [err];
    }
    if (behaviour === 'reversed') replies.reverse();
    for (const r of replies) {
      r.writeUInt16BE(req.sequence, 2);
      s.send(r, rinfo.port, rinfo.address);
    }
  });
  await new Promise<void>((resolve) => s.bind(port, '127.0.0.1', () => resolve()));
  return { requests };
}

function capture(): { io: { stdout: (t: string) => void; stderr: (t: string) => void }; out: () => string; err: () => string } {
  let out = '';
  let err = '';
  return { io: { stdout: (t) => { out += t; }, stderr: (t) => { err += t; } }, out: () => out, err: () => err };
}

const expectedTable = readFileSync(new URL('01_ntpq_p.out', mode6), 'utf8').split('\n').slice(1, 5);
const WHEN_AT = tableHeader().indexOf('when');
const maskWhen = (l: string): string => l.slice(0, WHEN_AT) + '....' + l.slice(WHEN_AT + 4);

describe('gnomon peers against a scripted mode 6 server', () => {
  it('prints 01_ntpq_p.out\'s table (but for when) from ntpd\'s replayed responses, asking as ntpq does', async () => {
    const { requests } = await startServer(12400, 'replay');
    const c = capture();
    const code = await main(['peers', '127.0.0.1', '--port', '12400', '-n'], c.io);
    expect(code, c.err()).toBe(0);
    expect(c.out().trimEnd().split('\n').map(maskWhen)).toEqual(expectedTable.map(maskWhen));
    // READSTAT, then READVAR with an empty variable list for 17767 and 17768, sequence 1, 2, 3.
    expect(requests.map((r) => [r[1], r.readUInt16BE(2), r.readUInt16BE(6), r.readUInt16BE(10)]))
      .toEqual([[1, 1, 0, 0], [2, 2, 17767, 0], [2, 3, 17768, 0]]);
  });

  it('reassembles fragments that arrive last first; the ntpq alias and --json give the columns and variables', async () => {
    await startServer(12401, 'reversed');
    const c = capture();
    const code = await main(['ntpq', '--port', '12401', '-n', '--json'], c.io);
    expect(code, c.err()).toBe(0);
    const rows = JSON.parse(c.out()) as PeersJsonEntry[];
    expect(rows.map((r) => [r.associd, r.status, r.tally, r.remote, r.refid, r.stratum, r.type, r.poll, r.reachOctal]))
      .toEqual([[17767, 'b61a', '*', '10.250.0.1', '....', 1, 'u', 16, '37'], [17768, '9014', ' ', 'LOCAL(0)', '.LOCL.', 10, 'l', 16, '40']]);
    expect(rows[0]!.delay).toBe(0.064421);
    expect(rows[0]!.variables.srcadr).toBe('10.250.0.1');
    expect(rows[0]!.variables.ntscookies).toBe(-1);
    expect(rows[1]!.variables.srchost).toBe('LOCAL(0)');
    expect(maskWhen(rows[1]!.line)).toBe(maskWhen(expectedTable[3]!));
  });

  it('an error status is reported by its CERR_ name (exit 1)', async () => {
    await startServer(12402, 'refuse-readvar');
    const c = capture();
    const code = await peersCommand(['127.0.0.1', '--port', '12402', '-n'], c.io);
    expect(code).toBe(1);
    expect(c.err()).toContain('127.0.0.1:12402: server answered CERR_BADASSOC to READVAR of association 17767');
  });

  it('a silent server: no answer after the retry, exit 2 with the message', async () => {
    const { requests } = await startServer(12403, 'silent');
    const c = capture();
    const code = await peersCommand(['--port', '12403', '--timeout', '0.2'], c.io);
    expect(code).toBe(2);
    expect(c.err()).toBe('gnomon peers: 127.0.0.1:12403: no answer (is an NTP server running there and does `restrict ... noquery` cover you?)\n');
    expect(requests.length).toBe(2); // sent twice, as ntpq does
  });

  it('nothing listening: exit 2 with the message; bad usage: exit 2', async () => {
    const c = capture();
    expect(await peersCommand(['127.0.0.1', '--port', '12404', '--timeout', '5'], c.io)).toBe(2);
    expect(c.err()).toMatch(/^gnomon peers: 127\.0\.0\.1:12404: no answer \(is an NTP server running there/);
    const u = capture();
    expect(await peersCommand(['--port', '0'], u.io)).toBe(2);
    expect(u.err()).toContain('--port 0: expected 1-65535');
  });
});
