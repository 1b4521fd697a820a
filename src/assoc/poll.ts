/**
 * When an association sends (RFC 5905 section 13, ntpd's poll and burst rules): the poll
 * interval, the reach register, iburst/burst volleys, the unreachable back-off and the adaptive
 * poll. Pure state; the association asks it what to do at each poll() and tells it what came back.
 *
 * Rules (docs/associations.md describes them for administrators):
 * - reach shifts left at the start of every poll interval; an accepted reply sets bit 0. Packets
 *   of a volley are not polls: they share their interval's bit, as in ntpd.
 * - a volley is 8 packets 2 s apart: `iburst` while unreachable (reach 0 after the shift, so the
 *   first poll at start-up), `burst` while reachable (ntpd sends bursts only to servers that
 *   answer, so a dead server is not flooded).
 * - the register has read 0 after the shift at 8 polls in a row: report unreachable once, and from
 *   then on each such poll raises the poll by one up to maxpoll (ntpd's unreach back-off). The next
 *   accepted reply starts again from minpoll, so a server that returns is re-learned quickly.
 * - adaptive poll, ntpd's rule (ntp_loopfilter.c) per association: for each filter output, if the
 *   new offset is within POLL_GATE × jitter of what the association predicted, the counter grows
 *   by the poll exponent, else it shrinks by twice that; past +POLL_ADJ_LIMIT the poll goes up by
 *   one, past −POLL_ADJ_LIMIT down by one, and the counter restarts. ntpd compares the offset of a
 *   disciplined clock with zero; Gnomon's raw clock is never disciplined, so the comparison is
 *   with the regression's prediction (the same question: is the clock still where we expect?).
 * - KoD RATE: the poll goes up by one, to at least minpoll + 1 (ntpd), and the volley stops.
 * - every interval is randomised by ±5 % so that many boxes started together do not poll in step.
 */

export const VOLLEY_PACKETS = 8;
export const VOLLEY_SPACING_NS = 2_000_000_000n;
/** Polls the reach register must read 0 before the association reports itself unreachable. */
export const UNREACH_POLLS = 8;
export const POLL_GATE = 4;
export const POLL_ADJ_LIMIT = 30;
/** Interval randomisation, ± this fraction. */
export const POLL_RANDOM_FRACTION = 0.05;

export class PollControl {
  pollLog2S: number;
  reach = 0;
  /** Packets of the current volley still to send after this one. */
  volleyLeft = 0;
  private zeroPolls = 0;
  private unreachReported = false;
  private adjCount = 0;

  constructor(readonly minpollLog2S: number, readonly maxpollLog2S: number) {
    this.pollLog2S = minpollLog2S;
  }

  /** Whether the association has reported itself unreachable and not heard since. */
  get unreachable(): boolean {
    return this.unreachReported;
  }

  /**
   * A new poll interval begins (not a volley packet): shifts reach, starts a volley if one is due
   * (volleyLeft), and says whether to report unreachable now (once) and whether reach reads 0.
   */
  beginInterval(iburst: boolean, burst: boolean): { reportUnreachable: boolean; reachZero: boolean } {
    this.reach = (this.reach << 1) & 0xff;
    let reportUnreachable = false;
    if (this.reach === 0) {
      this.zeroPolls++;
      if (this.zeroPolls >= UNREACH_POLLS) {
        if (!this.unreachReported) reportUnreachable = true;
        this.unreachReported = true;
        this.pollLog2S = Math.min(this.pollLog2S + 1, this.maxpollLog2S);
      }
    } else {
      this.zeroPolls = 0;
    }
    const volley = this.reach === 0 ? iburst : burst;
    this.volleyLeft = volley ? VOLLEY_PACKETS - 1 : 0;
    return { reportUnreachable, reachZero: this.reach === 0 };
  }

  /** An accepted reply (the exchange was ours and authentic, whatever its header said). */
  replied(): void {
    this.reach |= 1;
    this.zeroPolls = 0;
    if (this.unreachReported) {
      this.unreachReported = false;
      this.pollLog2S = this.minpollLog2S;
      this.adjCount = 0;
    }
  }

  /** The adaptive rule, for one filter output: |residual| against the gate. */
  adapt(residualNs: number, jitterNs: number): void {
    if (Math.abs(residualNs) < POLL_GATE * jitterNs) {
      this.adjCount += this.pollLog2S;
      if (this.adjCount > POLL_ADJ_LIMIT) {
        this.adjCount = 0;
        this.pollLog2S = Math.min(this.pollLog2S + 1, this.maxpollLog2S);
      }
    } else {
      this.adjCount -= 2 * this.pollLog2S;
      if (this.adjCount < -POLL_ADJ_LIMIT) {
        this.adjCount = 0;
        this.pollLog2S = Math.max(this.pollLog2S - 1, this.minpollLog2S);
      }
    }
  }

  /** KoD RATE: slow down (ntpd: at least minpoll + 1, one step up, never past maxpoll). */
  kodRate(): void {
    this.pollLog2S = Math.min(Math.max(this.pollLog2S + 1, this.minpollLog2S + 1), this.maxpollLog2S);
    this.volleyLeft = 0;
    this.adjCount = 0;
  }

  /**
   * Time from this packet to the next poll() call, ns: the volley spacing while a volley lasts,
   * else 2^poll s randomised by ±5 % (`unit` uniform in [0, 1)). `pollLog2S` overrides the
   * association's own poll (symmetric mode follows the faster of the two peers).
   */
  delayNs(unit: number, pollLog2S = this.pollLog2S): bigint {
    if (this.volleyLeft > 0) return VOLLEY_SPACING_NS;
    const factor = 1 + (2 * unit - 1) * POLL_RANDOM_FRACTION;
    return BigInt(Math.round(2 ** pollLog2S * 1e9 * factor));
  }
}
