/**
 * One association: Gnomon as the client of another NTP server (`server`, host mode 3) or as its
 * symmetric peer (`peer`, host mode 1). Pure (ARCHITECTURE.md principle 1): the shell calls
 * poll() when nextPollNs() is due and sends what it returns, hands every datagram from the
 * address to receive(), and reads estimate() for the discipline.
 *
 * Pipeline, as ntpd's and chrony's: on-wire checks and the sample (onwire.ts) → the RFC 5905
 * clock filter (filter.ts) → an OffsetRegression through the filter's outputs, as a refclock's
 * samples go (src/refclock/source.ts), so the discipline fits and combines servers and receivers
 * alike. When to send is poll.ts's business.
 *
 * Data minimisation (RFC 9109, draft-ietf-ntp-data-minimization): a client request carries no
 * state of ours and a random transmit timestamp, which the reply must echo; that nonce is also
 * what makes an off-path spoofer guess 64 bits.
 */
import type { LeapWarning } from '../../drivers/driver.js';
import { Mode } from '../ntp/constants.js';
import { ZERO_TIMESTAMP, isZero, type NtpTimestamp } from '../ntp/timestamp.js';
import { DEFAULT_REGRESSION_CONFIG, OffsetRegression, predictOffsetNs, type RegressionModel } from '../discipline/regression.js';
import { absorbedNs, type ClockChange } from '../discipline/steer.js';
import { NO_FIX, type SourceEstimate } from '../refclock/source.js';
import { unsynchronisedSnapshot, type ServerSnapshot } from '../server/state.js';
import { ClockFilter, UNKNOWN_FREQ_SD_PPM } from './filter.js';
import {
  checkMac, computeSample, decodeReceived, encodeClientRequest, encodeSymmetric, headerReject, kissAction, kissCode, leapWarning,
  log2ToNs, MAXDIST_S, refidForAddress, rootDistanceS, type Received,
} from './onwire.js';
import { PollControl } from './poll.js';
import type { AssociationAction, AssociationConfig, AssociationStatus, LocalTime, NtpSample, ReplyRejectReason, UpstreamState } from './types.js';

/** nextPollNs() of an association that will never poll again (demobilised). */
export const NEVER_NS = 2n ** 63n - 1n;
/** Our precision when the shell has not told us (poll's `system` carries the real one). */
export const DEFAULT_PRECISION_LOG2S = -20;
/** An estimate is stale this many poll intervals after its newest sample. */
export const STALE_POLLS = 8;
/** RFC 5905 SGATE: the popcorn spike gate, in jitters. */
export const SPIKE_GATE = 3;
/** The regression must hold this many outputs before its prediction judges a new one (spikes, adaptive poll). */
export const PREDICTION_MIN_SAMPLES = 8;

/** Our state as the shell passes it to poll() (src/server/state.ts's ServerSnapshot). */
export type SystemState = ServerSnapshot;

function sameTimestamp(a: NtpTimestamp, b: NtpTimestamp): boolean {
  return a.seconds === b.seconds && a.fraction === b.fraction;
}

/** The standard error of a model's prediction at tNs (offset error and frequency error × distance), ns. */
export function predictionSdNs(m: RegressionModel, tNs: bigint): number {
  const carriedNs = m.freqSdPpm * 1e-6 * Number(tNs - m.t0Ns);
  return Math.sqrt(m.offsetSdNs * m.offsetSdNs + carriedNs * carriedNs);
}

/** A packet we sent and may get an answer to: its transmit timestamp and when (raw) it left. */
interface Sent {
  readonly xmt: NtpTimestamp;
  t1Ns: bigint;
}

export class Association {
  private readonly poller: PollControl;
  private readonly filter = new ClockFilter();
  private readonly fit = new OffsetRegression();
  private readonly scratch = new Uint8Array(8);
  private nextNs: bigint;
  private demobilised = false;
  /** Client mode: the request whose reply we await; the nonce of the last one answered (duplicates). */
  private expected: Sent | null = null;
  private answered: NtpTimestamp | null = null;
  /** Symmetric mode: our last packet; the peer's last transmit timestamp, our served time on its arrival, its poll. */
  private lastSent: Sent | null = null;
  private peerXmt: NtpTimestamp | null = null;
  private peerRec: NtpTimestamp = ZERO_TIMESTAMP;
  private peerPollLog2S: number | null = null;
  private upstream: UpstreamState | null = null;
  /** The latest authentic answer said unsynchronised (or an impossible stratum). */
  private serverUnfit = false;
  private pmode = 0;
  private lastReceiveNs: bigint | null = null;
  /** Local instant of the last sample that entered the filter (staleness: the server is still heard). */
  private lastSampleNs: bigint | null = null;
  /** Local instant of the last filter output the regression took (the popcorn rule's clock). */
  private lastUsedNs: bigint | null = null;
  private ourPrecisionLog2S = DEFAULT_PRECISION_LOG2S;
  private readonly rejects: Partial<Record<ReplyRejectReason, number>> = {};
  private readonly kod: Record<string, number> = {};
  private lastReject: ReplyRejectReason | null = null;
  private sent = 0;
  private received = 0;
  private spikes = 0;
  private readonly refid: number;

