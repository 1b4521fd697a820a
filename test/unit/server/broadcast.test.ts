// The Broadcaster on loopback (no root needed): timers ticked by hand, a real UDP receiver on 127.0.0.1.
// Sync gating, logging once per change, reconfiguration. The namespace/veth test is test/system/broadcast.test.ts.
import dgram from 'node:dgram';
import { afterEach, describe, expect, it } from 'vitest';
import { FakeClock } from '../../../src/clock/fake.js';
import { Timescale } from '../../../src/clock/timescale.js';
import type { BroadcastLine } from '../../../src/config/model.js';
import { Broadcaster, type BroadcastTimers } from '../../../src/server/broadcast.js';
import { ServerStateCell, unsynchronisedSnapshot } from '../../../src/server/state.js';
import { START_NS, syncedSnapshot } from '../../support/server.js';
import { pollUntil } from '../../system/harness/process.js';

class ManualTimers implements BroadcastTimers {
  readonly live = new Map<number, { ms: number; fn: () => void }>();
  private next = 0;
  every(ms: number, fn: () => void): { cancel(): void } {
    const id = this.next++;
    this.live.set(id, { ms, fn });
    return { cancel: () => this.live.delete(id) };
  }
  tickAll(): void {
    for (const t of [...this.live.values()]) t.fn();
  }
}

interface Logged { level: string; msg: string }
function fakeLog(): { lines: Logged[]; info: (...a: unknown[]) => void; warn: (...a: unknown[]) => void; error: (...a: unknown[]) => void } {
  const lines: Logged[] = [];
  const at = (level: string) => (...a: unknown[]) => { lines.push({ level, msg: String(a.find((x) => typeof x === 'string') ?? '') }); };
  return { lines, info: at('info'), warn: at('warn'), error: at('error') };
}

const line = (address: string, extra: Partial<BroadcastLine> = {}): BroadcastLine => ({
  address, family: 4, multicast: false, ttl: 1, minpoll: 4, version: 4, at: { file: 'gnomon.conf', line: 1, column: 1 }, ...extra,
});

const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of closers.splice(0)) await c();
});

async function receiver(): Promise<{ port: number; packets: Buffer[] }> {
  const socket = dgram.createSocket('udp4');
  const packets: Buffer[] = [];
  socket.on('message', (m) => packets.push(m));
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  closers.push(() => new Promise((resolve) => socket.close(() => resolve())));
  return { port: socket.address().port, packets };
}

function rig(port: number) {
  const state = new ServerStateCell(syncedSnapshot(2));
  const timers = new ManualTimers();
  const log = fakeLog();
  const b = new Broadcaster({ state, clock: new Timescale(new FakeClock(START_NS)), log, port, timers });
  closers.push(() => b.close());
  return { state, timers, log, b };
}

describe('Broadcaster', () => {
  it('sends one mode 5 packet per tick at 2^minpoll s while synchronised; pauses and resumes with the snapshot', async () => {
    const rx = await receiver();
    const { state, timers, log, b } = rig(rx.port);
    await b.configure([line('127.0.0.1', { minpoll: 4 })]);
    expect([...timers.live.values()].map((t) => t.ms)).toEqual([16_000]);
    // configure sends the first one at once
    expect(await pollUntil(() => (rx.packets.length === 1 ? true : undefined), 2000)).toBe(true);
    expect(rx.packets[0]![0]! & 7).toBe(5);
    expect(rx.packets[0]![1]).toBe(2);
    expect(rx.packets[0]![2]).toBe(4);

    timers.tickAll();
    expect(await pollUntil(() => (b.stats()[0]!.sent === 2 ? true : undefined), 2000)).toBe(true);

    state.publish(unsynchronisedSnapshot(-20));
    timers.tickAll();
    timers.tickAll();
    expect(b.stats()[0]).toMatchObject({ sent: 2, paused: 2, sendErrors: 0 });
    expect(log.lines.filter((l) => l.msg.includes('paused'))).toHaveLength(1); // once per change, not per tick

    state.publish(syncedSnapshot(2));
    timers.tickAll();
    expect(await pollUntil(() => (b.stats()[0]!.sent === 3 ? true : undefined), 2000)).toBe(true);
    timers.tickAll();
    expect(await pollUntil(() => (b.stats()[0]!.sent === 4 ? true : undefined), 2000)).toBe(true);
    expect(log.lines.filter((l) => l.msg.includes('synchronised; sending'))).toHaveLength(2); // at start, and on resuming
    expect(await pollUntil(() => (rx.packets.length === 4 ? true : undefined), 2000)).toBe(true);
    expect(rx.packets.every((p) => p.length === 48 && p[0] === 0x25)).toBe(true);
  });

  it('a destination that is no interface\'s broadcast address is warned about, and still served', async () => {
    const rx = await receiver();
    const { log, b } = rig(rx.port);
    await b.configure([line('127.0.0.1')]);
    expect(log.lines.some((l) => l.level === 'warn' && l.msg.includes('not the broadcast address of any interface'))).toBe(true);
    expect(await pollUntil(() => (rx.packets.length === 1 ? true : undefined), 2000)).toBe(true);
  });

  it('reconfigure keeps unchanged lines, closes removed ones and opens new ones', async () => {
    const rx = await receiver();
    const { timers, log, b } = rig(rx.port);
    await b.configure([line('127.0.0.1', { minpoll: 4 }), line('127.0.0.2', { minpoll: 5 })]);
    expect(b.stats().map((s) => [s.address, s.intervalS])).toEqual([['127.0.0.1', 16], ['127.0.0.2', 32]]);
    await b.configure([line('127.0.0.1', { minpoll: 4 }), line('127.0.0.3', { minpoll: 6, version: 3 })]);
    expect(b.stats().map((s) => [s.address, s.intervalS])).toEqual([['127.0.0.1', 16], ['127.0.0.3', 64]]);
    expect(timers.live.size).toBe(2);
    expect(log.lines.filter((l) => l.msg.startsWith('broadcast: sending mode 5'))).toHaveLength(3); // 127.0.0.1 opened once
    expect(log.lines.some((l) => l.msg === 'broadcast: stopped sending to 127.0.0.2')).toBe(true);
    await b.configure([]);
    expect(timers.live.size).toBe(0);
    expect(b.stats()).toEqual([]);
  });

  it('never throws: a destination it cannot send to is counted and logged once per error', async () => {
    const { timers, log, b } = rig(9);
    // An IPv4 address on an IPv6-only socket (a line the compiler would never produce): every send fails, on this host only.
    await b.configure([line('127.0.0.1', { family: 6, multicast: true })]);
    const settled = (n: number) => pollUntil(() => (b.stats()[0]!.sent + b.stats()[0]!.sendErrors >= n ? true : undefined), 2000);
    await settled(1);
    for (let i = 2; i <= 3; i++) {
      timers.tickAll();
      await settled(i);
    }
    expect(b.stats()[0]).toMatchObject({ sent: 0, sendErrors: 3 });
    expect(log.lines.filter((l) => l.level === 'error')).toHaveLength(1);
  });
});
