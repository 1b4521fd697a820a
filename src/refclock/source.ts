/**
 * One configured reference clock as the core sees it: what its drivers reported, turned into an
 * offset estimate with a jitter, a reach register and reasons for everything it refused.
 *
 * Two kinds of input, as ntpd's and chrony's refclocks have:
 * - timecode samples (NMEA, gpsd TPV): "at local time t the receiver said UTC was r". On their
 *   own they are coarse (the serial delay and its jitter, milliseconds), calibrated by the
 *   per-receiver delay (`fudge time2` / NTPsec `time2`).
 * - pulses (kernel PPS, GPIO, gpsd PPS): precise but anonymous. A timecode source labels them
 *   (pairing.ts, which learns the phase instead of asking for a calibrated delay); the jitter
 *   filter (filter.ts) then judges each labelled edge.
 * A source may have both (NMEA with `flag1 1` and its ppspath; gpsd) or only pulses, labelled by
 * another source's timecodes (ntpd's `server 127.127.22.0` next to `127.127.20.0`).
 *
 * Pure (ARCHITECTURE.md principle 1): the daemon feeds reports and "now" in. Signs: offsetNs =
 * local clock − reference, + means the local clock is ahead; time1 (`offsetS`) is added to the
 * reference's time as in ntpd, time2 (`delayS`) is the time from the second to the sentence.
 */
import type { FixState, LeapWarning, RefclockPulse, RefclockSample } from '../../drivers/driver.js';
import { timeSpecToUnixNs } from '../clock/clock.js';
import { JitterFilter } from './filter.js';
import { PAIRING_REJECT_REASONS, PpsNmeaPairing, type PairingConfig, type PairingRejectReason, type PhaseStatus } from './pairing.js';
import { Reach } from './reach.js';
import { OffsetRegression, predictOffsetNs, type RegressionModel } from '../discipline/regression.js';
import { correctSample, type ClockChange } from '../discipline/steer.js';
import { BUILD_PIVOT_UNIX_NS } from '../../drivers/nmea/rollover.js';

export interface RefclockSourceConfig {
  /** As ntpq shows it: "GPS_NMEA(0)", "PPS(0)", "GPSD_JSON(0)". */
  readonly name: string;
  /** Configured refid (`fudge refid`, `refclock ... refid`); default: PPS when pulses lead, GPS otherwise. */
  readonly refid?: string;
  /** time1, ns: added to the reference's time (a cable delay, an antenna offset). */
  readonly time1Ns: number;
  /** time2, ns: time from the second to the timecode's first byte (used only for timecode-only estimates). */
  readonly time2Ns: number;
  /** Whether this source's own drivers deliver timecodes and/or pulses. */
  readonly timecodes: boolean;
  readonly pulses: boolean;
  readonly prefer: boolean;
  readonly noselect: boolean;
  /** `fudge stratum`: the stratum this source claims (ntpd refclocks default 0, served as 1). */
  readonly stratum: number;
  readonly pairing?: Partial<PairingConfig>;
}

/**
 * A timecode further than this from the local clock, while the local clock itself is past the
 * build date (so it is not a Pi without RTC booting in 1970), names the wrong GPS week epoch:
 * half the 1024-week rollover period. Trusting it would step served time by about 20 years.
 */
export const WRONG_WEEK_NS = 512n * 7n * 86_400n * 1_000_000_000n;

/** An estimate is stale this long after its latest input (8 polls of a 1 Hz receiver). */
export const ESTIMATE_MAX_AGE_NS = 8_000_000_000n;

/**
 * What an estimate from another NTP server (src/assoc) adds: the path to it and what it says of
 * its own distance from a primary reference, so root delay and dispersion accumulate as RFC 5905
 * section 11.2 has them.
 */
export interface NetworkPath {
  /** The server's stratum (we serve one more). */
  readonly stratum: number;
  /** The server's root delay and dispersion, s. */
  readonly rootDelayS: number;
  readonly rootDispersionS: number;
  /** Round-trip delay to the server (clock filter output), s. */
  readonly delayS: number;
  /** Clock filter dispersion (ε), s. */
  readonly dispersionS: number;
  /** The refid we serve while following it: its IPv4 address, or the first 4 bytes of the MD5 of its IPv6 address (u32). */
  readonly refid: number;
}

