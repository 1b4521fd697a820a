/**
 * Reads the mode 6 captures (../shared/captures/mode6/*.pcap: NTPsec ntpq/ntpstat ↔ NTPsec ntpd)
 * into exchanges, and builds a ControlView holding the values the captured ntpd reported, so the
 * responder can be replayed against it and compared with what ntpd sent.
 */
import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { NtpTimestamp } from '../../../src/ntp/timestamp.js';
import type { Association, ClockVariables, ControlView, MruEntry, SystemStatistics, SystemVariables } from '../../../src/control/mode6/view.js';
import { SHARED_DIR, readPcapUdp, type UdpDatagram } from '../../support/pcap.js';

export const MODE6_DIR = new URL('captures/mode6/', SHARED_DIR);

export interface Exchange {
  readonly request: UdpDatagram;
  readonly responses: UdpDatagram[];
}

export function captureFiles(): string[] {
  return readdirSync(fileURLToPath(MODE6_DIR)).filter((f) => f.endsWith('.pcap')).sort();
}

/** Requests (to port 123) with the datagrams answering them (same client port and sequence). */
export function exchanges(file: string): Exchange[] {
  const all = readPcapUdp(fileURLToPath(new URL(file, MODE6_DIR)));
  const out: Exchange[] = [];
  for (const d of all) {
    if (d.dstPort === 123) out.push({ request: d, responses: [] });
    else {
      const seq = d.payload.readUInt16BE(2);
      const ex = [...out].reverse().find((e) => e.request.srcPort === d.dstPort && e.request.payload.readUInt16BE(2) === seq);
      ex?.responses.push(d);
    }
  }
  return out;
}

export const opcodeOf = (p: Buffer): number => p[1]! & 0x1f;
export const associdOf = (p: Buffer): number => p.readUInt16BE(6);
export const countOf = (p: Buffer): number => p.readUInt16BE(10);
export const dataOf = (p: Buffer): Buffer => p.subarray(12, 12 + countOf(p));

/** The whole response text, fragments joined in offset order. */
export function responseText(datagrams: readonly Buffer[]): string {
  return [...datagrams].sort((a, b) => a.readUInt16BE(8) - b.readUInt16BE(8)).map((d) => dataOf(d).toString('latin1')).join('');
}

/** name → value of a response text (ntpd never puts ", " inside the captured values). */
export function items(text: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const part of text.replace(/\r\n$/, '').split(/,(?: |\r\n)/)) {
    const eq = part.indexOf('=');
    if (eq > 0) m.set(part.slice(0, eq), part.slice(eq + 1));
  }
  return m;
}

/** The three filter arrays carry NTPsec 1.2.2's uninitialised-buffer garbage: compare them as "<filt>". */
export function withoutFilterGarbage(text: string): string {
  return text.replace(/(filtdelay|filtoffset|filtdisp)=[^,]*,/g, '$1=<filt>,');
}

export function tsOf(s: string | undefined): NtpTimestamp {
  const m = /^0x([0-9a-f]{8})\.([0-9a-f]{8})$/.exec(s ?? '');
  if (!m) throw new Error(`not a timestamp: ${s}`);
  return { seconds: parseInt(m[1]!, 16), fraction: parseInt(m[2]!, 16) };
}

const num = (v: string | undefined): number => Number(v ?? 0);
const str = (v: string | undefined): string => (v ?? '""').replace(/^"|"$/g, '');
const last8 = (v: string | undefined): number[] => {
  const xs = (v ?? '').split(' ').filter((x) => /^-?\d+\.\d\d$/.test(x)).map(Number);
  return xs.slice(-8);
};

/** Everything a capture file's responses say about the server. */
export interface CapturedWorld {
  sys: Map<string, string>;
  sysStatus: number;
  peers: Map<number, { vars: Map<string, string>; status: number }>;
  clocks: Map<number, { vars: Map<string, string>; status: number }>;
  order: number[];
}

export function worldOf(files: readonly string[]): CapturedWorld {
  const w: CapturedWorld = { sys: new Map(), sysStatus: 0, peers: new Map(), clocks: new Map(), order: [] };
  for (const f of files) {
    for (const ex of exchanges(f)) {
      const p = ex.request.payload;
      if (ex.responses.length === 0) continue;
      const status = ex.responses[0]!.payload.readUInt16BE(4);
      const text = responseText(ex.responses.map((r) => r.payload));
      const op = opcodeOf(p);
      const assoc = associdOf(p);
      if (op === 1 && assoc === 0) {
        w.sysStatus = status;
        const d = dataOf(ex.responses[0]!.payload);
        w.order = [];
        for (let i = 0; i + 4 <= d.length; i += 4) {
          const id = d.readUInt16BE(i);
          w.order.push(id);
          const peer = w.peers.get(id) ?? { vars: new Map(), status: 0 };
          peer.status = d.readUInt16BE(i + 2);
          w.peers.set(id, peer);
        }
      } else if (op === 2 && assoc === 0) {
        w.sysStatus = status;
        for (const [k, v] of items(text)) w.sys.set(k, v);
      } else if (op === 2) {
        const peer = w.peers.get(assoc) ?? { vars: new Map(), status };
        peer.status = status;
        for (const [k, v] of items(text)) peer.vars.set(k, v);
        w.peers.set(assoc, peer);
      } else if (op === 4) {
        w.clocks.set(assoc, { vars: items(text), status });
      }
    }
  }
  return w;
}

