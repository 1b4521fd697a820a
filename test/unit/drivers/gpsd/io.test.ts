import { EventEmitter } from 'node:events';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { FakeClock } from '../../../../src/clock/fake.js';
import { recordingContext } from '../../../support/driver-context.js';
import { GpsdDriver, GpsdDriverError, type GpsdSocket, type GpsdTimers } from '../../../../drivers/gpsd/io.js';
import { WATCH_COMMAND } from '../../../../drivers/gpsd/protocol.js';

const SESSION = readFileSync(new URL('./fixtures/gpsd-3.22-mt3339.jsonl', import.meta.url));
const HELLO = '{"class":"VERSION","release":"3.22","rev":"3.22","proto_major":3,"proto_minor":14}\r\n' +
  '{"class":"DEVICES","devices":[{"class":"DEVICE","path":"/dev/ttyACM0","activated":"2026-11-22T09:17:16.408Z","native":0}]}\r\n' +
  '{"class":"WATCH","enable":true,"json":true,"nmea":false,"raw":0,"scaled":false,"timing":false,"split24":false,"pps":true}\r\n';

class FakeSocket extends EventEmitter implements GpsdSocket {
  readonly written: string[] = [];
  destroyed = false;
  write(data: string): boolean {
    this.written.push(data);
    return true;
  }
  destroy(): void {
    this.destroyed = true;
  }
  send(text: string | Buffer): void {
    this.emit('data', Buffer.isBuffer(text) ? text : Buffer.from(text));
  }
}

class FakeTimers implements GpsdTimers {
  readonly pending = new Map<number, { fn: () => void; ms: number }>();
  private next = 1;
  setTimeout(fn: () => void, ms: number): unknown {
    this.pending.set(this.next, { fn, ms });
    return this.next++;
  }
  clearTimeout(handle: unknown): void {
    this.pending.delete(handle as number);
  }
  /** Runs the earliest pending timer; returns its delay. */
  fire(): number {
    const [id, t] = [...this.pending.entries()][0]!;
    this.pending.delete(id);
    t.fn();
    return t.ms;
  }
}

function rig(options: { device?: string } = {}) {
  const clock = new FakeClock(1_795_339_036_500_000_000n);
  const sockets: FakeSocket[] = [];
  const timers = new FakeTimers();
  /** What each connect attempt does: 'ok' emits connect, 'hang' nothing, anything else an error with that message. */
  const outcomes: string[] = [];
  const { ctx, samples, pulses, logged, counters: latestCounters } = recordingContext(clock, 'GPSD(0)');
  const driver = new GpsdDriver({
    port: 12_900, initialBackoffMs: 10, maxBackoffMs: 40, timers, ...options,
    connect: () => {
      const s = new FakeSocket();
      sockets.push(s);
      const outcome = outcomes.shift() ?? 'ok';
      if (outcome !== 'hang') queueMicrotask(() => (outcome === 'ok' ? s.emit('connect') : s.emit('error', new Error(outcome))));
      return s;
    },
  });
  const last = () => sockets.at(-1)!;
  const flush = () => new Promise((r) => setTimeout(r, 0));
  return { clock, driver, ctx, sockets, last, timers, outcomes, samples, pulses, logged, counters: latestCounters, flush };
}