  constructor(readonly config: AssociationConfig, private readonly random: (out: Uint8Array) => void, startNs: bigint) {
    this.poller = new PollControl(config.minpollLog2S, Math.max(config.minpollLog2S, config.maxpollLog2S));
    this.nextNs = startNs;
    this.refid = refidForAddress(config.address);
  }

  /** Raw ns at which poll() should next be called; NEVER_NS once demobilised. */
  nextPollNs(): bigint {
    return this.demobilised ? NEVER_NS : this.nextNs;
  }

  /** The reach register (8 bits). */
  get reach(): number {
    return this.poller.reach;
  }

  /** Current poll exponent as sent and shown (symmetric mode follows the faster peer). */
  get pollLog2S(): number {
    const own = this.poller.pollLog2S;
    if (this.config.mode !== 'symmetric' || this.peerPollLog2S === null) return own;
    const peer = Math.min(Math.max(this.peerPollLog2S, this.config.minpollLog2S), this.poller.maxpollLog2S);
    return Math.min(own, peer);
  }

  /**
   * Called at or after nextPollNs(): the packet to send now (the shell sends it at once: its T1 is
   * now.rawNs), and 'unreachable' once when the reach register has read 0 for 8 polls.
   * `system` is our own state for symmetric packets (ignored in client mode but for our precision).
   */
  poll(now: LocalTime, system?: SystemState): AssociationAction[] {
    if (this.demobilised) return [];
    if (system) this.ourPrecisionLog2S = system.precisionLog2S;
    const actions: AssociationAction[] = [];
    if (this.poller.volleyLeft > 0) {
      this.poller.volleyLeft--;
    } else {
      const begun = this.poller.beginInterval(this.config.iburst, this.config.burst);
      if (begun.reportUnreachable) actions.push({ kind: 'unreachable' });
      // ntpd shifts an empty stage in for each poll while unreachable: old samples age out.
      if (begun.reachZero && this.filter.output !== null) this.filter.shiftEmpty();
    }
    actions.push({ kind: 'send', packet: this.buildPacket(now, system) });
    this.sent++;
    this.random(this.scratch);
    const unit = ((this.scratch[0]! << 8) | this.scratch[1]!) / 65_536;
    this.nextNs = now.rawNs + this.poller.delayNs(unit, this.pollLog2S);
    return actions;
  }

  private buildPacket(now: LocalTime, system: SystemState | undefined): Uint8Array {
    const { version, key } = this.config;
    if (this.config.mode === 'client') {
      this.random(this.scratch);
      const view = new DataView(this.scratch.buffer);
      const nonce = { seconds: view.getUint32(0), fraction: view.getUint32(4) };
      this.expected = { xmt: nonce, t1Ns: now.rawNs };
      return encodeClientRequest(version, this.pollLog2S, nonce, key);
    }
    const own = system ?? unsynchronisedSnapshot(this.ourPrecisionLog2S);
    this.lastSent = { xmt: now.served, t1Ns: now.rawNs };
    return encodeSymmetric(Mode.SymmetricActive, version, this.pollLog2S, own, this.peerXmt ?? ZERO_TIMESTAMP, this.peerRec, now.served, key);
  }

