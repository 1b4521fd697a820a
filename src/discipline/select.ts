/**
 * Which source the server follows right now (discipline.ts adds holdover and the snapshot).
 *
 * Selection order, as an ntpd or chrony administrator expects from a GPS + PPS box:
 * 1. usable refclock estimates (not `noselect`, receiver has a fix, recent): pulse-based before
 *    timecode-only, then `prefer`, then the lower jitter;
 * 1b. else upstream servers and peers (src/assoc): `prefer`, then the lower stratum, then the
 *    shorter root distance (falsetickers were removed before, intersect.ts);
 * 2. else the local clock if configured (`server 127.127.1.0` + `fudge ... stratum N`), served
 *    at that stratum (chrony's `local stratum N`);
 * 3. else unsynchronised (LI=3, stratum 16).
 *
 * Pure: estimates come in, a choice comes out.
 */
import { estimateUsable, type SourceEstimate } from '../refclock/source.js';

export interface Candidate {
  readonly name: string;
  readonly estimate: SourceEstimate | null;
  readonly prefer: boolean;
  readonly noselect: boolean;
  /** `fudge stratum` of the refclock (0 by default), or an upstream server's stratum: served as stratum + 1. */
  readonly stratum: number;
  /** `true` on the server line (ntpd): never rejected as a falseticker. */
  readonly alwaysTrue?: boolean;
  /** Voter id for falseticker rejection (intersect.ts): a PPS votes with the receiver that labels it. Default: name. */
  readonly group?: string;
}

export type Selection =
  | { readonly kind: 'refclock'; readonly name: string; readonly estimate: SourceEstimate; readonly stratum: number }
  | { readonly kind: 'local'; readonly stratum: number }
  | { readonly kind: 'none' };

export function selectReference(candidates: readonly Candidate[], localStratum: number | undefined): Selection {
  let best: Candidate | undefined;
  for (const c of candidates) {
    const e = c.estimate;
    if (c.noselect || e === null || !estimateUsable(e)) continue;
    if (best === undefined || better(c, best)) best = c;
  }
  if (best?.estimate) {
    return { kind: 'refclock', name: best.name, estimate: best.estimate, stratum: Math.min(15, best.stratum + 1) };
  }
  if (localStratum !== undefined && localStratum >= 1 && localStratum <= 15) return { kind: 'local', stratum: localStratum };
  return { kind: 'none' };
}

/** Pulses, then timecodes, then other servers: the GPS is stratum 0, an upstream is at least 1. */
const BASIS_RANK: Readonly<Record<SourceEstimate['basis'], number>> = { pulse: 0, timecode: 1, network: 2 };

function better(a: Candidate, b: Candidate): boolean {
  const ea = a.estimate!;
  const eb = b.estimate!;
  if (ea.basis !== eb.basis) return BASIS_RANK[ea.basis] < BASIS_RANK[eb.basis];
  if (a.prefer !== b.prefer) return a.prefer;
  if (ea.path && eb.path) {
    // ntpd's order among servers: the lower stratum, then the shorter root distance.
    if (ea.path.stratum !== eb.path.stratum) return ea.path.stratum < eb.path.stratum;
    return pathDistanceS(ea) < pathDistanceS(eb);
  }
  return ea.jitterNs < eb.jitterNs;
}

/** Root distance without the ageing terms (both candidates are judged at the same instant). */
function pathDistanceS(e: SourceEstimate): number {
  const p = e.path!;
  return (p.rootDelayS + p.delayS) / 2 + p.rootDispersionS + p.dispersionS + e.jitterNs / 1e9;
}

