// Gnomon bench: the baseline the comparison is made against — the simplest possible
// Node dgram NTP responder. It answers every mode 3 request with a mode 4 reply whose
// timestamps all come from Date.now() (millisecond resolution, not disciplined, no
// access control, no rate limiting, no counters). Loopback only.
//
//   node bench/trivial-responder.mjs --listen 127.0.0.1:PORT [--clock hrtime]
//
// --clock hrtime (bench/quality.mjs): timestamps from process.hrtime.bigint() anchored once at start
// to a Date.now() millisecond edge (within a few µs of CLOCK_REALTIME), the usual way a Node program
// gets sub-millisecond wall-clock time; the default stays Date.now() (what bench/run.mjs measures).
//
// Prints one JSON line {"msg":"listening",...} on stdout when bound; exits on SIGTERM/SIGINT.
import dgram from 'node:dgram';

const NTP_UNIX_DELTA = 2208988800;

function parseListen(argv) {
  const i = argv.indexOf('--listen');
  const value = i >= 0 ? argv[i + 1] : '127.0.0.1:11124';
  const m = /^(127\.\d+\.\d+\.\d+):(\d+)$/.exec(value ?? '');
  if (!m) {
    console.error(`trivial-responder: --listen must be 127.x.x.x:PORT, got ${value}`);
    process.exit(2);
  }
  return { host: m[1], port: Number(m[2]) };
}

const { host, port } = parseListen(process.argv.slice(2));
const clockArg = process.argv.includes('--clock') ? process.argv[process.argv.indexOf('--clock') + 1] : 'date';
if (clockArg !== 'date' && clockArg !== 'hrtime') {
  console.error(`trivial-responder: --clock must be date or hrtime, got ${clockArg}`);
  process.exit(2);
}

/**
 * Wall-clock ms from hrtime, anchored where Date.now() steps to a new millisecond: over 20 steps
 * (~20 ms of spinning at start) the one bracketed most tightly by hrtime reads, so that a
 * preemption at the wrong moment cannot shift the anchor (within ~1 µs of CLOCK_REALTIME).
 */
function hrtimeClock() {
  let best = null;
  let prev = Date.now();
  let prevAt = process.hrtime.bigint();
  for (let edges = 0; edges < 20; ) {
    const ms = Date.now();
    const at = process.hrtime.bigint();
    if (ms !== prev) {
      edges++;
      const width = at - prevAt; // the step happened between the previous read and this one
      if (!best || width < best.width) best = { ms, width, mid: prevAt + width / 2n };
      prev = ms;
    }
    prevAt = at;
  }
  return () => best.ms + Number(process.hrtime.bigint() - best.mid) / 1e6;
}
const now = clockArg === 'hrtime' ? hrtimeClock() : Date.now;

function writeNow(buf, offset, ms) {
  const sec = Math.floor(ms / 1000);
  const frac = Math.floor(((ms - sec * 1000) / 1000) * 0x100000000);
  buf.writeUInt32BE((sec + NTP_UNIX_DELTA) >>> 0, offset);
  buf.writeUInt32BE(frac >>> 0, offset + 4);
}

const sock = dgram.createSocket('udp4');
sock.on('message', (msg, rinfo) => {
  const t2 = now();
  if (msg.length < 48 || (msg[0] & 7) !== 3) return;
  const vn = (msg[0] >> 3) & 7;
  const reply = Buffer.alloc(48); // per reply: dgram send completes after this handler returns
  reply[0] = (vn << 3) | 4; // LI 0, VN as asked, mode 4
  reply[1] = 1; // stratum 1
  reply[2] = msg[2]; // poll
  reply[3] = clockArg === 'hrtime' ? 0xec : 0xf6; // precision 2^-20 (hrtime) or 2^-10 (Date.now: milliseconds)
  reply.write('LOCL', 12, 'latin1');
  writeNow(reply, 16, t2); // reference time
  msg.copy(reply, 24, 40, 48); // origin = client's transmit
  writeNow(reply, 32, t2); // receive
  writeNow(reply, 40, now()); // transmit
  sock.send(reply, rinfo.port, rinfo.address);
});
sock.on('error', (err) => {
  console.error(`trivial-responder: ${err.message}`);
  process.exit(1);
});
sock.bind(port, host, () => {
  console.log(JSON.stringify({ msg: 'listening', address: `${host}:${port}`, pid: process.pid }));
});

for (const sig of ['SIGTERM', 'SIGINT']) {
  process.on(sig, () => {
    sock.close();
    process.exit(0);
  });
}
