/**
 * The running daemon as mode 6 sees it (src/control/mode6/view.ts): the discipline, the refclock
 * sources, the server's counters and its client table, translated into ntpd's variables, units
 * and signs so `ntpq` prints what it printed on an ntpd box.
 *
 * Associations: one per refclock, ids from 10001 in config order (ntpd's are arbitrary too;
 * `ntpq -c "rv &1"` uses the index). Selection codes as ntpd shows a GPS + PPS box: the PPS that
 * is followed is the pps.peer (`o`), the timecode source that names its seconds the sys.peer
 * (`*`); a followed NMEA-only source is the sys.peer; other sources with an estimate are
 * candidates (`+`), the rest rejected. Gnomon keeps no 8-sample clock filter per refclock: the
 * filt* arrays repeat the current estimate (documented in docs/mode6.md).
 */
import { machine, release, type } from 'node:os';
import { newTimeSpec } from '../clock/clock.js';
import { ntpFractionOf, ntpSecondsOf, type Timescale } from '../clock/timescale.js';
import type { Association, ControlView, MruEntry, SystemStatistics, SystemVariables } from '../control/mode6/view.js';
import { estimateDispersionS } from '../discipline/discipline.js';
import { STRATUM_UNSYNCHRONISED, formatRefId } from '../ntp/constants.js';
import { ZERO_TIMESTAMP, ntpAddNs, ntpFromUnixNs, type NtpTimestamp } from '../ntp/timestamp.js';
import { PEER_STATUS_AUTHENABLE, PEER_STATUS_AUTHENTIC, PEER_STATUS_CONFIG, PEER_STATUS_REACH, PeerSelection } from '../discipline/stats-format.js';
import type { ServerCounters } from '../server/counters.js';
import type { ServerStateCell } from '../server/state.js';
import type { RateLimiter } from '../server/access/ratelimit.js';
import type { Reference } from './reference.js';
import type { RefclockStatus } from './refclocks.js';

export const FIRST_ASSOCIATION_ID = 10001;

/** ntpd's system status word "clock source" codes (ntp_control.h CTL_SST_TS_*). */
const SOURCE_PPS = 1;
const SOURCE_UHF = 4; // GPS, as ntpd reports its NMEA driver
const SOURCE_LOCAL = 5;
const SOURCE_NTP = 6;

const DRIVER_NAME: Readonly<Record<string, string>> = { GPS_NMEA: 'NMEA', PPS: 'PPS', GPSD_JSON: 'GPSD_JSON' };

export interface ControlViewSources {
  readonly reference: Reference;
  readonly state: ServerStateCell;
  readonly counters: ServerCounters;
  readonly timescale: Timescale;
  /** The current rate-limit table (replaced on reload). */
  readonly limiter: () => RateLimiter;
  /** Monotonic seconds now (the limiter's clock) and at start. */
  readonly monotonicS: () => number;
  readonly startedMonotonicS: number;
  readonly version: string;
  readonly controlRequests: () => number;
  /** Where the server's receive timestamps come from (src/server/udp.ts rxStamps.source). */
  readonly rxTimestamps?: () => string;
  /** The server path: "fast" or "dgram" (mode 6 `serverpath`). */
  readonly serverPath?: () => string;
}

function servedNow(ts: Timescale): NtpTimestamp {
  const t = newTimeSpec();
  ts.read(t);
  return { seconds: ntpSecondsOf(t), fraction: ntpFractionOf(t) };
}