  /** A datagram from this association's address. Never throws; every refusal is counted by reason. */
  receive(buf: Uint8Array, length: number, rx: LocalTime): AssociationAction[] {
    this.received++;
    if (this.demobilised) return [];
    const r = decodeReceived(buf, length);
    if (r === null) return this.reject('badFormat');
    const h = r.header;
    let t1Ns: bigint;
    if (this.config.mode === 'client') {
      if (h.mode !== Mode.Server) return this.reject('badMode');
      if (this.expected === null || !sameTimestamp(h.originTimestamp, this.expected.xmt)) {
        return this.reject(this.answered !== null && sameTimestamp(h.originTimestamp, this.answered) ? 'duplicate' : 'bogusOrigin');
      }
      const auth = checkMac(buf, r, this.config.key);
      if (auth !== 'ok') return this.reject(auth);
      t1Ns = this.expected.t1Ns;
      this.answered = this.expected.xmt;
      this.expected = null;
    } else {
      if (h.mode !== Mode.SymmetricActive && h.mode !== Mode.SymmetricPassive) return this.reject('badMode');
      if (this.peerXmt !== null && sameTimestamp(h.transmitTimestamp, this.peerXmt)) return this.reject('duplicate');
      const auth = checkMac(buf, r, this.config.key);
      if (auth !== 'ok') return this.reject(auth);
      // Saved even when the origin does not match: both peers' first packets carry origin 0,
      // and the next ones must answer these (RFC 5905 section 8).
      this.peerXmt = h.transmitTimestamp;
      this.peerRec = rx.served;
      this.peerPollLog2S = h.poll;
      if (this.lastSent === null || isZero(h.originTimestamp) || !sameTimestamp(h.originTimestamp, this.lastSent.xmt)) return this.reject('bogusOrigin');
      t1Ns = this.lastSent.t1Ns;
    }
    return this.accept(r, t1Ns, rx);
  }

  /** An authentic answer to a packet of ours: kiss codes, reach, header checks, the sample. */
  private accept(r: Received, t1Ns: bigint, rx: LocalTime): AssociationAction[] {
    const h = r.header;
    const kiss = kissCode(h);
    if (kiss !== null) this.kod[kiss] = (this.kod[kiss] ?? 0) + 1;
    const action = kissAction(h);
    if (action === 'rate') {
      this.poller.kodRate();
      this.nextNs = rx.rawNs + this.poller.delayNs(0.5, this.pollLog2S);
      return [];
    }
    if (action !== null) {
      // DENY / RSTR: this server will not serve us; polling on would only be refused again.
      this.demobilised = true;
      return [{ kind: 'demobilise', reason: action === 'deny' ? 'kodDeny' : 'kodRestrict' }];
    }
    // The exchange was ours and authentic: the server is reachable even if it cannot serve time
    // (two peers starting together must keep talking until one of them synchronises).
    this.poller.replied();
    this.pmode = h.mode;
    this.lastReceiveNs = rx.rawNs;
    const bad = headerReject(h);
    // A server that says it cannot serve time is not followed on its old samples either (ntpd's fit()).
    this.serverUnfit = bad !== null;
    if (bad !== null) return this.reject(bad);
    if (isZero(h.receiveTimestamp) || isZero(h.transmitTimestamp)) return this.reject('badFormat');
    const sample = computeSample({ t1Ns, t2: h.receiveTimestamp, t3: h.transmitTimestamp, t4Ns: rx.rawNs }, h.precision, this.ourPrecisionLog2S,
      this.fit.model?.freqPpm ?? 0);
    this.upstream = {
      leap: h.leap, stratum: h.stratum, precisionLog2S: h.precision, rootDelayS: h.rootDelay / 65_536,
      rootDispersionS: h.rootDispersion / 65_536, refid: h.referenceId, reftime: h.referenceTimestamp,
    };
    if (rootDistanceS(h, sample) > MAXDIST_S) return this.reject('distance');
    this.lastSampleNs = sample.atNs;
    this.absorb(sample);
    return [];
  }

  /** The clock filter, the popcorn spike rule and the regression (RFC 5905 section 10 and A.5.2). */
  private absorb(sample: NtpSample): void {
    const model = this.fit.model;
    const sloped = model !== null && model.samples >= DEFAULT_REGRESSION_CONFIG.minSamplesForSlope;
    const out = this.filter.add(sample, model?.freqPpm ?? 0, sloped ? model.freqSdPpm : UNKNOWN_FREQ_SD_PPM, log2ToNs(this.ourPrecisionLog2S));
    if (out === null) return;
    if (model && model.samples >= PREDICTION_MIN_SAMPLES) {
      const residualNs = out.offsetNs - predictOffsetNs(model, out.atNs);
      const jitterNs = Math.max(this.filter.jitterNs, model.jitterNs, predictionSdNs(model, out.atNs));
      const sinceNs = this.lastUsedNs === null ? Infinity : Number(out.atNs - this.lastUsedNs);
      if (Math.abs(residualNs) > SPIKE_GATE * jitterNs && sinceNs < 2 * log2ToNs(this.pollLog2S)) {
        this.spikes++;
        return;
      }
      this.poller.adapt(residualNs, jitterNs);
    }
    this.lastUsedNs = out.atNs;
    this.fit.add(out.atNs, out.offsetNs);
  }

