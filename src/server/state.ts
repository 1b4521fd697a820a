/**
 * What the server says about itself in every reply: one consistent snapshot, published by the
 * discipline (or the local-clock reference) and read by the hot path.
 *
 * The cell keeps the snapshot pre-encoded as header bytes 1-23 so a reply copies them in one go.
 */
import { LeapIndicator, STRATUM_UNSYNCHRONISED, asciiRefId } from '../ntp/constants.js';
import { shortFromSeconds, type NtpTimestamp, ZERO_TIMESTAMP } from '../ntp/timestamp.js';

export interface ServerSnapshot {
  readonly leap: LeapIndicator;
  /** 1-15 when synchronised; 16 = unsynchronised (never 0: clients read 0 as a kiss-o'-death). */
  readonly stratum: number;
  /** log2 seconds. */
  readonly precisionLog2S: number;
  /** Round-trip delay to the primary reference, seconds. */
  readonly rootDelayS: number;
  /** Error bound relative to the primary reference, seconds. */
  readonly rootDispersionS: number;
  /** u32: four ASCII characters at stratum 1 (".GPS.", "LOCL"), an IPv4 address or hash above. */
  readonly referenceId: number;
  /** When the reference last updated our clock. */
  readonly referenceTime: NtpTimestamp;
}

export function unsynchronisedSnapshot(precisionLog2S: number): ServerSnapshot {
  return {
    leap: LeapIndicator.Unsynchronised,
    stratum: STRATUM_UNSYNCHRONISED,
    precisionLog2S,
    rootDelayS: 0,
    rootDispersionS: 0,
    // ntpd shows an unsynchronised system as refid INIT; harmless at stratum 16 (not a kiss code).
    referenceId: asciiRefId('INIT'),
    referenceTime: ZERO_TIMESTAMP,
  };
}

export class ServerStateCell {
  /** Header bytes as the snapshot dictates: [1]=stratum, [3]=precision, [4..23]=root delay..reference time. */
  readonly template = Buffer.alloc(24);
  private current: ServerSnapshot;
  /** LI bits (already shifted into place) for byte 0. */
  leapBits = 0;
  /** Told after every publish (the fast path's shared-memory mirror, src/server/fast/shared.ts). */
  private readonly mirrors: ((template: Buffer, leapBits: number) => void)[] = [];

  constructor(initial: ServerSnapshot) {
    this.current = initial;
    this.encode(initial);
  }

  get snapshot(): ServerSnapshot {
    return this.current;
  }

  publish(s: ServerSnapshot): void {
    if (s.stratum < 1 || s.stratum > STRATUM_UNSYNCHRONISED) {
      throw new RangeError(`stratum ${s.stratum} cannot be served (1-16; 0 would be a kiss-o'-death)`);
    }
    this.current = s;
    this.encode(s);
  }

  /** Calls `mirror` with the encoded snapshot now and after every publish. */
  onPublish(mirror: (template: Buffer, leapBits: number) => void): void {
    this.mirrors.push(mirror);
    mirror(this.template, this.leapBits);
  }

  private encode(s: ServerSnapshot): void {
    const t = this.template;
    t[1] = s.stratum;
    t.writeInt8(Math.max(-128, Math.min(127, s.precisionLog2S)), 3);
    t.writeUInt32BE(shortFromSeconds(s.rootDelayS), 4);
    t.writeUInt32BE(shortFromSeconds(s.rootDispersionS), 8);
    t.writeUInt32BE(s.referenceId >>> 0, 12);
    t.writeUInt32BE(s.referenceTime.seconds >>> 0, 16);
    t.writeUInt32BE(s.referenceTime.fraction >>> 0, 20);
    this.leapBits = (s.leap & 3) << 6;
    for (const m of this.mirrors) m(t, this.leapBits);
  }
}
