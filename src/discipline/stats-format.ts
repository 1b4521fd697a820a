/**
 * ntpd's statistics lines (`statistics loopstats peerstats clockstats`), byte for byte as NTPsec
 * writes them (ntpd/ntp_util.c record_loop_stats, record_peer_stats, record_clock_stats; the
 * fields are documented in NTPsec's docs/includes/mon-commands.adoc), so ntpd's scripts and
 * NTPsec's ntpviz read Gnomon's files as they read ntpd's:
 *
 *   loopstats   MJD SOD offset freq sys_jitter clk_wander tc
 *               "%s %.9f %.6f %.9f %.6f %d"
 *               50935 75440.031 0.000006019 13.778190 0.000351733 0.013380 6
 *   peerstats   MJD SOD srcadr status offset delay dispersion jitter
 *               "%s %s %x %.9f %.9f %.9f %.9f"
 *               48773 10847.650 SPECTRACOM(4) 9714 -0.001605376 0.000000000 0.001424877 0.000958674
 *   clockstats  MJD SOD srcadr timecode
 *               49213 525.624 SPECTRACOM(1) 93 226 00:08:29.606
 *
 * MJD SOD is NTPsec's timespec_to_MJDtime: "%lu %lu.%03lu", the Modified Julian Day and the
 * seconds past UTC midnight with milliseconds, truncated (not rounded). ntpd Classic writes the
 * same fields (its loopstats frequency with %.3f instead of %.6f); readers split on whitespace.
 *
 * Signs. ntpd's offsets are reference − local (RFC 5905's theta: + = the local clock is BEHIND
 * and must be advanced); Gnomon's offsetNs is local − reference (+ = ahead). So the written
 * offset is −offsetNs, for loopstats and peerstats alike. ntpd's loopstats frequency is its
 * drift_comp, the correction it applies (+ = it speeds the clock up), the same number as the
 * driftfile; Gnomon's freqPpm is + = the clock runs fast, so the written frequency is −freqPpm
 * (see src/discipline/drift.ts). Jitter, wander, delay and dispersion have no sign.
 *
 * Pure: records in, lines out (each with its trailing newline).
 */
import { civilFromDays } from '../ntp/calendar.js';
import { ntpdDriftFromFreqPpm } from './drift.js';

/** MJD of 1970-01-01 (ntpd's MJD_1970). */
export const MJD_1970 = 40_587;
const NS_PER_DAY = 86_400_000_000_000n;
const NS_PER_S = 1_000_000_000n;

/** One loop update (ntpd: each clock update; Gnomon: each discipline update that follows a reference). */
export interface LoopRecord {
  /** UTC instant of the record, Unix ns. */
  readonly utcNs: bigint;
  /** Local − reference, ns (Gnomon sign, + = local ahead); written as ntpd's reference − local, s. */
  readonly offsetNs: number;
  /** The oscillator's frequency, ppm (Gnomon sign, + = runs fast); written with ntpd's sign (−). */
  readonly freqPpm: number;
  /** System jitter (RMS of the offsets about the model), ns; written in s. */
  readonly sysJitterNs: number;
  /** Clock wander (RMS frequency change), ppm. */
  readonly clkWanderPpm: number;
  /** Loop time constant / poll exponent, log2 s (ntpd writes sys_poll here). */
  readonly timeConstant: number;
}

/** One source update. */
export interface PeerRecord {
  readonly utcNs: bigint;
  /** ntpd Classic's refclock pseudo-address ('127.127.22.0') or NTPsec's 'NAME(unit)', or an IP. */
  readonly srcadr: string;
  /** Peer status word (peerStatusWord), written in hex. */
  readonly status: number;
  /** Local − reference, ns (Gnomon sign); written as ntpd's reference − local, s. */
  readonly offsetNs: number;
  /** Round-trip delay, ns (0 for a refclock). */
  readonly delayNs: number;
  readonly dispersionNs: number;
  readonly jitterNs: number;
}

/** One refclock timecode (ntpd: the driver's last timecode, e.g. the NMEA sentence). */
export interface ClockRecord {
  readonly utcNs: bigint;
  readonly srcadr: string;
  /** Free text; line breaks become spaces so one record stays one line. */
  readonly timecode: string;
}

/** Modified Julian Day and whole seconds/milliseconds past UTC midnight for a Unix ns instant. */
export function mjdTime(utcNs: bigint): { mjd: number; sod: number; ms: number } {
  let days = utcNs / NS_PER_DAY;
  let inDay = utcNs % NS_PER_DAY;
  if (inDay < 0n) {
    inDay += NS_PER_DAY;
    days -= 1n;
  }
  return { mjd: Number(days) + MJD_1970, sod: Number(inDay / NS_PER_S), ms: Number((inDay % NS_PER_S) / 1_000_000n) };
}

/** "MJD SOD.mmm", NTPsec's timespec_to_MJDtime. */
export function formatMjdTime(utcNs: bigint): string {
  const { mjd, sod, ms } = mjdTime(utcNs);
  return `${mjd} ${sod}.${String(ms).padStart(3, '0')}`;
}