export function daemonControlView(s: ControlViewSources): ControlView {
  // An association's rec/xmt/reftime are system-clock (raw) times, as ntpd's are: ntpq's `when`
  // is the system clock now minus rec, and a served-time rec can lie in the system clock's future.

  const selectionOf = (r: RefclockStatus, followed: string | null, followedLabeller: string | null): number => {
    if (r.falseticker) return PeerSelection.Falsetick;
    if (r.name === followed) return r.estimate?.basis === 'pulse' && followedLabeller !== null ? PeerSelection.PpsPeer : PeerSelection.SysPeer;
    if (r.name === followedLabeller) return PeerSelection.SysPeer;
    return r.estimate ? PeerSelection.Candidate : PeerSelection.Reject;
  };

  type Snapshot = ReturnType<Reference['controlSnapshot']>;
  const associationsOf = (snap: Snapshot): Association[] => {
    const st = snap.state;
    const followed = st.kind === 'tracking' || st.kind === 'holdover' ? st.name : null;
    const followedLabeller = snap.refclocks.find((r) => r.name === followed)?.labelledBy ?? null;
    const precision = s.timescale.precisionLog2S;
    return snap.refclocks.map((r, i) => {
      const e = r.estimate;
      const selection = selectionOf(r, followed, followedLabeller);
      const offsetMs = e ? -e.offsetNs / 1e6 : 0;
      const dispersionMs = e ? estimateDispersionS(e, precision, snap.nowNs) * 1e3 : 16000;
      const at = e ? ntpFromUnixNs(e.atNs) : { seconds: 0, fraction: 0 };
      const driver = DRIVER_NAME[r.name.replace(/\(\d+\)$/, '')] ?? r.name;
      return {
        associd: FIRST_ASSOCIATION_ID + i,
        // ntpd's peer status: configured, reachable, the selection code in the low 3 bits; no events.
        statusWord: ((PEER_STATUS_CONFIG | (r.reach !== '0' ? PEER_STATUS_REACH : 0) | selection) << 8),
        srcadr: r.address, srcport: 123, dstadr: '127.0.0.1', dstport: 123,
        leap: e?.leap === 'insert' ? 1 : e?.leap === 'delete' ? 2 : e ? 0 : 3,
        hmode: 3, stratum: 0, ppoll: r.pollLog2S, hpoll: r.pollLog2S, precisionLog2S: precision,
        rootDelayMs: 0, rootDispersionMs: 0, refid: e?.refid ?? (r.name.startsWith('PPS') ? 'PPS' : 'GPS'),
        reftime: at, rec: at, xmt: at,
        reach: parseInt(r.reach, 8), unreach: 0,
        delayMs: 0, offsetMs, jitterMs: e ? e.jitterNs / 1e6 : 0, dispersionMs, keyid: 0,
        filtdelayMs: new Array<number>(8).fill(0), filtoffsetMs: new Array<number>(8).fill(offsetMs), filtdispMs: new Array<number>(8).fill(dispersionMs),
        srchost: r.name,
        ...(e ? { whenS: Math.max(0, Number(snap.nowNs - e.atNs) / 1e9) } : {}),
        clock: {
          name: driver, timecode: r.timecode, poll: r.pollLog2S, noreply: r.noreply,
          badformat: (r.drivers[0]?.counters.checksumBad ?? 0) + (r.drivers[0]?.counters.checksumMissing ?? 0) + (r.drivers[0]?.counters.overlong ?? 0),
          baddata: (r.drivers[0]?.counters.badTimeFields ?? 0) + (r.counters.wrongWeek ?? 0),
          stratum: 0, refid: r.name.startsWith('PPS') ? 'PPS' : 'GPS', flags: 0,
          device: r.drivers.map((d) => `${d.driver} ${d.device}`).join(', '), statusWord: 0,
        },
      };
    });
  };

  /** Upstream servers, peers and broadcasters after the refclocks: ntpd's variables from the association's state. */
  const networkOf = (snap: Snapshot, firstId: number): Association[] => {
    const st = snap.state;
    const followed = st.kind === 'tracking' || st.kind === 'holdover' ? st.name : null;
    return snap.associations.map((a, i) => {
      const f = a.filter;
      const u = a.upstream;
      const selection = snap.falsetickers.has(a.name) ? PeerSelection.Falsetick : a.name === followed ? PeerSelection.SysPeer
        : f !== null && !a.noselect && a.reach !== 0 ? PeerSelection.Candidate : PeerSelection.Reject;
      const rec = a.lastReceiveNs !== null ? ntpFromUnixNs(a.lastReceiveNs) : ZERO_TIMESTAMP;
      const stages = f?.stages ?? [];
      // Absent stages as ntpd shows them: delay and offset 0, dispersion 16 s.
      const stage = (pick: (x: { offsetNs: number; delayNs: number; dispersionNs: number }) => number, none: number) =>
        Array.from({ length: 8 }, (_, j) => (stages[j] ? pick(stages[j]!) : none));
      return {
        associd: firstId + i,
        statusWord: (((a.hmode === 6 ? 0 : PEER_STATUS_CONFIG) | (a.keyId !== 0 ? PEER_STATUS_AUTHENABLE : 0)
          | (a.keyId !== 0 && a.received > 0 ? PEER_STATUS_AUTHENTIC : 0) | (a.reach !== 0 ? PEER_STATUS_REACH : 0) | selection) << 8),
        srcadr: a.address, srcport: 123, dstadr: '0.0.0.0', dstport: 123,
        leap: u?.leap ?? 3, hmode: a.hmode, pmode: a.pmode, stratum: u?.stratum ?? STRATUM_UNSYNCHRONISED,
        ppoll: a.pollLog2S, hpoll: a.pollLog2S, precisionLog2S: u?.precisionLog2S ?? 0,
        rootDelayMs: (u?.rootDelayS ?? 0) * 1e3, rootDispersionMs: (u?.rootDispersionS ?? 0) * 1e3,
        refid: u ? formatRefId(u.refid, u.stratum) : 'INIT', reftime: u?.reftime ?? ZERO_TIMESTAMP, rec, xmt: rec,
        reach: a.reach, unreach: 0,
        // ntpq's offset is the server minus us: the negative of Gnomon's local − reference.
        delayMs: f ? f.delayNs / 1e6 : 0, offsetMs: f ? -f.offsetNs / 1e6 : 0, jitterMs: f ? f.jitterNs / 1e6 : 0,
        dispersionMs: f ? f.dispersionNs / 1e6 : 16000, keyid: a.keyId,
        filtdelayMs: stage((x) => x.delayNs / 1e6, 0), filtoffsetMs: stage((x) => -x.offsetNs / 1e6, 0),
        filtdispMs: stage((x) => x.dispersionNs / 1e6, 16000),
        ...(a.lastReceiveNs !== null ? { whenS: Math.max(0, Number(snap.nowNs - a.lastReceiveNs) / 1e9) } : {}),
        received: a.received, sent: a.sent,
      };
    });
  };

  const associations = (): Association[] => {
    const snap = s.reference.controlSnapshot();
    const refclocks = associationsOf(snap);
    return [...refclocks, ...networkOf(snap, FIRST_ASSOCIATION_ID + refclocks.length)];
  };

  const system = (): SystemVariables => {
    const snap = s.reference.controlSnapshot();
    const cell = s.state.snapshot;
    const st = snap.state;
    const followed = st.kind === 'tracking' || st.kind === 'holdover' ? st : null;
    const refclockAssocs = associationsOf(snap);
    const assocs = [...refclockAssocs, ...networkOf(snap, FIRST_ASSOCIATION_ID + refclockAssocs.length)];
    const peer = assocs.find((a) => (a.statusWord >> 8 & 7) === PeerSelection.PpsPeer) ?? assocs.find((a) => (a.statusWord >> 8 & 7) === PeerSelection.SysPeer);
    const source = cell.stratum >= STRATUM_UNSYNCHRONISED ? 0 : st.kind === 'local' ? SOURCE_LOCAL
      : followed?.estimate.basis === 'pulse' ? SOURCE_PPS : followed?.estimate.basis === 'network' ? SOURCE_NTP : SOURCE_UHF;
    const e = followed?.estimate ?? null;
    const line = snap.line;
    return {
      leap: cell.leap, stratum: cell.stratum, precisionLog2S: cell.precisionLog2S,
      rootDelayMs: cell.rootDelayS * 1e3, rootDispersionMs: cell.rootDispersionS * 1e3,
      refid: formatRefId(cell.referenceId, cell.stratum), reftime: cell.referenceTime, clock: servedNow(s.timescale),
      peer: peer?.associd ?? 0, tc: 0, mintc: 0,
      offsetMs: e ? -e.offsetNs / 1e6 : 0,
      // ntpd's frequency is the correction applied: −(the raw clock's rate) + what the kernel adds.
      frequencyPpm: (line ? -line.freqPpm : 0) + snap.kernelFreqPpm,
      sysJitterMs: e ? e.jitterNs / 1e6 : 0, clkJitterMs: e ? e.jitterNs / 1e6 : 0, clkWanderPpm: e ? e.model.freqSdPpm : 0,
      processor: machine(), system: `${type()}/${release()}`, version: s.version,
      statusWord: ((cell.leap & 3) << 14) | (source << 8),
      ...(s.rxTimestamps ? { rxTimestamps: s.rxTimestamps() } : {}),
      ...(s.serverPath ? { serverPath: s.serverPath() } : {}),
    };
  };

  const sysstats = (): SystemStatistics => {
    const c = s.counters;
    const up = Math.round(s.monotonicS() - s.startedMonotonicS);
    return {
      uptimeS: up, sinceResetS: up, received: c.received, currentVersion: c.currentVersion, olderVersion: c.olderVersion,
      badFormat: c.badFormat, authFailed: c.authFailed, declined: c.declined, restricted: c.restricted, rateLimited: c.rateLimited,
      kodSent: c.kodSent, processed: c.processed, controlRequests: s.controlRequests(),
    };
  };

  const mru = (): MruEntry[] => {
    const now = servedNow(s.timescale);
    const nowS = s.monotonicS();
    return s.limiter().entries().map((m) => ({
      address: m.address, port: m.port,
      first: ntpAddNs(now, -(nowS - m.firstS) * 1e9), last: ntpAddNs(now, -(nowS - m.lastS) * 1e9),
      count: m.count, restrictBits: 0, mode: m.mode, version: m.version, score: 0, drop: 0,
    }));
  };

  return { system, associations, sysstats, mru };
}

