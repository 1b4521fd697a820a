/**
 * The discipline: which model of the local clock the served timescale follows, for how long it
 * may keep following it without a reference (holdover), and what the server then says about
 * itself (one snapshot per update).
 *
 * States:
 * - tracking: a selected source (select.ts) has fresh measurements; served time follows its
 *   regression line (regression.ts): served = raw − (offset + freq × (t − t0)).
 * - holdover: the source went away; the last line is extrapolated with its frequency, the same
 *   stratum and refid are served, and the root dispersion grows with the model's own error
 *   bars plus RFC 5905's PHI (15 ppm) × age. It ends after `holdoverS`, or once the root
 *   distance (dispersion, no delay at stratum 1) passes `maxDistanceS` (ntpd's `tos maxdist`).
 * - local: the configured local clock (`fudge 127.127.1.0 stratum N`), LOCL at stratum N.
 * - unsynchronised: LI=3, stratum 16.
 * After holdover the timescale keeps its last correction, frozen (no more frequency
 * extrapolation): stepping back to the raw clock would throw clients off by whatever the GPS
 * had corrected, and a frequency nobody confirms should not keep steering.
 *
 * Pure: "now" (local raw-clock ns) and candidates come in.
 */
import { LeapIndicator, asciiRefId } from '../ntp/constants.js';
import type { NtpTimestamp } from '../ntp/timestamp.js';
import type { LeapWarning } from '../../drivers/driver.js';
import { estimateUsable, type SourceEstimate } from '../refclock/source.js';
import { type ServerSnapshot, unsynchronisedSnapshot } from '../server/state.js';
import { type Candidate, selectReference } from './select.js';
import { rejectFalsetickers } from './intersect.js';
import { changeModel, predictOffsetNs, type RegressionModel } from './regression.js';
import { correctSample, type ClockChange } from './steer.js';

/** RFC 5905 PHI: the frequency tolerance dispersion grows by, seconds per second (15 ppm). */
export const PHI_S_PER_S = 15e-6;
/** ntpd's LOCAL driver claims 10 ms; nothing bounds a free-running oscillator better. */
export const LOCAL_CLOCK_DISPERSION_S = 0.01;
/**
 * Added to a timecode-only (NMEA without PPS) estimate's dispersion, seconds: its offset rests on
 * the serial delay that `time2` calibrates by hand and on the OS's and event loop's latency,
 * which its jitter alone does not show. 10 ms, so clients weigh it as the coarse source it is.
 */
export const TIMECODE_DISPERSION_S = 0.01;

export interface DisciplineConfig {
  /** Longest holdover, s (default 1 h). 0 = none: a lost reference is dropped at once. */
  readonly holdoverS: number;
  /** Root distance above which the served time is no longer vouched for, s (ntpd `tos maxdist`, default 1.5). */
  readonly maxDistanceS: number;
  /** Fewest truechimers needed to select anything (ntpd `tos minsane`, default 1). */
  readonly minSane: number;
}

/**
 * ntpd's `tos mindist` default: intervals narrower than this (a PPS claims microseconds) are
 * widened for falseticker rejection, so two good receivers with different cable delays still
 * agree.
 */
export const MIN_DISTANCE_S = 0.001;

export const DEFAULT_DISCIPLINE_CONFIG: DisciplineConfig = { holdoverS: 3600, maxDistanceS: 1.5, minSane: 1 };

export type DisciplineState =
  | { readonly kind: 'tracking'; readonly name: string; readonly estimate: SourceEstimate; readonly stratum: number }
  | { readonly kind: 'holdover'; readonly name: string; readonly estimate: SourceEstimate; readonly stratum: number; readonly sinceNs: bigint }
  /** The local clock (`fudge 127.127.1.0 stratum N`, refid LOCL) or orphan mode (`tos orphan N`, refid 127.0.0.1). */
  | { readonly kind: 'local'; readonly stratum: number; readonly orphan?: boolean }
  | { readonly kind: 'none' };

/** What the timescale applies: served = raw − (offsetNs + freqPpm × 1e-6 × (raw − t0Ns)). */
export interface CorrectionModel {
  readonly t0Ns: bigint;
  readonly offsetNs: number;
  readonly freqPpm: number;
}

/**
 * Root dispersion we would serve following an estimate at local time nowNs, seconds: the source's
 * jitter and model error, our precision and PHI × age; for another server (RFC 5905 section
 * 11.2) also its own root dispersion and the clock filter's dispersion.
 */
