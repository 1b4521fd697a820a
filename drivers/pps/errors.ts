/**
 * Coded errors and the shared option types of the three PPS sources (ARCHITECTURE.md principle 8).
 * Codes are stable: status pages and the docs name them.
 */

import { DriverError } from '../driver.js';
export const PpsErrorCode = {
  /** /sys/class/pps/ppsN is absent: overlay not loaded or wrong name. */
  DeviceMissing: 'PPS_DEVICE_MISSING',
  /** The file or device exists but the daemon user may not read it. */
  DeviceAccess: 'PPS_DEVICE_ACCESS',
  /** The kernel PPS device does not capture the configured edge (its file is empty). */
  EdgeNotCaptured: 'PPS_EDGE_NOT_CAPTURED',
  /** The file holds something that is not `SEC.NSEC#SEQ`. */
  BadFormat: 'PPS_BAD_FORMAT',
  /** Running, but no new pulse for a while (antenna, wiring, receiver without fix). */
  NoSignal: 'PPS_NO_SIGNAL',
  /** /dev/gpiochipN is absent. */
  ChipMissing: 'PPS_GPIO_CHIP_MISSING',
  /** The line is requested by someone else (pps-gpio overlay on the same pin, gpiomon, another daemon). */
  LineBusy: 'PPS_GPIO_LINE_BUSY',
  /** The kernel refused the request: line offset out of range, or a kernel older than 5.11 (no realtime event clock). */
  LineInvalid: 'PPS_GPIO_LINE_INVALID',
  /** No sysfs GPIO chip with a Raspberry Pi pinctrl label (onoff driver). */
  GpioBaseUnknown: 'PPS_GPIO_BASE_UNKNOWN',
  /** The optional package onoff (and its native epoll) is not installed or did not build. */
  OnoffMissing: 'PPS_ONOFF_MISSING',
  /** A read or syscall failed in a way not listed above. */
  DeviceError: 'PPS_DEVICE_ERROR',
  /** A device that was working went away; the driver retries with backoff. */
  Disconnected: 'PPS_DISCONNECTED',
} as const;
export type PpsErrorCode = (typeof PpsErrorCode)[keyof typeof PpsErrorCode];

export class PpsDriverError extends DriverError<PpsErrorCode> {}

/** Which edge of the pulse is the on-time one; the receiver's datasheet says (u-blox: rising = assert). */
export type PpsEdge = 'assert' | 'clear';

/** Injected timers (principle 3); each shell defaults to Node's. */
export type { DriverTimers as PpsTimers } from '../reconnect.js';

/** The errno name of a Node or syscall error ('ENOENT', 'EACCES', 'EBUSY', ...), or ''. */
export function errnoName(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : '';
}
