/**
 * PPS + NMEA pairing: which UTC second does each pulse mark?
 *
 * A PPS edge is precise but anonymous; an NMEA (or gpsd TPV) sample names a second but arrives
 * late, by a receiver-specific delay of 100-900 ms (MTK ~500 ms). ntpd and chrony make the user
 * calibrate that delay by hand (`fudge time2`, `refclock ... offset`). Here the delay (the phase:
 * sample arrival − the edge it labels) is learned as a running median of observations and a
 * sample labels the pulse found at `arrival − phase ± window`. When the phase sits too close to
 * a second boundary, or the observations are too spread out to tell seconds apart, the pairing
 * refuses to label (with a reason) instead of guessing: a pulse labelled with the wrong second is
 * a 1 s error served as stratum 1, a refused pulse only costs a sample.
 *
 * Never mislabel (docs/refclock.md, "Straddling receivers"): a sample only labels an edge it
 * arrived after, less than 1 s later, so a receiver that keeps to the assumption is labelled right
 * whatever the phase statistics say; and a receiver whose arrivals cross a second boundary is
 * refused while any observation near the phase lies on the far side of that boundary, because the
 * median and MAD (50 % breakdown) cannot see a minority of such observations.
 *
 * Pure (ARCHITECTURE.md principle 1): the only time is the systemTime carried by pulses and
 * samples; "now" is the latest systemTime seen. Filtering (jitter outliers) is filter.ts.
 * Absolute instants are bigint ns since the Unix epoch; phases and offsets are number ns.
 */
import type { FixState, LeapWarning, RefclockPulse, RefclockSample } from '../../drivers/driver.js';
import type { TimeSpec } from '../clock/clock.js';

const NS_PER_S = 1_000_000_000;
const NS_PER_S_BIG = 1_000_000_000n;

/** Why a pulse was not labelled. Stable names: they are counters and status-page text. */
export type PairingRejectReason =
  | 'invalidTime' // systemTime not a valid TimeSpec
  | 'duplicatePulse' // same sequence as the previous pulse, or an edge within half a second of a known one
  | 'secondAlreadyUsed' // the sample's second already labelled an earlier pulse
  | 'noFix' // the labelling sample claimed no fix
  | 'nmeaStale' // no sample for more than staleAfterNs before the edge
  | 'outsideWindow' // the phase is known but no sample arrived where it puts this edge's label
  | 'phaseLearning' // fewer than minPhaseObservations so far
  | 'phaseNearBoundary' // learned phase (plus spread), or an observation near it, within the guard band of 0 or 1 s
  | 'phaseSpreadWide'; // observed phases too spread out to tell seconds apart

export const PAIRING_REJECT_REASONS: readonly PairingRejectReason[] = [
  'invalidTime', 'duplicatePulse', 'secondAlreadyUsed', 'noFix', 'nmeaStale', 'outsideWindow',
  'phaseLearning', 'phaseNearBoundary', 'phaseSpreadWide',
];

export type PairingCounter = PairingRejectReason | 'pulses' | 'samples' | 'labelled' | 'samplesNotOnSecond' | 'samplesUnmatched';

export interface PairingConfig {
  /** Phase observations kept for the running median. */
  readonly phaseWindow: number;
  /** Observations needed before any pulse is labelled. */
  readonly minPhaseObservations: number;
  /** The phase (± spread) must stay this far from 0 and from 1 s. */
  readonly guardNs: number;
  /** spread = spreadK × circular MAD of the observations (2 × MAD ≈ 1.35σ for Gaussian delays). */
  readonly spreadK: number;
  /** Above this spread the seconds cannot be told apart, wherever the phase is. */
  readonly maxSpreadNs: number;
  /**
   * A sample labels a pulse only if |arrival − phase − edge| ≤ windowNs. Must be < 0.5 s.
   * Observations more than windowNs + maxSpreadNs from the phase are not part of the delay
   * distribution being labelled (an old phase after a jump, an outlier) and do not count as
   * evidence that it crosses a boundary.
   */
  readonly windowNs: number;
  /** A pulse with no sample in the last staleAfterNs before its edge is rejected as nmeaStale. */
  readonly staleAfterNs: number;
}

export const DEFAULT_PAIRING_CONFIG: PairingConfig = {
  phaseWindow: 32,
  minPhaseObservations: 8,
  guardNs: 20_000_000,
  spreadK: 2,
  maxSpreadNs: 200_000_000,
  windowNs: 150_000_000,
  staleAfterNs: 4 * NS_PER_S,
};

export type PhaseState = 'ok' | 'phaseLearning' | 'phaseNearBoundary' | 'phaseSpreadWide';

