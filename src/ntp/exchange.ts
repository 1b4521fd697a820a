/**
 * The on-wire calculation of a client/server exchange (RFC 5905 section 8).
 *
 *   t1 = client transmit (origin), t2 = server receive, t3 = server transmit, t4 = client receive.
 */
import { ntpDiffSeconds, type NtpTimestamp } from './timestamp.js';

export interface ExchangeResult {
  /** θ, seconds: + means the server's clock is ahead of ours (RFC 5905 sign; ntpdate prints this). */
  readonly offsetS: number;
  /** δ, seconds: round trip minus the server's processing time; never negative (clamped, as ntpd does with precision). */
  readonly delayS: number;
}

export function computeExchange(t1: NtpTimestamp, t2: NtpTimestamp, t3: NtpTimestamp, t4: NtpTimestamp): ExchangeResult {
  const a = ntpDiffSeconds(t2, t1);
  const b = ntpDiffSeconds(t3, t4);
  const offsetS = (a + b) / 2;
  const delayS = Math.max(0, ntpDiffSeconds(t4, t1) - ntpDiffSeconds(t3, t2));
  return { offsetS, delayS };
}
