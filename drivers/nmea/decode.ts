/**
 * NMEA 0183 sentences → per-epoch UTC time and fix state (pure).
 *
 * An epoch is the set of sentences a receiver sends for one fix: they share one time of day
 * (hhmmss.sss). At 1 Hz that is one UTC second; at 5 or 10 Hz it is each fix, so the key is the
 * full time of day, fraction included. The epoch ends when a sentence with another time arrives
 * or the shell calls `flush()` (when the line goes quiet after a burst).
 *
 * Time sources: RMC (time + 2-digit-year date), ZDA (time + 4-digit-year date), GGA and GNS
 * (time of day only: used when the date is known from RMC/ZDA in this epoch or carried along a
 * chain of earlier epochs whose time of day never went backwards, so a midnight or a restart
 * waits for the next dated sentence instead of guessing). All talkers (GP GN GL GA GB BD QZ GI ...)
 * are treated alike.
 *
 * Why the time and date fields are parsed here and not by nmea-simple: it combines GGA/GNS time
 * with the *system's* date, drops fractional seconds unless there are exactly two digits, gives
 * 1970 for ZDA without a fix and an Invalid Date for RMC without a date. Gnomon's time must come
 * only from the receiver, in exact integer nanoseconds. nmea-simple is used for what it parses
 * right: RMC status and mode, GGA fix quality, satellites and HDOP, GNS mode, GSA fix mode and
 * satellites, GSV satellites in view.
 */
import { civilDays as calendarDays } from '../../src/ntp/calendar.js';
import { parseNmeaSentence, type GGAPacket, type GNSPacket, type GSAPacket, type GSVPacket, type RMCPacket } from 'nmea-simple';
import type { AntennaStatus, FixMode, FixState } from '../driver.js';
import type { FramedSentence } from './framing.js';
import { BUILD_PIVOT_UNIX_NS, correctWeekRollover } from './rollover.js';

const NS_PER_S = 1_000_000_000n;
const NS_PER_DAY = 86_400n * NS_PER_S;

export interface NmeaEpoch {
  /** The UTC instant the epoch's sentences label, Unix nanoseconds (after week-rollover correction). */
  readonly utcNs: bigint;
  /** Local CLOCK_REALTIME of the first byte of the epoch's first time-bearing sentence, Unix ns. */
  readonly systemTimeNs: bigint;
  readonly fix: FixState;
  /** 1024-week periods added by the rollover correction (0 normally). */
  readonly rolloverPeriods: number;
  /** Sentence types that carried this epoch's time, in arrival order ("RMC", "GGA", ...). */
  readonly timeSources: readonly string[];
}

export interface DecoderOptions {
  /** Dates before this are week-rollover victims (see rollover.ts); Unix ns. Default: the build date. */
  readonly pivotUnixNs?: bigint;
}

/** Counter names are stable: status pages and tests match on them. */
export interface DecodeCounters {
  epochs: number;
  /** Epochs with a time of day but no trustworthy date; not emitted. */
  epochsWithoutDate: number;
  /** Time or date fields present but malformed or out of range. */
  badTimeFields: number;
  /** RMC and ZDA of one epoch named different dates (ZDA wins: it has a 4-digit year). */
  dateConflicts: number;
  /** Sentences for an epoch that was already emitted (arrived after a flush); their time is ignored. */
  lateSentences: number;
  /** Sentences nmea-simple could not parse (status fields only; time is parsed here). */
  parseErrors: number;
  rolloverCorrections: number;
}

interface EpochAccumulator {
  todNs: bigint | null;
  systemTimeNs: bigint;
  dateDays: number | null;
  zdaDays: number | null;
  timeSources: string[];
  rmcValid: boolean | null;
  rmcNoFixMode: boolean;
  ggaQuality: number | null;
  ggaHasAltitude: boolean;
  gnsNoFix: boolean | null;
  gsaMode: FixMode | null;
  gsaUsed: number;
  gsaSeen: boolean;
  satellitesUsed: number | null;
  hdop: number | null;
  /** Satellites in view per talker (+ signal id): GSV repeats the total in each part. */
  visible: Map<string, number>;
}

