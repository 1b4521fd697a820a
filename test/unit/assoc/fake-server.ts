// A pure NTP server for association tests: answers a request's bytes as a mode 4 (or any mode)
// packet stamped with the times it is given, echoing the request's transmit timestamp.
import { parseKeyFile } from '../../../src/auth/keys.js';
import { PreparedKey } from '../../../src/auth/mac.js';
import { asciiRefId, LeapIndicator, Mode } from '../../../src/ntp/constants.js';
import { ntpFromUnixNs, readTimestamp, shortFromSeconds, writeTimestamp } from '../../../src/ntp/timestamp.js';
import type { AssociationConfig } from '../../../src/assoc/types.js';

export const S = 1_000_000_000n;
/** 2027-01-01-ish, Unix s. */
export const T0_NS = 1_800_000_000n * S;

export function keyFrom(line: string): PreparedKey {
  return new PreparedKey([...parseKeyFile(line).keys.values()][0]!);
}

export interface ReplyOptions {
  readonly mode?: Mode;
  readonly leap?: LeapIndicator;
  readonly stratum?: number;
  readonly precision?: number;
  readonly rootDelayS?: number;
  readonly rootDispersionS?: number;
  readonly refid?: number;
  /** A kiss code: stratum 0 and this refid. */
  readonly kiss?: string;
  /** Sign the reply with this key; `nak` appends a bare zero key ID. */
  readonly key?: PreparedKey;
  readonly nak?: boolean;
  readonly version?: number;
}

/** A reply to `request`: T2 and T3 are the server's clock readings (Unix ns). */
export function reply(request: Uint8Array, t2Ns: bigint, t3Ns: bigint, o: ReplyOptions = {}): Uint8Array {
  const macLen = o.key ? 4 + o.key.digestLength : o.nak ? 4 : 0;
  const buf = new Uint8Array(48 + macLen);
  const view = new DataView(buf.buffer);
  buf[0] = ((o.leap ?? LeapIndicator.NoWarning) << 6) | ((o.version ?? 4) << 3) | (o.mode ?? Mode.Server);
  buf[1] = o.kiss ? 0 : (o.stratum ?? 1);
  buf[2] = request[2]!;
  buf[3] = (o.precision ?? -20) & 0xff;
  view.setUint32(4, shortFromSeconds(o.rootDelayS ?? 0));
  view.setUint32(8, shortFromSeconds(o.rootDispersionS ?? 0.0001));
  view.setUint32(12, o.kiss ? asciiRefId(o.kiss) : (o.refid ?? asciiRefId('GPS')));
  writeTimestamp(buf, 16, ntpFromUnixNs(t2Ns - 10n * S));
  writeTimestamp(buf, 24, readTimestamp(request, 40));
  writeTimestamp(buf, 32, ntpFromUnixNs(t2Ns));
  writeTimestamp(buf, 40, ntpFromUnixNs(t3Ns));
  if (o.key) {
    view.setUint32(48, o.key.id);
    o.key.sign(buf, 48, buf, 52);
  }
  return buf;
}

export function clientConfig(over: Partial<AssociationConfig> = {}): AssociationConfig {
  return {
    name: '192.0.2.1', address: '192.0.2.1', mode: 'client', minpollLog2S: 6, maxpollLog2S: 10, iburst: false, burst: false,
    prefer: false, noselect: false, alwaysTrue: false, version: 4, ...over,
  };
}

/** Deterministic `random`: mulberry-like counter bytes, different on every call. */
export function counterRandom(seed = 1): (out: Uint8Array) => void {
  let x = seed >>> 0;
  return (out) => {
    for (let i = 0; i < out.length; i++) {
      x = (Math.imul(x, 1_103_515_245) + 12_345) >>> 0;
      out[i] = x >>> 24;
    }
  };
}

/** LocalTime with served = raw (an undisciplined box). */
export function at(rawNs: bigint): { rawNs: bigint; served: ReturnType<typeof ntpFromUnixNs> } {
  return { rawNs, served: ntpFromUnixNs(rawNs) };
}
