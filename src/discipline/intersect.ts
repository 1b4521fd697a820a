/**
 * Falseticker rejection: Marzullo's intersection over the sources' correctness intervals, as
 * RFC 5905's clock select does, before the best source is picked (select.ts).
 *
 * Each source claims the reference is within [offset − d, offset + d] of the local clock, d its
 * root distance (here the estimate's dispersion: refclocks have no delay). The largest group of
 * sources whose intervals share a point is the truechimers; the others are falsetickers and are
 * not selected (ntpq shows them with `x`). A majority is required: with no point shared by more
 * than half the voters, nobody is trusted.
 *
 * Voters, not sources: a PPS counts with the receiver whose sentences name its seconds (they
 * are one GPS; `group`), so a GPS and its own PPS never outvote a second clock. With fewer than
 * three voters there is no majority to speak of (two that disagree cannot tell which is wrong),
 * so everything passes, as ntpd with `tos minsane 1`; upstream servers (issue 7) join the vote.
 *
 * Pure. Offsets and distances in ns.
 */
import type { Candidate } from './select.js';
import { estimateUsable } from '../refclock/source.js';

export interface Interval {
  /** Voter id: the GPS a PPS belongs to, or the source itself. */
  readonly group: string;
  readonly offsetNs: number;
  /** Half-width: the root distance, ns. */
  readonly distanceNs: number;
}

export interface Intersection {
  /** Voters whose intervals contain the majority's common point. */
  readonly truechimers: ReadonlySet<string>;
  /** Voters outside it. */
  readonly falsetickers: ReadonlySet<string>;
  /** A majority was found (always true below three voters). */
  readonly majority: boolean;
}

/** Below this many voters nobody can be outvoted. */
export const MIN_VOTERS = 3;

export function intersect(intervals: readonly Interval[]): Intersection {
  const groups = new Map<string, Interval>();
  // One interval per voter: its narrowest (a PPS's, not its NMEA's).
  for (const i of intervals) {
    const had = groups.get(i.group);
    if (!had || i.distanceNs < had.distanceNs) groups.set(i.group, i);
  }
  const voters = [...groups.values()];
  const all = new Set(voters.map((v) => v.group));
  if (voters.length < MIN_VOTERS) return { truechimers: all, falsetickers: new Set(), majority: true };

  // Sweep the endpoints; at equal positions an opening comes first, so touching intervals overlap.
  const edges = voters.flatMap((v) => [
    { at: v.offsetNs - v.distanceNs, open: 1 },
    { at: v.offsetNs + v.distanceNs, open: -1 },
  ]).sort((a, b) => a.at - b.at || b.open - a.open);
  let depth = 0;
  let best = 0;
  let point = 0;
  for (const e of edges) {
    depth += e.open;
    if (depth > best) {
      best = depth;
      point = e.at;
    }
  }
  if (best * 2 <= voters.length) return { truechimers: new Set(), falsetickers: all, majority: false };
  const truechimers = new Set(voters.filter((v) => Math.abs(v.offsetNs - point) <= v.distanceNs).map((v) => v.group));
  return { truechimers, falsetickers: new Set([...all].filter((g) => !truechimers.has(g))), majority: true };
}

/** The candidates that may be selected, and the names of those rejected as falsetickers. */
export function rejectFalsetickers(candidates: readonly Candidate[], distanceNs: (c: Candidate) => number):
  { readonly kept: Candidate[]; readonly falsetickers: ReadonlySet<string> } {
  const usable = candidates.filter((c) => !c.noselect && c.estimate !== null && estimateUsable(c.estimate));
  const result = intersect(usable.map((c) => ({ group: c.group ?? c.name, offsetNs: c.estimate!.offsetNs, distanceNs: distanceNs(c) })));
  const falsetickers = new Set(usable.filter((c) => !c.alwaysTrue && result.falsetickers.has(c.group ?? c.name)).map((c) => c.name));
  return { kept: candidates.filter((c) => !falsetickers.has(c.name)), falsetickers };
}
