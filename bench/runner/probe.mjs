// Gnomon bench: single NTP requests to a server under test, to see that it answers, that it is
// synchronised, and what its first reply looks like (recorded with the results).
import dgram from 'node:dgram';
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

const NTP_UNIX_DELTA = 2208988800;

export function freeUdpPort() {
  return new Promise((resolve, reject) => {
    const s = dgram.createSocket('udp4');
    s.on('error', reject);
    s.bind(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

function request() {
  const b = Buffer.alloc(48);
  b[0] = (4 << 3) | 3;
  b[2] = 6;
  const ms = Date.now();
  b.writeUInt32BE(Math.floor(ms / 1000) + NTP_UNIX_DELTA, 40);
  b.writeUInt32BE(Math.floor((ms % 1000) * 4294967.296), 44);
  return b;
}

/** One mode 3 request to 127.0.0.1:port; resolves the reply (or null after timeoutMs). */
function probeOnce(port, timeoutMs = 300) {
  return new Promise((resolve) => {
    const s = dgram.createSocket('udp4');
    const req = request();
    const t1 = Date.now();
    const done = (v) => {
      clearTimeout(timer);
      s.close();
      resolve(v);
    };
    const timer = setTimeout(() => done(null), timeoutMs);
    s.on('error', () => done(null));
    s.on('message', (msg) => done({ msg, req, t1, t4: Date.now() }));
    s.send(req, port, '127.0.0.1');
  });
}

function ntpToMs(buf, off) {
  const sec = buf.readUInt32BE(off);
  const frac = buf.readUInt32BE(off + 4);
  if (sec === 0 && frac === 0) return 0;
  return (sec - NTP_UNIX_DELTA) * 1000 + (frac / 4294967296) * 1000;
}

function decodeReply({ msg, req, t1, t4 }) {
  if (msg.length < 48) return { length: msg.length, error: 'short reply' };
  const refidBytes = msg.subarray(12, 16);
  const stratum = msg[1];
  const refid =
    stratum <= 1 ? refidBytes.toString('latin1').replace(/[^\x20-\x7e]/g, '.') : [...refidBytes].join('.');
  const t2 = ntpToMs(msg, 32);
  const t3 = ntpToMs(msg, 40);
  return {
    length: msg.length,
    li: msg[0] >> 6,
    vn: (msg[0] >> 3) & 7,
    mode: msg[0] & 7,
    stratum,
    poll: msg.readInt8(2),
    precision: msg.readInt8(3),
    rootDelayUs: +((msg.readUInt32BE(4) * 1e6) / 65536).toFixed(1),
    rootDispUs: +((msg.readUInt32BE(8) * 1e6) / 65536).toFixed(1),
    refid,
    refidHex: refidBytes.toString('hex'),
    reftimeAgeS: msg.readUInt32BE(16) ? +((t1 - ntpToMs(msg, 16)) / 1000).toFixed(3) : null,
    originEchoed: msg.subarray(24, 32).equals(req.subarray(40, 48)),
    offsetMs: +(((t2 - t1) + (t3 - t4)) / 2).toFixed(3),
    rxLeTx: t2 <= t3,
  };
}

/** Wait until the server answers (and, if syncWaitS > 0, until it is synchronised: LI != 3, stratum 1..15). */
export async function waitReady(name, port, child, syncWaitS) {
  const deadline = Date.now() + 15000;
  let r = null;
  while (!r && Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`${name} exited (${child.exitCode}) before answering`);
    r = await probeOnce(port);
  }
  if (!r) throw new Error(`${name} did not answer on 127.0.0.1:${port} within 15 s`);
  let d = decodeReply(r);
  const syncDeadline = Date.now() + syncWaitS * 1000;
  let warned = false;
  while ((d.li === 3 || d.stratum === 0 || d.stratum >= 16) && Date.now() < syncDeadline) {
    if (!warned) console.error(`bench: ${name} answers unsynchronised (LI ${d.li}, stratum ${d.stratum}); waiting up to ${syncWaitS} s`);
    warned = true;
    await sleep(500);
    const again = await probeOnce(port);
    if (again) d = decodeReply(again);
  }
  return d;
}

/** Gnomon's status over its control socket (one JSON line each way), or null. Bounded: 2 s. */
export function gnomonStatus(socketPath) {
  return new Promise((resolve) => {
    const sock = net.createConnection(socketPath);
    let text = '';
    const done = (v) => {
      clearTimeout(timer);
      sock.destroy();
      resolve(v);
    };
    const timer = setTimeout(() => done(null), 2000);
    sock.setEncoding('utf8');
    sock.once('connect', () => sock.write(`${JSON.stringify({ command: 'status' })}\n`));
    sock.on('data', (c) => (text += c));
    sock.once('error', () => done(null));
    sock.once('end', () => {
      try {
        const a = JSON.parse(text);
        done(a.ok ? a.result : null);
      } catch {
        done(null);
      }
    });
  });
}