export function viewOf(w: CapturedWorld, mru: readonly MruEntry[] = []): ControlView {
  const s = w.sys;
  const system: SystemVariables = {
    leap: num(s.get('leap')), stratum: num(s.get('stratum')), precisionLog2S: num(s.get('precision')),
    rootDelayMs: num(s.get('rootdelay')), rootDispersionMs: num(s.get('rootdisp')), refid: s.get('refid') ?? '',
    reftime: tsOf(s.get('reftime') ?? '0x00000000.00000000'), clock: tsOf(s.get('clock') ?? '0x00000000.00000000'),
    peer: num(s.get('peer')), tc: num(s.get('tc')), mintc: num(s.get('mintc')), offsetMs: num(s.get('offset')),
    frequencyPpm: num(s.get('frequency')), sysJitterMs: num(s.get('sys_jitter')), clkJitterMs: num(s.get('clk_jitter')),
    clkWanderPpm: num(s.get('clk_wander')), processor: str(s.get('processor')), system: str(s.get('system')),
    version: str(s.get('version')), statusWord: w.sysStatus,
    ...(s.has('rootdist') ? { rootDistanceMs: num(s.get('rootdist')) } : {}),
  };
  const assocs: Association[] = [];
  for (const id of w.order.length > 0 ? w.order : [...w.peers.keys()]) {
    const p = w.peers.get(id)!;
    const v = p.vars;
    const c = w.clocks.get(id);
    const clock: ClockVariables | undefined = c
      ? {
        name: str(c.vars.get('name')), timecode: str(c.vars.get('timecode')), poll: num(c.vars.get('poll')),
        noreply: num(c.vars.get('noreply')), badformat: num(c.vars.get('badformat')), baddata: num(c.vars.get('baddata')),
        stratum: num(c.vars.get('stratum')), refid: c.vars.get('refid') ?? '', flags: num(c.vars.get('flags')),
        device: str(c.vars.get('device')), statusWord: c.status,
      }
      : v.has('mode') ? { name: '', timecode: '', poll: 0, noreply: 0, badformat: 0, baddata: 0, stratum: 0, refid: '', flags: 0, device: '', statusWord: 0 } : undefined;
    assocs.push({
      associd: id, statusWord: p.status, srcadr: v.get('srcadr') ?? '', srcport: num(v.get('srcport')),
      dstadr: v.get('dstadr') ?? '', dstport: num(v.get('dstport')), leap: num(v.get('leap')), hmode: num(v.get('hmode')),
      stratum: num(v.get('stratum')), ppoll: num(v.get('ppoll')), hpoll: num(v.get('hpoll')),
      precisionLog2S: num(v.get('precision')), rootDelayMs: num(v.get('rootdelay')), rootDispersionMs: num(v.get('rootdisp')),
      refid: v.get('refid') ?? '', reftime: tsOf(v.get('reftime') ?? '0x00000000.00000000'),
      rec: tsOf(v.get('rec') ?? '0x00000000.00000000'), xmt: tsOf(v.get('xmt') ?? '0x00000000.00000000'),
      reach: parseInt(v.get('reach') ?? '0', 16), unreach: num(v.get('unreach')), delayMs: num(v.get('delay')),
      offsetMs: num(v.get('offset')), jitterMs: num(v.get('jitter')), dispersionMs: num(v.get('dispersion')),
      keyid: num(v.get('keyid')), filtdelayMs: last8(v.get('filtdelay')), filtoffsetMs: last8(v.get('filtoffset')),
      filtdispMs: last8(v.get('filtdisp')), pmode: num(v.get('pmode') ?? '4'), flash: parseInt(v.get('flash') ?? '0', 16),
      headway: num(v.get('headway')), refclockMode: num(v.get('mode')),
      ...(v.has('srchost') ? { srchost: str(v.get('srchost')) } : {}),
      ...(clock ? { clock } : {}),
    });
  }
  const stats: SystemStatistics = {
    uptimeS: num(s.get('ss_uptime')), sinceResetS: num(s.get('ss_reset')), received: num(s.get('ss_received')),
    currentVersion: num(s.get('ss_thisver')), olderVersion: num(s.get('ss_oldver')), badFormat: num(s.get('ss_badformat')),
    authFailed: num(s.get('ss_badauth')), declined: num(s.get('ss_declined')), restricted: num(s.get('ss_restricted')),
    rateLimited: num(s.get('ss_limited')), kodSent: num(s.get('ss_kodsent')), processed: num(s.get('ss_processed')),
    controlRequests: num(s.get('ss_numctlreq')),
  };
  return { system: () => system, associations: () => assocs, sysstats: () => stats, mru: () => mru };
}
