// Gnomon bench: where a server's timestamps sit relative to the kernel (bench/quality.mjs
// --capture). tcpdump on lo writes every request and reply with the kernel's CLOCK_REALTIME
// timestamp (taken in the sender's sendmsg as the packet passes the loopback device); the reply
// carries the server's own receive (T2) and transmit (T3) timestamps, in the same clock. So per
// exchange:
//   receive lag = T2 − capture time of the request   (kernel queue → the server reads its clock)
//   send lag    = capture time of the reply − T3     (the server reads its clock → the kernel has the reply)
// Both are invisible to the client except as extra delay, and (receive lag − send lag) / 2 is the
// error they add to the client's offset.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { stop, track } from './processes.mjs';

const NTP_UNIX_DELTA = 2208988800n;

/** tcpdump -i lo on the given UDP ports into file, pinned to cpu; resolves { stop() } once capturing. */
export async function startCapture(file, ports, cpu) {
  const filter = `udp and (${ports.map((p) => `port ${p}`).join(' or ')})`;
  const child = track(
    spawn('taskset', ['-c', cpu, 'tcpdump', '-i', 'lo', '-n', '-U', '-Z', 'root', '-s', '128', '--time-stamp-precision=nano', '-w', file, filter], {
      stdio: ['ignore', 'ignore', 'pipe'],
    }),
    'tcpdump',
  );
  let err = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (c) => (err = (err + c).slice(-2000)));
  const deadline = Date.now() + 5000;
  while (!/listening on/.test(err) && Date.now() < deadline && child.exitCode === null) await sleep(50);
  if (!/listening on/.test(err)) {
    await stop(child, 1000);
    throw new Error(`tcpdump did not start: ${err}`);
  }
  return {
    async stop() {
      await stop(child, 3000);
      return err;
    },
  };
}

function ntpNs(buf, off) {
  const sec = BigInt(buf.readUInt32BE(off));
  const frac = BigInt(buf.readUInt32BE(off + 4));
  return (sec - NTP_UNIX_DELTA) * 1000000000n + ((frac * 1000000000n) >> 32n);
}

/** Packets of a pcap file (Ethernet link type, as on lo): { tsNs, srcPort, dstPort, payload }. */
export function readPcap(file) {
  const b = fs.readFileSync(file);
  if (b.length < 24) return [];
  const magicLE = b.readUInt32LE(0);
  const le = magicLE === 0xa1b23c4d || magicLE === 0xa1b2c3d4;
  const magic = le ? magicLE : b.readUInt32BE(0);
  const nano = magic === 0xa1b23c4d;
  const u32 = (o) => (le ? b.readUInt32LE(o) : b.readUInt32BE(o));
  const linkType = u32(20);
  const linkHeader = linkType === 1 ? 14 : linkType === 113 ? 16 : linkType === 0 ? 4 : -1;
  if (linkHeader < 0) throw new Error(`pcap link type ${linkType} not handled`);
  const out = [];
  for (let o = 24; o + 16 <= b.length; ) {
    const sec = BigInt(u32(o));
    const sub = BigInt(u32(o + 4));
    const incl = u32(o + 8);
    const p = o + 16;
    o = p + incl;
    if (o > b.length) break;
    const ip = p + linkHeader;
    if ((b[ip] >> 4) !== 4 || b[ip + 9] !== 17) continue; // IPv4 UDP only
    const udp = ip + (b[ip] & 15) * 4;
    if (udp + 8 + 48 > p + incl) continue;
    out.push({
      tsNs: sec * 1000000000n + (nano ? sub : sub * 1000n),
      srcPort: b.readUInt16BE(udp),
      dstPort: b.readUInt16BE(udp + 2),
      payload: b.subarray(udp + 8, p + incl),
    });
  }
  return out;
}

/**
 * Pair each reply from a server port with its request (the reply's origin = the request's transmit
 * timestamp) and return, per server port, the exchanges: { rxLagNs, txLagNs, spanNs (T3−T2), wireRttNs }.
 */
export function exchangesByPort(packets, serverPorts) {
  const ports = new Set(serverPorts);
  const requests = new Map();
  const out = new Map(serverPorts.map((p) => [p, []]));
  for (const pk of packets) {
    const mode = pk.payload[0] & 7;
    if (mode === 3 && ports.has(pk.dstPort)) {
      const key = `${pk.dstPort}/${pk.srcPort}/${pk.payload.subarray(40, 48).toString('hex')}`;
      if (!requests.has(key)) requests.set(key, pk.tsNs);
    } else if (mode === 4 && ports.has(pk.srcPort)) {
      const key = `${pk.srcPort}/${pk.dstPort}/${pk.payload.subarray(24, 32).toString('hex')}`;
      const reqTs = requests.get(key);
      if (reqTs === undefined) continue;
      requests.delete(key); // a duplicate capture of the same reply is ignored
      const t2 = ntpNs(pk.payload, 32);
      const t3 = ntpNs(pk.payload, 40);
      out.get(pk.srcPort).push({
        rxLagNs: Number(t2 - reqTs),
        txLagNs: Number(pk.tsNs - t3),
        spanNs: Number(t3 - t2),
        wireRttNs: Number(pk.tsNs - reqTs),
      });
    }
  }
  return out;
}
