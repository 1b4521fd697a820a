/**
 * Offset and frequency of the local clock against one source: a least-squares line through the
 * source's recent offsets, as chrony's sourcestats does.
 *
 * Why regression (and not RFC 5905's PLL/FLL or a Kalman filter): on PPS the measurements are
 * already good to a few µs, so the best estimate of "offset now" is the one that uses all recent
 * measurements at once, with the frequency as the slope of the same fit; chrony reaches its
 * sub-µs results on PPS this way, and the fit's own residuals give honest error bars (the
 * standard errors of offset and slope) for root dispersion and holdover. A PLL needs tuning
 * of a time constant and converges in minutes; the fit has no state but its window.
 *
 * The window adapts as chrony's does: it grows to `maxSamples`, and when the residuals stop
 * looking random (too few sign changes, the runs test) the oldest half is dropped, so a
 * frequency change (temperature, a kernel step we were told of) is followed within a few
 * samples instead of being averaged away.
 *
 * Pure. Signs: offsetNs = local clock − reference (+ = local ahead); freqPpm = d(offset)/dt
 * in ppm (+ = the local clock runs fast). Instants are bigint ns on the local (raw) clock.
 */
import { correctSample, type ClockChange } from './steer.js';

export interface RegressionModel {
  /** Instant the model is centred on (its latest sample), local ns. */
  readonly t0Ns: bigint;
  /** Offset at t0, ns. */
  readonly offsetNs: number;
  /** Slope, ppm (ns per ms). */
  readonly freqPpm: number;
  /** Standard error of offsetNs, ns. */
  readonly offsetSdNs: number;
  /** Standard error of freqPpm. */
  readonly freqSdPpm: number;
  /** RMS of the residuals, ns. */
  readonly jitterNs: number;
  /** Samples in the fit. */
  readonly samples: number;
  /** Local time of the newest sample, ns (= t0Ns). */
  readonly lastSampleNs: bigint;
}

export interface RegressionConfig {
  readonly maxSamples: number;
  /** Fewer samples than this: the slope is not trusted (frequency 0, offset = mean). */
  readonly minSamplesForSlope: number;
}

export const DEFAULT_REGRESSION_CONFIG: RegressionConfig = { maxSamples: 64, minSamplesForSlope: 4 };

interface Point {
  readonly atNs: bigint;
  offsetNs: number;
}

/** A model re-expressed on the changed clock: its centre moves, its frequency grows by the change. */
export function changeModel(m: RegressionModel, change: ClockChange): RegressionModel {
  const c = correctSample(m.t0Ns, m.offsetNs, change);
  return { ...m, t0Ns: c.sampleNs, offsetNs: c.offsetNs, lastSampleNs: c.sampleNs, freqPpm: m.freqPpm + change.freqChangePpm };
}

/**
 * Fewest runs (maximal groups of same-sign residuals) acceptable for n residuals: the
 * expectation for random signs, (n + 1) / 2, less three standard deviations (3 × sqrt(n − 1) / 2),
 * so a steady clock's window is cut about once in a thousand fits, a drifting one at once.
 */
function minRuns(n: number): number {
  return (n + 1) / 2 - 1.5 * Math.sqrt(n - 1);
}

export class OffsetRegression {
  private readonly cfg: RegressionConfig;
  private readonly points: Point[] = [];
  private current: RegressionModel | null = null;

  constructor(config: Partial<RegressionConfig> = {}) {
    this.cfg = { ...DEFAULT_REGRESSION_CONFIG, ...config };
  }

  get model(): RegressionModel | null {
    return this.current;
  }

  get size(): number {
    return this.points.length;
  }

