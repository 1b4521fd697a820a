// A scripted NTP responder that answers every mode 3 request with one fixed kind of reply, to check how real
// clients classify that kind of reply (and so that the tests' expectations about the peers are themselves tested).
//   node fake-server.mjs ADDRESS PORT KIND      KIND: kod-rate | kod-deny | unsync-stratum16 | unsync-stratum0
// Prints {"msg":"listening","address":...,"port":...} when bound; exits 0 on SIGTERM.
import { createSocket } from 'node:dgram';

const [address = '127.0.0.1', portText = '123', kind = 'kod-rate'] = process.argv.slice(2);
const KINDS = {
  'kod-rate': { leap: 3, stratum: 0, refid: Buffer.from('RATE', 'latin1') },
  'kod-deny': { leap: 3, stratum: 0, refid: Buffer.from('DENY', 'latin1') },
  'unsync-stratum16': { leap: 3, stratum: 16, refid: Buffer.alloc(4) },
  'unsync-stratum0': { leap: 3, stratum: 0, refid: Buffer.alloc(4) },
};
const reply = KINDS[kind];
if (reply === undefined) {
  console.error(`unknown kind ${kind}; one of ${Object.keys(KINDS).join(', ')}`);
  process.exit(2);
}

function ntpNow() {
  const ms = BigInt(Date.now());
  return ((ms / 1000n + 2208988800n) << 32n) | (((ms % 1000n) << 32n) / 1000n);
}

const socket = createSocket('udp4');
socket.on('message', (msg, rinfo) => {
  if (msg.length < 48 || (msg[0] & 7) !== 3) return;
  const now = ntpNow();
  const out = Buffer.alloc(48);
  out[0] = (reply.leap << 6) | (msg[0] & 0x38) | 4;
  out[1] = reply.stratum;
  out[2] = msg[2];
  out.writeInt8(-20, 3);
  reply.refid.copy(out, 12);
  msg.copy(out, 24, 40, 48); // origin = client's transmit
  out.writeBigUInt64BE(now, 32);
  out.writeBigUInt64BE(now, 40);
  socket.send(out, rinfo.port, rinfo.address);
});
socket.bind(Number(portText), address, () => {
  console.log(JSON.stringify({ msg: 'listening', address, port: Number(portText), kind }));
});
process.on('SIGTERM', () => socket.close(() => process.exit(0)));
