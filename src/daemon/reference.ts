/**
 * What the server follows: the configured refclocks, else the local clock, else nothing
 * (src/discipline/select.ts has the rules), re-evaluated once a second and published to the
 * server as one snapshot, with the served timescale's correction.
 *
 * The local clock (ntpd's LOCAL driver, `server 127.127.1.0` + `fudge 127.127.1.0 stratum N`)
 * is served at the fudge stratum itself, as chrony's `local stratum N` does; ntpd would add one.
 */
import type { GnomonConfig, RefclockConfig } from '../config/model.js';
import { isModelledNtpdType } from '../config/refclock-config.js';
import { newTimeSpec } from '../clock/clock.js';
import type { RealtimeClock } from '../clock/clock.js';
import { ntpFractionOf, ntpSecondsOf, type Timescale } from '../clock/timescale.js';
import type { ServerStateCell } from '../server/state.js';
import { Discipline, type DisciplineState, type LocalFallback, snapshotForState, stateName } from '../discipline/discipline.js';
import type { NtpTimestamp } from '../ntp/timestamp.js';
import { RefclockSet, type RefclockStatus } from './refclocks.js';
import { LeapKeeper } from '../discipline/leap-keeper.js';
import { formatLeapfileLoadError, loadLeapfile } from './leapfile.js';
import { formatLeapFileProblem, leapTableExpiry } from '../discipline/leap.js';
import { timeSpecToUnixNs } from '../clock/clock.js';
import type { DisciplineOutputs } from './outputs.js';
import type { CorrectionModel } from '../discipline/discipline.js';
import { predictOffsetNs } from '../discipline/regression.js';
import type { Logger } from './log.js';
import type { Candidate } from '../discipline/select.js';
import type { ClockChange } from '../discipline/steer.js';
import type { AssociationStatus } from '../assoc/types.js';

/** What the reference needs of the associations (src/daemon/associations.ts). */
export interface NetworkSources {
  candidates(nowNs: bigint): Candidate[];
  clockChanged(change: ClockChange): void;
  status(nowNs: bigint): AssociationStatus[];
}

/** ntpd's LOCAL driver (type 1). */
export const LOCAL_CLOCK_TYPE = 1;
/** ntpd's default stratum for the LOCAL driver when no fudge line sets one. */
export const LOCAL_CLOCK_DEFAULT_STRATUM = 5;
/** How often the selection is re-evaluated and the snapshot republished, ms (PPS is 1 Hz). */
const UPDATE_INTERVAL_MS = 1000;

export interface ReferencePlan {
  /** The last resort: the configured local clock's stratum, else `tos orphan N`; none = unsynchronised. */
  readonly local?: LocalFallback;
  readonly refclocks: readonly RefclockConfig[];
  /** Refclock pseudo-addresses of ntpd drivers Gnomon does not have (named in a warning). */
  readonly unsupported: readonly string[];
  /** server/pool/peer lines naming other NTP servers (polled by src/daemon/associations.ts). */
  readonly upstream: readonly string[];
}

export function planReference(config: GnomonConfig): ReferencePlan {
  const unsupported: string[] = [];
  const upstream: string[] = [];
  let localStratum: number | undefined;
  for (const a of config.associations) {
    if (!a.refclock) {
      upstream.push(`${a.kind} ${a.host}`);
    } else if (a.refclock.type === LOCAL_CLOCK_TYPE) {
      const fudge = config.fudge.find((f) => f.refclock.type === LOCAL_CLOCK_TYPE && f.refclock.unit === a.refclock!.unit);
      localStratum = fudge?.stratum ?? LOCAL_CLOCK_DEFAULT_STRATUM;
    } else if (!isModelledNtpdType(a.refclock.type)) {
      unsupported.push(a.host);
    }
  }
  const local: LocalFallback | undefined = localStratum !== undefined ? { stratum: localStratum, orphan: false }
    : config.orphanStratum !== undefined ? { stratum: config.orphanStratum, orphan: true } : undefined;
  return { ...(local ? { local } : {}), refclocks: config.refclocks, unsupported, upstream };
}