export interface PhaseStatus {
  readonly state: PhaseState;
  /** Learned delay from an edge to the arrival of the sample that labels it; null before any observation. */
  readonly phaseNs: number | null;
  /** spreadK × circular MAD of the observations; null before any observation. */
  readonly spreadNs: number | null;
  readonly observations: number;
}

export interface LabelledPulse {
  readonly kind: 'labelled';
  /** System time of the edge. */
  readonly edgeNs: bigint;
  /** The UTC second (Unix) the edge marks. */
  readonly referenceSec: number;
  /** edgeNs − referenceSec × 1e9: + means the local clock is ahead of UTC. */
  readonly offsetNs: number;
  /** arrival − edge for the sample that labelled it (what `fudge time2` would have been). */
  readonly phaseNs: number;
  readonly leap: LeapWarning;
  readonly fix: FixState;
}

export interface RejectedPulse {
  readonly kind: 'rejected';
  readonly reason: PairingRejectReason;
  /** null when the pulse's time itself was invalid. */
  readonly edgeNs: bigint | null;
}

export type PairingOutcome = LabelledPulse | RejectedPulse;

interface PendingPulse {
  readonly edgeNs: bigint;
  /** Phase state when the last sample after this edge arrived: the reason if nothing labels it. */
  why: PhaseState;
}

interface PendingSample {
  readonly arrivalNs: bigint;
  readonly referenceSec: number;
  readonly leap: LeapWarning;
  readonly fix: FixState;
}

/** Pulses and samples older than this (relative to the latest time seen) can no longer pair. */
const PAIR_HORIZON_NS = 1_500_000_000n;
const MAX_PENDING = 4;
const EDGE_HISTORY = 4;
const USED_SECONDS = 16;
/** Two edges closer than this are one pulse reported twice (PPS is 1 Hz). */
const MIN_EDGE_SPACING_NS = 500_000_000n;

function toNs(t: Readonly<TimeSpec>): bigint | null {
  if (!Number.isSafeInteger(t.sec) || !Number.isInteger(t.nsec) || t.nsec < 0 || t.nsec >= NS_PER_S) return null;
  return BigInt(t.sec) * NS_PER_S_BIG + BigInt(t.nsec);
}

function abs(x: bigint): bigint {
  return x < 0n ? -x : x;
}

/** Lower median: always one of the values, so a bimodal set (0.02 s and 0.98 s) never averages to 0.5 s. */
function lowerMedian(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[(sorted.length - 1) >> 1] ?? 0;
}

/** Signed distance on the one-second circle, in (−0.5 s, 0.5 s]: 0.98 s and 0.01 s are 30 ms apart. */
function circularDiffNs(a: number, b: number): number {
  let d = (a - b) % NS_PER_S;
  if (d > NS_PER_S / 2) d -= NS_PER_S;
  if (d <= -NS_PER_S / 2) d += NS_PER_S;
  return d;
}

export class PpsNmeaPairing {
  private readonly cfg: PairingConfig;
  private readonly phases: number[] = [];
  private phase: PhaseStatus = { state: 'phaseLearning', phaseNs: null, spreadNs: null, observations: 0 };
  private readonly edges: bigint[] = [];
  private readonly pendingPulses: PendingPulse[] = [];
  private readonly pendingSamples: PendingSample[] = [];
  private readonly usedSeconds: number[] = [];
  /** Reference seconds whose phase was observed: a repeated sentence does not vote twice. */
  private readonly observedSeconds: number[] = [];
  private lastSequence: number | undefined;
  private lastSampleNs: bigint | undefined;
  private nowNs: bigint | undefined;
  private readonly count: Record<PairingCounter, number> = {
    pulses: 0, samples: 0, labelled: 0, samplesNotOnSecond: 0, samplesUnmatched: 0,
    invalidTime: 0, duplicatePulse: 0, secondAlreadyUsed: 0, noFix: 0, nmeaStale: 0, outsideWindow: 0,
    phaseLearning: 0, phaseNearBoundary: 0, phaseSpreadWide: 0,
  };

  constructor(config: Partial<PairingConfig> = {}) {
    this.cfg = { ...DEFAULT_PAIRING_CONFIG, ...config };
    if (!(this.cfg.windowNs > 0 && this.cfg.windowNs < NS_PER_S / 2)) {
      // A window of half a second or more could hold two pulses: the label would be a guess.
      throw new RangeError(`windowNs must be in (0, 5e8), got ${this.cfg.windowNs}`);
    }
  }

  get counters(): Readonly<Record<PairingCounter, number>> {
    return { ...this.count };
  }

  get phaseStatus(): PhaseStatus {
    return this.phase;
  }

