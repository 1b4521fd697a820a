/**
 * A broadcast client association (`broadcastclient`; ntpd's MODE_BCLIENT, host mode 6): the
 * server's mode 5 packets give one timestamp each, so their offset needs the one-way delay,
 * which a broadcast alone cannot measure.
 *
 * As ntpd does: on the first broadcast from a server (the shell mobilises this association for
 * it), a calibration volley of client exchanges (8 mode 3 packets 2 s apart, like iburst, through
 * a client-mode Association) measures the round-trip delay δ. From then on every broadcast is a
 * sample: offset = (T4 − T3) − δ/2 (local − server), delay δ. If the calibration got no answer
 * (a server that broadcasts but does not serve unicast), δ is ntpd's `broadcastdelay` default,
 * 4 ms, and the estimate says so through its delay. A broadcast whose offset is more than
 * 128 ms (the step threshold) from what the association predicts starts a new calibration: a
 * path or server change makes the old δ wrong, and a sample that far off is not followed.
 *
 * Reach: the register shifts once per broadcast interval (2^poll of the server's packets, 64 s
 * until the first says otherwise), computed from elapsed time when the association is asked, so
 * there is no timer; each accepted broadcast sets bit 0. Between calibrations nextPollNs() is
 * NEVER_NS: nothing is sent.
 *
 * With a key configured, a broadcast must carry a MAC under that key that verifies; without one,
 * any broadcast is accepted (and the shell decides whom to listen to). Pure.
 */
import { Mode, PHI_S_PER_S } from '../ntp/constants.js';
import { OffsetRegression, predictOffsetNs } from '../discipline/regression.js';
import { absorbedNs, type ClockChange } from '../discipline/steer.js';
import { NO_FIX, type SourceEstimate } from '../refclock/source.js';
import { unixNsFromNtp, type NtpTimestamp } from '../ntp/timestamp.js';
import { Association, DEFAULT_PRECISION_LOG2S, NEVER_NS, STALE_POLLS, type SystemState } from './association.js';
import { ClockFilter, UNKNOWN_FREQ_SD_PPM } from './filter.js';
import { checkMac, decodeReceived, headerReject, leapWarning, log2ToNs, MAXDIST_S, refidForAddress } from './onwire.js';
import type { AssociationAction, AssociationConfig, AssociationStatus, LocalTime, ReplyRejectReason, UpstreamState } from './types.js';
import { VOLLEY_PACKETS, VOLLEY_SPACING_NS } from './poll.js';

/** Round-trip delay assumed when the calibration got no answer, ns (ntpd's `broadcastdelay` default, 4 ms). */
export const DEFAULT_BROADCAST_DELAY_NS = 4_000_000;
/** A broadcast this far from the prediction starts a new calibration, ns (ntpd's step threshold). */
export const RECALIBRATE_NS = 128_000_000;
/** Broadcast interval assumed before a packet states one, log2 s. */
const DEFAULT_BROADCAST_POLL_LOG2S = 6;

export class BroadcastClientAssociation {
  private calibration: Association | null;
  private calibrationPackets = 0;
  /** When the volley's last answer is no longer awaited: the calibration ends there. */
  private calibrationEndNs = NEVER_NS;
  private sent = 0;
  /** δ from the calibration (or the default), ns; null until calibrated. */
  private delayNs: number | null = null;
  private delayAssumed = false;
  /** The calibration's offset, for the jump check before the broadcast fit exists. */
  private calibratedOffsetNs = 0;
  private readonly filter = new ClockFilter();
  private readonly fit = new OffsetRegression();
  private reachReg = 0;
  private nextShiftNs: bigint;
  private broadcastPollLog2S = DEFAULT_BROADCAST_POLL_LOG2S;
  private lastXmt: NtpTimestamp | null = null;
  private upstream: UpstreamState | null = null;
  /** The latest broadcast said unsynchronised: its old samples are not followed. */
  private serverUnfit = false;
  private lastReceiveNs: bigint | null = null;
  private ourPrecisionLog2S = DEFAULT_PRECISION_LOG2S;
  private readonly rejects: Partial<Record<ReplyRejectReason, number>> = {};
  private lastReject: ReplyRejectReason | null = null;
  private received = 0;
  private broadcasts = 0;
  private calibrations = 0;
  private readonly refid: number;

  constructor(readonly config: AssociationConfig, private readonly random: (out: Uint8Array) => void, startNs: bigint) {
    this.nextShiftNs = startNs + BigInt(log2ToNs(this.broadcastPollLog2S));
    this.refid = refidForAddress(config.address);
    this.calibration = this.newCalibration(startNs);
  }

  private newCalibration(startNs: bigint): Association {
    this.calibrations++;
    this.calibrationPackets = 0;
    this.calibrationEndNs = NEVER_NS;
    return new Association({ ...this.config, mode: 'client', iburst: true, burst: false }, this.random, startNs);
  }