/** Refclock lines that start the same drivers the same way (positions aside): a reload keeps them running. */
function sameRefclocks(a: readonly RefclockConfig[], b: readonly RefclockConfig[]): boolean {
  const key = (r: RefclockConfig) => JSON.stringify({ ...r, at: undefined });
  return a.length === b.length && a.every((r, i) => key(r) === key(b[i]!));
}

export class Reference {
  private plan: ReferencePlan;
  private refclocks: RefclockSet;
  private readonly discipline: Discipline;
  private leap: LeapKeeper;
  private leapTimer: NodeJS.Timeout | null = null;
  private leapNoted = '';
  private smear: { readonly termNs: number; readonly slopeNsPerS: number } | null = null;
  private outputs: DisciplineOutputs | null = null;
  /** Upstream servers, peers and broadcasters (src/daemon/associations.ts), attached by the daemon. */
  private network: NetworkSources | null = null;
  /** Served time of the last update while tracking: the reference time holdover keeps publishing. */
  private lastUpdate: NtpTimestamp = { seconds: 0, fraction: 0 };
  private timer: NodeJS.Timeout | null = null;
  private readonly now = newTimeSpec();

  constructor(config: GnomonConfig, private readonly raw: RealtimeClock, private readonly timescale: Timescale,
    private readonly state: ServerStateCell, private readonly log: Logger) {
    this.plan = planReference(config);
    this.refclocks = new RefclockSet(this.plan.refclocks, raw, log);
    this.discipline = new Discipline(config.discipline);
    this.leap = this.newLeapKeeper(config);
    this.announce();
  }

  private newLeapKeeper(config: GnomonConfig): LeapKeeper {
    const smear = config.leapSmearIntervalS ?? 0;
    const keeper = new LeapKeeper(null, smear > 0 ? 'smear' : 'step', smear);
    if (config.leapfile) {
      void loadLeapfile(config.leapfile).then((r) => {
        if (!r.ok) {
          this.log.error({ file: config.leapfile!.path }, `${formatLeapfileLoadError(r)}; leap seconds only from the receiver`);
          return;
        }
        keeper.setTable(r.table);
        const warning = leapTableExpiry(r.table, timeSpecToUnixNs(this.now));
        if (warning) this.log.warn({ file: config.leapfile!.path }, formatLeapFileProblem(warning));
        else this.log.info({ file: config.leapfile!.path }, 'leapfile loaded');
      });
    }
    return keeper;
  }

  start(): void {
    this.refclocks.start();
    this.update();
    this.timer = setInterval(() => this.update(), UPDATE_INTERVAL_MS);
    this.timer.unref();
  }

  /** Applies a reloaded config; refclock drivers restart only if their lines changed. */
  async reconfigure(config: GnomonConfig): Promise<void> {
    const next = planReference(config);
    if (!sameRefclocks(this.plan.refclocks, next.refclocks)) {
      await this.refclocks.stop();
      this.refclocks = new RefclockSet(next.refclocks, this.raw, this.log);
      this.refclocks.start();
    }
    this.plan = next;
    this.discipline.configure(config.discipline);
    this.leap = this.newLeapKeeper(config);
    this.announce();
    this.update();
  }

  /** Upstream servers and peers join the selection from now on. */
  attachNetwork(network: NetworkSources): void {
    this.network = network;
  }

  /** Kernel steering, driftfile and statistics (opened by the daemon after dropping privileges). */
  async attachOutputs(outputs: DisciplineOutputs): Promise<void> {
    const old = this.outputs;
    this.outputs = outputs;
    await old?.close({ line: null, trusted: false });
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    if (this.leapTimer) clearTimeout(this.leapTimer);
    this.timer = null;
    await this.refclocks.stop();
    const s = this.discipline.state;
    await this.outputs?.close({ line: this.discipline.correctionModel, trusted: s.kind === 'tracking' && s.estimate.basis === 'pulse' });
  }