export function estimateDispersionS(e: SourceEstimate, precisionLog2S: number, nowNs: bigint): number {
  const ageS = Math.max(0, Number(nowNs - e.atNs) / 1e9);
  const m = e.model;
  const modelErrorS = (m.offsetSdNs + m.freqSdPpm * 1000 * ageS) / 1e9;
  return e.jitterNs / 1e9 + modelErrorS + 2 ** precisionLog2S + PHI_S_PER_S * ageS
    + (e.basis === 'timecode' ? TIMECODE_DISPERSION_S : 0)
    + (e.path ? e.path.rootDispersionS + e.path.dispersionS : 0);
}

/** Root delay we would serve following an estimate, seconds: 0 for a refclock; the server's root delay + our delay to it. */
export function estimateRootDelayS(e: SourceEstimate): number {
  return e.path ? e.path.rootDelayS + e.path.delayS : 0;
}

/** Root distance (RFC 5905: delay / 2 + dispersion), seconds: the half-width of the source's correctness interval. */
export function estimateDistanceS(e: SourceEstimate, precisionLog2S: number, nowNs: bigint): number {
  return estimateRootDelayS(e) / 2 + estimateDispersionS(e, precisionLog2S, nowNs);
}

/** The last resort when no source is usable: the local clock, or orphan mode (ntpd's `tos orphan N`). */
export interface LocalFallback {
  readonly stratum: number;
  readonly orphan: boolean;
}

export class Discipline {
  private cfg: DisciplineConfig;
  private current: DisciplineState = { kind: 'none' };
  private falsetickerNames: ReadonlySet<string> = new Set();
  private correction: CorrectionModel | null = null;

  constructor(config: Partial<DisciplineConfig> = {}) {
    this.cfg = { ...DEFAULT_DISCIPLINE_CONFIG, ...config };
  }

  /** New limits (a reload); the state and the followed line stay. */
  configure(config: Partial<DisciplineConfig>): void {
    this.cfg = { ...DEFAULT_DISCIPLINE_CONFIG, ...config };
  }

  get state(): DisciplineState {
    return this.current;
  }

  /** Sources the last update rejected as falsetickers (ntpq's `x`). */
  get falsetickers(): ReadonlySet<string> {
    return this.falsetickerNames;
  }

  /** The line served time follows now (null before the first reference). */
  get correctionModel(): CorrectionModel | null {
    return this.correction;
  }

  /**
   * One selection at local time nowNs. `local` is the last resort: the local clock or orphan mode
   * at its stratum (undefined: unsynchronised).
   */
  update(nowNs: bigint, candidates: readonly Candidate[], local: LocalFallback | undefined, precisionLog2S: number): DisciplineState {
    // RFC 5905 fit(): a source whose root distance is past maxdist is not a candidate at all (a
    // server heard once has 7 empty filter stages at 16 s each: seconds of distance).
    const fit = candidates.map((c) => (c.estimate !== null && estimateDistanceS(c.estimate, precisionLog2S, nowNs) > this.cfg.maxDistanceS
      ? { ...c, estimate: null } : c));
    // Falsetickers out first (a GPS the majority disagrees with is not trusted), then the best.
    const { kept, falsetickers } = rejectFalsetickers(fit,
      (c) => Math.max(estimateDistanceS(c.estimate!, precisionLog2S, nowNs), MIN_DISTANCE_S) * 1e9);
    this.falsetickerNames = falsetickers;
    // `tos minsane`: too few sources left standing is no majority worth following (ntpd's rule).
    const sane = kept.filter((c) => !c.noselect && c.estimate !== null && estimateUsable(c.estimate)).length >= this.cfg.minSane;
    const pick = selectReference(sane ? kept : [], undefined);
    const prev = this.current;
    let held: DisciplineState | null = null;
    if (prev.kind === 'tracking' || prev.kind === 'holdover') {
      const sinceNs = prev.kind === 'holdover' ? prev.sinceNs : prev.estimate.atNs;
      const estimate = { ...prev.estimate, offsetNs: predictOffsetNs(prev.estimate.model, nowNs) };
      const ageS = Number(nowNs - sinceNs) / 1e9;
      if (ageS <= this.cfg.holdoverS && estimateDispersionS(estimate, precisionLog2S, nowNs) <= this.cfg.maxDistanceS) {
        held = { kind: 'holdover', name: prev.name, estimate, stratum: prev.stratum, sinceNs };
      }
    }
    // A fresh source wins, unless the line we were following, held over, still promises a
    // smaller error: a PPS that stops is better held over (µs growing by 15 µs/s) than swapped
    // for its NMEA alone (10 ms), which goes the same way moments later anyway.
    if (pick.kind === 'refclock') {
      const stayHeld = held?.kind === 'holdover' && pick.name !== held.name && held.estimate.basis === 'pulse' && pick.estimate.basis === 'timecode'
        && estimateDispersionS(held.estimate, precisionLog2S, nowNs) < estimateDispersionS(pick.estimate, precisionLog2S, nowNs);
      if (!stayHeld) {
        this.follow(pick.estimate.model);
        this.current = { kind: 'tracking', name: pick.name, estimate: pick.estimate, stratum: pick.stratum };
        return this.current;
      }
    }
    if (held) {
      this.current = held;
      return this.current;
    }
    if (prev.kind === 'tracking' || prev.kind === 'holdover') this.freeze(nowNs);
    const fallback = selectReference([], local?.stratum);
    this.current = fallback.kind === 'local' ? { kind: 'local', stratum: fallback.stratum, ...(local?.orphan ? { orphan: true } : {}) } : { kind: 'none' };
    return this.current;
  }

