/**
 * Where the discipline's results go besides served time: the kernel clock (`enable kernel`),
 * the driftfile and ntpd's statistics files. Run after every Reference update.
 *
 * Each output fails alone and says so once: a kernel that refuses (no CAP_SYS_TIME), a driftfile
 * that cannot be written or a stats folder that is missing never stop the server.
 */
import type { GnomonConfig } from '../config/model.js';
import { koffiKernelClock, KernelClockError, type KernelClock } from '../clock/kernel.js';
import { KernelSteering } from '../discipline/kernel-steering.js';
import { type CorrectionModel, type DisciplineState, estimateDispersionS } from '../discipline/discipline.js';
import { DriftSavePolicy, formatDriftfileProblem } from '../discipline/drift.js';
import type { ClockChange } from '../discipline/steer.js';
import { peerStatusWord } from '../discipline/stats-format.js';
import { loadDriftfile, saveDriftfile } from './drift.js';
import { StatsError, StatsWriter } from './stats.js';
import type { RefclockStatus } from './refclocks.js';
import type { Logger } from './log.js';
import type { AssociationStatus } from '../assoc/types.js';

export interface OutputOptions {
  /** `--no-kernel`: keep hands off the system clock whatever the config says. */
  readonly noKernel: boolean;
  /** Tests pass the fake kernel. */
  readonly kernel?: KernelClock;
}

export interface UpdateView {
  readonly state: DisciplineState;
  readonly line: CorrectionModel | null;
  /** Local (raw/system clock) now and served UTC now, ns. */
  readonly nowNs: bigint;
  readonly servedNs: bigint;
  readonly precisionLog2S: number;
  readonly refclocks: () => RefclockStatus[];
  /** Upstream servers and peers (optional: absent in tests of the refclock path). */
  readonly associations?: () => AssociationStatus[];
  /** Their names the discipline rejected as falsetickers. */
  readonly falsetickers?: ReadonlySet<string>;
}

export class DisciplineOutputs {
  private steering: KernelSteering | null = null;
  private drift: DriftSavePolicy | null = null;
  private stats: StatsWriter | null = null;
  private refusalLogged = '';
  /** Per association: the receive instant of the sample last written to peerstats. */
  private readonly lastPeerSample = new Map<string, bigint>();
  private readonly lastTimecode = new Map<string, string>();
  private readonly startedS = performance.now() / 1000;

  private constructor(private readonly config: GnomonConfig, private readonly log: Logger) {}

  /** Opens what the config asks for; logs (and skips) what cannot be had. */
  static async open(config: GnomonConfig, log: Logger, options: OutputOptions): Promise<DisciplineOutputs> {
    const out = new DisciplineOutputs(config, log);
    let loadedPpm: number | null = null;
    if (config.driftfile) {
      const r = await loadDriftfile(config.driftfile);
      if ('freqPpm' in r) {
        loadedPpm = r.freqPpm;
        log.info({ driftfile: config.driftfile, freqPpm: r.freqPpm }, 'driftfile: the oscillator ran at this frequency last time');
      } else if ('error' in r) {
        log.warn({ driftfile: config.driftfile, code: r.error.code }, formatDriftfileProblem(r.error));
      }
      out.drift = new DriftSavePolicy(loadedPpm, out.startedS);
    }
    if (config.kernel && !options.noKernel) {
      try {
        const kernel = options.kernel ?? koffiKernelClock({ allowWrites: true });
        // A known oscillator frequency gets the kernel close at once, as ntpd does with its driftfile.
        if (loadedPpm !== null) kernel.setFrequencyPpm(-loadedPpm);
        out.steering = new KernelSteering(kernel, config.tinker, config.refclocks.some((r) => r.usePps));
        log.info({ kernel: kernel.description }, 'enable kernel: Gnomon steers the system clock (frequency; phase by slewing)');
      } catch (err) {
        out.kernelFailed(err);
      }
    } else if (config.kernel) {
      log.info({}, '--no-kernel: the system clock is left alone');
    }
    if (config.stats) {
      try {
        out.stats = await StatsWriter.open(config.stats, { onError: (e) => log.warn({ code: e.code, hint: e.hint }, e.message) });
      } catch (err) {
        if (!(err instanceof StatsError)) throw err;
        log.warn({ code: err.code, hint: err.hint, path: err.path }, `statistics files not written: ${err.message}`);
      }
    }
    return out;
  }

  private kernelFailed(err: unknown): void {
    const e = err as KernelClockError;
    this.log.error({ code: e.code, hint: e instanceof KernelClockError ? e.hint : undefined },
      `kernel steering off: ${e.message}; served time is still disciplined`);
    this.steering = null;
  }