  /** Selects, corrects the timescale, publishes; logs when the state or the source changes. */
  update(): void {
    const nowNs = this.refclocks.nowNs();
    const precision = this.timescale.precisionLog2S;
    const before = this.discipline.state;
    const candidates = [...this.refclocks.candidates(nowNs), ...(this.network?.candidates(nowNs) ?? [])];
    const next = this.discipline.update(nowNs, candidates, this.plan.local, precision);
    // Leap seconds: the keeper may step the reference now (the leap instant), sets LI, and while
    // smearing adds its ramp; it works on served time without the ramp: raw − the line.
    const synchronised = next.kind === 'tracking' || next.kind === 'holdover';
    const stepped = this.steppedServedNs(nowNs);
    const leap = this.leap.update(stepped, synchronised ? next.estimate.leap : 'unknown');
    if (leap.referenceStepNs !== 0) {
      this.refclocks.referenceStepped(leap.referenceStepNs);
      this.discipline.referenceStepped(leap.referenceStepNs);
      this.log.warn({ stepNs: leap.referenceStepNs, kind: leap.decision.leap?.kind, smear: leap.smear !== null },
        leap.smear ? 'leap second: the reference stepped; served time continues its smear' : 'leap second: served time stepped');
    }
    this.smear = leap.smear;
    this.applyLine(nowNs);
    this.timescale.read(this.now);
    this.scheduleLeap(leap.nextEventAtServedNs, this.steppedServedNs(nowNs));
    const note = leap.smear ? 'smear' : leap.decision.disagreement ? JSON.stringify(leap.decision.disagreement) : '';
    if (note !== this.leapNoted) {
      this.leapNoted = note;
      if (leap.smear) this.log.warn({ slopeNsPerS: leap.smear.slopeNsPerS }, 'leap second: smearing served time (no LI; clients that do not smear will differ by up to 0.5 s)');
      else if (leap.decision.disagreement) this.log.warn({ disagreement: leap.decision.disagreement }, 'the receiver and the leapfile disagree about a leap second; following the leapfile');
    }
    if (this.outputs) {
      const view = {
        state: next, line: this.discipline.correctionModel, nowNs, servedNs: timeSpecToUnixNs(this.now), precisionLog2S: precision,
        refclocks: () => this.refclockStatus(nowNs),
        associations: () => this.network?.status(nowNs) ?? [], falsetickers: this.discipline.falsetickers,
      };
      const change = this.outputs.steer(view);
      if (change) {
        // The system clock moved under us: samples, the followed line and served time follow.
        this.refclocks.clockChanged(change);
        this.network?.clockChanged(change);
        this.discipline.clockChanged(change);
        this.applyLine();
        this.timescale.read(this.now);
      }
      this.outputs.record({ ...view, state: this.discipline.state, line: this.discipline.correctionModel });
    }
    const served = { seconds: ntpSecondsOf(this.now), fraction: ntpFractionOf(this.now) };
    if (next.kind !== 'holdover') this.lastUpdate = served;
    this.state.publish(snapshotForState(next, precision, this.lastUpdate, nowNs, synchronised ? leap.indicator : undefined));
    if (before.kind === next.kind && stateName(before) === stateName(next)) return;
    this.logChange(before, next);
  }

  /**
   * served = raw − (offset + freq × (t − t0)) [+ the leap smear's ramp]: correction = −offset,
   * slope = −freq, anchored at raw now so the smear's value and slope add directly. Without
   * `nowNs` the clock is read afresh: after a kernel change the raw clock itself moved.
   */
  private applyLine(nowNs = this.refclocks.nowNs()): void {
    const line = this.discipline.correctionModel;
    if (!line) return;
    const sec = Number(nowNs / 1_000_000_000n);
    this.timescale.setCorrectionLine(-predictOffsetNs(line, nowNs) + (this.smear?.termNs ?? 0), -line.freqPpm * 1000 + (this.smear?.slopeNsPerS ?? 0),
      sec, Number(nowNs - BigInt(sec) * 1_000_000_000n));
  }

  /** Served time without any smear ramp at raw time nowNs: raw − the followed line (raw itself before the first line). */
  private steppedServedNs(nowNs: bigint): bigint {
    const line = this.discipline.correctionModel;
    return line ? nowNs - BigInt(Math.round(predictOffsetNs(line, nowNs))) : nowNs;
  }

