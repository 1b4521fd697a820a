/**
 * A simulated local oscillator for simulations that run hours of virtual time in seconds
 * (ARCHITECTURE.md principle 3: one SimulatedClock, modelled on chrony's test/simulation).
 *
 * True time advances only when the simulation says so. The raw clock reading is
 * true time + an error that starts at `offsetNs` and integrates a frequency made of a constant
 * part, a random walk (wander) and a temperature-like sinusoid. Signs as everywhere: + error =
 * the local clock is ahead; + frequency = it runs fast.
 *
 * Deterministic: everything random comes from the seeded generator below.
 */
import type { RealtimeClock, TimeSpec } from './clock.js';
import { timeSpecFromUnixNs } from './clock.js';

/** mulberry32: small, seeded, and the same on every machine. Uniform in [0, 1). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/** One standard normal deviate from a uniform generator (Box–Muller; 1 − u keeps log away from 0). */
export function gaussian(rand: () => number): number {
  return Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
}

export interface OscillatorModel {
  /** Raw − true at the start, ns. */
  readonly offsetNs: number;
  /** Constant frequency error, ppm. */
  readonly freqPpm: number;
  /** Random-walk frequency noise, ppm per √s. */
  readonly wanderPpmPerSqrtS: number;
  /** Temperature-like swing: amplitude (ppm) and period (s); 0 amplitude = none. */
  readonly tempAmplitudePpm: number;
  readonly tempPeriodS: number;
  readonly seed: number;
}

/** Integration step, s: the frequency is held constant within a step. */
const STEP_S = 1;

export class SimulatedClock implements RealtimeClock {
  readonly resolutionNs = 1;
  readonly source = 'simulated';
  private trueNsNow: bigint;
  private readonly startNs: bigint;
  /** Raw − true, ns (double: sub-ns resolution for the integration). */
  private errorNs: number;
  private walkPpm = 0;
  private readonly rand: () => number;

  constructor(private readonly model: OscillatorModel, startTrueNs: bigint) {
    this.trueNsNow = startTrueNs;
    this.startNs = startTrueNs;
    this.errorNs = model.offsetNs;
    this.rand = mulberry32(model.seed);
  }

  get trueNs(): bigint {
    return this.trueNsNow;
  }

  /** Raw − true now, ns (+ = the simulated clock is ahead). */
  get errorNsNow(): number {
    return this.errorNs;
  }

  /** The oscillator's frequency error now, ppm. */
  freqPpmAt(trueNs: bigint): number {
    const t = Number(trueNs - this.startNs) / 1e9;
    const temp = this.model.tempAmplitudePpm === 0 ? 0 : this.model.tempAmplitudePpm * Math.sin((2 * Math.PI * t) / this.model.tempPeriodS);
    return this.model.freqPpm + this.walkPpm + temp;
  }

  /** Moves true time forward to `trueNs` (never back), integrating the frequency. */
  advanceTo(trueNs: bigint): void {
    while (this.trueNsNow < trueNs) {
      const stepNs = trueNs - this.trueNsNow < BigInt(STEP_S * 1e9) ? trueNs - this.trueNsNow : BigInt(STEP_S * 1e9);
      const dtS = Number(stepNs) / 1e9;
      this.errorNs += this.freqPpmAt(this.trueNsNow) * 1000 * dtS;
      this.walkPpm += this.model.wanderPpmPerSqrtS * Math.sqrt(dtS) * gaussian(this.rand);
      this.trueNsNow += stepNs;
    }
  }

  /** The raw reading at the current true time, ns. */
  rawNs(): bigint {
    return this.trueNsNow + BigInt(Math.round(this.errorNs));
  }

  /** The raw reading at a (near) true instant, interpolating with the current frequency, ns. */
  rawAt(trueNs: bigint): bigint {
    const dtS = Number(trueNs - this.trueNsNow) / 1e9;
    return trueNs + BigInt(Math.round(this.errorNs + this.freqPpmAt(this.trueNsNow) * 1000 * dtS));
  }

  read(out: TimeSpec): void {
    timeSpecFromUnixNs(this.rawNs(), out);
  }
}
