/**
 * Which reference the server follows, and what it then says about itself.
 *
 * Interim until issue 4's discipline loop: the served timescale follows the selected source's
 * latest estimate directly (correction = −offset, a phase step each update, no frequency
 * estimate and no holdover beyond ESTIMATE_MAX_AGE_NS). That is enough for served time to be
 * GPS time to within the source's jitter while the reference is there; the loop will replace
 * `follow` and keep `select`'s contract.
 *
 * Selection order, as an ntpd or chrony administrator expects from a GPS + PPS box:
 * 1. usable refclock estimates (not `noselect`, receiver has a fix, recent): pulse-based before
 *    timecode-only, then `prefer`, then the lower jitter;
 * 2. else the local clock if configured (`server 127.127.1.0` + `fudge ... stratum N`), served
 *    at that stratum (chrony's `local stratum N`);
 * 3. else unsynchronised (LI=3, stratum 16).
 * The timescale keeps its last correction when the reference goes: stepping back to the raw
 * clock would throw clients off by whatever the GPS had corrected.
 *
 * Pure: estimates and "now" come in; the daemon publishes what comes out.
 */
import { LeapIndicator, asciiRefId } from '../ntp/constants.js';
import type { NtpTimestamp } from '../ntp/timestamp.js';
import type { LeapWarning } from '../../drivers/driver.js';
import type { SourceEstimate } from '../refclock/source.js';
import { type ServerSnapshot, unsynchronisedSnapshot } from '../server/state.js';

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

export interface Candidate {
  readonly name: string;
  readonly estimate: SourceEstimate | null;
  readonly prefer: boolean;
  readonly noselect: boolean;
  /** `fudge stratum` of the refclock (0 by default; served as stratum + 1). */
  readonly stratum: number;
}

export type Selection =
  | { readonly kind: 'refclock'; readonly name: string; readonly estimate: SourceEstimate; readonly stratum: number }
  | { readonly kind: 'local'; readonly stratum: number }
  | { readonly kind: 'none' };

export function selectReference(candidates: readonly Candidate[], localStratum: number | undefined): Selection {
  let best: Candidate | undefined;
  for (const c of candidates) {
    const e = c.estimate;
    if (c.noselect || e === null || e.fix.mode === 'none') continue;
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

/** A name for logs and status: "PPS(0)", "LOCAL(0)", "none". */
export function selectionName(s: Selection): string {
  return s.kind === 'refclock' ? s.name : s.kind === 'local' ? 'LOCAL(0)' : 'none';
}

const LEAP_OF: Readonly<Record<LeapWarning, LeapIndicator>> = {
  none: LeapIndicator.NoWarning,
  unknown: LeapIndicator.NoWarning,
  insert: LeapIndicator.AddSecond,
  delete: LeapIndicator.DeleteSecond,
};

/**
 * The snapshot the server publishes for a selection at served time `now` (reference time).
 * Root dispersion for a refclock = its jitter + the precision + PHI × the estimate's age (RFC
 * 5905's growth, so a stale estimate never claims more than it knows), + TIMECODE_DISPERSION_S
 * when there is no PPS.
 */
export function snapshotForSelection(s: Selection, precisionLog2S: number, now: NtpTimestamp, nowNs: bigint): ServerSnapshot {
  if (s.kind === 'none') return unsynchronisedSnapshot(precisionLog2S);
  if (s.kind === 'local') {
    return {
      leap: LeapIndicator.NoWarning, stratum: s.stratum, precisionLog2S, rootDelayS: 0,
      rootDispersionS: LOCAL_CLOCK_DISPERSION_S, referenceId: asciiRefId('LOCL'), referenceTime: now,
    };
  }
  const e = s.estimate;
  const ageS = Math.max(0, Number(nowNs - e.atNs) / 1e9);
  return {
    leap: LEAP_OF[e.leap],
    stratum: s.stratum,
    precisionLog2S,
    rootDelayS: 0,
    rootDispersionS: e.jitterNs / 1e9 + 2 ** precisionLog2S + PHI_S_PER_S * ageS + (e.basis === 'timecode' ? TIMECODE_DISPERSION_S : 0),
    referenceId: asciiRefId(e.refid.slice(0, 4)),
    referenceTime: now,
  };
}
