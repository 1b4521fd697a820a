/**
 * Finding the global sysfs GPIO number of a BCM line, for the onoff driver.
 *
 * sysfs GPIO numbers are global: chip base + line offset. Old Pi kernels put the header chip at
 * base 0, so the BCM number worked as is; since 6.6 bases are allocated dynamically from 512 down
 * (512 on many Pis, 571 on a Pi 5, 504 seen on Debian's 6.1 in QEMU) and the plain BCM number gives
 * EINVAL. So the base is read from the chip whose label is a Raspberry Pi pin controller, never assumed.
 */
import { readFile, readdir } from 'node:fs/promises';
import { PpsDriverError, PpsErrorCode, errnoName } from './errors.js';

export const DEFAULT_GPIO_SYSFS_ROOT = '/sys/class/gpio';

/** Labels of the chips that drive the 40-pin header: Pi 4, Pi 0-3, Pi 5. */
export const PI_PINCTRL_LABELS = ['pinctrl-bcm2711', 'pinctrl-bcm2835', 'pinctrl-rp1'] as const;

export interface SysfsGpioChip {
  /** Directory name, e.g. "gpiochip512". */
  readonly name: string;
  readonly label: string;
  readonly base: number;
  readonly ngpio: number;
}

/** Every `gpiochipN` under `root` with its label, base and line count. */
export async function scanGpioChips(root = DEFAULT_GPIO_SYSFS_ROOT): Promise<SysfsGpioChip[]> {
  let names: string[];
  try {
    names = (await readdir(root)).filter((n) => /^gpiochip\d+$/.test(n));
  } catch (err) {
    const code = errnoName(err);
    if (code === 'ENOENT') {
      throw new PpsDriverError(PpsErrorCode.GpioBaseUnknown, `${root}: no sysfs GPIO on this kernel`,
        'kernels without CONFIG_GPIO_SYSFS (current Raspberry Pi OS, Pi 5) cannot use onoff: use the gpio-cdev or kernel PPS driver');
    }
    throw new PpsDriverError(code === 'EACCES' ? PpsErrorCode.DeviceAccess : PpsErrorCode.DeviceError, `${root}: ${(err as Error).message}`);
  }
  const chips: SysfsGpioChip[] = [];
  for (const name of names.sort()) {
    const attr = (file: string) => readFile(`${root}/${name}/${file}`, 'utf8').then((t) => t.trim(), () => '');
    const [label, base, ngpio] = await Promise.all([attr('label'), attr('base'), attr('ngpio')]);
    if (!/^\d+$/.test(base)) continue;
    chips.push({ name, label, base: Number(base), ngpio: /^\d+$/.test(ngpio) ? Number(ngpio) : 0 });
  }
  return chips;
}

/** The global GPIO number of BCM line `line`, from the scanned chips. Throws a coded error naming what was found. */
export function globalGpioNumber(chips: readonly SysfsGpioChip[], line: number, root = DEFAULT_GPIO_SYSFS_ROOT): { gpio: number; chip: SysfsGpioChip } {
  const pinctrl = chips
    .filter((c) => (PI_PINCTRL_LABELS as readonly string[]).includes(c.label))
    .sort((a, b) => a.base - b.base);
  const chip = pinctrl[0];
  if (chip === undefined) {
    const found = chips.map((c) => `${c.name} "${c.label}" base ${c.base}`).join(', ') || 'none';
    throw new PpsDriverError(PpsErrorCode.GpioBaseUnknown, `no Raspberry Pi pin controller among the GPIO chips in ${root} (found: ${found})`,
      `expected a label ${PI_PINCTRL_LABELS.join(' / ')}; on other boards use the gpio-cdev driver with the chip and line offset`);
  }
  if (!Number.isInteger(line) || line < 0 || (chip.ngpio > 0 && line >= chip.ngpio)) {
    throw new PpsDriverError(PpsErrorCode.LineInvalid, `BCM line ${line} is outside ${chip.name} (${chip.label}, ${chip.ngpio} lines)`);
  }
  return { gpio: chip.base + line, chip };
}

/** Scan and resolve in one step. */
export async function findGlobalGpio(line: number, root = DEFAULT_GPIO_SYSFS_ROOT): Promise<{ gpio: number; chip: SysfsGpioChip }> {
  return globalGpioNumber(await scanGpioChips(root), line, root);
}
