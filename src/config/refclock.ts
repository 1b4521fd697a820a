/**
 * ntpd refclock driver types, as addressed by 127.127.TYPE.UNIT.
 *
 * Gnomon keeps ntpd's numbering so existing `server 127.127.20.0` / `fudge` lines carry over.
 * Only the drivers Gnomon has (or is building: drivers/nmea, drivers/pps, drivers/gpsd, and
 * the local clock) are silent; any other ntpd driver number is accepted with a warning, since
 * the line is valid ntpd but that source will never become reachable here.
 */

export const GNOMON_REFCLOCKS: ReadonlyMap<number, string> = new Map([
  [1, 'LOCAL (undisciplined local clock)'],
  [20, 'NMEA (GPS receiver on a serial port)'],
  [22, 'PPS (ATOM, pulse per second)'],
  [46, 'GPSD_JSON (gpsd client)'],
]);

/** Highest driver type number ntpd has assigned (46 = GPSD_JSON). */
export const NTPD_MAX_REFCLOCK_TYPE = 46;

export type RefclockSupport = 'gnomon' | 'ntpd-only' | 'invalid';

export function refclockSupport(type: number): RefclockSupport {
  if (GNOMON_REFCLOCKS.has(type)) return 'gnomon';
  if (type >= 1 && type <= NTPD_MAX_REFCLOCK_TYPE) return 'ntpd-only';
  return 'invalid';
}

export function describeRefclock(type: number, unit: number): string {
  const name = GNOMON_REFCLOCKS.get(type);
  return `127.127.${type}.${unit}${name ? ` (${name})` : ''}`;
}

/** Driver names after `refclock` (NTPsec's lowercase names, plus Gnomon's two PPS sources). */
export const REFCLOCK_DRIVERS = ['nmea', 'pps', 'gpsd', 'pps-gpio', 'pps-sysfs'] as const;
export type RefclockDriverName = (typeof REFCLOCK_DRIVERS)[number];