function newAccumulator(): EpochAccumulator {
  return {
    todNs: null, systemTimeNs: 0n, dateDays: null, zdaDays: null, timeSources: [],
    rmcValid: null, rmcNoFixMode: false, ggaQuality: null, ggaHasAltitude: false, gnsNoFix: null,
    gsaMode: null, gsaUsed: 0, gsaSeen: false, satellitesUsed: null, hdop: null, visible: new Map(),
  };
}

export class NmeaDecoder {
  readonly counters: DecodeCounters = {
    epochs: 0, epochsWithoutDate: 0, badTimeFields: 0, dateConflicts: 0, lateSentences: 0, parseErrors: 0,
    rolloverCorrections: 0,
  };
  private readonly pivotUnixNs: bigint;
  private current = newAccumulator();
  /** The date carried to undated epochs, and the time of day it was last confirmed at. */
  private knownDate: { days: number; todNs: bigint } | null = null;
  private lastClosedTodNs: bigint | null = null;
  private antenna: AntennaStatus | undefined;

  constructor(options: DecoderOptions = {}) {
    this.pivotUnixNs = options.pivotUnixNs ?? BUILD_PIVOT_UNIX_NS;
  }

  /** Feed one checksum-verified sentence; returns the epoch it completed, if any. */
  push(sentence: FramedSentence): NmeaEpoch[] {
    const text = sentence.text;
    const fields = text.slice(1, text.length - 3).split(',');
    const address = fields[0] ?? '';
    if (this.antennaReport(address, fields)) return [];
    if (address.length < 5 || address[0] === 'P') return []; // proprietary (PMTK, PGRM, PUBX...)
    const type = address.slice(address.length - 3);
    if (type !== 'RMC' && type !== 'ZDA' && type !== 'GGA' && type !== 'GNS' && type !== 'GSA' && type !== 'GSV') return [];

    const out: NmeaEpoch[] = [];
    let acc = this.current;
    if (type === 'GSA' || type === 'GSV') {
      // Untimed: belongs to the epoch in progress.
      this.status(acc, type, address, text, fields);
      return out;
    }
    const todNs = parseTimeOfDay(fields[1] ?? '');
    if (todNs === null) {
      if ((fields[1] ?? '') !== '') this.counters.badTimeFields++;
      return out;
    }
    if (acc.todNs !== null && acc.todNs !== todNs) {
      this.close(out);
      acc = this.current;
    }
    if (acc.todNs === null) {
      if (todNs === this.lastClosedTodNs) {
        this.counters.lateSentences++;
        return out;
      }
      acc.todNs = todNs;
      acc.systemTimeNs = sentence.systemTimeNs;
    }
    acc.timeSources.push(type);
    if (type === 'RMC') {
      const days = parseDdMmYy(fields[9] ?? '');
      if (days === null) {
        if ((fields[9] ?? '') !== '') this.counters.badTimeFields++;
      } else {
        acc.dateDays ??= days;
      }
    } else if (type === 'ZDA') {
      const days = civilDays(toInt(fields[4]), toInt(fields[3]), toInt(fields[2]));
      if (days === null) {
        if ((fields[2] ?? '') !== '' || (fields[4] ?? '') !== '') this.counters.badTimeFields++;
      } else {
        acc.zdaDays = days;
      }
    }
    this.status(acc, type, address, text, fields);
    return out;
  }

  /**
   * Close the epoch in progress because the line went quiet. An epoch that has no date yet stays
   * open: a gap inside an epoch (slow line, scheduling) must not lose its RMC or ZDA still to come.
   */
  flush(): NmeaEpoch[] {
    const out: NmeaEpoch[] = [];
    const acc = this.current;
    if (acc.todNs === null) return out;
    const dated = acc.dateDays !== null || acc.zdaDays !== null || (this.knownDate !== null && acc.todNs >= this.knownDate.todNs);
    if (dated) this.close(out);
    return out;
  }

  /** The input ended: close the epoch in progress whatever it holds. */
  end(): NmeaEpoch[] {
    const out: NmeaEpoch[] = [];
    if (this.current.todNs !== null) this.close(out);
    return out;
  }

