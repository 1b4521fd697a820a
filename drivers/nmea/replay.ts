/**
 * Replay of a captured receiver log in gpsd's format (pure: the file's bytes in, epochs out):
 * `#` comment lines first (receiver name, chipset, `# Date: YYYY-MM-DD`, ...), then the raw bytes
 * as the serial port delivered them, possibly with binary frames.
 */
import { NmeaDecoder, civilDays, type DecodeCounters, type NmeaEpoch } from './decode.js';
import { NmeaFramer, type FramingCounters } from './framing.js';
import { NO_CORRECTION_PIVOT_UNIX_NS } from './rollover.js';

const NS_PER_DAY = 86_400n * 1_000_000_000n;

export interface ReplayResult {
  readonly epochs: NmeaEpoch[];
  readonly framing: FramingCounters;
  readonly decode: DecodeCounters;
  /** The week-rollover pivot used, Unix ns, and where it came from. */
  readonly pivotUnixNs: bigint;
  readonly pivotSource: 'option' | 'log-date' | 'none';
}

export interface ReplayOptions {
  /**
   * Week-rollover pivot, Unix ns. Default: a year before the log's `# Date:` header; without one,
   * no correction. Not the live driver's build-date default: that would move every capture older
   * than this release 1024 weeks into the future.
   */
  readonly pivotUnixNs?: bigint;
}

/** Split the leading `#` comment lines from the raw bytes that follow. */
export function splitGpsdLog(file: Uint8Array): { header: string[]; body: Uint8Array } {
  const header: string[] = [];
  let pos = 0;
  while (pos < file.length && file[pos] === 0x23) {
    let end = file.indexOf(0x0a, pos);
    if (end < 0) end = file.length;
    header.push(String.fromCharCode(...file.subarray(pos, end)).replace(/\r$/, ''));
    pos = end + 1;
  }
  return { header, body: file.subarray(Math.min(pos, file.length)) };
}

/**
 * A pivot for replaying a capture from its `# Date:` header. The capture date bounds the true date from below; a year of
 * margin allows for headers written after the capture, far less than the 19.6 years a rollover jumps.
 */
export function pivotFromHeader(header: readonly string[]): bigint | null {
  for (const line of header) {
    const m = /^#\s*Date\s*[:=]\s*(\d{4})-(\d{1,2})-(\d{1,2})/i.exec(line);
    if (m === null) continue;
    const days = civilDays(Number(m[1]) - 1, Number(m[2]), Math.min(Number(m[3]), 28));
    if (days !== null) return BigInt(days) * NS_PER_DAY;
  }
  return null;
}

export function replayGpsdLog(file: Uint8Array, options: ReplayOptions = {}): ReplayResult {
  const { header, body } = splitGpsdLog(file);
  const fromHeader = pivotFromHeader(header);
  const pivotUnixNs = options.pivotUnixNs ?? fromHeader ?? NO_CORRECTION_PIVOT_UNIX_NS;
  const pivotSource = options.pivotUnixNs !== undefined ? 'option' : fromHeader !== null ? 'log-date' : 'none';
  const framer = new NmeaFramer();
  const decoder = new NmeaDecoder({ pivotUnixNs });
  const epochs: NmeaEpoch[] = [];
  // A log has no arrival times: each sentence is stamped with its byte offset (as ns) so the
  // order is kept and nothing pretends to know when it arrived.
  const chunkBytes = 256;
  for (let pos = 0; pos < body.length; pos += chunkBytes) {
    const chunk = body.subarray(pos, pos + chunkBytes);
    for (const s of framer.push(chunk, BigInt(pos + chunk.length))) epochs.push(...decoder.push(s));
  }
  epochs.push(...decoder.end());
  return { epochs, framing: framer.counters, decode: decoder.counters, pivotUnixNs, pivotSource };
}