  private reject(reason: ReplyRejectReason): AssociationAction[] {
    this.rejects[reason] = (this.rejects[reason] ?? 0) + 1;
    this.lastReject = reason;
    return [];
  }

  /**
   * The estimate for the discipline at raw time nowNs: the regression through the filter's
   * outputs, evaluated at nowNs. Null before the first output, when reach is 0, or when the newest
   * usable sample is more than 8 poll intervals old, or the server's latest answer said it is
   * unsynchronised. (The newest sample, not the newest filter
   * output: the minimum-delay rule may hold one stage as the best for 8 polls, and the fit's
   * prediction stays good meanwhile, the server being heard all along.)
   */
  estimate(nowNs: bigint): SourceEstimate | null {
    const fitted = this.fit.model;
    if (fitted === null || this.demobilised || this.poller.reach === 0 || this.upstream === null || this.lastSampleNs === null
      || this.serverUnfit) return null;
    if (Number(nowNs - this.lastSampleNs) > STALE_POLLS * log2ToNs(this.pollLog2S)) return null;
    const u = this.upstream;
    // A slope the fit cannot tell from zero (|f| < 2 SE) is not followed: on a network's hundreds
    // of µs of jitter the first minute's fits swing by tens of ppm (seen on loopback: served time
    // moved ~0.5 ms while the fit settled), and the discipline would steer by that noise.
    const model = Math.abs(fitted.freqPpm) < 2 * fitted.freqSdPpm ? { ...fitted, freqPpm: 0 } : fitted;
    return {
      basis: 'network',
      path: {
        stratum: u.stratum, rootDelayS: u.rootDelayS, rootDispersionS: u.rootDispersionS,
        delayS: (this.filter.output?.delayNs ?? 0) / 1e9, dispersionS: this.filter.dispersionNs(nowNs) / 1e9, refid: this.refid,
      },
      offsetNs: predictOffsetNs(model, nowNs),
      jitterNs: Math.max(this.filter.jitterNs, model.jitterNs),
      model,
      atNs: model.lastSampleNs,
      leap: this.leap,
      fix: NO_FIX,
      refid: this.config.address,
    };
  }

  private get leap(): LeapWarning {
    return this.upstream ? leapWarning(this.upstream.leap) : 'unknown';
  }

  /** Why the latest refused packet was refused (null before any). */
  get lastRejectReason(): ReplyRejectReason | null {
    return this.lastReject;
  }

  status(nowNs: bigint): AssociationStatus {
    const out = this.filter.output;
    return {
      name: this.config.name,
      address: this.config.address,
      hmode: this.config.mode === 'client' ? Mode.Client : Mode.SymmetricActive,
      pmode: this.pmode,
      prefer: this.config.prefer,
      noselect: this.config.noselect,
      alwaysTrue: this.config.alwaysTrue,
      reach: this.poller.reach,
      pollLog2S: this.pollLog2S,
      lastReceiveNs: this.lastReceiveNs,
      upstream: this.upstream,
      filter: out === null ? null : {
        offsetNs: out.offsetNs, delayNs: out.delayNs, dispersionNs: this.filter.dispersionNs(nowNs), jitterNs: this.filter.jitterNs,
        stages: this.filter.stagesAt(nowNs),
      },
      keyId: this.config.key?.id ?? 0,
      rejects: { ...this.rejects },
      kod: { ...this.kod },
      sent: this.sent,
      received: this.received,
      demobilised: this.demobilised,
      spikes: this.spikes,
      unreachable: this.poller.unreachable,
      lastReject: this.lastReject,
    };
  }

  /**
   * Gnomon changed the local clock (steer.ts): stored samples, the fit, the pending exchange's T1
   * and the next poll instant are re-expressed on the changed clock, as RefclockSource does.
   */
  clockChanged(change: ClockChange): void {
    this.fit.clockChanged(change);
    this.filter.clockChanged(change);
    const move = (t: bigint) => t + BigInt(Math.round(absorbedNs(change, t)));
    if (this.expected) this.expected.t1Ns = move(this.expected.t1Ns);
    if (this.lastSent) this.lastSent.t1Ns = move(this.lastSent.t1Ns);
    if (this.lastReceiveNs !== null) this.lastReceiveNs = move(this.lastReceiveNs);
    if (this.lastUsedNs !== null) this.lastUsedNs = move(this.lastUsedNs);
    if (this.lastSampleNs !== null) this.lastSampleNs = move(this.lastSampleNs);
    if (!this.demobilised) this.nextNs = move(this.nextNs);
  }
}
