/**
 * Builds the real request handler on a fake clock, for unit and property tests.
 */
import { FakeClock } from '../../src/clock/fake.js';
import { Timescale } from '../../src/clock/timescale.js';
import type { RestrictRule, RestrictFlag } from '../../src/config/model.js';
import { LeapIndicator, Mode, asciiRefId } from '../../src/ntp/constants.js';
import { encodeHeader } from '../../src/ntp/packet.js';
import { ZERO_TIMESTAMP, ntpFromUnixNs } from '../../src/ntp/timestamp.js';
import { RateLimiter } from '../../src/server/access/ratelimit.js';
import { RestrictTable } from '../../src/server/access/restrict.js';
import { ServerCounters } from '../../src/server/counters.js';
import { NtpRequestHandler, RequestMeta } from '../../src/server/handler/handler.js';
import { ServerStateCell, type ServerSnapshot } from '../../src/server/state.js';

export const START_NS = 1_795_333_730_123_456_789n; // 2026-11-22

export const at = { file: 'test.conf', line: 1, column: 1 };

export function rule(spec: string, flags: RestrictFlag[]): RestrictRule {
  if (spec === 'default') return { kind: 'default', family: 'any', flags, at };
  if (spec === '-4 default') return { kind: 'default', family: 'ipv4', flags, at };
  if (spec === '-6 default') return { kind: 'default', family: 'ipv6', flags, at };
  const [address, len] = spec.split('/');
  return { kind: 'address', family: 'any', address: address!, prefixLength: len === undefined ? undefined : Number(len), flags, at };
}

export function syncedSnapshot(stratum = 1): ServerSnapshot {
  return {
    leap: LeapIndicator.NoWarning, stratum, precisionLog2S: -24, rootDelayS: 0.000046, rootDispersionS: 0.001099,
    referenceId: asciiRefId('GPS'), referenceTime: ntpFromUnixNs(START_NS - 5_000_000_000n),
  };
}

export interface Rig {
  clock: FakeClock;
  handler: NtpRequestHandler;
  counters: ServerCounters;
  state: ServerStateCell;
  out: Buffer;
  /** Sends `req` from `address` at the fake clock's time; returns the reply bytes (empty = none). */
  send(req: Uint8Array, address?: string): Buffer;
}

export function makeRig(rules: RestrictRule[] = [], snapshot: ServerSnapshot = syncedSnapshot(),
  discard = { averageLog2S: 3, minimumLog2S: 1 }): Rig {
  const clock = new FakeClock(START_NS);
  const timescale = new Timescale(clock);
  const state = new ServerStateCell(snapshot);
  const counters = new ServerCounters();
  const handler = new NtpRequestHandler(timescale, state, new RestrictTable(rules), new RateLimiter({ ...discard, capacity: 64 }, 12345), counters);
  const out = Buffer.alloc(72); // the UDP shell's reply size: header + key ID + a 20-byte MAC
  const meta = new RequestMeta();
  return {
    clock, handler, counters, state, out,
    send(req, address = '192.0.2.1') {
      const ts = ntpFromUnixNs(clock.nowNs());
      meta.setSourceText(address, 123);
      meta.rxSeconds = ts.seconds;
      meta.rxFraction = ts.fraction;
      meta.monoS = Number(clock.nowNs()) / 1e9;
      const buf = Buffer.from(req);
      const n = handler.handle(buf, buf.length, meta, out);
      return Buffer.from(out.subarray(0, n));
    },
  };
}

/** A client request as ntpdig/chronyd send it. */
export function clientRequest(version = 4, mode: number = Mode.Client, poll = 6, xmt = { seconds: 0xeead15e9, fraction: 0x12345678 }): Uint8Array {
  return encodeHeader({
    leap: LeapIndicator.NoWarning, version, mode, stratum: 0, poll, precision: -20, rootDelay: 0, rootDispersion: 0,
    referenceId: 0, referenceTimestamp: ZERO_TIMESTAMP, originTimestamp: ZERO_TIMESTAMP, receiveTimestamp: ZERO_TIMESTAMP,
    transmitTimestamp: xmt,
  });
}