  /** After an update: steer the kernel; returns the change to broadcast, if the kernel changed the clock. */
  steer(v: UpdateView): ClockChange | null {
    if (!this.steering) return null;
    const e = v.state.kind === 'tracking' || v.state.kind === 'holdover' ? v.state.estimate : null;
    try {
      const r = this.steering.update(v.state, v.line, e?.jitterNs ?? 0, e ? estimateDispersionS(e, v.precisionLog2S, v.nowNs) * 1e9 : 16e9, v.nowNs);
      if (r.refused && r.refused !== this.refusalLogged) this.log.error({ code: 'STEER_PANIC' }, r.refused);
      this.refusalLogged = r.refused ?? '';
      if (r.change) {
        if (r.change.stepNs !== 0n) this.log.warn({ stepNs: Number(r.change.stepNs) }, 'system clock stepped to the reference');
        return r.change;
      }
    } catch (err) {
      this.kernelFailed(err);
    }
    return null;
  }

  /** After an update (and any broadcast): statistics lines and the driftfile when due. */
  record(v: UpdateView): void {
    const tracking = v.state.kind === 'tracking' ? v.state : null;
    const kernelPpm = this.steering ? this.safeKernelPpm() : 0;
    // The oscillator's own rate: what the line says the (steered) clock does, less the kernel's part.
    const oscPpm = v.line ? v.line.freqPpm - kernelPpm : null;
    if (this.stats && tracking) {
      const e = tracking.estimate;
      this.stats.loop({
        utcNs: v.servedNs, offsetNs: e.offsetNs, freqPpm: oscPpm ?? 0, sysJitterNs: e.jitterNs, clkWanderPpm: e.model.freqSdPpm, timeConstant: 0,
      });
      for (const r of v.refclocks()) {
        if (!r.estimate) continue;
        const selected = r.name === tracking.name;
        this.stats.peer({
          utcNs: v.servedNs, srcadr: r.address, status: peerStatusWord({ selected, usable: true, falseticker: r.falseticker === true, reachable: r.reach !== '0' }),
          offsetNs: r.estimate.offsetNs, delayNs: 0, dispersionNs: estimateDispersionS(r.estimate, v.precisionLog2S, v.nowNs) * 1e9,
          jitterNs: r.estimate.jitterNs,
        });
      }
    }
    // peerstats of servers and peers: one line per new sample (ntpd writes one per clock filter update).
    if (this.stats) {
      for (const a of v.associations?.() ?? []) {
        if (a.filter === null || a.lastReceiveNs === null || this.lastPeerSample.get(a.address) === a.lastReceiveNs) continue;
        this.lastPeerSample.set(a.address, a.lastReceiveNs);
        const selected = tracking?.name === a.name || (v.state.kind === 'holdover' && v.state.name === a.name);
        this.stats.peer({
          utcNs: v.servedNs, srcadr: a.address,
          status: peerStatusWord({ selected, usable: true, falseticker: v.falsetickers?.has(a.name) ?? false, reachable: a.reach !== 0 }),
          offsetNs: a.filter.offsetNs, delayNs: a.filter.delayNs, dispersionNs: a.filter.dispersionNs, jitterNs: a.filter.jitterNs,
        });
      }
    }
    // clockstats: each refclock's latest timecode, once per new sentence (ntpd writes one per timecode).
    if (this.stats) {
      for (const r of v.refclocks()) {
        if (r.timecode === '' || this.lastTimecode.get(r.address) === r.timecode) continue;
        this.lastTimecode.set(r.address, r.timecode);
        this.stats.clock({ utcNs: v.servedNs, srcadr: r.address, timecode: r.timecode });
      }
    }
    if (this.drift && this.config.driftfile && oscPpm !== null) {
      const trusted = tracking !== null && tracking.estimate.basis === 'pulse' && tracking.estimate.model.freqSdPpm < 0.1;
      const due = this.drift.due(performance.now() / 1000, oscPpm, trusted);
      if (due !== null) this.saveDrift(due);
    }
  }

  /** The kernel frequency Gnomon applies (0 without `enable kernel`), ppm, + = faster. */
  kernelFrequencyPpm(): number {
    return this.steering ? this.safeKernelPpm() : 0;
  }

  private safeKernelPpm(): number {
    try {
      return this.steering!.frequencyPpm();
    } catch {
      return 0;
    }
  }

  private saveDrift(ppm: number): void {
    const path = this.config.driftfile!;
    saveDriftfile(path, ppm).then(() => this.drift?.saved(ppm), (err: Error & { code?: string; hint?: string }) => {
      this.log.warn({ driftfile: path, code: err.code, hint: err.hint }, err.message);
    });
  }

  /** At stop: the driftfile if due, the statistics flushed. */
  async close(v: { line: CorrectionModel | null; trusted: boolean }): Promise<void> {
    if (this.drift && this.config.driftfile && v.line) {
      const due = this.drift.dueAtShutdown(v.line.freqPpm - (this.steering ? this.safeKernelPpm() : 0), v.trusted);
      if (due !== null) await saveDriftfile(this.config.driftfile, due).catch((err: Error) => this.log.warn({}, err.message));
    }
    await this.stats?.close();
  }
}