  private close(out: NmeaEpoch[]): void {
    const acc = this.current;
    this.current = newAccumulator();
    const todNs = acc.todNs!;
    this.lastClosedTodNs = todNs;
    if (acc.zdaDays !== null && acc.dateDays !== null && acc.zdaDays !== acc.dateDays) this.counters.dateConflicts++;
    let days = acc.zdaDays ?? acc.dateDays;
    if (days !== null) {
      this.knownDate = { days, todNs };
    } else if (this.knownDate !== null && todNs >= this.knownDate.todNs) {
      days = this.knownDate.days;
      this.knownDate.todNs = todNs;
    } else {
      this.knownDate = null;
      this.counters.epochsWithoutDate++;
      return;
    }
    const rolled = correctWeekRollover(BigInt(days) * NS_PER_DAY + todNs, this.pivotUnixNs);
    if (rolled.periods > 0) this.counters.rolloverCorrections++;
    this.counters.epochs++;
    out.push({
      utcNs: rolled.unixNs,
      systemTimeNs: acc.systemTimeNs,
      fix: this.antenna === undefined ? fixState(acc) : { ...fixState(acc), antenna: this.antenna },
      rolloverPeriods: rolled.periods,
      timeSources: acc.timeSources,
    });
  }

  /**
   * Antenna supervision, kept until the receiver says otherwise (it reports changes, not every
   * epoch): u-blox `$GPTXT,01,01,01,ANTSTATUS=OK|OPEN|SHORT`, MTK `$PGTOP,11,N` (1 shorted,
   * 2 internal antenna, i.e. the external one is not connected, 3 active antenna in use).
   */
  private antennaReport(address: string, fields: readonly string[]): boolean {
    if (address === 'PGTOP' && fields[1] === '11') {
      const status = ({ '1': 'short', '2': 'open', '3': 'ok' } as const)[fields[2] ?? ''];
      if (status) this.antenna = status;
      return true;
    }
    if (address.endsWith('TXT') && address.length === 5) {
      const m = /ANTSTATUS=(OK|OPEN|SHORT)/.exec(fields[4] ?? '');
      if (m) this.antenna = m[1] === 'OK' ? 'ok' : m[1] === 'OPEN' ? 'open' : 'short';
      return true;
    }
    return false;
  }

  private status(acc: EpochAccumulator, type: string, address: string, text: string, fields: readonly string[]): void {
    if (type === 'ZDA') return;
    let packet;
    try {
      packet = parseNmeaSentence(text);
    } catch {
      this.counters.parseErrors++;
      return;
    }
    switch (packet.sentenceId) {
      case 'RMC': {
        const rmc = packet as RMCPacket;
        acc.rmcValid = rmc.status === 'valid';
        if (NOT_A_FIX_RMC_MODES.has(rmc.faaMode ?? '')) acc.rmcNoFixMode = true;
        break;
      }
      case 'GGA': {
        const gga = packet as GGAPacket;
        acc.ggaQuality = NOT_A_FIX_GGA.has(gga.fixType) ? 0 : 1;
        acc.ggaHasAltitude = Number.isFinite(gga.altitudeMeters) && field(fields, 9) !== '';
        // nmea-simple calls it satellitesInView; in GGA it is the number used in the fix.
        if (Number.isFinite(gga.satellitesInView) && field(fields, 7) !== '') acc.satellitesUsed = gga.satellitesInView;
        if (Number.isFinite(gga.horizontalDilution) && field(fields, 8) !== '') acc.hdop = gga.horizontalDilution;
        break;
      }
      case 'GNS': {
        const gns = packet as GNSPacket;
        acc.gnsNoFix = /^N*$/.test(gns.modeIndicator ?? '');
        acc.ggaHasAltitude ||= field(fields, 9) !== '';
        if (Number.isFinite(gns.satellitesInView) && field(fields, 7) !== '') acc.satellitesUsed ??= gns.satellitesInView;
        if (Number.isFinite(gns.horizontalDilution) && field(fields, 8) !== '') acc.hdop ??= gns.horizontalDilution;
        break;
      }
      case 'GSA': {
        const gsa = packet as GSAPacket;
        const mode: FixMode | null = gsa.fixMode === '3D' ? '3d' : gsa.fixMode === '2D' ? '2d' : gsa.fixMode === 'none' ? 'none' : null;
        // GN receivers send one GSA per constellation; the best mode among them is the fix's.
        if (mode !== null && (acc.gsaMode === null || rank(mode) > rank(acc.gsaMode))) acc.gsaMode = mode;
        acc.gsaUsed += gsa.satellites.length;
        acc.gsaSeen = true;
        if (Number.isFinite(gsa.HDOP) && field(fields, 16) !== '' && acc.hdop === null) acc.hdop = gsa.HDOP;
        break;
      }
      case 'GSV': {
        const gsv = packet as GSVPacket;
        if (!Number.isFinite(gsv.satellitesInView)) break;
        const key = address.slice(0, address.length - 3);
        acc.visible.set(key, Math.max(acc.visible.get(key) ?? 0, gsv.satellitesInView));
        break;
      }
    }
  }
}

