/**
 * The clock filter of one association (RFC 5905 section 10): an 8-stage shift register of
 * samples whose output is the stage with the smallest round-trip delay, because the sample that
 * spent least time queued in the network is the one whose offset is least disturbed by queueing
 * asymmetry.
 *
 * One deliberate difference from RFC 5905's code: there the local clock is disciplined, so stage
 * offsets taken minutes apart are comparable. Gnomon measures against the raw clock, which may run
 * tens of ppm off for good (served time follows through the correction, ARCHITECTURE.md
 * principle 4), so eight stages at a 1024 s poll can differ by far more than the network jitter.
 * The filter therefore compares offsets after carrying each to the chosen stage's instant with the
 * frequency the association's regression has measured (`freqPpm`); with freqPpm 0 it is RFC 5905's
 * filter exactly. The output keeps its own instant, so the regression downstream needs no
 * correction.
 *
 * For the same reason the stages are ranked not by delay alone but by the error each would bring
 * to an offset now: δ/2 (RFC 5905's bound on a sample's offset error) plus the error of carrying
 * it from its instant to now with the measured frequency (its standard error × the stage's age;
 * 500 ppm, the largest error a clock may have, while the regression has no slope yet). ntpd does
 * the same in its own way: stages older than the Allan intercept are ranked by delay + dispersion.
 * With a well-known frequency this is RFC 5905's minimum-delay choice; at start-up it makes the
 * newest sample win, so an iburst volley feeds the regression instead of stalling on one stage.
 *
 * Rules (RFC 5905 clock_filter): a stage's dispersion grows by PHI per second of age; empty stages
 * count MAXDISP and sort last; a sample is output at most once and only when newer than the last
 * output (the prime directive); jitter = RMS of the other valid stages' offsets about the chosen
 * one (n − 1 in the divisor), at least the precision; the filter dispersion is Σ εᵢ / 2^(i+1) over
 * the stages sorted by delay.
 */
import { MAXDISP_S, PHI_S_PER_S } from '../ntp/constants.js';
import { correctSample, type ClockChange } from '../discipline/steer.js';

export const FILTER_STAGES = 8;
const MAXDISP_NS = MAXDISP_S * 1e9;
/** Frequency uncertainty assumed before the regression has a slope, ppm (the kernel's limit). */
export const UNKNOWN_FREQ_SD_PPM = 500;

export interface FilterStage {
  /** Local raw instant of the sample (its T4), ns since the Unix epoch. */
  readonly atNs: bigint;
  readonly offsetNs: number;
  readonly delayNs: number;
  /** ε at atNs; it grows by PHI × age from there. */
  readonly dispersionNs: number;
}

/** What ntpq shows per stage (filtoffset, filtdelay, filtdisp), newest first. */
export interface StageView {
  readonly offsetNs: number;
  readonly delayNs: number;
  readonly dispersionNs: number;
}

const EMPTY_VIEW: StageView = { offsetNs: 0, delayNs: 0, dispersionNs: MAXDISP_NS };

function grownNs(s: FilterStage, nowNs: bigint): number {
  return Math.min(MAXDISP_NS, s.dispersionNs + PHI_S_PER_S * Math.max(0, Number(nowNs - s.atNs)));
}

export class ClockFilter {
  /** Newest first; null = an empty stage (shifted in for a poll that got no reply). */
  private stages: (FilterStage | null)[] = [];
  private lastOutputNs: bigint | null = null;
  private lastOutput: FilterStage | null = null;
  /** Filter jitter at the last output, ns. */
  jitterNs = 0;
  /** The frequency uncertainty of the latest add (ranks the stages for dispersionNs too). */
  private freqSdPpm = UNKNOWN_FREQ_SD_PPM;

  /** The latest output (a stage), null before the first. */
  get output(): FilterStage | null {
    return this.lastOutput;
  }