export interface SourceEstimate {
  /**
   * What the estimate rests on: labelled pulses (microseconds), timecodes alone (milliseconds), or
   * another NTP server (`network`, with `path`).
   */
  readonly basis: 'pulse' | 'timecode' | 'network';
  /** Set exactly when basis is 'network'. */
  readonly path?: NetworkPath;
  /** Local clock − reference at the `nowNs` asked for, ns (+ = the local clock is ahead): the fit's prediction. */
  readonly offsetNs: number;
  /** RMS of the fit's residuals, ns. */
  readonly jitterNs: number;
  /** The fit itself (offset, frequency, their standard errors): what the discipline follows. */
  readonly model: RegressionModel;
  /** Local time of the input the estimate ends with (edge or sentence arrival), ns since the Unix epoch. */
  readonly atNs: bigint;
  readonly leap: LeapWarning;
  readonly fix: FixState;
  readonly refid: string;
}

/**
 * Whether an estimate may be selected: a receiver needs a fix; a network estimate carries no fix
 * (its `fix` is NO_FIX) and is usable while it exists (the association drops it when stale).
 */
export function estimateUsable(e: SourceEstimate): boolean {
  return e.basis === 'network' || e.fix.mode !== 'none';
}

export type PulseRejectReason = PairingRejectReason | 'jitterOutlier' | 'noLabeller' | 'wrongWeek';

/** Every reason a source refuses a pulse or timecode: stable counter names for status pages. */
export const PULSE_REJECT_REASONS: readonly PulseRejectReason[] = [...PAIRING_REJECT_REASONS, 'jitterOutlier', 'noLabeller', 'wrongWeek'];

/** The fix of an estimate that is not from a receiver (network estimates). */
export const NO_FIX: FixState = { mode: 'none', satellitesUsed: null, satellitesVisible: null, hdop: null };

export class RefclockSource {
  readonly reach = new Reach();
  private pairing: PpsNmeaPairing | null;
  private readonly filter = new JitterFilter();
  /** Fits of the two kinds of measurement (chrony keeps one per source; a source here may have both). */
  private readonly timecodeFit = new OffsetRegression();
  private readonly pulseFit = new OffsetRegression();
  private lastSample: { readonly atNs: bigint; readonly refNs: bigint; readonly leap: LeapWarning; readonly fix: FixState } | null = null;
  private lastPulse: { readonly leap: LeapWarning; readonly fix: FixState } | null = null;
  private lastRejectReason: PulseRejectReason | null = null;
  private readonly rejects: Partial<Record<PulseRejectReason, number>> = {};
  private readonly count = { timecodes: 0, pulses: 0, pulsesAccepted: 0 };
  /** Set when another source's timecodes label this source's pulses. */
  labeller: RefclockSource | null = null;

  constructor(readonly config: RefclockSourceConfig) {
    this.pairing = config.pulses ? new PpsNmeaPairing(config.pairing) : null;
  }

  /** A timecode from this source's own driver; also labels its pulses and those of sources it labels. */
  addSample(sample: RefclockSample, dependants: readonly RefclockSource[] = []): void {
    this.count.timecodes++;
    const atNs = timeSpecToUnixNs(sample.systemTime);
    const refNs = timeSpecToUnixNs(sample.referenceTime);
    if (atNs >= BUILD_PIVOT_UNIX_NS && (refNs - atNs > WRONG_WEEK_NS || atNs - refNs > WRONG_WEEK_NS)) {
      // Neither a fit nor a label: counted, and the reason shown in status.
      this.reject('wrongWeek');
      return;
    }
    this.lastSample = { atNs, refNs, leap: sample.leap, fix: sample.fix };
    // A timecode-only estimate counts only whole-second fixes: a 5 Hz receiver's in-between
    // fixes arrive with the same serial delay, but time2 is calibrated on the one per second.
    if (sample.fix.mode !== 'none' && sample.referenceTime.nsec === 0) {
      this.timecodeFit.add(atNs, Number(atNs - refNs) - this.config.time1Ns - this.config.time2Ns);
      if (!this.config.pulses) this.reach.sample(sample.fix.mode);
    }
    if (this.config.pulses) this.label(sample);
    for (const d of dependants) d.label(sample);
  }

  /** A pulse from this source's own driver. */
  addPulse(pulse: RefclockPulse): void {
    this.count.pulses++;
    if (this.pairing === null) return;
    if (this.labeller === null && !this.config.timecodes) {
      this.reject('noLabeller');
      return;
    }
    this.settle(this.pairing.addPulse(pulse));
  }

  /** A timecode that names the second of this source's pulses (its own or its labeller's). */
  private label(sample: RefclockSample): void {
    if (this.pairing !== null) this.settle(this.pairing.addSample(sample));
  }