  /** Adds one measurement (older than the newest is ignored: a late duplicate) and refits. */
  add(atNs: bigint, offsetNs: number): RegressionModel {
    const last = this.points[this.points.length - 1];
    if (last && atNs <= last.atNs) return this.current!;
    this.points.push({ atNs, offsetNs });
    if (this.points.length > this.cfg.maxSamples) this.points.shift();
    let fit = this.fit();
    // Residuals that are not random mean the line no longer fits (the frequency changed):
    // keep the newer half and fit again.
    while (this.points.length >= 8 && fit.runs < minRuns(this.points.length)) {
      this.points.splice(0, this.points.length >> 1);
      fit = this.fit();
    }
    this.current = fit.model;
    return fit.model;
  }

  /**
   * The reference moved by stepNs against the local clock (a leap second: every offset measured
   * from now on is stepNs larger): stored offsets move with it; their timestamps do not.
   */
  referenceStepped(stepNs: number): void {
    for (const p of this.points) p.offsetNs += stepNs;
    if (this.current) this.current = { ...this.current, offsetNs: this.current.offsetNs + stepNs };
  }

  /**
   * Gnomon changed the local clock itself (kernel step or frequency, steer.ts): every stored
   * sample is re-expressed as if measured with the changed clock (timestamp and offset move by
   * the same amount), and the fit follows.
   */
  clockChanged(change: ClockChange): void {
    if (this.points.length === 0) return;
    for (let i = 0; i < this.points.length; i++) {
      const p = this.points[i]!;
      const c = correctSample(p.atNs, p.offsetNs, change);
      this.points[i] = { atNs: c.sampleNs, offsetNs: c.offsetNs };
    }
    this.current = this.fit().model;
  }

  reset(): void {
    this.points.length = 0;
    this.current = null;
  }

  private fit(): { model: RegressionModel; runs: number } {
    const pts = this.points;
    const n = pts.length;
    const newest = pts[n - 1]!;
    // x in seconds before the newest sample (≤ 0): small numbers, no precision loss.
    const xs = pts.map((p) => Number(p.atNs - newest.atNs) / 1e9);
    const ys = pts.map((p) => p.offsetNs);
    const xMean = xs.reduce((a, b) => a + b, 0) / n;
    const yMean = ys.reduce((a, b) => a + b, 0) / n;
    let sxx = 0;
    let sxy = 0;
    for (let i = 0; i < n; i++) {
      sxx += (xs[i]! - xMean) ** 2;
      sxy += (xs[i]! - xMean) * (ys[i]! - yMean);
    }
    const useSlope = n >= this.cfg.minSamplesForSlope && sxx > 0;
    const slopeNsPerS = useSlope ? sxy / sxx : 0;
    const interceptNs = yMean - slopeNsPerS * xMean; // the line's value at x = 0, the newest sample
    let ss = 0;
    let runs = 0;
    let lastSign = 0;
    for (let i = 0; i < n; i++) {
      const r = ys[i]! - (interceptNs + slopeNsPerS * xs[i]!);
      ss += r * r;
      const sign = r > 0 ? 1 : r < 0 ? -1 : lastSign;
      if (sign !== lastSign) runs++;
      lastSign = sign;
    }
    const dof = Math.max(1, n - (useSlope ? 2 : 1));
    const residualVar = ss / dof;
    const offsetVar = residualVar * (1 / n + (useSlope ? (xMean * xMean) / sxx : 0));
    const slopeVar = useSlope ? residualVar / sxx : 0;
    return {
      runs,
      model: {
        t0Ns: newest.atNs,
        offsetNs: interceptNs,
        freqPpm: slopeNsPerS / 1000,
        offsetSdNs: Math.sqrt(offsetVar),
        freqSdPpm: Math.sqrt(slopeVar) / 1000,
        jitterNs: Math.sqrt(ss / n),
        samples: n,
        lastSampleNs: newest.atNs,
      },
    };
  }
}

/** A line's offset at local time tNs, ns: a source's fit, or the line the timescale follows. */
export function predictOffsetNs(m: Pick<RegressionModel, 't0Ns' | 'offsetNs' | 'freqPpm'>, tNs: bigint): number {
  return m.offsetNs + m.freqPpm * 1000 * (Number(tNs - m.t0Ns) / 1e9);
}
