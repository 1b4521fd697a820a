/**
 * Bounded NMEA 0183 line framing (pure: bytes and arrival times in, sentences out).
 *
 * The serial port hands over chunks of arbitrary size; a receiver may interleave binary
 * protocols (u-blox UBX 0xB5 0x62, SiRF 0xA0 0xA2, RTCM3 0xD3) with its NMEA. Rather than parse
 * every binary protocol, the framer only trusts text: a sentence starts at '$' (or '!'), may
 * contain printable ASCII only, and ends at LF. Any '$' restarts framing, and any byte that
 * cannot be in a sentence aborts the current one, so a binary burst can cost at most the
 * sentence it interrupted, never the next good one. A '$' inside a binary payload starts a false
 * sentence that the next non-text byte, the length bound or the checksum throws away.
 *
 * Time: a sentence is stamped with the arrival time of the chunk holding its first byte, moved
 * back by the transmission time of the bytes that followed it in that chunk (`byteTimeNs`,
 * 10 bits per byte at the line's baud rate): at 9600 baud a 64-byte chunk spans 67 ms, which is
 * far more than anything else in the NMEA error budget.
 */

/**
 * Longest sentence accepted, '$' through the checksum digits (CR LF not counted).
 * NMEA 0183 allows 82 characters including '$' and CR LF, but real receivers exceed it (NMEA 4.1
 * GSV/GNS with signal IDs, proprietary PUBX/PMTK/PSTM replies, high-precision GGA such as
 * Trimble's 8-decimal positions in the corpus); gpsd is lenient too. 120 keeps those and still
 * bounds memory and the damage a missing LF can do.
 */
export const MAX_SENTENCE_CHARS = 120;

/** Counter names are stable: status pages and tests match on them. */
export interface FramingCounters {
  /** Sentences passed on (checksum verified). */
  sentences: number;
  /** Sentences whose '*hh' did not match the XOR of their body; dropped. */
  checksumBad: number;
  /** Sentences without '*hh'; dropped, because an unchecked time is worse than none. */
  checksumMissing: number;
  /** Lines longer than MAX_SENTENCE_CHARS; dropped. */
  overlong: number;
  /** Sentences cut short by a new '$' or a byte that cannot be in a sentence (binary, noise). */
  truncated: number;
  /** Bytes outside any sentence (binary frames, noise, blank lines). */
  skippedBytes: number;
}

export interface FramedSentence {
  /** '$' (or '!') through the two checksum digits, without CR LF. */
  readonly text: string;
  /** Local CLOCK_REALTIME of the sentence's first byte, Unix nanoseconds. */
  readonly systemTimeNs: bigint;
}

export interface FramerOptions {
  /** Transmission time of one byte on the line, ns (1e10 / baud for 8N1); 0 = stamp with chunk arrival. */
  readonly byteTimeNs?: number;
}

const DOLLAR = 0x24;
const BANG = 0x21;
const STAR = 0x2a;
const CR = 0x0d;
const LF = 0x0a;

export function byteTimeNsForBaud(baud: number): number {
  return Math.round(10e9 / baud);
}

export class NmeaFramer {
  readonly counters: FramingCounters = {
    sentences: 0, checksumBad: 0, checksumMissing: 0, overlong: 0, truncated: 0, skippedBytes: 0,
  };
  private readonly line = new Uint8Array(MAX_SENTENCE_CHARS);
  private length = 0;
  /** In a sentence (after '$'), or hunting for the next '$'. */
  private inSentence = false;
  /** The current line went past the bound: swallow up to LF, then count it once. */
  private overflowing = false;
  /** CR seen: only LF may follow. */
  private sawCr = false;
  private sentenceStartNs = 0n;
  private readonly byteTimeNs: bigint;

  constructor(options: FramerOptions = {}) {
    this.byteTimeNs = BigInt(Math.max(0, Math.round(options.byteTimeNs ?? 0)));
  }

  /** Feed one chunk as read from the port; returns the complete sentences it finished, in order. */
  push(chunk: Uint8Array, arrivalNs: bigint): FramedSentence[] {
    const out: FramedSentence[] = [];
    const n = chunk.length;
    for (let i = 0; i < n; i++) {
      const b = chunk[i]!;
      if (b === DOLLAR || b === BANG) {
        if (this.inSentence) this.counters.truncated++;
        this.inSentence = true;
        this.overflowing = false;
        this.sawCr = false;
        this.line[0] = b;
        this.length = 1;
        this.sentenceStartNs = arrivalNs - BigInt(n - 1 - i) * this.byteTimeNs;
        continue;
      }
      if (!this.inSentence) {
        this.counters.skippedBytes++;
        continue;
      }
      if (b === LF) {
        this.finish(out);
        continue;
      }
      if (b === CR) {
        this.sawCr = true;
        continue;
      }
      if (this.sawCr || b < 0x20 || b > 0x7e) {
        // Binary, line noise or a CR not followed by LF inside a sentence: it cannot be trusted any more.
        this.counters.truncated++;
        this.counters.skippedBytes++;
        this.inSentence = false;
        continue;
      }
      if (this.overflowing) continue;
      if (this.length >= MAX_SENTENCE_CHARS) {
        this.overflowing = true;
        continue;
      }
      this.line[this.length++] = b;
    }
    return out;
  }

  private finish(out: FramedSentence[]): void {
    this.inSentence = false;
    if (this.overflowing) {
      this.overflowing = false;
      this.counters.overlong++;
      return;
    }
    const len = this.length;
    const line = this.line;
    if (len < 4 || line[len - 3] !== STAR) {
      this.counters.checksumMissing++;
      return;
    }
    let sum = 0;
    for (let i = 1; i < len - 3; i++) sum ^= line[i]!;
    const hi = hexValue(line[len - 2]!);
    const lo = hexValue(line[len - 1]!);
    if (hi < 0 || lo < 0 || ((hi << 4) | lo) !== sum) {
      this.counters.checksumBad++;
      return;
    }
    this.counters.sentences++;
    out.push({ text: String.fromCharCode(...line.subarray(0, len)), systemTimeNs: this.sentenceStartNs });
  }
}

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  return -1;
}