  /** Raw ns of the next calibration packet; NEVER_NS between calibrations. */
  nextPollNs(): bigint {
    if (!this.calibration) return NEVER_NS;
    return this.calibrationPackets >= VOLLEY_PACKETS ? this.calibrationEndNs : this.calibration.nextPollNs();
  }

  /** Whether a calibration has set δ (and whether δ is measured or assumed). */
  get calibrated(): { delayNs: number; assumed: boolean } | null {
    return this.delayNs === null ? null : { delayNs: this.delayNs, assumed: this.delayAssumed };
  }

  /** A calibration packet (mode 3), or the end of the volley. */
  poll(now: LocalTime, system?: SystemState): AssociationAction[] {
    if (system) this.ourPrecisionLog2S = system.precisionLog2S;
    const c = this.calibration;
    if (!c) return [];
    if (this.calibrationPackets >= VOLLEY_PACKETS) {
      this.finishCalibration(c);
      return [];
    }
    this.calibrationPackets++;
    if (this.calibrationPackets === VOLLEY_PACKETS) this.calibrationEndNs = now.rawNs + VOLLEY_SPACING_NS;
    const sends = c.poll(now, system).filter((a) => a.kind === 'send');
    this.sent += sends.length;
    // Only the packet: the calibration's own reach bookkeeping means nothing to a broadcast client.
    return sends;
  }

  /** A mode 4 reply to a calibration packet. */
  receive(buf: Uint8Array, length: number, rx: LocalTime): AssociationAction[] {
    this.received++;
    if (!this.calibration) return this.reject('bogusOrigin');
    this.calibration.receive(buf, length, rx);
    // A server that refuses unicast (KoD DENY/RSTR) may still be heard: δ is then assumed.
    if (this.calibration.status(rx.rawNs).demobilised) this.finishCalibration(this.calibration);
    return [];
  }

  private finishCalibration(c: Association): void {
    const f = c.status(0n).filter;
    if (f) {
      this.delayNs = f.delayNs;
      this.calibratedOffsetNs = f.offsetNs;
      this.delayAssumed = false;
    } else {
      this.delayNs = DEFAULT_BROADCAST_DELAY_NS;
      this.delayAssumed = true;
    }
    this.calibration = null;
  }

  /** A mode 5 packet from the broadcaster. */
  receiveBroadcast(buf: Uint8Array, length: number, rx: LocalTime): AssociationAction[] {
    this.received++;
    const r = decodeReceived(buf, length);
    if (r === null) return this.reject('badFormat');
    const h = r.header;
    if (h.mode !== Mode.Broadcast) return this.reject('badMode');
    if (this.lastXmt && this.lastXmt.seconds === h.transmitTimestamp.seconds && this.lastXmt.fraction === h.transmitTimestamp.fraction) {
      return this.reject('duplicate');
    }
    const auth = checkMac(buf, r, this.config.key);
    if (auth !== 'ok') return this.reject(auth);
    this.lastXmt = h.transmitTimestamp;
    this.broadcasts++;
    this.advanceReach(rx.rawNs);
    this.reachReg |= 1;
    this.lastReceiveNs = rx.rawNs;
    if (h.poll >= 4 && h.poll <= 17) this.broadcastPollLog2S = h.poll;
    const bad = headerReject(h);
    this.serverUnfit = bad !== null;
    if (bad !== null) return this.reject(bad);
    this.upstream = {
      leap: h.leap, stratum: h.stratum, precisionLog2S: h.precision, rootDelayS: h.rootDelay / 65_536,
      rootDispersionS: h.rootDispersion / 65_536, refid: h.referenceId, reftime: h.referenceTimestamp,
    };
    if (this.delayNs === null) return []; // calibrating: reachable, no sample yet
    const t3 = unixNsFromNtp(h.transmitTimestamp, rx.rawNs);
    const offsetNs = Number(rx.rawNs - t3) - this.delayNs / 2;
    const model = this.fit.model;
    const expectedNs = model ? predictOffsetNs(model, rx.rawNs) : this.calibratedOffsetNs;
    if (Math.abs(offsetNs - expectedNs) > RECALIBRATE_NS) {
      // The path or the server changed: measure δ again rather than follow a jump.
      this.delayNs = null;
      this.fit.reset();
      this.calibration = this.newCalibration(rx.rawNs);
      return [];
    }
    const dispersionNs = log2ToNs(h.precision) + log2ToNs(this.ourPrecisionLog2S) + PHI_S_PER_S * this.delayNs;
    const rootDistanceS = this.upstream.rootDelayS / 2 + this.upstream.rootDispersionS + this.delayNs / 2e9 + dispersionNs / 1e9;
    if (rootDistanceS > MAXDIST_S) return this.reject('distance');
    // Every broadcast has the same δ: the filter's ranking is by age alone, so the newest wins.
    const out = this.filter.add({ atNs: rx.rawNs, offsetNs, delayNs: this.delayNs, dispersionNs }, model?.freqPpm ?? 0,
      UNKNOWN_FREQ_SD_PPM, log2ToNs(this.ourPrecisionLog2S));
    if (out) this.fit.add(out.atNs, out.offsetNs);
    return [];
  }

