import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { findGlobalGpio, globalGpioNumber, scanGpioChips } from '../../../../drivers/pps/gpio-base.js';
import { PpsOnoffDriver, importOnoff, type OnoffGpio } from '../../../../drivers/pps/onoff.js';
import { fakeContext, newClock } from './context.js';

let root: string;
beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'gnomon-gpio-'));
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

async function chip(name: string, label: string, base: number, ngpio: number): Promise<void> {
  await mkdir(join(root, name));
  await writeFile(join(root, name, 'label'), `${label}\n`);
  await writeFile(join(root, name, 'base'), `${base}\n`);
  await writeFile(join(root, name, 'ngpio'), `${ngpio}\n`);
}

/** A /sys/class/gpio as the kernel lays it out: export/unexport files next to the chips. */
async function sysfsGpio(...chips: [string, string, number, number][]): Promise<void> {
  await writeFile(join(root, 'export'), '');
  await writeFile(join(root, 'unexport'), '');
  for (const c of chips) await chip(...c);
}

describe('sysfs GPIO chip base discovery (fake trees)', () => {
  it('Pi 4 on kernel 6.6+: pinctrl-bcm2711 at base 512 next to the firmware expander → BCM 18 is 530', async () => {
    await sysfsGpio(['gpiochip512', 'pinctrl-bcm2711', 512, 58], ['gpiochip570', 'raspberrypi-exp-gpio', 570, 8]);
    expect(await findGlobalGpio(18, root)).toMatchObject({ gpio: 530, chip: { name: 'gpiochip512', label: 'pinctrl-bcm2711' } });
  });

  it('Pi 5: pinctrl-rp1 at base 571 among the brcmstb chips → 589', async () => {
    await sysfsGpio(['gpiochip512', 'gpio-brcmstb@107d508500', 512, 32], ['gpiochip544', 'gpio-brcmstb@107d508520', 544, 15], ['gpiochip571', 'pinctrl-rp1', 571, 54]);
    expect((await findGlobalGpio(18, root)).gpio).toBe(589);
  });

  it('older layouts: pinctrl-bcm2835 at base 504 → 522, and at base 0 → the BCM number itself', async () => {
    await sysfsGpio(['gpiochip504', 'pinctrl-bcm2835', 504, 54]);
    expect((await findGlobalGpio(18, root)).gpio).toBe(522);
    expect(globalGpioNumber([{ name: 'gpiochip0', label: 'pinctrl-bcm2835', base: 0, ngpio: 54 }], 18).gpio).toBe(18);
  });

  it('no Pi pin controller (QEMU virt: a PL061 at 504) → PPS_GPIO_BASE_UNKNOWN naming what was found', async () => {
    await sysfsGpio(['gpiochip504', '9030000.pl061', 504, 8]);
    await expect(findGlobalGpio(3, root)).rejects.toMatchObject({
      code: 'PPS_GPIO_BASE_UNKNOWN', message: expect.stringContaining('gpiochip504 "9030000.pl061" base 504'),
    });
  });

  it('no /sys/class/gpio at all (kernel without sysfs GPIO) → PPS_GPIO_BASE_UNKNOWN pointing at the other drivers', async () => {
    await expect(findGlobalGpio(18, join(root, 'absent'))).rejects.toMatchObject({ code: 'PPS_GPIO_BASE_UNKNOWN', message: expect.stringContaining('gpio-cdev') });
  });

  it('a line past the chip is PPS_GPIO_LINE_INVALID; chips without a numeric base are skipped', async () => {
    await sysfsGpio(['gpiochip512', 'pinctrl-bcm2711', 512, 58]);
    await mkdir(join(root, 'gpiochip9'));
    expect((await scanGpioChips(root)).map((c) => c.name)).toEqual(['gpiochip512']);
    await expect(findGlobalGpio(58, root)).rejects.toMatchObject({ code: 'PPS_GPIO_LINE_INVALID' });
  });
});

class FakeGpio implements OnoffGpio {
  callbacks: ((err: Error | null | undefined, value: number) => void)[] = [];
  unexported = false;
  watch(cb: (err: Error | null | undefined, value: number) => void): void {
    this.callbacks.push(cb);
  }
  unwatchAll(): void {
    this.callbacks = [];
  }
  unexport(): void {
    this.unexported = true;
  }
  edge(value: number, err: Error | null = null): void {
    for (const cb of this.callbacks) cb(err, value);
  }
}

describe('PpsOnoffDriver (fake onoff Gpio)', () => {
  it('opens base + BCM line with the chosen edge and stamps each edge with the injected clock in the callback', async () => {
    await sysfsGpio(['gpiochip571', 'pinctrl-rp1', 571, 54]);
    const clock = newClock();
    const r = fakeContext(clock, 'PPS-ONOFF(0)');
    const opened: [number, string][] = [];
    const gpio = new FakeGpio();
    const driver = new PpsOnoffDriver({ line: 18, edge: 'clear', gpioRoot: root, openGpio: async (n, e) => (opened.push([n, e]), gpio) });
    await driver.init(r.ctx);
    expect(opened).toEqual([[589, 'falling']]);
    gpio.edge(0);
    clock.advanceNs(1_000_000_007n);
    gpio.edge(0);
    expect(r.pulses).toEqual([
      { systemTime: { sec: 1_700_000_000, nsec: 500_000_000 }, edge: 'clear' },
      { systemTime: { sec: 1_700_000_001, nsec: 500_000_007 }, edge: 'clear' },
    ]);
    expect(r.logged).toEqual(['starting', 'waiting PPS_NO_SIGNAL', 'running']);
    gpio.edge(1, new Error('EIO'));
    expect(r.counters()).toEqual({ pulses: 2, watchErrors: 1 });
    await driver.close();
    expect(gpio.unexported).toBe(true);
    gpio.edge(1);
    expect(r.pulses).toHaveLength(2);
  });

  it.each([
    ['EACCES', 'PPS_DEVICE_ACCESS'],
    ['EBUSY', 'PPS_GPIO_LINE_BUSY'],
    ['EINVAL', 'PPS_GPIO_LINE_INVALID'],
  ])('onoff throwing %s at export fails init with %s', async (errno, code) => {
    await sysfsGpio(['gpiochip512', 'pinctrl-bcm2711', 512, 58]);
    const r = fakeContext(newClock());
    const driver = new PpsOnoffDriver({ line: 18, gpioRoot: root, openGpio: async () => { throw Object.assign(new Error(errno), { code: errno }); } });
    await expect(driver.init(r.ctx)).rejects.toMatchObject({ code, message: expect.stringContaining('sysfs GPIO 530 (BCM 18)') });
    expect(r.logged).toEqual(['starting', `stopped ${code}`]);
  });

  it('onoff is imported lazily, only when asked (it is installed here: the import resolves to its Gpio class)', async () => {
    // Constructing a real Gpio would export a pin on a machine with sysfs GPIO: tests stop at the import.
    expect(typeof (await importOnoff()).Gpio).toBe('function');
  });
});
