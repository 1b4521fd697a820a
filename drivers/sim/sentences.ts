/**
 * The NMEA a simulated receiver prints for one second (pure: values in, sentence text out).
 *
 * Two styles, modelled on what the receivers Gnomon meets on a Pi actually send:
 *
 * - `ublox` (u-blox M8 in its default NMEA 4.0 mode, multi-GNSS): GN talker for the combined
 *   solution, one GSA per constellation, GSV per constellation (GP, GL), ZDA enabled (timing
 *   setups turn it on; VTG and GLL off), time as `hhmmss.00`. u-blox starts its burst about
 *   100 ms after the PPS edge.
 * - `mtk` (MediaTek MT3339, e.g. Adafruit Ultimate GPS / PA6H, default PMTK314 output): GP talker,
 *   the order GGA, GSA, GSV (every 5th second), RMC, VTG, no ZDA, time as `hhmmss.000`. The first
 *   sentence carries no date: the decoder takes it from RMC later in the same burst.
 *
 * Without a fix both keep printing the time and date from their RTC (what the receivers do once they
 * have had time; a cold receiver prints empty fields, which this does not simulate).
 */
import { civilFromDays } from '../../src/ntp/calendar.js';

/** Re-exported for the simulator's users (one implementation, in src/ntp/calendar.ts). */
export { civilFromDays };
/** Which receiver's habits to copy. */
export type ReceiverStyle = 'ublox' | 'mtk';
export const RECEIVER_STYLES: readonly ReceiverStyle[] = ['ublox', 'mtk'];

/**
 * What an epoch's sentences label: a UTC day (days since 1970-01-01) and a second of that day,
 * where 86400 is the inserted leap second 23:59:60.
 */
export interface EpochLabel {
  readonly days: number;
  readonly secondOfDay: number;
}

export interface EpochContent {
  readonly label: EpochLabel;
  readonly fix: boolean;
  /** Simulated second number (0 = first), for sentences not sent every second (MTK's GSV). */
  readonly index: number;
}

export function nmeaChecksum(body: string): string {
  let sum = 0;
  for (let i = 0; i < body.length; i++) sum ^= body.charCodeAt(i);
  return sum.toString(16).toUpperCase().padStart(2, '0');
}

/** `GPRMC,...` → `$GPRMC,...*hh` (no CR LF). */
export function nmeaSentence(body: string): string {
  return `$${body}*${nmeaChecksum(body)}`;
}

const pad2 = (n: number): string => String(n).padStart(2, '0');

/** `hhmmss.00` (u-blox) or `hhmmss.000` (MTK); second 86400 of a day is printed 23:59:60. */
export function timeField(style: ReceiverStyle, secondOfDay: number): string {
  const leap = secondOfDay === 86_400;
  const s = leap ? 86_399 : secondOfDay;
  const hhmmss = `${pad2(Math.floor(s / 3600))}${pad2(Math.floor(s / 60) % 60)}${leap ? '60' : pad2(s % 60)}`;
  return style === 'ublox' ? `${hhmmss}.00` : `${hhmmss}.000`;
}

/** A fixed antenna position (u-blox's manual example, Thalwil), printed to each receiver's precision. */
const POSITION = {
  ublox: '4717.11437,N,00833.91522,E',
  mtk: '4717.1144,N,00833.9152,E',
};

/** Satellites (NMEA IDs) used in the fix and the others in view, per constellation. */
const GPS_USED = [2, 5, 12, 15, 18, 21, 24, 25, 29];
const GPS_OTHERS = [10, 20, 31];
const GLONASS_USED = [65, 66, 72, 73, 80];
const GLONASS_OTHERS = [81, 87];

/** GSV parts of 4 satellites each; elevation, azimuth and SNR derived from the ID so they stay put. */
function gsv(talker: string, ids: readonly number[]): string[] {
  if (ids.length === 0) return [`${talker}GSV,1,1,00`];
  const parts = Math.ceil(ids.length / 4);
  const out: string[] = [];
  for (let p = 0; p < parts; p++) {
    const sats = ids.slice(p * 4, p * 4 + 4).map((id) =>
      `${pad2(id)},${pad2(10 + ((id * 37) % 75))},${String((id * 53) % 360).padStart(3, '0')},${pad2(20 + ((id * 11) % 30))}`);
    out.push(`${talker}GSV,${parts},${p + 1},${pad2(ids.length)},${sats.join(',')}`);
  }
  return out;
}

/** A GSA's 12 satellite slots. */
function slots(ids: readonly number[]): string {
  return Array.from({ length: 12 }, (_, i) => (ids[i] === undefined ? '' : pad2(ids[i]!))).join(',');
}

