/**
 * Jitter filter for labelled pulses: a median filter that rejects offsets far from their neighbours.
 *
 * Kept apart from pairing (as chrony keeps its sample filter apart from refclock pairing): pairing
 * decides which second an edge marks, this decides whether the edge's timestamp is believable.
 * A plain median of offsets would reject everything on a drifting clock (10 ppm moves the offset
 * 10 µs per pulse), so the recent offsets are detrended with a Theil–Sen line (median of pairwise
 * slopes) and the current one is judged by its residual: reject if |residual − median residual| >
 * max(k × MAD, floorNs). Rejected offsets still enter the history, so a genuine step (the clock
 * was stepped) is accepted once it holds half the window, instead of being refused forever.
 *
 * Pure: instants are the edges' bigint ns; offsets number ns (+ means the local clock is ahead).
 */
import { correctSample, type ClockChange } from '../discipline/steer.js';

export interface JitterFilterConfig {
  /** Offsets kept. */
  readonly window: number;
  /** Offsets needed in the history before one is judged; earlier ones are accepted. */
  readonly minHistory: number;
  /** Threshold in MADs of the residuals. */
  readonly k: number;
  /** Smallest threshold, so a quiet source (MAD of 1 µs) does not reject its ordinary jitter. */
  readonly floorNs: number;
}

export const DEFAULT_JITTER_FILTER_CONFIG: JitterFilterConfig = {
  window: 16,
  minHistory: 4,
  k: 5,
  floorNs: 20_000,
};

export type FilterVerdict =
  | { readonly accepted: true; readonly residualNs: number | null }
  | { readonly accepted: false; readonly reason: 'jitterOutlier'; readonly residualNs: number; readonly thresholdNs: number };

function median(values: readonly number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const n = s.length;
  if (n === 0) return 0;
  const hi = s[n >> 1] ?? 0;
  return n % 2 === 1 ? hi : ((s[(n >> 1) - 1] ?? 0) + hi) / 2;
}

export class JitterFilter {
  private readonly cfg: JitterFilterConfig;
  private readonly history: { readonly edgeNs: bigint; offsetNs: number }[] = [];
  private readonly count = { accepted: 0, jitterOutlier: 0 };

  constructor(config: Partial<JitterFilterConfig> = {}) {
    this.cfg = { ...DEFAULT_JITTER_FILTER_CONFIG, ...config };
  }

  get counters(): Readonly<{ accepted: number; jitterOutlier: number }> {
    return { ...this.count };
  }

  /** The reference moved by stepNs against the local clock (a leap): the history moves with it, so the next pulse is no outlier. */
  referenceStepped(stepNs: number): void {
    for (const p of this.history) p.offsetNs += stepNs;
  }

  /** Gnomon changed the local clock (kernel step or frequency): the history is re-expressed on the changed clock. */
  clockChanged(change: ClockChange): void {
    for (let i = 0; i < this.history.length; i++) {
      const h = this.history[i]!;
      const c = correctSample(h.edgeNs, h.offsetNs, change);
      this.history[i] = { edgeNs: c.sampleNs, offsetNs: c.offsetNs };
    }
  }

  /** Judge one labelled pulse against the recent ones, then remember it. */
  add(edgeNs: bigint, offsetNs: number): FilterVerdict {
    const verdict = this.judge(edgeNs, offsetNs);
    this.history.push({ edgeNs, offsetNs });
    if (this.history.length > this.cfg.window) this.history.shift();
    if (verdict.accepted) this.count.accepted++;
    else this.count.jitterOutlier++;
    return verdict;
  }

  private judge(edgeNs: bigint, offsetNs: number): FilterVerdict {
    const h = this.history;
    if (h.length < this.cfg.minHistory) return { accepted: true, residualNs: null };
    // Seconds relative to the new edge keep the numbers small enough for doubles.
    const t = h.map((p) => Number(p.edgeNs - edgeNs) / 1e9);
    const slopes: number[] = [];
    for (let i = 0; i < h.length; i++) {
      for (let j = i + 1; j < h.length; j++) {
        const dt = (t[j] ?? 0) - (t[i] ?? 0);
        if (dt !== 0) slopes.push(((h[j]?.offsetNs ?? 0) - (h[i]?.offsetNs ?? 0)) / dt);
      }
    }
    const slopeNsPerS = slopes.length > 0 ? median(slopes) : 0;
    const residuals = h.map((p, i) => p.offsetNs - slopeNsPerS * (t[i] ?? 0));
    // The line's value at the new edge (t = 0) is the median residual.
    const centreNs = median(residuals);
    const madNs = median(residuals.map((r) => Math.abs(r - centreNs)));
    const thresholdNs = Math.max(this.cfg.k * madNs, this.cfg.floorNs);
    const residualNs = offsetNs - centreNs;
    if (Math.abs(residualNs) > thresholdNs) return { accepted: false, reason: 'jitterOutlier', residualNs, thresholdNs };
    return { accepted: true, residualNs };
  }
}