  addPulse(pulse: RefclockPulse): PairingOutcome[] {
    this.count.pulses++;
    const out: PairingOutcome[] = [];
    const edgeNs = toNs(pulse.systemTime);
    if (edgeNs === null) return this.reject(out, 'invalidTime', null);
    const sequence = pulse.sequence;
    if (sequence !== undefined && sequence === this.lastSequence) return this.reject(out, 'duplicatePulse', edgeNs);
    if (sequence !== undefined) this.lastSequence = sequence;
    if (this.edges.some((e) => abs(e - edgeNs) < MIN_EDGE_SPACING_NS)) return this.reject(out, 'duplicatePulse', edgeNs);

    this.edges.push(edgeNs);
    if (this.edges.length > EDGE_HISTORY) this.edges.shift();
    this.advance(edgeNs, out);

    if (this.lastSampleNs === undefined || edgeNs - this.lastSampleNs > BigInt(this.cfg.staleAfterNs)) {
      return this.reject(out, 'nmeaStale', edgeNs);
    }
    const i = this.pendingSamples.findIndex((s) => this.inWindow(edgeNs, s.arrivalNs));
    if (i >= 0) {
      const [sample] = this.pendingSamples.splice(i, 1);
      if (sample) this.label(edgeNs, sample, out);
      return out;
    }
    this.pendingPulses.push({ edgeNs, why: this.phase.state });
    if (this.pendingPulses.length > MAX_PENDING) this.expirePulse(this.pendingPulses.shift(), out);
    return out;
  }

  addSample(sample: RefclockSample): PairingOutcome[] {
    this.count.samples++;
    const out: PairingOutcome[] = [];
    const arrivalNs = toNs(sample.systemTime);
    const ref = sample.referenceTime;
    if (arrivalNs === null || toNs(ref) === null) {
      this.count.invalidTime++;
      return out;
    }
    if (this.lastSampleNs === undefined || arrivalNs > this.lastSampleNs) this.lastSampleNs = arrivalNs;
    // A 5 or 10 Hz receiver reports fixes between the seconds: only the one on the second names an edge.
    if (ref.nsec !== 0) {
      this.count.samplesNotOnSecond++;
      this.advance(arrivalNs, out);
      return out;
    }
    this.observePhase(arrivalNs, ref.sec);
    // Judge waiting pulses by the phase as it stood when this sample could have labelled them,
    // so a pulse that expires after learning ends is still counted as phaseLearning.
    for (const p of this.pendingPulses) {
      if (p.edgeNs <= arrivalNs && arrivalNs - p.edgeNs < NS_PER_S_BIG) p.why = this.phase.state;
    }
    this.advance(arrivalNs, out);

    const pending: PendingSample = { arrivalNs, referenceSec: ref.sec, leap: sample.leap, fix: sample.fix };
    const i = this.pendingPulses.findIndex((p) => this.inWindow(p.edgeNs, arrivalNs));
    if (i >= 0) {
      const [p] = this.pendingPulses.splice(i, 1);
      if (p) this.label(p.edgeNs, pending, out);
      return out;
    }
    // Kept in case its pulse is delivered late (gpsd sends PPS messages after the TPV).
    this.pendingSamples.push(pending);
    if (this.pendingSamples.length > MAX_PENDING) {
      this.pendingSamples.shift();
      this.count.samplesUnmatched++;
    }
    return out;
  }

  /**
   * The phase of one sample: arrival − the latest edge before it, if that edge is less than 1 s old.
   * One observation per reference second: a sentence delivered twice is one measurement, and
   * counting it twice let three late sentences outvote four on-time ones (fast-check seed -684203437).
   */
  private observePhase(arrivalNs: bigint, referenceSec: number): void {
    if (this.observedSeconds.includes(referenceSec)) return;
    let latest: bigint | undefined;
    for (const e of this.edges) if (e <= arrivalNs && (latest === undefined || e > latest)) latest = e;
    if (latest === undefined || arrivalNs - latest >= NS_PER_S_BIG) return;
    this.observedSeconds.push(referenceSec);
    if (this.observedSeconds.length > this.cfg.phaseWindow) this.observedSeconds.shift();
    this.phases.push(Number(arrivalNs - latest));
    if (this.phases.length > this.cfg.phaseWindow) this.phases.shift();
    this.phase = this.judgePhase();
  }

  private judgePhase(): PhaseStatus {
    const observations = this.phases.length;
    const phaseNs = lowerMedian(this.phases);
    // Deviations on the circle: a receiver whose delay straddles 1 s shows phases near 0.99 and
    // 0.01 s, which are close in time but far apart on a line.
    const spreadNs = this.cfg.spreadK * lowerMedian(this.phases.map((p) => Math.abs(circularDiffNs(p, phaseNs))));
    const marginNs = Math.min(phaseNs, NS_PER_S - phaseNs);
    let state: PhaseState = 'ok';
    if (observations < this.cfg.minPhaseObservations) state = 'phaseLearning';
    else if (spreadNs > this.cfg.maxSpreadNs) state = 'phaseSpreadWide';
    else if (marginNs < this.cfg.guardNs + spreadNs || this.crossesBoundary(phaseNs)) state = 'phaseNearBoundary';
    return { state, phaseNs, spreadNs, observations };
  }