  private settle(outcomes: ReturnType<PpsNmeaPairing['addPulse']>): void {
    for (const o of outcomes) {
      if (o.kind === 'rejected') {
        this.reject(o.reason);
        continue;
      }
      const offsetNs = o.offsetNs - this.config.time1Ns;
      const verdict = this.filter.add(o.edgeNs, offsetNs);
      if (!verdict.accepted) {
        this.reject('jitterOutlier');
        continue;
      }
      this.count.pulsesAccepted++;
      this.pulseFit.add(o.edgeNs, offsetNs);
      this.lastPulse = { leap: o.leap, fix: o.fix };
      this.reach.sample(o.fix.mode);
    }
  }

  private reject(reason: PulseRejectReason): void {
    this.rejects[reason] = (this.rejects[reason] ?? 0) + 1;
    this.lastRejectReason = reason;
  }

  /**
   * The current estimate at local time `nowNs`, or null when nothing recent enough supports
   * one. Pulses win over timecodes: a PPS edge is kernel-stamped to microseconds, a sentence
   * only to the serial line's and the event loop's milliseconds. The offset is the source's
   * regression line at nowNs (src/discipline/regression.ts), not its last measurement.
   */
  estimate(nowNs: bigint): SourceEstimate | null {
    const pulses = this.pulseFit.model;
    if (pulses && this.lastPulse && nowNs - pulses.lastSampleNs <= ESTIMATE_MAX_AGE_NS) {
      return {
        basis: 'pulse', offsetNs: predictOffsetNs(pulses, nowNs), jitterNs: pulses.jitterNs, model: pulses, atNs: pulses.lastSampleNs,
        leap: this.lastPulse.leap, fix: this.lastPulse.fix, refid: this.config.refid ?? 'PPS',
      };
    }
    const timecodes = this.timecodeFit.model;
    if (!this.config.timecodes || !timecodes || !this.lastSample || this.lastSample.fix.mode === 'none') return null;
    if (nowNs - timecodes.lastSampleNs > ESTIMATE_MAX_AGE_NS) return null;
    return {
      basis: 'timecode', offsetNs: predictOffsetNs(timecodes, nowNs), jitterNs: timecodes.jitterNs, model: timecodes,
      atNs: timecodes.lastSampleNs, leap: this.lastSample.leap, fix: this.lastSample.fix, refid: this.config.refid ?? 'GPS',
    };
  }

  /** The reference moved by stepNs against the local clock (a leap second): stored offsets move with it. */
  referenceStepped(stepNs: number): void {
    this.pulseFit.referenceStepped(stepNs);
    this.timecodeFit.referenceStepped(stepNs);
    this.filter.referenceStepped(stepNs);
  }

  /**
   * Gnomon changed the local clock (steer.ts; chrony's approach): fits and filter history are
   * re-expressed on the changed clock. A step also restarts the pairing: its pending edges and
   * phase observations are raw timestamps from before, and re-learning costs 8 pulses.
   */
  clockChanged(change: ClockChange): void {
    this.pulseFit.clockChanged(change);
    this.timecodeFit.clockChanged(change);
    this.filter.clockChanged(change);
    if (change.stepNs !== 0n && this.pairing !== null) this.pairing = new PpsNmeaPairing(this.config.pairing);
    if (this.lastSample) this.lastSample = { ...this.lastSample, atNs: correctSample(this.lastSample.atNs, 0, change).sampleNs };
  }

  /** For status pages and ntpq: everything this source knows, as plain data. */
  status(nowNs: bigint): RefclockSourceStatus {
    return {
      name: this.config.name,
      reach: this.reach.octal,
      estimate: this.estimate(nowNs),
      fix: this.lastSample?.fix ?? this.lastPulse?.fix ?? NO_FIX,
      lastTimecodeAgeNs: this.lastSample ? Number(nowNs - this.lastSample.atNs) : null,
      lastTimecodeUnixNs: this.lastSample?.refNs ?? null,
      phase: this.pairing?.phaseStatus ?? null,
      lastRejectReason: this.lastRejectReason,
      counters: { ...this.count, ...(this.pairing?.counters ?? {}), ...this.filter.counters, ...this.rejects },
    };
  }
}

export interface RefclockSourceStatus {
  readonly name: string;
  readonly reach: string;
  readonly estimate: SourceEstimate | null;
  readonly fix: FixState;
  /** Local time since the latest timecode, ns; null before the first. */
  readonly lastTimecodeAgeNs: number | null;
  /** The UTC instant the latest timecode named, ns since the Unix epoch. */
  readonly lastTimecodeUnixNs: bigint | null;
  /** Pairing's learned phase (null for a timecode-only source). */
  readonly phase: PhaseStatus | null;
  /** Why the latest refused pulse was refused. */
  readonly lastRejectReason: PulseRejectReason | null;
  readonly counters: Readonly<Record<string, number>>;
}