function rank(mode: FixMode): number {
  return mode === '3d' ? 3 : mode === '2d' ? 2 : 1;
}

function fixState(acc: EpochAccumulator): FixState {
  let mode: FixMode;
  if (acc.rmcValid === false || acc.rmcNoFixMode) mode = 'none';
  else if (acc.gsaMode !== null) mode = acc.gsaMode;
  else if (acc.ggaQuality !== null) mode = acc.ggaQuality === 0 ? 'none' : acc.ggaHasAltitude ? '3d' : '2d';
  else if (acc.gnsNoFix !== null) mode = acc.gnsNoFix ? 'none' : acc.ggaHasAltitude ? '3d' : '2d';
  else if (acc.rmcValid === true) mode = '2d';
  else mode = 'none'; // ZDA alone says nothing about the fix
  let visible: number | null = null;
  for (const n of acc.visible.values()) visible = (visible ?? 0) + n;
  return {
    mode,
    satellitesUsed: acc.satellitesUsed ?? (acc.gsaSeen ? acc.gsaUsed : null),
    satellitesVisible: visible,
    hdop: acc.hdop,
  };
}

function field(fields: readonly string[], index: number): string {
  return fields[index] ?? '';
}

/**
 * Fixes a time server must not trust: dead reckoning, manual input and simulator mode keep the
 * receiver's clock running on its own, so they count as no fix (RMC mode E/M/S/N, GGA quality 6-8).
 */
const NOT_A_FIX_RMC_MODES = new Set(['N', 'E', 'M', 'S']);
const NOT_A_FIX_GGA = new Set(['none', 'estimated', 'manual', 'simulation']);

/** "hhmmss[.f...]" → nanoseconds since midnight; any number of fraction digits, truncated to ns. */
export function parseTimeOfDay(field: string): bigint | null {
  const m = /^(\d{2})(\d{2})(\d{2})(?:\.(\d*))?$/.exec(field);
  if (m === null) return null;
  const h = Number(m[1]);
  const min = Number(m[2]);
  const s = Number(m[3]);
  if (h > 23 || min > 59 || s > 60) return null; // 60: a leap second
  const fraction = (m[4] ?? '').slice(0, 9).padEnd(9, '0');
  return BigInt((h * 60 + min) * 60 + s) * NS_PER_S + BigInt(fraction);
}

/**
 * "ddmmyy" → days since 1970-01-01. Two-digit years 80-99 are 1980-1999 (GPS began in 1980),
 * 00-79 are 2000-2079; the rollover module moves misdated eras, not this.
 */
export function parseDdMmYy(field: string): number | null {
  const m = /^(\d{2})(\d{2})(\d{2})$/.exec(field);
  if (m === null) return null;
  const yy = Number(m[3]);
  return civilDays(yy >= 80 ? 1900 + yy : 2000 + yy, Number(m[2]), Number(m[1]));
}

function toInt(field: string | undefined): number {
  return field !== undefined && /^\d{1,4}$/.test(field) ? Number(field) : NaN;
}

/**
 * Days since 1970-01-01 of a date a receiver sent, or null. Years outside 1980-2200 are refused:
 * GPS time starts in 1980, and anything later than 2200 is a garbled field, not a date.
 */
export function civilDays(year: number, month: number, day: number): number | null {
  if (year < 1980 || year > 2200) return null;
  return calendarDays(year, month, day);
}
