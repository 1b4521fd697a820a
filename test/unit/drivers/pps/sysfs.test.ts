import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { PpsSysfsDriver, classifySysfsError } from '../../../../drivers/pps/sysfs.js';
import { ManualTimers, START_NS, fakeContext, newClock } from './context.js';

let root: string;
beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'gnomon-pps-'));
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

/** Write the file as the kernel prints it: `%lld.%09d#%u\n`. */
async function kernelWrites(edge: 'assert' | 'clear', sec: bigint | number, nsec: number, seq: number, device = 'pps0'): Promise<void> {
  await mkdir(join(root, device), { recursive: true });
  await writeFile(join(root, device, edge), `${sec}.${String(nsec).padStart(9, '0')}#${seq}\n`);
}

const SEC0 = START_NS / 1_000_000_000n;

function rig(edge: 'assert' | 'clear' = 'assert') {
  const clock = newClock();
  const timers = new ManualTimers();
  const driver = new PpsSysfsDriver({ device: 'pps0', edge, sysfsRoot: root, timers, initialBackoffMs: 250, maxBackoffMs: 1000 });
  return { clock, timers, driver, ...fakeContext(clock) };
}

describe('PpsSysfsDriver (fake sysfs tree)', () => {
  it('a missing device fails init loudly, naming the path and the overlay fix', async () => {
    const r = rig();
    await expect(r.driver.init(r.ctx)).rejects.toMatchObject({
      code: 'PPS_DEVICE_MISSING',
      message: expect.stringMatching(/pps0\/assert.*dtoverlay=pps-gpio,gpiopin=18.*modprobe pps-gpio/),
    });
    expect(r.logged).toEqual(['starting', 'stopped PPS_DEVICE_MISSING']);
  });

  it('permission denied names the udev rule and the gnomon group', () => {
    const err = classifySysfsError('/sys/class/pps/pps0/assert', Object.assign(new Error('EACCES'), { code: 'EACCES' }));
    expect(err.code).toBe('PPS_DEVICE_ACCESS');
    expect(err.message).toMatch(/udev rule.*gnomon group/);
  });

  it('an empty file (edge not captured) fails init with a hint', async () => {
    await mkdir(join(root, 'pps0'));
    await writeFile(join(root, 'pps0', 'clear'), '');
    const r = rig('clear');
    await expect(r.driver.init(r.ctx)).rejects.toMatchObject({ code: 'PPS_EDGE_NOT_CAPTURED', message: expect.stringContaining('capture_clear') });
  });

  it('reports each new sequence once, with the kernel timestamp as systemTime; unchanged = no pulse', async () => {
    await kernelWrites('assert', 0, 0, 0);
    const r = rig();
    await r.driver.init(r.ctx);
    expect(r.logged).toEqual(['starting', 'waiting PPS_NO_SIGNAL']);
    expect(r.timers.delayMs).toBe(100);

    await kernelWrites('assert', SEC0 + 1n, 12_345, 1);
    r.clock.advanceNs(510_000_000n); // now = SEC0 + 1.010 s
    await r.driver.readNow();
    expect(r.pulses).toEqual([{ systemTime: { sec: Number(SEC0) + 1, nsec: 12_345 }, edge: 'assert', sequence: 1 }]);
    expect(r.logged.at(-1)).toBe('running');
    // Next read 20 ms after the edge the pulse predicts: SEC0 + 2.020012345 − (SEC0 + 1.010).
    expect(r.timers.delayMs).toBe(1011);

    await r.driver.readNow();
    await r.driver.readNow();
    expect(r.pulses).toHaveLength(1);
    expect(r.timers.delayMs).toBe(100); // found nothing new: hunt
  });

  it('a sequence jump reports the latest pulse and counts the missed ones', async () => {
    await kernelWrites('assert', SEC0, 0, 7);
    const r = rig();
    await r.driver.init(r.ctx);
    await r.driver.readNow();
    expect(r.pulses).toHaveLength(0); // the pulse present at start is a baseline
    await kernelWrites('assert', SEC0 + 4n, 5, 11);
    await r.driver.readNow();
    expect(r.pulses.map((p) => p.sequence)).toEqual([11]);
    expect(r.counters()).toMatchObject({ pulses: 1, missedPulses: 3 });
  });

  it('reads the clear file when edge is clear and reports clear edges', async () => {
    await kernelWrites('clear', 0, 0, 0);
    const r = rig('clear');
    await r.driver.init(r.ctx);
    await kernelWrites('clear', SEC0 + 1n, 100_000_000, 1);
    await r.driver.readNow();
    expect(r.pulses).toEqual([{ systemTime: { sec: Number(SEC0) + 1, nsec: 100_000_000 }, edge: 'clear', sequence: 1 }]);
  });

  it('no new pulse for 2.5 s → waiting PPS_NO_SIGNAL, logged once; the next pulse → running', async () => {
    await kernelWrites('assert', 0, 0, 0);
    const r = rig();
    await r.driver.init(r.ctx);
    await kernelWrites('assert', SEC0 + 1n, 0, 1);
    await r.driver.readNow();
    for (let i = 0; i < 40; i++) {
      r.clock.advanceNs(100_000_000n);
      await r.driver.readNow();
    }
    await kernelWrites('assert', SEC0 + 6n, 0, 2);
    await r.driver.readNow();
    expect(r.logged).toEqual(['starting', 'waiting PPS_NO_SIGNAL', 'running', 'waiting PPS_NO_SIGNAL', 'running']);
  });

  it('the device vanishes and comes back: reconnecting once, backoff doubling, baseline, then pulses again', async () => {
    await kernelWrites('assert', SEC0, 0, 3);
    const r = rig();
    await r.driver.init(r.ctx);
    await rm(join(root, 'pps0'), { recursive: true });
    const delays: (number | undefined)[] = [];
    for (let i = 0; i < 4; i++) {
      await r.driver.readNow();
      delays.push(r.timers.delayMs);
    }
    expect(delays).toEqual([250, 500, 1000, 1000]);
    expect(r.logged).toEqual(['starting', 'waiting PPS_NO_SIGNAL', 'reconnecting PPS_DEVICE_MISSING']);

    // Module reloaded: the counter restarts; the value found on return is a baseline.
    await kernelWrites('assert', SEC0 + 9n, 0, 1);
    r.timers.fire();
    await r.driver.readNow();
    expect(r.pulses).toHaveLength(0);
    expect(r.logged.at(-1)).toBe('waiting PPS_NO_SIGNAL');
    await kernelWrites('assert', SEC0 + 10n, 0, 2);
    await r.driver.readNow();
    expect(r.pulses.map((p) => p.sequence)).toEqual([2]);
    expect(r.logged.slice(3)).toEqual(['waiting PPS_NO_SIGNAL', 'running']);
    expect(r.counters()).toMatchObject({ missedPulses: 0 });
  });

  it('an emptied or garbled file at run time is a waiting state with its code, not a crash', async () => {
    await kernelWrites('assert', 0, 0, 0);
    const r = rig();
    await r.driver.init(r.ctx);
    await writeFile(join(root, 'pps0', 'assert'), '');
    await r.driver.readNow();
    await writeFile(join(root, 'pps0', 'assert'), 'garbage');
    await r.driver.readNow();
    expect(r.logged.slice(2)).toEqual(['waiting PPS_EDGE_NOT_CAPTURED', 'waiting PPS_BAD_FORMAT']);
  });

  it('the scheduled timer drives reads; close stops them and reports stopped', async () => {
    await kernelWrites('assert', 0, 0, 0);
    const r = rig();
    await r.driver.init(r.ctx);
    await kernelWrites('assert', SEC0 + 1n, 0, 1);
    r.timers.fire();
    await r.driver.readNow(); // joins the read the timer started
    expect(r.pulses).toHaveLength(1);
    await r.driver.close();
    expect(r.timers.pending.size).toBe(0);
    expect(r.logged.at(-1)).toBe('stopped');
    await r.driver.close();
  });
});