  /** Shifts the reach register once per broadcast interval that has passed. */
  private advanceReach(nowNs: bigint): void {
    const interval = BigInt(log2ToNs(this.broadcastPollLog2S));
    while (nowNs >= this.nextShiftNs) {
      this.reachReg = (this.reachReg << 1) & 0xff;
      this.nextShiftNs += interval;
    }
  }

  private reject(reason: ReplyRejectReason): AssociationAction[] {
    this.rejects[reason] = (this.rejects[reason] ?? 0) + 1;
    this.lastReject = reason;
    return [];
  }

  /** The reach register as of nowNs. */
  reachAt(nowNs: bigint): number {
    this.advanceReach(nowNs);
    return this.reachReg;
  }

  /**
   * The broadcast fit at nowNs; while the first calibration runs, the calibration's own client
   * estimate (its exchanges are as good a measurement). Null when reach is 0 or stale.
   */
  estimate(nowNs: bigint): SourceEstimate | null {
    const model = this.fit.model;
    if (model === null || this.upstream === null) return this.calibration?.estimate(nowNs) ?? null;
    if (this.reachAt(nowNs) === 0 || this.serverUnfit) return null;
    if (Number(nowNs - model.lastSampleNs) > STALE_POLLS * log2ToNs(this.broadcastPollLog2S)) return null;
    const u = this.upstream;
    return {
      basis: 'network',
      path: {
        stratum: u.stratum, rootDelayS: u.rootDelayS, rootDispersionS: u.rootDispersionS,
        delayS: (this.delayNs ?? 0) / 1e9, dispersionS: this.filter.dispersionNs(nowNs) / 1e9, refid: this.refid,
      },
      offsetNs: predictOffsetNs(model, nowNs),
      jitterNs: Math.max(this.filter.jitterNs, model.jitterNs),
      model,
      atNs: model.lastSampleNs,
      leap: leapWarning(u.leap),
      fix: NO_FIX,
      refid: this.config.address,
    };
  }

  status(nowNs: bigint): AssociationStatus {
    const out = this.filter.output;
    const cal = this.calibration?.status(nowNs);
    return {
      name: this.config.name,
      address: this.config.address,
      hmode: 6,
      pmode: this.broadcasts > 0 ? Mode.Broadcast : (cal?.pmode ?? 0),
      prefer: this.config.prefer,
      noselect: this.config.noselect,
      alwaysTrue: this.config.alwaysTrue,
      reach: this.reachAt(nowNs),
      pollLog2S: this.broadcastPollLog2S,
      lastReceiveNs: this.lastReceiveNs ?? cal?.lastReceiveNs ?? null,
      upstream: this.upstream ?? cal?.upstream ?? null,
      filter: out === null ? (cal?.filter ?? null) : {
        offsetNs: out.offsetNs, delayNs: out.delayNs, dispersionNs: this.filter.dispersionNs(nowNs), jitterNs: this.filter.jitterNs,
        stages: this.filter.stagesAt(nowNs),
      },
      keyId: this.config.key?.id ?? 0,
      rejects: this.allRejects(cal?.rejects ?? {}),
      kod: { ...(cal?.kod ?? {}) },
      sent: this.sent,
      received: this.received,
      demobilised: false,
      lastReject: this.lastReject,
      calibrations: this.calibrations,
      broadcastDelayNs: this.delayNs,
    };
  }

  /** Broadcast refusals plus the running calibration's. */
  private allRejects(cal: Partial<Record<ReplyRejectReason, number>>): Partial<Record<ReplyRejectReason, number>> {
    const sum: Partial<Record<ReplyRejectReason, number>> = { ...this.rejects };
    for (const [k, v] of Object.entries(cal) as [ReplyRejectReason, number][]) sum[k] = (sum[k] ?? 0) + v;
    return sum;
  }

  /** Gnomon changed the local clock: the fit, the filter and the reach clock follow (as Association). */
  clockChanged(change: ClockChange): void {
    this.fit.clockChanged(change);
    this.filter.clockChanged(change);
    this.calibration?.clockChanged(change);
    const move = (t: bigint) => t + BigInt(Math.round(absorbedNs(change, t)));
    this.nextShiftNs = move(this.nextShiftNs);
    if (this.lastReceiveNs !== null) this.lastReceiveNs = move(this.lastReceiveNs);
  }
}