describe('GpsdDriver', () => {
  it('sends WATCH with pps on connect and is running once gpsd answers it', async () => {
    const r = rig();
    await r.driver.init(r.ctx);
    expect(r.last().written).toEqual([WATCH_COMMAND]);
    expect(r.logged).toEqual(['starting']);
    r.last().send(HELLO);
    expect(r.logged).toEqual(['starting', 'running']);
    await r.driver.close();
  });

  it('reports one sample per TPV time, stamped by the TOFF of the same second, with SKY\'s satellites', async () => {
    const r = rig();
    await r.driver.init(r.ctx);
    r.last().send(SESSION);
    expect(r.samples).toHaveLength(30);
    expect(r.samples[0]).toEqual({
      systemTime: { sec: 1_795_339_036, nsec: 419_163_513 }, referenceTime: { sec: 2_048_272_000, nsec: 0 },
      leap: 'unknown', fix: { mode: '3d', satellitesUsed: null, satellitesVisible: null, hdop: null },
    });
    expect(r.samples.map((s) => s.referenceTime.sec)).toEqual(Array.from({ length: 30 }, (_, i) => 2_048_272_000 + i));
    expect(r.samples.at(-1)!.fix).toEqual({ mode: '3d', satellitesUsed: 10, satellitesVisible: 12, hdop: 0.98 });
    expect(r.counters()).toMatchObject({ samples: 30, samplesStampedByToff: 30, lines: 72, garbage: 0, pulses: 0 });
    await r.driver.close();
  });

  it('without a matching TOFF a TPV is stamped with the arrival of its line; no time, no sample', async () => {
    const r = rig();
    await r.driver.init(r.ctx);
    r.last().send('{"class":"TOFF","real_sec":1795339000,"real_nsec":0,"clock_sec":1795339000,"clock_nsec":5}\n');
    r.last().send('{"class":"TPV","mode":1}\n');
    r.clock.advanceNs(123_456_789n);
    r.last().send('{"class":"TPV","mode":2,"time":"2026-11-22T09:17:17.500Z"}\n');
    expect(r.samples).toEqual([{
      systemTime: { sec: 1_795_339_036, nsec: 623_456_789 }, referenceTime: { sec: 1_795_339_037, nsec: 500_000_000 },
      leap: 'unknown', fix: { mode: '2d', satellitesUsed: null, satellitesVisible: null, hdop: null },
    }]);
    r.last().send('{"class":"TPV","mode":1,"time":"2026-11-22T09:17:18.000Z"}\n');
    expect(r.samples[1]?.fix.mode).toBe('none');
    await r.driver.close();
  });

  it('PPS becomes a pulse at gpsd\'s clock time of the edge', async () => {
    const r = rig();
    await r.driver.init(r.ctx);
    r.last().send('{"class":"PPS","device":"/dev/ttyAMA0","real_sec":1795339037,"real_nsec":0,' +
      '"clock_sec":1795339036,"clock_nsec":999998200,"precision":-20}\r\n');
    expect(r.pulses).toEqual([{ systemTime: { sec: 1_795_339_036, nsec: 999_998_200 }, edge: 'assert' }]);
    expect(r.samples).toEqual([]);
    await r.driver.close();
  });

  it('with a device set, ignores the others and waits while gpsd does not serve it', async () => {
    const r = rig({ device: '/dev/ttyAMA0' });
    await r.driver.init(r.ctx);
    r.last().send(HELLO);
    expect(r.logged).toEqual(['starting', 'waiting GPSD_NO_DEVICE']);
    r.last().send('{"class":"TPV","device":"/dev/ttyACM0","mode":3,"time":"2026-11-22T09:17:17.000Z"}\n');
    r.last().send('{"class":"DEVICE","path":"/dev/ttyAMA0","driver":"u-blox","activated":"2026-11-22T09:17:18.000Z"}\n');
    r.last().send('{"class":"TPV","device":"/dev/ttyAMA0","mode":3,"time":"2026-11-22T09:17:18.000Z"}\n');
    expect(r.samples.map((s) => s.referenceTime.sec)).toEqual([1_795_339_038]);
    expect(r.logged.at(-1)).toBe('running');
    expect(r.counters()).toMatchObject({ otherDevice: 1 });
    r.last().send('{"class":"DEVICE","path":"/dev/ttyAMA0","activated":0}\n');
    expect(r.logged.at(-1)).toBe('waiting GPSD_NO_DEVICE');
    await r.driver.close();
  });

  it('a gpsd without devices is waiting until one is activated', async () => {
    const r = rig();
    await r.driver.init(r.ctx);
    r.last().send('{"class":"VERSION","release":"3.22","rev":"3.22","proto_major":3,"proto_minor":14}\r\n' +
      '{"class":"DEVICES","devices":[]}\r\n{"class":"WATCH","enable":true,"json":true,"pps":true}\r\n');
    expect(r.logged).toEqual(['starting', 'waiting GPSD_NO_DEVICE']);
    r.last().send('{"class":"DEVICE","path":"/dev/ttyACM0","driver":"NMEA0183","activated":"2026-11-22T09:17:16.418Z"}\r\n');
    expect(r.logged.at(-1)).toBe('running');
    await r.driver.close();
  });

  it('garbage, unknown classes and gpsd ERRORs are counted; the next good line still counts', async () => {
    const r = rig();
    await r.driver.init(r.ctx);
    r.last().send(Buffer.from([0xb5, 0x62, 0x01, 0x07, 0x0a]));
    r.last().send('{"class":"ATT"}\n{"class":"ERROR","message":"Unrecognized request"}\n{"class":"TPV","mode":3,"time":"2026-11-22T09:17:17Z"}\n');
    expect(r.samples).toHaveLength(1);
    expect(r.counters()).toMatchObject({ garbage: 1, unknownClass: 1, gpsdErrors: 1 });
    await r.driver.close();
  });

  it('fails init loudly when gpsd is not there', async () => {
    const r = rig();
    r.outcomes.push('connect ECONNREFUSED 127.0.0.1:12900');
    const err = await r.driver.init(r.ctx).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GpsdDriverError);
    expect(err).toMatchObject({ code: 'GPSD_UNREACHABLE' });
    expect((err as Error).message).toMatch(/127\.0\.0\.1:12900.*ECONNREFUSED.*is gpsd running/);
    expect(r.logged).toEqual(['starting', 'stopped GPSD_UNREACHABLE']);
    expect(r.timers.pending.size).toBe(0);
  });

  it('gives up a connection attempt that hangs (no connect timeout in net)', async () => {
    const r = rig();
    r.outcomes.push('hang');
    const pending = r.driver.init(r.ctx).catch((e: unknown) => e);
    await r.flush();
    expect(r.timers.fire()).toBe(5000);
    expect(await pending).toMatchObject({ code: 'GPSD_UNREACHABLE', message: expect.stringMatching(/no connection within 5000 ms/) });
    expect(r.sockets[0]!.destroyed).toBe(true);
  });

  it('close aborts a connection attempt in progress', async () => {
    const r = rig();
    await r.driver.init(r.ctx);
    r.last().emit('close');
    r.outcomes.push('hang');
    r.timers.fire();
    await r.flush();
    await r.driver.close();
    expect(r.sockets[1]!.destroyed).toBe(true);
    expect(r.timers.pending.size).toBe(0);
  });

  it('a TOFF from another device does not stamp the TPV', async () => {
    const r = rig();
    await r.driver.init(r.ctx);
    r.last().send('{"class":"TOFF","device":"/dev/a","real_sec":1795339037,"real_nsec":0,"clock_sec":1795339036,"clock_nsec":1}\n' +
      '{"class":"TPV","device":"/dev/b","mode":3,"time":"2026-11-22T09:17:17Z"}\n');
    expect(r.samples[0]?.systemTime).toEqual({ sec: 1_795_339_036, nsec: 500_000_000 });
    expect(r.counters()).toMatchObject({ samplesStampedByToff: 0 });
    await r.driver.close();
  });

  it('refuses a bad port at construction', () => {
    expect(() => new GpsdDriver({ port: 70_000 })).toThrow(expect.objectContaining({ code: 'GPSD_BAD_ADDRESS' }));
    expect(() => new GpsdDriver({ host: '' })).toThrow(GpsdDriverError);
  });

  it('reconnects with backoff after gpsd goes away, logging once per change, and re-WATCHes', async () => {
    const r = rig();
    await r.driver.init(r.ctx);
    r.last().send(HELLO);
    r.last().send('{"class":"TPV","mode":3,"ti');
    r.last().emit('close');
    expect(r.sockets[0]!.destroyed).toBe(true);
    expect(r.logged).toEqual(['starting', 'running', 'reconnecting GPSD_DISCONNECTED']);
    r.outcomes.push('ECONNREFUSED', 'ECONNREFUSED', 'ECONNREFUSED', 'ECONNREFUSED');
    const delays: number[] = [];
    for (let i = 0; i < 4; i++) {
      delays.push(r.timers.fire());
      await r.flush();
    }
    expect(delays).toEqual([10, 20, 40, 40]);
    expect(r.logged).toEqual(['starting', 'running', 'reconnecting GPSD_DISCONNECTED', 'reconnecting GPSD_UNREACHABLE']);
    r.timers.fire();
    await r.flush();
    expect(r.last().written).toEqual([WATCH_COMMAND]);
    // The half line from the old connection is gone, not glued to the new one.
    r.last().send('me":"2026-11-22T09:17:17Z"}\n' + HELLO + '{"class":"TPV","mode":3,"time":"2026-11-22T09:17:18Z"}\n');
    expect(r.samples.map((s) => s.referenceTime.sec)).toEqual([1_795_339_038]);
    expect(r.logged.at(-1)).toBe('running');
    expect(r.counters()).toMatchObject({ connects: 2, garbage: 1 });
    // A WATCH answer resets the backoff.
    r.last().emit('error', new Error('ECONNRESET'));
    expect(r.timers.fire()).toBe(10);
    await r.flush();
    await r.driver.close();
  });

  it('close cancels a pending retry, is safe twice, and ignores late socket events', async () => {
    const r = rig();
    await r.driver.init(r.ctx);
    r.last().emit('close');
    expect(r.timers.pending.size).toBe(1);
    await r.driver.close();
    await r.driver.close();
    expect(r.timers.pending.size).toBe(0);
    expect(() => r.sockets[0]!.emit('error', new Error('late'))).not.toThrow();
    expect(r.logged.at(-1)).toBe('stopped');
  });
});
