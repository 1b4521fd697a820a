/**
 * Which source the server follows right now (discipline.ts adds holdover and the snapshot).
 *
 * Selection order, as an ntpd or chrony administrator expects from a GPS + PPS box:
 * 1. usable refclock estimates (not `noselect`, receiver has a fix, recent): pulse-based before
 *    timecode-only, then `prefer`, then the lower jitter;
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
  /** `fudge stratum` of the refclock (0 by default; served as stratum + 1). */
  readonly stratum: number;
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

function better(a: Candidate, b: Candidate): boolean {
  const ea = a.estimate!;
  const eb = b.estimate!;
  if (ea.basis !== eb.basis) return ea.basis === 'pulse';
  if (a.prefer !== b.prefer) return a.prefer;
  return ea.jitterNs < eb.jitterNs;
}