/** The UTC date as YYYYMMDD: ntpd's `type day` file suffix. */
export function utcDayStamp(utcNs: bigint): string {
  const { mjd } = mjdTime(utcNs);
  const { year, month, day } = civilFromDays(mjd - MJD_1970);
  return `${String(year).padStart(4, '0')}${String(month).padStart(2, '0')}${String(day).padStart(2, '0')}`;
}

/** The Unix day number (days since 1970-01-01 UTC) of an instant: what a `type day` file is keyed on. */
export function utcDayNumber(utcNs: bigint): number {
  return mjdTime(utcNs).mjd - MJD_1970;
}

/** C's printf("%.Nf"): toFixed, with printf's spellings of the non-finite values. */
function fixed(value: number, digits: number): string {
  if (Number.isNaN(value)) return 'nan';
  if (!Number.isFinite(value)) return value > 0 ? 'inf' : '-inf';
  return value.toFixed(digits);
}

/** Gnomon offset (local − reference, ns) → ntpd offset (reference − local, s). */
function ntpdOffsetS(offsetNs: number): number {
  return offsetNs === 0 ? 0 : -offsetNs / 1e9;
}

/** A field that must stay one whitespace-free token. */
function token(text: string): string {
  const t = text.replace(/\s+/g, '_');
  return t === '' ? '-' : t;
}

export function formatLoopstats(r: LoopRecord): string {
  const tc = Number.isFinite(r.timeConstant) ? Math.trunc(r.timeConstant) : 0;
  return `${formatMjdTime(r.utcNs)} ${fixed(ntpdOffsetS(r.offsetNs), 9)} ${fixed(ntpdDriftFromFreqPpm(r.freqPpm), 6)} `
    + `${fixed(r.sysJitterNs / 1e9, 9)} ${fixed(r.clkWanderPpm, 6)} ${tc}\n`;
}

export function formatPeerstats(r: PeerRecord): string {
  const status = (r.status >>> 0) & 0xffff;
  return `${formatMjdTime(r.utcNs)} ${token(r.srcadr)} ${status.toString(16)} ${fixed(ntpdOffsetS(r.offsetNs), 9)} `
    + `${fixed(r.delayNs / 1e9, 9)} ${fixed(r.dispersionNs / 1e9, 9)} ${fixed(r.jitterNs / 1e9, 9)}\n`;
}

export function formatClockstats(r: ClockRecord): string {
  return `${formatMjdTime(r.utcNs)} ${token(r.srcadr)} ${r.timecode.replace(/[\r\n]+/g, ' ')}\n`;
}

/**
 * ntpd's peer status word (NTPsec ntp_control.c ctlpeerstatus, include/ntp_control.h):
 * bits 15-8 the peer status byte, 7-4 the event count, 3-0 the last event code.
 * Status byte: 0x80 configured (CTL_PST_CONFIG), 0x40 auth enabled, 0x20 authentic,
 * 0x10 reachable (CTL_PST_REACH), low 3 bits the selection code: 0 reject, 1 falsetick,
 * 2 excess, 3 outlier, 4 candidate, 5 backup, 6 sys.peer, 7 pps.peer.
 */
export const PeerSelection = {
  Reject: 0, Falsetick: 1, Excess: 2, Outlier: 3, Candidate: 4, Backup: 5, SysPeer: 6, PpsPeer: 7,
} as const;
export const PEER_STATUS_CONFIG = 0x80;
export const PEER_STATUS_REACH = 0x10;
/** The association uses a key / its last packet authenticated (ntpd's CTL_PST_AUTHENABLE, CTL_PST_AUTHENTIC). */
export const PEER_STATUS_AUTHENABLE = 0x40;
export const PEER_STATUS_AUTHENTIC = 0x20;

export interface PeerStatusInput {
  /** The discipline follows this source: sys.peer (6). */
  readonly selected: boolean;
  /** Fit to be selected (fresh, within limits) but not followed: candidate (4). Otherwise reject (0). */
  readonly usable: boolean;
  /** Any sample in the last eight polls (reach register non-zero). */
  readonly reachable: boolean;
  /** Configured in ntp.conf (every refclock is); default true. */
  readonly configured?: boolean;
  /** Rejected by the intersection (ntpq's 'x', 1); wins over usable. Default false. */
  readonly falseticker?: boolean;
  /** ntpd marks the PPS peer that disciplines the clock 'o' (7) instead of '*'. Default false. */
  readonly ppsPeer?: boolean;
  /** Event counter (0-15) and last event code (0-15), as ntpq shows them; default 0. */
  readonly events?: number;
  readonly lastEvent?: number;
}

export function peerStatusWord(s: PeerStatusInput): number {
  const selection = s.selected ? (s.ppsPeer ? PeerSelection.PpsPeer : PeerSelection.SysPeer)
    : s.falseticker ? PeerSelection.Falsetick : s.usable ? PeerSelection.Candidate : PeerSelection.Reject;
  const byte = ((s.configured ?? true) ? PEER_STATUS_CONFIG : 0) | (s.reachable ? PEER_STATUS_REACH : 0) | selection;
  return ((byte << 8) & 0xff00) | (((s.events ?? 0) << 4) & 0xf0) | ((s.lastEvent ?? 0) & 0xf);
}
