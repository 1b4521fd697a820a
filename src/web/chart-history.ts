/**
 * The last hour of offset, frequency and served-requests rate for the status page's charts, kept
 * server-side in a fixed ring (so a page opened now still shows the hour before it).
 */
import type { StatusReport } from '../daemon/status.js';

export interface ChartPoint {
  /** Unix seconds. */
  readonly t: number;
  /** The selected refclock's offset estimate, ms (null when it has none). */
  readonly offsetMs: number | null;
  readonly freqPpm: number;
  /** NTP time replies per second since the previous point. */
  readonly servedPerS: number;
}

export class ChartHistory {
  private readonly points: (ChartPoint | undefined)[];
  private next = 0;
  private count = 0;
  private lastServed: { t: number; n: number } | undefined;

  /** Default: one point every 2 s for an hour. */
  constructor(readonly capacity = 1800) {
    this.points = new Array<ChartPoint | undefined>(capacity);
  }

  /** Adds a point from a status report taken at unix seconds `t`. */
  record(report: StatusReport, t: number): ChartPoint {
    const selected = report.refclocks.find((r) => r.name === report.server.selected) ?? report.refclocks.find((r) => r.estimate !== null);
    const served = report.counters.processed ?? 0;
    const prev = this.lastServed;
    const servedPerS = prev && t > prev.t && served >= prev.n ? (served - prev.n) / (t - prev.t) : 0;
    this.lastServed = { t, n: served };
    const point: ChartPoint = {
      t, offsetMs: selected?.estimate ? selected.estimate.offsetNs / 1e6 : null, freqPpm: report.server.freqPpm, servedPerS,
    };
    this.points[this.next] = point;
    this.next = (this.next + 1) % this.capacity;
    this.count = Math.min(this.count + 1, this.capacity);
    return point;
  }

  /** Points after `since` (unix seconds), oldest first. */
  since(since = -Infinity): ChartPoint[] {
    const out: ChartPoint[] = [];
    for (let i = 0; i < this.count; i++) {
      const p = this.points[(this.next - this.count + i + this.capacity) % this.capacity];
      if (p !== undefined && p.t > since) out.push(p);
    }
    return out;
  }
}
