// Gnomon bench, diagnostic: the JavaScript cost per request of the fast path's per-batch code
// (src/server/fast/responder.ts and the handler), with the kernel taken out. A real responder on a
// loopback socket gets its receive arrays filled as recvmmsg would (BATCH NTPv4 client requests from
// 16 ports, each with an SCM_TIMESTAMPING stamp) and its sendmmsg replaced by a function that
// reports everything sent; then `turn(BATCH)` runs 2000 times a round, 12 rounds.
//
//   npm run build && node --max-semi-space-size=1 --optimize-for-size --v8-pool-size=1 bench/hotpath-js.mjs
//   (the product's node flags: the first line of dist/src/cli/main.js)   [--cpu-prof for the lines]
//
// Why: at saturation ~90 % of the server's CPU is the kernel's UDP path, the same as chronyd's, so
// a change to the per-request JS moves the closed-loop figure by less than the run-to-run noise of
// a shared VM; here the same change shows at ±5 ns. No peer: chronyd has no JavaScript. The closed
// loop and the shared-core pass of bench/run.mjs say what it is worth against chronyd.
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { ROOT } from './runner/paths.mjs';

const dist = (p) => import(pathToFileURL(path.join(ROOT, 'dist', 'src', p)).href);
const { createBatchResponder } = await dist('server/fast/responder.js');
const { SharedServerView } = await dist('server/fast/shared.js');
const { ServerStateCell } = await dist('server/state.js');
const { RateLimiter } = await dist('server/access/ratelimit.js');
const { linuxSocketAbi } = await dist('net/linux-abi.js');
const { BATCH, CONTROL_BYTES } = await dist('server/fast/message-arrays.js');

const abi = linuxSocketAbi(process.platform, process.arch);
if (!abi || abi.longBytes !== 8) throw new Error('bench/hotpath-js.mjs fills LP64 message headers: run it on Linux x86_64 or arm64');
const settings = { averageLog2S: 3, minimumLog2S: 1, capacity: 8192 };
const limiter = new RateLimiter(settings, 1);
const view = new SharedServerView();
const state = new ServerStateCell({
  leap: 0, stratum: 1, precisionLog2S: -24, rootDelayS: 0, rootDispersionS: 0.001, referenceId: 0x47505300, referenceTime: { seconds: 0, fraction: 0 },
});
view.writeState(state.template, state.leapBits);
const r = createBatchResponder({
  abi: abi.name, address: '127.0.0.1', port: 0, rcvbuf: 0, receiveTimeoutMs: 200, coalesceUs: 0, shared: view.buffer,
  access: { restrict: [], sources: [], limiter: settings, rateTable: limiter.memory, keys: [] },
}, () => {});
const sock = r.sock;
let sent = 0;
// The socket's own fields (TypeScript-private, plain properties at run time): a diagnostic reaches in.
sock.c = { ...sock.c, sendmmsg: (_fd, _ptr, n) => { sent += n; return n; } };
const h = abi.messages.cmsghdr;
const stampLen = h.data + abi.scmTimestamping.size;

/** The receive arrays as recvmmsg leaves them: stamps of now (within the responder's 1 s window). */
function fill() {
  const nowNs = BigInt(Date.now()) * 1_000_000n;
  for (let i = 0; i < BATCH; i++) {
    const s = sock.slots[i];
    s.payload.fill(0, 0, 48);
    s.payload[0] = (4 << 3) | 3;
    s.payload.writeUInt32BE(0xe0000000 + i, 40);
    s.name.fill(0);
    s.name.writeUInt16LE(2, 0);
    s.name.writeUInt16BE(40000 + (i % 16), 2);
    s.name.set([127, 0, 0, 1], 4);
    const m = i * sock.mmsgW;
    sock.rx32[m + sock.lenW] = 48;
    sock.rx32[m + sock.namelenW] = 16;
    sock.rx32[m + sock.controllenW] = stampLen;
    sock.rx32[m + sock.flagsW] = 0;
    const c = sock.control.subarray(i * CONTROL_BYTES, (i + 1) * CONTROL_BYTES);
    c.writeBigUInt64LE(BigInt(stampLen), h.len);
    c.writeInt32LE(abi.SOL_SOCKET, h.level);
    c.writeInt32LE(abi.SO_TIMESTAMPING, h.type);
    c.writeBigInt64LE(nowNs / 1_000_000_000n, h.data);
    c.writeBigInt64LE(nowNs % 1_000_000_000n, h.data + 8);
  }
}

const TURNS = 2000;
const perRequestNs = [];
for (let round = 0; round < 12; round++) {
  fill();
  const t0 = process.hrtime.bigint();
  for (let k = 0; k < TURNS; k++) r.turn(BATCH);
  perRequestNs.push(Number(process.hrtime.bigint() - t0) / (TURNS * BATCH));
}
r.finish();
if (sent !== 12 * TURNS * BATCH) throw new Error(`expected every request answered: ${sent} replies for ${12 * TURNS * BATCH} requests`);
const warm = perRequestNs.slice(4).sort((a, b) => a - b);
console.log(`fast path, JavaScript per request (no syscalls; batches of ${BATCH}): median ${warm[warm.length >> 1].toFixed(1)} ns, `
  + `min ${warm[0].toFixed(1)} ns over rounds 5-12 (rounds 1-4, warming up: ${perRequestNs.slice(0, 4).map((x) => x.toFixed(0)).join(', ')} ns)`);
