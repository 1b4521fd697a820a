/**
 * Civil (proleptic Gregorian) dates to day counts: the one place calendar arithmetic lives, next
 * to the era logic in timestamp.ts. Receivers (NMEA, gpsd) label time with dates; this turns them
 * into Unix days without Date, which the pure core may not use and which keeps only milliseconds.
 */

export function isLeapYear(year: number): boolean {
  return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
}

export function daysInMonth(year: number, month: number): number {
  if (month === 2) return isLeapYear(year) ? 29 : 28;
  return month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31;
}

/**
 * Days since 1970-01-01 for a date (Howard Hinnant's days_from_civil), or null when the date does
 * not exist (month 13, 31 April, 29 February of a common year, non-integers).
 */
export function civilDays(year: number, month: number, day: number): number | null {
  if (!Number.isInteger(year) || !Number.isInteger(month) || !Number.isInteger(day)) return null;
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) return null;
  const y = month <= 2 ? year - 1 : year;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const doy = Math.floor((153 * (month + (month > 2 ? -3 : 9)) + 2) / 5) + day - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146_097 + doe - 719_468;
}

/** The inverse of civilDays: days since 1970-01-01 → proleptic Gregorian date (Hinnant's civil_from_days). */
export function civilFromDays(days: number): { year: number; month: number; day: number } {
  const z = days + 719_468;
  const era = Math.floor(z / 146_097);
  const doe = z - era * 146_097;
  const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36_524) - Math.floor(doe / 146_096)) / 365);
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const day = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const month = mp < 10 ? mp + 3 : mp - 9;
  return { year: yoe + era * 400 + (month <= 2 ? 1 : 0), month, day };
}

const MS_PER_DAY = 86_400_000;
const pad2 = (n: number): string => (n < 10 ? '0' : '') + String(n);

/** UTC time of day of a Unix instant in ms: day number and ms into that day. */
function splitDay(unixMs: number): { days: number; msOfDay: number } {
  const days = Math.floor(unixMs / MS_PER_DAY);
  return { days, msOfDay: unixMs - days * MS_PER_DAY };
}

function clockText(msOfDay: number): string {
  const s = Math.floor(msOfDay / 1000);
  return `${pad2(Math.floor(s / 3600))}:${pad2(Math.floor(s / 60) % 60)}:${pad2(s % 60)}`;
}

/**
 * A Unix instant in whole ms (years 0-9999) → "2026-11-22T18:20:01.123Z", as
 * Date.prototype.toISOString writes it. Without Date on purpose: V8 11's toISOString (and
 * toUTCString) look up the local time zone through ICU first, which maps ~1 MiB of ICU code and
 * data into a daemon that only ever prints UTC (docs/server.md, memory).
 */
export function isoUtcFromUnixMs(unixMs: number): string {
  const { days, msOfDay } = splitDay(unixMs);
  const { year, month, day } = civilFromDays(days);
  const ms = msOfDay % 1000;
  return `${String(year).padStart(4, '0')}-${pad2(month)}-${pad2(day)}T${clockText(msOfDay)}.${ms < 100 ? (ms < 10 ? '00' : '0') : ''}${ms}Z`;
}

const WEEKDAYS = ['Thu', 'Fri', 'Sat', 'Sun', 'Mon', 'Tue', 'Wed'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** A Unix instant in ms (years 1970-9999) → HTTP's IMF-fixdate "Sun, 22 Nov 2026 18:20:01 GMT" (RFC 9110 5.6.7), as Date.prototype.toUTCString writes it; without Date, as isoUtcFromUnixMs. */
export function imfFixdateFromUnixMs(unixMs: number): string {
  const { days, msOfDay } = splitDay(unixMs);
  const { year, month, day } = civilFromDays(days);
  return `${WEEKDAYS[((days % 7) + 7) % 7]!}, ${pad2(day)} ${MONTHS[month - 1]!} ${String(year).padStart(4, '0')} ${clockText(msOfDay)} GMT`;
}
