/**
 * What the mode 6 responder may read about the running server: plain values, in the units ntpd's
 * variables use, so the responder only formats. The daemon builds this from the discipline, the
 * refclock sources and the server's counters (src/daemon/control-view.ts); tests build it by hand.
 *
 * Units follow ntpq's variables (ntp_control.c): milliseconds for offsets, delays, jitters and
 * dispersions, ppm for frequencies, log2 seconds for polls and precision. Signs as ntpd prints
 * them: `offset` = reference − local (the opposite of Gnomon's offsetNs), so ntpq shows the same
 * number an ntpd box would.
 */
import type { NtpTimestamp } from '../../ntp/timestamp.js';

export interface SystemVariables {
  readonly leap: number;
  readonly stratum: number;
  readonly precisionLog2S: number;
  readonly rootDelayMs: number;
  readonly rootDispersionMs: number;
  /** As ntpq shows it at this stratum: "PPS", "GPS", "LOCL", "INIT" or a dotted quad. */
  readonly refid: string;
  readonly reftime: NtpTimestamp;
  /** Served time now. */
  readonly clock: NtpTimestamp;
  /** Association id of the system peer; 0 when none. */
  readonly peer: number;
  /** log2 of the update interval, s (`tc`, `mintc`). */
  readonly tc: number;
  readonly mintc: number;
  /** Reference − local, ms (ntpd's sign). */
  readonly offsetMs: number;
  /** The clock's frequency correction, ppm (ntpd's sign: what is applied; + = made to run faster). */
  readonly frequencyPpm: number;
  readonly sysJitterMs: number;
  readonly clkJitterMs: number;
  readonly clkWanderPpm: number;
  /** e.g. "x86_64", "aarch64" (os.machine()). */
  readonly processor: string;
  /** e.g. "Linux/6.12.0" (os.type()/os.release()). */
  readonly system: string;
  /** e.g. "gnomon 0.1.0". */
  readonly version: string;
  /** ntpd's system status word (leap, clock source, event count, last event), as READSTAT/READVAR put in the header. */
  readonly statusWord: number;
  /** TAI − UTC, s (`tai`); omitted or 0 while unknown, as ntpd does. */
  readonly taiOffsetS?: number;
  /** Leap smear window, s, and the smear applied now, ms (`leapsmearinterval`, `leapsmearoffset`); sent only when the interval is > 0. */
  readonly leapSmearIntervalS?: number;
  readonly leapSmearOffsetMs?: number;
  /** Root distance, ms (`rootdist`, ntpq sysinfo); default rootdelay/2 + rootdisp. */
  readonly rootDistanceMs?: number;
  /**
   * Where the server's receive timestamps come from: "kernel (SIOCGSTAMPNS)" or "user space"
   * (`rxtimestamps`, Gnomon's own variable: ntpq -c rv prints it like any other).
   */
  readonly rxTimestamps?: string;
  /** The server path, "fast" or "dgram" (`serverpath`, Gnomon's own variable; docs/server.md). */
  readonly serverPath?: string;
}

export interface ClockVariables {
  /** Driver name as ntpd shows it: "NMEA", "PPS", "GPSD_JSON". */
  readonly name: string;
  /** The last timecode (NMEA sentence) as received; "" for none. */
  readonly timecode: string;
  readonly poll: number;
  readonly noreply: number;
  readonly badformat: number;
  readonly baddata: number;
  readonly stratum: number;
  readonly refid: string;
  readonly flags: number;
  readonly device: string;
  /** Configured fudge time1/time2, ms (printed only when set, as ntpd's haveflags). */
  readonly fudgetime1Ms?: number;
  readonly fudgetime2Ms?: number;
  /** Clock status word for the header (ntpd: clock status and event count). */
  readonly statusWord: number;
}

export interface Association {
  readonly associd: number;
  /** ntpd's peer status word (conf, reach, selection, event count, last event). */
  readonly statusWord: number;
  /** "127.127.22.0" for refclocks. */
  readonly srcadr: string;
  readonly srcport: number;
  readonly dstadr: string;
  readonly dstport: number;
  readonly leap: number;
  /** 3 = client (what ntpd shows for refclocks). */
  readonly hmode: number;
  readonly stratum: number;
  readonly ppoll: number;
  readonly hpoll: number;
  readonly precisionLog2S: number;
  readonly rootDelayMs: number;
  readonly rootDispersionMs: number;
  /** "PPS", "GPS", ... */
  readonly refid: string;
  readonly reftime: NtpTimestamp;
  readonly rec: NtpTimestamp;
  readonly xmt: NtpTimestamp;
  /** The 8-bit reach register. */
  readonly reach: number;
  readonly unreach: number;
  readonly delayMs: number;
  /** Reference − local, ms (ntpd's sign). */
  readonly offsetMs: number;
  readonly jitterMs: number;
  readonly dispersionMs: number;
  readonly keyid: number;
  /** The clock filter's last eight samples (newest first), ms; ntpd's filtdelay/filtoffset/filtdisp. */
  readonly filtdelayMs: readonly number[];
  readonly filtoffsetMs: readonly number[];
  readonly filtdispMs: readonly number[];
  /** "NMEA(0)", "PPS(0)" for refclocks: what ntpq -p prints in the remote column. */
  readonly srchost?: string;
  /** Seconds since the last update (ntpq's "when"). */
  readonly whenS?: number;
  /** Refclocks only: what READCLOCK (ntpq cv) shows. Its presence marks the association as a refclock. */
  readonly clock?: ClockVariables;
  /** Mode of the last packet from the source (`pmode`); default 4 (server), what ntpd shows for refclocks too. */
  readonly pmode?: number;
  /** ntpd's flash bits of the last sample (`flash`, 0 = ok); default 0. */
  readonly flash?: number;
  /** ntpd's `headway` (throttle); default 0. */
  readonly headway?: number;
  /** Refclock driver mode (`mode`, printed for refclocks only); default 0. */
  readonly refclockMode?: number;
  /** Packets received from / sent to the source (`received`, `sent`); default 0. */
  readonly received?: number;
  readonly sent?: number;
}

/** ntpd's sysstats counters (ntpq -c sysstats). */
export interface SystemStatistics {
  readonly uptimeS: number;
  readonly sinceResetS: number;
  readonly received: number;
  readonly currentVersion: number;
  readonly olderVersion: number;
  readonly badFormat: number;
  readonly authFailed: number;
  readonly declined: number;
  readonly restricted: number;
  readonly rateLimited: number;
  readonly kodSent: number;
  readonly processed: number;
  readonly controlRequests: number;
}

/** One client in the rate-limit table (ntpq -c mrulist). */
export interface MruEntry {
  readonly address: string;
  readonly port: number;
  /** First and last packet, served time. */
  readonly first: NtpTimestamp;
  readonly last: NtpTimestamp;
  readonly count: number;
  /** Restrict flags of the matching rule, as ntpd's restrict bits. */
  readonly restrictBits: number;
  /** Mode and version of the last packet. */
  readonly mode: number;
  readonly version: number;
  readonly score: number;
  readonly drop: number;
}

export interface ControlView {
  system(): SystemVariables;
  associations(): readonly Association[];
  sysstats(): SystemStatistics;
  /** The rate-limit table's clients, most recent first; empty if none are kept. */
  mru(): readonly MruEntry[];
}
