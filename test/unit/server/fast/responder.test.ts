// The fast path's per-batch work (src/server/fast/responder.ts) on a loopback socket, with a realtime
// clock that can jump: a basic request is answered with a transmit timestamp read right before the
// sendmmsg, and when writing that stamp was interrupted (the clock moved > 20 µs between the reads
// around it: a GC step or a preemption on a real server) the stamp is taken again, so the reply does not
// go out with a transmit time that far in the past (counted: txRestampRetaken).
import dgram from 'node:dgram';
import { afterEach, describe, expect, it } from 'vitest';
import type { RealtimeClock, TimeSpec } from '../../../../src/clock/clock.js';
import { systemRealtimeClock } from '../../../../src/clock/posix.js';
import { linuxSocketAbi } from '../../../../src/net/linux-abi.js';
import { RateLimiter } from '../../../../src/server/access/ratelimit.js';
import type { FromWorker } from '../../../../src/server/fast/protocol.js';
import { createBatchResponder, type BatchResponder } from '../../../../src/server/fast/responder.js';
import { SharedServerView } from '../../../../src/server/fast/shared.js';
import { ServerStateCell } from '../../../../src/server/state.js';
import { syncedSnapshot } from '../../../support/server.js';

const abi = linuxSocketAbi(process.platform, process.arch);
if (!abi) throw new Error(`no socket ABI for ${process.platform}/${process.arch}: run these tests on Linux x86_64, arm64 or armhf`);
const NTP_UNIX_OFFSET_S = 2_208_988_800;

/** The system clock, plus `offsetNs` from the `jumpAt`-th read after arm() on (0: never). */
class JumpingClock implements RealtimeClock {
  readonly resolutionNs = 1;
  readonly source = 'test';
  private readonly real = systemRealtimeClock();
  private reads = 0;
  private jumpAt = 0;
  /** Each reading since arm(), as returned (Unix seconds). */
  readonly readings: number[] = [];
  constructor(private readonly offsetNs: number) {}
  arm(jumpAt: number): void {
    this.reads = 0;
    this.jumpAt = jumpAt;
  }
  read(out: TimeSpec): void {
    this.real.read(out);
    this.reads++;
    if (this.jumpAt > 0 && this.reads >= this.jumpAt) {
      const ns = out.nsec + this.offsetNs;
      out.sec += Math.floor(ns / 1e9);
      out.nsec = ns % 1e9;
    }
    this.readings.push(out.sec + out.nsec / 1e9);
  }
}

const open: { r: BatchResponder; client: dgram.Socket }[] = [];
afterEach(() => {
  for (const o of open.splice(0)) {
    o.r.finish();
    o.client.close();
  }
});

async function answerOne(clock: JumpingClock, jumpAt: number): Promise<{ txUnixS: number; sentUnixS: number; reads: number[]; retakenNow: number }> {
  const posted: FromWorker[] = [];
  const limiter = new RateLimiter({ averageLog2S: 3, minimumLog2S: 1, capacity: 64 }, 1);
  // A synchronised server (stratum 1): its basic replies carry the batch's transmit stamp.
  const view = new SharedServerView();
  const state = new ServerStateCell(syncedSnapshot(1));
  view.writeState(state.template, state.leapBits);
  const r = createBatchResponder({
    abi: abi!.name, address: '127.0.0.1', port: 0, rcvbuf: 0, receiveTimeoutMs: 200, coalesceUs: 0,
    shared: view.buffer,
    access: { restrict: [], sources: [], limiter: { averageLog2S: 3, minimumLog2S: 1, capacity: 64 }, rateTable: limiter.memory, keys: [] },
  }, (m) => posted.push(structuredClone(m)), clock); // copies: the responder reuses its delta object
  const client = dgram.createSocket('udp4');
  open.push({ r, client });
  await new Promise<void>((resolve) => client.bind(0, '127.0.0.1', () => resolve()));
  const request = Buffer.alloc(48);
  request[0] = (4 << 3) | 3; // v4, client
  const exchangeOnce = async (): Promise<{ reply: Buffer; sentUnixS: number; reads: number[] }> => {
    const reply = new Promise<Buffer>((resolve) => client.once('message', (m) => resolve(m)));
    const sentUnixS = Date.now() / 1000;
    await new Promise<void>((resolve) => client.send(request, r.sock.port, '127.0.0.1', () => resolve()));
    clock.readings.length = 0;
    const n = r.sock.receive();
    expect(n).toBe(1);
    r.turn(n);
    const reads = clock.readings.slice();
    return { reply: await reply, sentUnixS, reads };
  };
  // Warm the code first: a cold first batch can take > 20 µs to stamp, and is then (rightly) stamped again.
  for (let i = 0; i < 20; i++) await exchangeOnce();
  r.control({ kind: 'flush', generation: 1 });
  const before = retaken(posted);
  clock.arm(jumpAt);
  const { reply, sentUnixS, reads } = await exchangeOnce();
  expect(reply.length).toBe(48);
  r.control({ kind: 'flush', generation: 2 });
  return {
    txUnixS: reply.readUInt32BE(40) - NTP_UNIX_OFFSET_S + reply.readUInt32BE(44) / 2 ** 32, sentUnixS, reads, retakenNow: retaken(posted) - before,
  };
}

/** The retaken-stamp count over every counter delta posted. */
const retaken = (stats: FromWorker[]): number => stats.reduce((sum, m) => sum + (m.kind === 'stats' ? m.counters.txRestampRetaken ?? 0 : 0), 0);

// Reads of the realtime clock in a turn with one basic request: 1 the batch's receive-time read, 2 before
// the stamp, 3 the stamp, 4 after it (and, when taken again, 5-7 likewise).
describe('the batch transmit stamp', () => {
  it('is the read right before the send; not taken again when nothing interrupted it', async () => {
    const clock = new JumpingClock(5e6);
    const { txUnixS, sentUnixS, reads, retakenNow } = await answerOne(clock, 0);
    expect(reads).toHaveLength(4);
    expect(Math.abs(txUnixS - reads[2]!)).toBeLessThan(1e-6);
    expect(txUnixS).toBeGreaterThan(sentUnixS - 0.001);
    expect(retakenNow).toBe(0);
  });

  it('is taken again when the clock moved > 20 µs while it was written: the reply carries the later read', async () => {
    // A 5 ms jump at read 4 looks like a 5 ms pause while stamping: the stamp is taken again (reads 5-7).
    const clock = new JumpingClock(5e6);
    const { txUnixS, reads, retakenNow } = await answerOne(clock, 4);
    expect(retakenNow).toBe(1);
    expect(reads).toHaveLength(7);
    expect(Math.abs(txUnixS - reads[5]!)).toBeLessThan(1e-6);
    // ... not the stale stamp of read 3, 5 ms before it.
    expect(txUnixS - reads[2]!).toBeGreaterThan(0.0049);
  });
});
