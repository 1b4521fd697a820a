/**
 * The daemon's answer to `gnomon status`: plain JSON data, so the CLI, the web page (issue 6)
 * and scripts (`gnomon status --json | jq`) read the same thing.
 */
import { formatRefId } from '../ntp/constants.js';
import type { ServerCounters } from '../server/counters.js';
import type { ServerStateCell } from '../server/state.js';
import type { Reference } from './reference.js';
import type { RefclockStatus } from './refclocks.js';
import type { AssociationStatus } from '../assoc/types.js';
import type { RxTimestampStats } from '../server/udp.js';

/** How datagrams are read and answered (src/daemon/serve.ts; docs/server.md "Choosing the path"). */
export interface ServerPathStatus {
  /** "fast" (batched recvmmsg/sendmmsg, src/server/fast) or "dgram" (node:dgram). */
  readonly path: string;
  /** Why `--server-path auto` serves with dgram, when it does. */
  readonly pathReason?: string;
  /** Fast path: worker threads per listen address (0: the main thread answers), serving now, restarts after one died. */
  readonly workersPerAddress?: number;
  readonly workersServing?: number;
  readonly workerRestarts?: number;
  /** Fast path: the receive coalescing interval, µs (0 = off; counters.rxCoalesced counts the waits). */
  readonly rxCoalesceUs?: number;
}

export interface StatusReport {
  readonly daemon: { readonly pid: number; readonly uptimeS: number; readonly config: string; readonly listening: readonly { address: string; port: number }[] };
  readonly server: {
    readonly synchronised: boolean;
    readonly stratum: number;
    readonly leap: number;
    readonly refid: string;
    readonly rootDispersionS: number;
    /** tracking | holdover | local | none (src/discipline/discipline.ts). */
    readonly state: string;
    /** The followed reference's name: "PPS(0)", "GPS_NMEA(0)", "LOCAL(0)" or "none". */
    readonly selected: string;
    /** The local clock's frequency against the reference, ppm (+ = it runs fast); served time corrects it. */
    readonly freqPpm: number;
    /** Served time − raw system clock, ns (what the discipline corrects; + = the system clock is behind). */
    readonly correctionNs: number;
    /** Where receive timestamps come from: "kernel (SIOCGSTAMPNS)" or "user space" (src/server/udp.ts). */
    readonly rxTimestamps?: string;
    /** Why user space, when it is; and how many datagrams got the kernel's stamp or fell back to the JS read, and why. */
    readonly rxTimestampStats?: RxTimestampStats;
    /** The per-client table (one for every thread): clients held, slots, evictions. */
    readonly rateTable?: RateTableStatus;
  } & Partial<ServerPathStatus>;
  readonly refclocks: readonly RefclockStatus[];
  /** Upstream servers, peers and broadcasters (src/assoc), with the discipline's verdict. */
  readonly associations: readonly (AssociationStatus & { readonly falseticker: boolean })[];
  readonly counters: Readonly<Record<string, number>>;
}

export interface StatusSources {
  readonly configPath: string;
  /** Date.now() at start. */
  readonly started: number;
  readonly state: ServerStateCell;
  readonly reference: Reference;
  readonly counters: ServerCounters;
  readonly listening: readonly { address: string; port: number }[];
  /** The UDP server's receive-timestamp source and counters. */
  readonly rxTimestamps?: RxTimestampStats;
  /** The server path and, on the fast path, its threads (src/daemon/serve.ts). */
  readonly server?: ServerPathStatus;
  /** The per-client rate/MRU table (src/server/access/ratelimit.ts; shared by every thread). */
  readonly rateTable?: () => RateTableStatus;
}

/** The per-client table (src/server/access/ratelimit.ts): clients held, slots (fixed at start), clients evicted to make room. */
export interface RateTableStatus {
  readonly entries: number;
  readonly capacity: number;
  readonly evictions: number;
}

/** bigint fields (instants) become strings: JSON has no bigint. */
function jsonSafe<T>(value: T): T {
  return JSON.parse(JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v))) as T;
}

export function statusReport(s: StatusSources): StatusReport {
  const snap = s.state.snapshot;
  const ref = s.reference.status();
  const control = s.reference.controlSnapshot();
  return jsonSafe({
    daemon: { pid: process.pid, uptimeS: Math.round((Date.now() - s.started) / 1000), config: s.configPath, listening: s.listening },
    server: {
      synchronised: snap.stratum < 16,
      stratum: snap.stratum,
      leap: snap.leap,
      // The local clock's ASCII LOCL is served above stratum 1, where a refid reads as an address: name it.
      refid: ref.state === 'local' && ref.selected === 'LOCAL(0)' ? 'LOCL' : formatRefId(snap.referenceId, snap.stratum),
      rootDispersionS: snap.rootDispersionS,
      state: ref.state,
      selected: ref.selected,
      freqPpm: ref.freqPpm,
      correctionNs: ref.correctionNs,
      ...(s.rxTimestamps ? { rxTimestamps: s.rxTimestamps.source, rxTimestampStats: s.rxTimestamps } : {}),
      ...(s.server ?? {}),
      ...(s.rateTable ? { rateTable: s.rateTable() } : {}),
    },
    refclocks: ref.refclocks,
    associations: control.associations.map((a) => ({ ...a, falseticker: control.falsetickers.has(a.name) })),
    counters: { ...s.counters },
  });
}
