/**
 * What happened to received packets, counted (never logged) in the hot path.
 * Names follow ntpd's `sysstats` so ntpq can show them later (issue: mode 6).
 */
export class ServerCounters {
  /** Every datagram handed to the handler. */
  received = 0;
  /** Packets of the current version (4). */
  currentVersion = 0;
  /** Packets of versions 1-3. */
  olderVersion = 0;
  /** Too short, bad version, malformed extension fields or MAC. */
  badFormat = 0;
  /** MAC present but not verifiable (answered with crypto-NAK). */
  authFailed = 0;
  /** Requests whose MAC verified under a trusted key (answered with a MAC under the same key). */
  authenticated = 0;
  /** Modes the server does not answer (or not yet), and refused peering. */
  declined = 0;
  /** Dropped or refused by a restrict rule (ignore, noserve, notrust, version). */
  restricted = 0;
  /** Over the rate limit of a `limited` rule. */
  rateLimited = 0;
  /** Kiss-o'-death replies sent (RATE, DENY, RSTR). */
  kodSent = 0;
  /** ... of which RATE (rate limit), DENY (noserve, version) and RSTR (notrust). */
  kodRate = 0;
  kodDeny = 0;
  kodRstr = 0;
  /** Time replies sent (mode 4 and mode 2). */
  processed = 0;
  /** Mode 6 (ntpq) requests handed to the responder (ntpd's ss_numctlreq). */
  controlRequests = 0;
  /** Mode 1/2 from configured peers and mode 5 from broadcasters, handed to the associations. */
  toAssociations = 0;
  /** Replies sent in NTP interleaved mode (the fast path only; src/server/interleave). */
  interleaved = 0;
  /** Kernel transmit stamps read back from the error queue and recorded for interleaved replies. */
  txStampKernel = 0;
  /** Interleaved replies that carried the daemon's transmit time because no kernel stamp had been recorded. */
  txStampMissing = 0;
  /** Kernel transmit stamps that matched no saved reply (or came more than 1 s after the send). */
  txStampUnmatched = 0;
  /** Short batches after which the fast path waited `--rx-coalesce-us` before receiving again (src/server/fast/coalescing.ts). */
  rxCoalesced = 0;
  /** Batches whose transmit stamp was taken again because writing it was interrupted (> 20 µs: a GC step, a preemption). */
  txRestampRetaken = 0;

  reset(): void {
    this.received = this.currentVersion = this.olderVersion = this.badFormat = this.authFailed = this.authenticated = 0;
    this.declined = this.restricted = this.rateLimited = this.kodSent = this.kodRate = this.kodDeny = this.kodRstr = this.processed = this.controlRequests = this.toAssociations = 0;
    this.interleaved = this.txStampKernel = this.txStampMissing = this.txStampUnmatched = this.rxCoalesced = this.txRestampRetaken = 0;
  }
}