  /** The reference moved by stepNs against the local clock (a leap second): the followed line moves with it. */
  referenceStepped(stepNs: number): void {
    if (this.correction) this.correction = { ...this.correction, offsetNs: this.correction.offsetNs + stepNs };
  }

  /**
   * Gnomon changed the local clock (kernel step or frequency): the followed line and a held
   * estimate are re-expressed on the changed clock, so served time does not move.
   */
  clockChanged(change: ClockChange): void {
    const c = this.correction;
    if (c) {
      const moved = correctSample(c.t0Ns, c.offsetNs, change);
      this.correction = { t0Ns: moved.sampleNs, offsetNs: moved.offsetNs, freqPpm: c.freqPpm + change.freqChangePpm };
    }
    const s = this.current;
    if (s.kind === 'tracking' || s.kind === 'holdover') {
      const model = changeModel(s.estimate.model, change);
      const estimate = { ...s.estimate, model, atNs: model.lastSampleNs, offsetNs: correctSample(s.estimate.atNs, s.estimate.offsetNs, change).offsetNs };
      this.current = s.kind === 'holdover'
        ? { ...s, estimate, sinceNs: correctSample(s.sinceNs, 0, change).sampleNs }
        : { ...s, estimate };
    }
  }

  private follow(m: RegressionModel): void {
    this.correction = { t0Ns: m.t0Ns, offsetNs: m.offsetNs, freqPpm: m.freqPpm };
  }

  /** Keeps the correction the timescale has at nowNs, without the frequency. */
  private freeze(nowNs: bigint): void {
    const c = this.correction;
    if (c) this.correction = { t0Ns: nowNs, offsetNs: predictOffsetNs(c, nowNs), freqPpm: 0 };
  }
}

/** 127.0.0.1 as a refid: what ntpd serves in orphan mode. */
export const ORPHAN_REFID = 0x7f000001;

/** A name for logs and status: "PPS(0)", "LOCAL(0)", "none". */
export function stateName(s: DisciplineState): string {
  return s.kind === 'tracking' || s.kind === 'holdover' ? s.name : s.kind === 'local' ? (s.orphan ? 'orphan' : 'LOCAL(0)') : 'none';
}

const LEAP_OF: Readonly<Record<LeapWarning, LeapIndicator>> = {
  none: LeapIndicator.NoWarning,
  unknown: LeapIndicator.NoWarning,
  insert: LeapIndicator.AddSecond,
  delete: LeapIndicator.DeleteSecond,
};

/**
 * The snapshot the server publishes for a state, at local time nowNs. `referenceTime` is when
 * the reference last updated the clock (served time): now while tracking, the last tracking
 * update in holdover (as ntpd's reftime ages, so clients can see it).
 */
export function snapshotForState(s: DisciplineState, precisionLog2S: number, referenceTime: NtpTimestamp, nowNs: bigint,
  leap?: LeapIndicator): ServerSnapshot {
  if (s.kind === 'none') return unsynchronisedSnapshot(precisionLog2S);
  if (s.kind === 'local') {
    return {
      leap: LeapIndicator.NoWarning, stratum: s.stratum, precisionLog2S, rootDelayS: 0,
      // Orphan mode's refid is the loopback address, as ntpd's (ntp_proto.c clock_select).
      rootDispersionS: LOCAL_CLOCK_DISPERSION_S, referenceId: s.orphan ? ORPHAN_REFID : asciiRefId('LOCL'), referenceTime,
    };
  }
  const e = s.estimate;
  return {
    // The leap keeper's decision (leapfile first) when given; else what the receiver said.
    leap: leap ?? LEAP_OF[e.leap],
    stratum: s.stratum,
    precisionLog2S,
    rootDelayS: estimateRootDelayS(e),
    rootDispersionS: estimateDispersionS(e, precisionLog2S, nowNs),
    referenceId: e.path ? e.path.refid : asciiRefId(e.refid.slice(0, 4)),
    referenceTime,
  };
}
