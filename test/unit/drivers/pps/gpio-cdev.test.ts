import { describe, expect, it } from 'vitest';
import { PpsGpioCdevDriver } from '../../../../drivers/pps/gpio-cdev.js';
import { SyscallError, koffiGpioChipApi, type GpioChipApi } from '../../../../drivers/pps/gpio-chip.js';
import { GPIO_V2_GET_LINE_IOCTL, LINE_EVENT_SIZE, LINE_REQUEST_SIZE } from '../../../../drivers/pps/gpio-v2.js';
import { ManualTimers, START_NS, fakeContext, newClock } from './context.js';

interface FakeEvent { timestampNs: bigint; id?: number; lineSeqno: number }
type ReadResult = FakeEvent[] | 'timeout' | { errno: string };

/** A fake kernel: one chip, line fds handed out by the ioctl, reads served from a queue the test fills. */
class FakeChip implements GpioChipApi {
  present = true;
  requestErrno: string | null = null;
  requests: Buffer[] = [];
  openFds = new Set<number>();
  private nextFd = 10;
  private queue: ReadResult[] = [];
  private waiter: ((r: ReadResult) => void) | null = null;

  constructor(readonly path = '/dev/gpiochip0') {}

  open(path: string): number {
    if (path !== this.path || !this.present) throw new SyscallError('ENOENT', 'open', path);
    const fd = this.nextFd++;
    this.openFds.add(fd);
    return fd;
  }

  ioctl(fd: number, request: number, arg: Buffer): void {
    expect(request).toBe(GPIO_V2_GET_LINE_IOCTL);
    expect(arg.length).toBe(LINE_REQUEST_SIZE);
    if (this.requestErrno !== null) throw new SyscallError(this.requestErrno, 'ioctl', String(fd));
    this.requests.push(Buffer.from(arg));
    const lineFd = this.nextFd++;
    this.openFds.add(lineFd);
    arg.writeInt32LE(lineFd, 588);
  }

  async read(_fd: number, buf: Buffer): Promise<number> {
    const r = this.queue.shift() ?? (await new Promise<ReadResult>((resolve) => (this.waiter = resolve)));
    if (r === 'timeout') return 0;
    if (!Array.isArray(r)) throw new SyscallError(r.errno, 'read', 'line');
    r.forEach((e, i) => {
      const at = i * LINE_EVENT_SIZE;
      buf.fill(0, at, at + LINE_EVENT_SIZE);
      buf.writeBigUInt64LE(e.timestampNs, at);
      buf.writeUInt32LE(e.id ?? 1, at + 8);
      buf.writeUInt32LE(18, at + 12);
      buf.writeUInt32LE(e.lineSeqno, at + 16);
      buf.writeUInt32LE(e.lineSeqno, at + 20);
    });
    return r.length * LINE_EVENT_SIZE;
  }

  close(fd: number): void {
    this.openFds.delete(fd);
  }

  push(r: ReadResult): void {
    const w = this.waiter;
    this.waiter = null;
    if (w) w(r);
    else this.queue.push(r);
  }
}

const tick = () => new Promise((r) => setTimeout(r, 0));
const SEC0 = START_NS;

function rig(chip = new FakeChip(), edge: 'assert' | 'clear' = 'assert') {
  const clock = newClock();
  const timers = new ManualTimers();
  const driver = new PpsGpioCdevDriver({ chip: 'gpiochip0', line: 18, edge, api: chip, timers, initialBackoffMs: 250, maxBackoffMs: 1000 });
  return { chip, clock, timers, driver, ...fakeContext(clock, 'PPS-GPIO(0)') };
}