function ddmmyy(label: EpochLabel): string {
  const d = civilFromDays(label.days);
  return `${pad2(d.day)}${pad2(d.month)}${pad2(d.year % 100)}`;
}

/** The sentence bodies (no `$`, no checksum) a receiver of `style` prints for one epoch, in its order. */
export function epochBodies(style: ReceiverStyle, epoch: EpochContent): string[] {
  return style === 'ublox' ? ubloxBodies(epoch) : mtkBodies(epoch);
}

function ubloxBodies({ label, fix }: EpochContent): string[] {
  const t = timeField('ublox', label.secondOfDay);
  const date = ddmmyy(label);
  const d = civilFromDays(label.days);
  const zda = `GNZDA,${t},${pad2(d.day)},${pad2(d.month)},${d.year},00,00`;
  if (!fix) {
    return [
      `GNRMC,${t},V,,,,,,,${date},,,N`,
      `GNGGA,${t},,,,,0,00,99.99,,,,,,`,
      'GNGSA,A,1,,,,,,,,,,,,,99.99,99.99,99.99',
      ...gsv('GP', []),
      ...gsv('GL', []),
      zda,
    ];
  }
  const used = GPS_USED.length + GLONASS_USED.length;
  return [
    `GNRMC,${t},A,${POSITION.ublox},0.004,,${date},,,A`,
    `GNGGA,${t},${POSITION.ublox},1,${pad2(used)},0.80,499.6,M,48.0,M,,`,
    `GNGSA,A,3,${slots(GPS_USED)},1.45,0.80,1.21`,
    `GNGSA,A,3,${slots(GLONASS_USED)},1.45,0.80,1.21`,
    ...gsv('GP', [...GPS_USED, ...GPS_OTHERS]),
    ...gsv('GL', [...GLONASS_USED, ...GLONASS_OTHERS]),
    zda,
  ];
}

function mtkBodies({ label, fix, index }: EpochContent): string[] {
  const t = timeField('mtk', label.secondOfDay);
  const date = ddmmyy(label);
  // PMTK314's default sends GSV on every 5th fix only.
  const withGsv = index % 5 === 0;
  if (!fix) {
    return [
      `GPGGA,${t},,,,,0,0,,,M,,M,,`,
      'GPGSA,A,1,,,,,,,,,,,,,,,',
      ...(withGsv ? gsv('GP', []) : []),
      `GPRMC,${t},V,,,,,0.00,0.00,${date},,,N`,
      'GPVTG,0.00,T,,M,0.00,N,0.00,K,N',
    ];
  }
  return [
    `GPGGA,${t},${POSITION.mtk},1,${pad2(GPS_USED.length)},0.92,499.6,M,48.0,M,,`,
    `GPGSA,A,3,${slots(GPS_USED)},1.60,0.92,1.31`,
    ...(withGsv ? gsv('GP', [...GPS_USED, ...GPS_OTHERS]) : []),
    `GPRMC,${t},A,${POSITION.mtk},0.02,31.66,${date},,,A`,
    'GPVTG,31.66,T,,M,0.02,N,0.04,K,A',
  ];
}

/**
 * The antenna status sentence: u-blox prints `$GPTXT,01,01,01,ANTSTATUS=OPEN` (message type 01,
 * warning) when the active antenna goes open circuit and `ANTSTATUS=OK` (type 02, notice) when
 * it is back; an MT3339 with `$PGCMD,33,1` prints `$PGTOP,11,2` (internal patch antenna in use) once a second.
 */
export function antennaBody(style: ReceiverStyle, open: boolean): string {
  if (style === 'mtk') return open ? 'PGTOP,11,2' : 'PGTOP,11,3';
  return open ? 'GPTXT,01,01,01,ANTSTATUS=OPEN' : 'GPTXT,01,01,02,ANTSTATUS=OK';
}

/** A UBX frame (sync B5 62, class, id, little-endian length, payload, 8-bit Fletcher checksum). */
export function ubxFrame(msgClass: number, msgId: number, payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(payload.length + 8);
  out[0] = 0xb5;
  out[1] = 0x62;
  out[2] = msgClass;
  out[3] = msgId;
  out[4] = payload.length & 0xff;
  out[5] = payload.length >> 8;
  out.set(payload, 6);
  let a = 0;
  let b = 0;
  for (let i = 2; i < 6 + payload.length; i++) {
    a = (a + out[i]!) & 0xff;
    b = (b + a) & 0xff;
  }
  out[6 + payload.length] = a;
  out[7 + payload.length] = b;
  return out;
}
