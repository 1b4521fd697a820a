/**
 * Which reference the server follows until the discipline exists (issue 4): the local clock
 * (ntpd's LOCAL driver, `server 127.127.1.0` + `fudge 127.127.1.0 stratum N`) or nothing.
 *
 * Choice: the local clock is served at the fudge stratum itself, as chrony's `local stratum N`
 * does and as the issue asks ("clients report the configured stratum"); ntpd would add one.
 */
import type { GnomonConfig } from '../config/model.js';
import { LeapIndicator, asciiRefId } from '../ntp/constants.js';
import type { NtpTimestamp } from '../ntp/timestamp.js';
import { type ServerSnapshot, unsynchronisedSnapshot } from '../server/state.js';

/** ntpd's LOCAL driver (type 1). */
export const LOCAL_CLOCK_TYPE = 1;
/** ntpd's default stratum for the LOCAL driver when no fudge line sets one. */
export const LOCAL_CLOCK_DEFAULT_STRATUM = 5;
/**
 * Root dispersion claimed for the undisciplined local clock, seconds: ntpd's LOCAL driver
 * reports 10 ms; nothing bounds a free-running oscillator better than that.
 */
export const LOCAL_CLOCK_DISPERSION_S = 0.01;

export interface ReferencePlan {
  readonly kind: 'local' | 'none';
  readonly stratum?: number;
  /** Refclocks configured that this version cannot drive yet (named in a warning). */
  readonly unsupported: readonly string[];
  /** server/pool/peer lines naming other NTP servers: not polled yet (named in a warning). */
  readonly upstream: readonly string[];
}

export function planReference(config: GnomonConfig): ReferencePlan {
  const unsupported: string[] = [];
  const upstream: string[] = [];
  let local: number | undefined;
  for (const a of config.associations) {
    if (!a.refclock) {
      upstream.push(`${a.kind} ${a.host}`);
      continue;
    }
    if (a.refclock.type === LOCAL_CLOCK_TYPE) {
      const fudge = config.fudge.find((f) => f.refclock.type === LOCAL_CLOCK_TYPE && f.refclock.unit === a.refclock!.unit);
      local = fudge?.stratum ?? LOCAL_CLOCK_DEFAULT_STRATUM;
    } else {
      unsupported.push(a.host);
    }
  }
  return local === undefined ? { kind: 'none', unsupported, upstream } : { kind: 'local', stratum: local, unsupported, upstream };
}

export function snapshotFor(plan: ReferencePlan, precisionLog2S: number, now: NtpTimestamp): ServerSnapshot {
  if (plan.kind === 'none' || plan.stratum === undefined || plan.stratum < 1 || plan.stratum > 15) {
    return unsynchronisedSnapshot(precisionLog2S);
  }
  return {
    leap: LeapIndicator.NoWarning,
    stratum: plan.stratum,
    precisionLog2S,
    rootDelayS: 0,
    rootDispersionS: LOCAL_CLOCK_DISPERSION_S,
    referenceId: asciiRefId('LOCL'),
    referenceTime: now,
  };
}