describe('PpsGpioCdevDriver (fake chip)', () => {
  it('requests line 18 as an input with rising-edge realtime events, consumer "gnomon", and keeps only the line fd', async () => {
    const r = rig();
    await r.driver.init(r.ctx);
    const req = r.chip.requests[0]!;
    expect(req.readUInt32LE(0)).toBe(18);
    expect(req.subarray(256, 262).toString()).toBe('gnomon');
    expect(req.readBigUInt64LE(288)).toBe(0x814n);
    expect(req.readUInt32LE(560)).toBe(1);
    expect([...r.chip.openFds]).toEqual([11]);
    r.chip.push('timeout'); // the real read returns 0 when its poll() times out; close waits for that
    await r.driver.close();
    expect(r.chip.openFds.size).toBe(0);
  });

  it('events become pulses with the kernel timestamp; line_seqno gaps are counted as missed', async () => {
    const r = rig();
    await r.driver.init(r.ctx);
    r.chip.push([{ timestampNs: SEC0 + 1_000_000_123n, lineSeqno: 1 }]);
    r.chip.push([{ timestampNs: SEC0 + 2_000_000_456n, lineSeqno: 2 }, { timestampNs: SEC0 + 5_000_000_789n, lineSeqno: 5 }]);
    await tick();
    expect(r.pulses).toEqual([
      { systemTime: { sec: 1_700_000_001, nsec: 123 }, edge: 'assert', sequence: 1 },
      { systemTime: { sec: 1_700_000_002, nsec: 456 }, edge: 'assert', sequence: 2 },
      { systemTime: { sec: 1_700_000_005, nsec: 789 }, edge: 'assert', sequence: 5 },
    ]);
    expect(r.counters()).toMatchObject({ pulses: 3, missedPulses: 2 });
    expect(r.logged).toEqual(['starting', 'waiting PPS_NO_SIGNAL', 'running']);
    r.chip.push('timeout');
    await r.driver.close();
  });

  it('edge clear requests falling edges and reports them as clear; an unexpected edge is counted, not reported', async () => {
    const r = rig(new FakeChip(), 'clear');
    await r.driver.init(r.ctx);
    expect(r.chip.requests[0]!.readBigUInt64LE(288)).toBe(0x824n);
    r.chip.push([{ timestampNs: SEC0, id: 2, lineSeqno: 1 }, { timestampNs: SEC0 + 1n, id: 1, lineSeqno: 2 }]);
    await tick();
    expect(r.pulses.map((p) => p.edge)).toEqual(['clear']);
    expect(r.counters()).toMatchObject({ otherEdges: 1 });
    r.chip.push('timeout');
    await r.driver.close();
  });

  it.each([
    ['ENOENT', 'PPS_GPIO_CHIP_MISSING', /gpiodetect/],
    ['EACCES', 'PPS_DEVICE_ACCESS', /udev rule.*gnomon group/],
    ['EBUSY', 'PPS_GPIO_LINE_BUSY', /gpioinfo.*pps-gpio overlay/],
    ['EINVAL', 'PPS_GPIO_LINE_INVALID', /5\.11/],
  ])('start-up %s fails loudly with %s and a hint', async (errno, code, hint) => {
    const chip = new FakeChip();
    if (errno === 'ENOENT') chip.present = false;
    else if (errno === 'EACCES') chip.open = (p) => { throw new SyscallError('EACCES', 'open', p); };
    else chip.requestErrno = errno;
    const r = rig(chip);
    await expect(r.driver.init(r.ctx)).rejects.toMatchObject({ code, message: expect.stringMatching(hint) });
    expect(r.logged).toEqual(['starting', `stopped ${code}`]);
    expect(chip.openFds.size).toBe(0);
  });

  it('no edge for 2.5 s → waiting PPS_NO_SIGNAL once', async () => {
    const r = rig();
    await r.driver.init(r.ctx);
    r.chip.push([{ timestampNs: SEC0, lineSeqno: 1 }]);
    for (let i = 0; i < 5; i++) {
      await tick();
      r.clock.advanceNs(1_000_000_000n);
      r.chip.push('timeout');
    }
    await tick();
    expect(r.logged).toEqual(['starting', 'waiting PPS_NO_SIGNAL', 'running', 'waiting PPS_NO_SIGNAL']);
    r.chip.push('timeout');
    await r.driver.close();
  });

  it('a read error releases the line, reconnects with backoff (logged once per change), and re-requests', async () => {
    const r = rig();
    await r.driver.init(r.ctx);
    r.chip.present = false;
    r.chip.push({ errno: 'ENODEV' });
    await tick();
    expect(r.chip.openFds.size).toBe(0);
    const delays: (number | undefined)[] = [r.timers.delayMs];
    for (let i = 0; i < 3; i++) {
      r.timers.fire();
      delays.push(r.timers.delayMs);
    }
    expect(delays).toEqual([250, 500, 1000, 1000]);
    expect(r.logged).toEqual(['starting', 'waiting PPS_NO_SIGNAL', 'reconnecting PPS_DISCONNECTED', 'reconnecting PPS_GPIO_CHIP_MISSING']);
    r.chip.present = true;
    r.timers.fire();
    expect(r.chip.requests).toHaveLength(2);
    r.chip.push([{ timestampNs: SEC0, lineSeqno: 1 }]);
    await tick();
    expect(r.pulses).toHaveLength(1);
    expect(r.counters()).toMatchObject({ missedPulses: 0 });
    expect(r.logged.slice(4)).toEqual(['waiting PPS_NO_SIGNAL', 'running']);
    r.chip.push('timeout');
    await r.driver.close();
  });
});

describe('koffiGpioChipApi (real libc, no GPIO needed)', () => {
  const api = koffiGpioChipApi();

  it('open of a missing chip throws ENOENT; the GPIO ioctl on /dev/null is ENOTTY', () => {
    expect(() => api.open('/dev/gpiochip-does-not-exist')).toThrow(expect.objectContaining({ code: 'ENOENT' }));
    const fd = api.open('/dev/null');
    try {
      expect(() => api.ioctl(fd, GPIO_V2_GET_LINE_IOCTL, Buffer.alloc(LINE_REQUEST_SIZE))).toThrow(expect.objectContaining({ code: 'ENOTTY' }));
    } finally {
      api.close(fd);
    }
  });

  it('read polls on the libuv pool and then reads (on /dev/zero, always readable)', async () => {
    const fd = api.open('/dev/zero');
    try {
      const buf = Buffer.alloc(96, 0xff);
      expect(await api.read(fd, buf, 100)).toBe(96);
      expect(buf.every((b) => b === 0)).toBe(true);
    } finally {
      api.close(fd);
    }
  });

  it('readable with nothing to read (end of file, on /dev/null) rejects instead of spinning', async () => {
    const fd = api.open('/dev/null');
    try {
      await expect(api.read(fd, Buffer.alloc(48), 100)).rejects.toMatchObject({ code: 'EOF' });
    } finally {
      api.close(fd);
    }
  });
});