  /**
   * Is any observation near the phase, reached the short way round the one-second circle, past 0
   * or 1 s? Then the receiver's delay reaches across a second boundary: its samples on the far
   * side were measured against the neighbouring edge, and had they been the majority they would
   * have looked like a phase near 0 (or 1 s) labelling that edge with the wrong second. The MAD
   * ignores them while they are at most half (fast-check: 951 ± 69 ms with 4 of 8 arrivals past
   * the next edge gave phase 20 ms, spread 0), so one is enough here: refusing costs samples.
   * Exactly past, not within the guard: an arrival at 985 ms for a 900 ms phase (4σ of 20 ms,
   * seen in 3 simulated hours) is no evidence; one at 5 ms after the next edge is.
   */
  private crossesBoundary(phaseNs: number): boolean {
    const reachNs = this.cfg.windowNs + this.cfg.maxSpreadNs;
    return this.phases.some((p) => {
      const d = circularDiffNs(p, phaseNs);
      return Math.abs(d) <= reachNs && (phaseNs + d < 0 || phaseNs + d >= NS_PER_S);
    });
  }

  /**
   * May the sample that arrived at arrivalNs label the edge at edgeNs? Only if the phase is
   * usable, the arrival is where the phase puts it (± windowNs), and the edge is the latest one
   * before the arrival, less than 1 s before it (the Assumption in docs/refclock.md; the same
   * interval observePhase measures). Without that last check a 50 ms phase put a sample that
   * arrived 940 ms after its edge on the *next* edge (window ± 150 ms); with it, a receiver that
   * keeps to the assumption is never labelled with the wrong second, whatever the phase is.
   */
  private inWindow(edgeNs: bigint, arrivalNs: bigint): boolean {
    const { phaseNs, state } = this.phase;
    if (state !== 'ok' || phaseNs === null) return false;
    const sinceEdgeNs = arrivalNs - edgeNs;
    if (sinceEdgeNs < 0n || sinceEdgeNs >= NS_PER_S_BIG) return false;
    return abs(sinceEdgeNs - BigInt(Math.round(phaseNs))) <= BigInt(this.cfg.windowNs);
  }

  private label(edgeNs: bigint, sample: PendingSample, out: PairingOutcome[]): void {
    if (sample.fix.mode === 'none') {
      this.reject(out, 'noFix', edgeNs);
      return;
    }
    if (this.usedSeconds.includes(sample.referenceSec)) {
      this.reject(out, 'secondAlreadyUsed', edgeNs);
      return;
    }
    this.usedSeconds.push(sample.referenceSec);
    if (this.usedSeconds.length > USED_SECONDS) this.usedSeconds.shift();
    this.count.labelled++;
    out.push({
      kind: 'labelled',
      edgeNs,
      referenceSec: sample.referenceSec,
      offsetNs: Number(edgeNs - BigInt(sample.referenceSec) * NS_PER_S_BIG),
      phaseNs: Number(sample.arrivalNs - edgeNs),
      leap: sample.leap,
      fix: sample.fix,
    });
  }

  /** Moves "now" forward and gives up on pulses and samples too old to pair. */
  private advance(tNs: bigint, out: PairingOutcome[]): void {
    if (this.nowNs === undefined || tNs > this.nowNs) this.nowNs = tNs;
    const horizon = this.nowNs - PAIR_HORIZON_NS;
    while (this.pendingPulses.length > 0 && (this.pendingPulses[0]?.edgeNs ?? 0n) < horizon) {
      this.expirePulse(this.pendingPulses.shift(), out);
    }
    while (this.pendingSamples.length > 0 && (this.pendingSamples[0]?.arrivalNs ?? 0n) < horizon) {
      this.pendingSamples.shift();
      this.count.samplesUnmatched++;
    }
  }

  /**
   * A pulse no sample labelled: the phase state said why, or the phase was known and no sample
   * arrived where it puts this edge's label (late, early or missing).
   */
  private expirePulse(p: PendingPulse | undefined, out: PairingOutcome[]): void {
    if (p === undefined) return;
    this.reject(out, p.why === 'ok' ? 'outsideWindow' : p.why, p.edgeNs);
  }

  private reject(out: PairingOutcome[], reason: PairingRejectReason, edgeNs: bigint | null): PairingOutcome[] {
    this.count[reason]++;
    out.push({ kind: 'rejected', reason, edgeNs });
    return out;
  }
}