  /** Runs an update at the leap instant itself, not up to a second after it. */
  private scheduleLeap(atServedNs: bigint | null, steppedNowNs: bigint): void {
    if (this.leapTimer) clearTimeout(this.leapTimer);
    this.leapTimer = null;
    if (atServedNs === null) return;
    const ms = Number(atServedNs - steppedNowNs) / 1e6;
    if (ms > UPDATE_INTERVAL_MS * 2) return; // the regular update will get closer first
    this.leapTimer = setTimeout(() => this.update(), Math.max(0, Math.ceil(ms)));
    this.leapTimer.unref();
  }

  private logChange(before: DisciplineState, next: DisciplineState): void {
    const s = this.state.snapshot;
    const fields = { from: `${before.kind} ${stateName(before)}`, to: `${next.kind} ${stateName(next)}`, stratum: s.stratum, leap: s.leap };
    if (next.kind === 'tracking') {
      this.log.info({ ...fields, basis: next.estimate.basis, offsetNs: Math.round(next.estimate.offsetNs), freqPpm: next.estimate.model.freqPpm },
        `synchronised to ${next.name}`);
    } else if (next.kind === 'holdover') {
      this.log.warn({ ...fields, rootDispersionS: s.rootDispersionS }, `${next.name} lost: holdover on its last frequency, dispersion growing`);
    } else if (next.kind === 'local') {
      this.log.warn(fields, `no usable reference: serving the local clock at stratum ${next.stratum}`);
    } else {
      this.log.warn(fields, 'no usable reference: serving as unsynchronised (LI=3, stratum 16)');
    }
  }

  get disciplineState(): DisciplineState {
    return this.discipline.state;
  }

  /** What mode 6 and status pages read: the state, the followed line and the sources at local time nowNs. */
  controlSnapshot(): {
    state: DisciplineState; line: CorrectionModel | null; nowNs: bigint; refclocks: RefclockStatus[]; kernelFreqPpm: number;
    associations: AssociationStatus[]; falsetickers: ReadonlySet<string>;
  } {
    const nowNs = this.refclocks.nowNs();
    return {
      state: this.discipline.state, line: this.discipline.correctionModel, nowNs, refclocks: this.refclockStatus(nowNs),
      kernelFreqPpm: this.outputs?.kernelFrequencyPpm() ?? 0,
      associations: this.network?.status(nowNs) ?? [], falsetickers: this.discipline.falsetickers,
    };
  }

  status(): { state: string; selected: string; correctionNs: number; freqPpm: number; refclocks: RefclockStatus[] } {
    const nowNs = this.refclocks.nowNs();
    return {
      state: this.discipline.state.kind, selected: stateName(this.discipline.state), correctionNs: this.timescale.getCorrectionNs(),
      freqPpm: this.discipline.correctionModel?.freqPpm ?? 0, refclocks: this.refclockStatus(nowNs),
    };
  }

  /** The sources' status with the discipline's verdict on each (falseticker or not). */
  private refclockStatus(nowNs: bigint): RefclockStatus[] {
    const x = this.discipline.falsetickers;
    return this.refclocks.status(nowNs).map((r) => (x.has(r.name) ? { ...r, falseticker: true } : r));
  }

  private announce(): void {
    const p = this.plan;
    if (p.unsupported.length > 0) this.log.warn({ refclocks: p.unsupported }, 'refclock drivers for these are not in this version; ignored');
    const refclocks = p.refclocks.map((r) => `${r.kind} ${r.unit}`);
    const last = p.local ? (p.local.orphan ? `orphan mode at stratum ${p.local.stratum}` : `the local clock at stratum ${p.local.stratum}`) : 'unsynchronised (LI=3, stratum 16)';
    const first = [...(refclocks.length > 0 ? ['refclocks'] : []), ...(p.upstream.length > 0 ? ['upstream servers'] : [])];
    this.log.info({ refclocks, upstream: p.upstream, local: p.local }, first.length > 0
      ? `reference: ${first.join(', then ')}; else ${last}` : `no reference configured: ${last}`);
  }
}
