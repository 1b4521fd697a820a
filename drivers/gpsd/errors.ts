/**
 * Coded errors of the gpsd driver (ARCHITECTURE.md principle 8). Codes are stable: status pages and
 * docs/drivers.md name them.
 */

import { DriverError } from '../driver.js';
export const GPSD_DEFAULT_HOST = '127.0.0.1';
export const GPSD_DEFAULT_PORT = 2947;

export const GpsdErrorCode = {
  /** Empty host or a port outside 1-65535 (constructor). */
  BadAddress: 'GPSD_BAD_ADDRESS',
  /** gpsd refused, could not be reached, or did not accept within the connect timeout. */
  Unreachable: 'GPSD_UNREACHABLE',
  /** A working connection was closed (gpsd restarted or died); the driver retries with backoff. */
  Disconnected: 'GPSD_DISCONNECTED',
  /** gpsd answers but has no device open (or not the configured one). */
  NoDevice: 'GPSD_NO_DEVICE',
} as const;
export type GpsdErrorCode = (typeof GpsdErrorCode)[keyof typeof GpsdErrorCode];

export class GpsdDriverError extends DriverError<GpsdErrorCode> {}

/** The start-up error for a connection that failed, with the fix most likely to help. */
export function unreachable(host: string, port: number, why: string): GpsdDriverError {
  return new GpsdDriverError(GpsdErrorCode.Unreachable, `gpsd at ${host}:${port}: ${why}`,
    port === GPSD_DEFAULT_PORT ? 'is gpsd running (systemctl status gpsd.socket gpsd) and listening there?'
      : `is gpsd running with -S ${port} and listening there?`);
}
