/**
 * PPS through the npm package onoff (sysfs GPIO, epoll): the LAST RESORT of the three sources.
 *
 * Why last: onoff's edge callback carries no timestamp, so the edge is stamped here, in
 * JavaScript, when the callback runs: interrupt → epoll → libuv → callback adds tens of µs on an
 * idle Pi and milliseconds under load or GC, against a few µs of interrupt latency for kernel PPS and GPIO cdev. And sysfs
 * GPIO is gone from current Raspberry Pi OS kernels and the Pi 5. onoff (last commit 2021) is an
 * optional dependency: its native `epoll` compiles at install (`allowScripts` in package.json) and
 * cannot be cross-installed, so it is imported only when this driver is configured.
 * onoff hard-codes /sys/class/gpio; the injectable root serves the chip-base discovery only.
 */
import { newTimeSpec } from '../../src/clock/clock.js';
import type { DriverContext, RefclockDriver } from '../driver.js';
import { PpsDriverError, PpsErrorCode, errnoName, type PpsEdge } from './errors.js';
import { DEFAULT_GPIO_SYSFS_ROOT, findGlobalGpio } from './gpio-base.js';

/** The part of onoff's `Gpio` this driver uses. */
export interface OnoffGpio {
  watch(callback: (err: Error | null | undefined, value: number) => void): void;
  unwatchAll(): void;
  unexport(): void;
}

export type OpenOnoffGpio = (gpio: number, edge: 'rising' | 'falling') => Promise<OnoffGpio>;

export interface PpsOnoffOptions {
  /** BCM GPIO number (18 for the usual PPS pin); the chip base is added to it. */
  readonly line: number;
  readonly edge?: PpsEdge;
  readonly gpioRoot?: string;
  /** Default: onoff's Gpio, imported on first use. */
  readonly openGpio?: OpenOnoffGpio;
}

type OnoffModule = { Gpio: new (gpio: number, direction: 'in', edge: string) => OnoffGpio };

/** Import onoff now (first use only); PPS_ONOFF_MISSING if it is not installed or its epoll did not build. */
export async function importOnoff(): Promise<OnoffModule> {
  // A variable specifier: no compile-time dependency on an optional package that may not have built.
  const name = 'onoff';
  try {
    return (await import(name)) as OnoffModule;
  } catch (err) {
    throw new PpsDriverError(PpsErrorCode.OnoffMissing, `the onoff package is not available: ${(err as Error).message}`,
      'install it on the Pi with `npm i onoff` (needs a C++ compiler for epoll), or use the kernel PPS or gpio-cdev driver');
  }
}

const defaultOpenGpio: OpenOnoffGpio = async (gpio, edge) => new (await importOnoff()).Gpio(gpio, 'in', edge);

export function classifyOnoffError(gpio: number, line: number, err: unknown): PpsDriverError {
  if (err instanceof PpsDriverError) return err;
  const code = errnoName(err);
  const what = `sysfs GPIO ${gpio} (BCM ${line})`;
  if (code === 'EACCES' || code === 'EPERM') {
    return new PpsDriverError(PpsErrorCode.DeviceAccess, `${what}: permission denied`, 'add the daemon user to the gpio group');
  }
  if (code === 'EBUSY') {
    return new PpsDriverError(PpsErrorCode.LineBusy, `${what} is in use`, 'a pps-gpio overlay or another program holds the pin; `cat /sys/kernel/debug/gpio` shows who');
  }
  if (code === 'EINVAL') {
    return new PpsDriverError(PpsErrorCode.LineInvalid, `${what}: the kernel refused the number`, 'the chip base may have changed; check /sys/class/gpio/gpiochip*/base');
  }
  return new PpsDriverError(PpsErrorCode.DeviceError, `${what}: ${(err as Error).message}`);
}

export class PpsOnoffDriver implements RefclockDriver {
  private readonly edge: PpsEdge;
  private ctx: DriverContext | null = null;
  private gpio: OnoffGpio | null = null;
  private closed = false;
  private readonly counts = { pulses: 0, watchErrors: 0 };

  constructor(private readonly options: PpsOnoffOptions) {
    this.edge = options.edge ?? 'assert';
  }

  /** Rejects with PPS_GPIO_BASE_UNKNOWN / PPS_ONOFF_MISSING / PPS_DEVICE_ACCESS / PPS_GPIO_LINE_BUSY / PPS_GPIO_LINE_INVALID. */
  async init(ctx: DriverContext): Promise<void> {
    this.ctx = ctx;
    ctx.state('starting');
    let gpioNumber = -1;
    try {
      const { gpio } = await findGlobalGpio(this.options.line, this.options.gpioRoot ?? DEFAULT_GPIO_SYSFS_ROOT);
      gpioNumber = gpio;
      this.gpio = await (this.options.openGpio ?? defaultOpenGpio)(gpio, this.edge === 'assert' ? 'rising' : 'falling');
    } catch (err) {
      const e = classifyOnoffError(gpioNumber, this.options.line, err);
      ctx.state('stopped', e.code, e.message);
      throw e;
    }
    if (this.closed) return this.release();
    this.gpio.watch((err) => this.onEdge(err ?? null));
    ctx.state('waiting', PpsErrorCode.NoSignal, 'waiting for the first edge');
  }

  async close(): Promise<void> {
    this.closed = true;
    this.release();
    this.ctx?.state('stopped');
  }

  private onEdge(err: Error | null): void {
    const ctx = this.ctx;
    if (ctx === null || this.closed) return;
    // A fresh TimeSpec per pulse: the core may keep it. First thing in the callback: every statement before this read adds to the error.
    const systemTime = newTimeSpec();
    ctx.realtime.read(systemTime);
    if (err !== null) {
      this.counts.watchErrors++;
      ctx.state('waiting', PpsErrorCode.DeviceError, err.message);
      ctx.counters(this.counts);
      return;
    }
    this.counts.pulses++;
    ctx.pulse({ systemTime, edge: this.edge });
    ctx.state('running');
    ctx.counters(this.counts);
  }

  private release(): void {
    const gpio = this.gpio;
    this.gpio = null;
    if (gpio === null) return;
    gpio.unwatchAll();
    gpio.unexport();
  }
}
