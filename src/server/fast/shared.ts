/**
 * What the main thread shares with the fast-path worker through one SharedArrayBuffer: the
 * server snapshot (ServerStateCell's 24-byte template and LI bits), the timescale's correction
 * line, and a stop flag. Snapshot and line are written under a seqlock: the writer (main thread)
 * makes the sequence odd, writes, makes it even; the reader copies and retries while the sequence
 * was odd or changed meanwhile. Readers never block the writer; a copy is never torn.
 *
 * Pure (no IO): the worker reads once per batch, the main thread writes when the discipline
 * publishes (about once a second).
 */

/** Int32 slots. */
const SEQ = 0;
const STOP = 1;
const LEAP = 2;
const INTS = 4;
/** Float64 slots after the ints: correction ns, slope ns/s, t0 sec, t0 nsec. */
const LINE_AT = INTS * 4;
const LINE = 4;
const TEMPLATE_AT = LINE_AT + LINE * 8;
const TEMPLATE = 24;
export const SHARED_BYTES = TEMPLATE_AT + TEMPLATE + 8;

/** A correction line as Timescale.setCorrectionLine takes it. */
export interface CorrectionLine {
  correctionNs: number;
  slopeNsPerS: number;
  t0Sec: number;
  t0Nsec: number;
}

export class SharedServerView {
  private readonly ints: Int32Array;
  private readonly line: Float64Array;
  private readonly template: Uint8Array;

  constructor(readonly buffer: SharedArrayBuffer = new SharedArrayBuffer(SHARED_BYTES)) {
    this.ints = new Int32Array(buffer, 0, INTS);
    this.line = new Float64Array(buffer, LINE_AT, LINE);
    this.template = new Uint8Array(buffer, TEMPLATE_AT, TEMPLATE);
  }

  /** Writer: the state template and LI bits (ServerStateCell.onPublish). */
  writeState(template: Uint8Array, leapBits: number): void {
    Atomics.add(this.ints, SEQ, 1);
    for (let i = 0; i < TEMPLATE; i++) this.template[i] = template[i]!;
    this.ints[LEAP] = leapBits;
    Atomics.add(this.ints, SEQ, 1);
  }

  /** Writer: the correction line (Timescale.onLine). */
  writeLine(l: CorrectionLine): void {
    Atomics.add(this.ints, SEQ, 1);
    this.line[0] = l.correctionNs;
    this.line[1] = l.slopeNsPerS;
    this.line[2] = l.t0Sec;
    this.line[3] = l.t0Nsec;
    Atomics.add(this.ints, SEQ, 1);
  }

  /** The sequence: even and unchanged since the last read = nothing new. */
  sequence(): number {
    return Atomics.load(this.ints, SEQ);
  }

  /**
   * Reader: a consistent copy of template, LI bits and line (returns the LI bits; template and
   * line filled in). Retries while a write is under way; returns -1 after `maxTries` (a writer
   * that died mid-write: the caller keeps what it had).
   */
  read(templateOut: Uint8Array, lineOut: CorrectionLine, maxTries = 1000): number {
    for (let tries = 0; tries < maxTries; tries++) {
      const s1 = Atomics.load(this.ints, SEQ);
      if ((s1 & 1) !== 0) continue;
      for (let i = 0; i < TEMPLATE; i++) templateOut[i] = this.template[i]!;
      const leap = this.ints[LEAP]!;
      const c = this.line[0]!;
      const sl = this.line[1]!;
      const ts = this.line[2]!;
      const tn = this.line[3]!;
      if (Atomics.load(this.ints, SEQ) !== s1) continue;
      lineOut.correctionNs = c;
      lineOut.slopeNsPerS = sl;
      lineOut.t0Sec = ts;
      lineOut.t0Nsec = tn;
      return leap;
    }
    return -1;
  }

  stop(): void {
    Atomics.store(this.ints, STOP, 1);
  }

  get stopping(): boolean {
    return Atomics.load(this.ints, STOP) !== 0;
  }
}