  /**
   * Shifts a sample in. Returns the chosen stage when it has not been output before and is newer
   * than the last output, else null. `freqPpm` and `freqSdPpm` are the regression's frequency and
   * its standard error (UNKNOWN_FREQ_SD_PPM without a slope); `floorNs` is the jitter's floor.
   */
  add(sample: FilterStage, freqPpm: number, freqSdPpm: number, floorNs: number): FilterStage | null {
    this.freqSdPpm = freqSdPpm;
    this.stages.unshift(sample);
    if (this.stages.length > FILTER_STAGES) this.stages.length = FILTER_STAGES;
    const valid = this.sorted(sample.atNs);
    const chosen = valid[0]!; // the new sample is valid (its dispersion is far below MAXDISP)
    let sum = 0;
    for (let i = 1; i < valid.length; i++) {
      const d = this.carried(valid[i]!, chosen.atNs, freqPpm) - chosen.offsetNs;
      sum += d * d;
    }
    this.jitterNs = Math.max(floorNs, valid.length > 1 ? Math.sqrt(sum / (valid.length - 1)) : 0);
    if (this.lastOutputNs !== null && chosen.atNs <= this.lastOutputNs) return null;
    this.lastOutputNs = chosen.atNs;
    this.lastOutput = chosen;
    return chosen;
  }

  /** ntpd's clock_filter(peer, 0, 0, MAXDISPERSE) on an unanswered poll while unreachable: old stages age out. */
  shiftEmpty(): void {
    this.stages.unshift(null);
    if (this.stages.length > FILTER_STAGES) this.stages.length = FILTER_STAGES;
  }

  /** Filter dispersion at nowNs (RFC 5905: Σ εᵢ / 2^(i+1), stages sorted by delay, empty = MAXDISP), ns. */
  dispersionNs(nowNs: bigint): number {
    const valid = this.sorted(nowNs);
    let d = 0;
    for (let i = 0; i < FILTER_STAGES; i++) {
      const s = valid[i];
      d += (s ? grownNs(s, nowNs) : MAXDISP_NS) / 2 ** (i + 1);
    }
    return d;
  }

  /** The 8 stages, newest first, dispersions grown to nowNs. */
  stagesAt(nowNs: bigint): StageView[] {
    const out: StageView[] = [];
    for (let i = 0; i < FILTER_STAGES; i++) {
      const s = this.stages[i];
      out.push(s ? { offsetNs: s.offsetNs, delayNs: s.delayNs, dispersionNs: grownNs(s, nowNs) } : EMPTY_VIEW);
    }
    return out;
  }

  /** The local clock was changed: stages and the last output are re-expressed on the new clock. */
  clockChanged(change: ClockChange): void {
    const fix = (s: FilterStage): FilterStage => {
      const c = correctSample(s.atNs, s.offsetNs, change);
      return { ...s, atNs: c.sampleNs, offsetNs: c.offsetNs };
    };
    this.stages = this.stages.map((s) => (s ? fix(s) : null));
    if (this.lastOutput) this.lastOutput = fix(this.lastOutput);
    if (this.lastOutputNs !== null) this.lastOutputNs = this.lastOutput?.atNs ?? this.lastOutputNs;
  }

  /** Valid stages (dispersion below MAXDISP at nowNs), best rank first; ties: the newer first. */
  private sorted(nowNs: bigint): FilterStage[] {
    const valid: FilterStage[] = [];
    for (const s of this.stages) if (s && grownNs(s, nowNs) < MAXDISP_NS) valid.push(s);
    const rank = (s: FilterStage) => s.delayNs / 2 + this.freqSdPpm * 1e-6 * Number(nowNs - s.atNs);
    return valid.sort((a, b) => rank(a) - rank(b) || (a.atNs > b.atNs ? -1 : a.atNs < b.atNs ? 1 : 0));
  }

  /** A stage's offset carried to instant tNs with the measured frequency. */
  private carried(s: FilterStage, tNs: bigint, freqPpm: number): number {
    return s.offsetNs + freqPpm * 1e-6 * Number(tNs - s.atNs);
  }
}
