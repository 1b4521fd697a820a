/**
 * `/metrics`: the daemon's state in Prometheus text format, through prom-client (a private
 * registry, so tests and several servers never share one). Values are read from the same
 * StatusReport as `gnomon status` at scrape time; the daemon's own counters are mirrored as
 * Prometheus counters (they only grow while the daemon runs). docs/web.md lists every metric.
 */
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { RateTableStatus, StatusReport } from '../daemon/status.js';
import type { RefclockStatus } from '../daemon/refclocks.js';

/** What the web reads of the rate-limit (MRU) table (the daemon's RateTableStatus; evictions where the table counts them). */
export type RateLimitTableView = Omit<RateTableStatus, 'evictions'> & { readonly evictions?: number };

export interface MetricsSources {
  readonly status: () => StatusReport;
  /** The rate-limit (MRU) table: clients in it and slots. */
  readonly rateLimitTable: () => RateLimitTableView;
}

/** Refclock counters that are not reasons a pulse was refused. */
const NOT_PULSE_REFUSALS = new Set(['timecodes', 'pulses', 'pulsesAccepted', 'labelled', 'samples', 'accepted', 'samplesNotOnSecond', 'samplesUnmatched']);
/** NMEA driver counters that count errors (framing and decoding). */
export const NMEA_ERROR_COUNTERS = ['checksumBad', 'checksumMissing', 'overlong', 'truncated', 'parseErrors', 'badTimeFields', 'dateConflicts', 'lateSentences'] as const;
/** ServerCounters fields that count packets not answered with time, by reason. */
const DROP_REASONS: readonly [string, string][] = [
  ['restricted', 'restricted'], ['rateLimited', 'rate_limited'], ['badFormat', 'bad_format'], ['authFailed', 'auth_failed'], ['declined', 'declined'],
];

type Labels = Record<string, string>;

interface Sample {
  readonly labels: Labels;
  readonly value: number;
}

/** A counter whose value is the daemon's own count, set at each scrape. */
function mirroredCounter(registry: Registry, name: string, help: string, labelNames: string[], read: () => Sample[]): void {
  new Counter({
    name, help, labelNames, registers: [registry],
    collect() {
      this.reset();
      for (const s of read()) if (Number.isFinite(s.value) && s.value >= 0) this.inc(s.labels, s.value);
    },
  });
}

function gauge(registry: Registry, name: string, help: string, labelNames: string[], read: () => Sample[]): void {
  new Gauge({
    name, help, labelNames, registers: [registry],
    collect() {
      this.reset();
      for (const s of read()) if (Number.isFinite(s.value)) this.set(s.labels, s.value);
    },
  });
}

function perRefclock(refclocks: readonly RefclockStatus[], value: (r: RefclockStatus) => number | null | undefined): Sample[] {
  const out: Sample[] = [];
  for (const r of refclocks) {
    const v = value(r);
    if (v !== null && v !== undefined) out.push({ labels: { refclock: r.name }, value: v });
  }
  return out;
}

/** Builds the registry; one status read is shared by all metrics of a scrape. */
export function createMetricsRegistry(src: MetricsSources, options: { defaultMetrics?: boolean } = {}): Registry {
  const registry = new Registry();
  let cached: { at: number; report: StatusReport } | undefined;
  const status = (): StatusReport => {
    const t = Date.now();
    if (!cached || t - cached.at > 100) cached = { at: t, report: src.status() };
    return cached.report;
  };
  const one = (value: number): Sample[] => [{ labels: {}, value }];
  const refclocks = () => status().refclocks;

  gauge(registry, 'gnomon_synchronised', '1 when the server answers with a stratum below 16', [], () => one(status().server.synchronised ? 1 : 0));
  gauge(registry, 'gnomon_stratum', 'Stratum the server answers with (16 = unsynchronised)', [], () => one(status().server.stratum));
  gauge(registry, 'gnomon_leap_indicator', 'Leap indicator the server answers with (0 none, 1 +1 s, 2 -1 s, 3 unsynchronised)', [], () => one(status().server.leap));
  gauge(registry, 'gnomon_root_dispersion_seconds', 'Root dispersion the server answers with', [], () => one(status().server.rootDispersionS));
  gauge(registry, 'gnomon_frequency_ppm', 'Local clock frequency against the reference, ppm (+ = runs fast)', [], () => one(status().server.freqPpm));
  gauge(registry, 'gnomon_correction_seconds', 'Served time minus the raw system clock', [], () => one(status().server.correctionNs / 1e9));
  gauge(registry, 'gnomon_selected_info', 'The reference followed (value 1), with its name, refid and discipline state', ['selected', 'refid', 'state'],
    () => [{ labels: { selected: status().server.selected, refid: status().server.refid, state: status().server.state }, value: 1 }]);
  gauge(registry, 'gnomon_offset_seconds', 'Each refclock\'s offset estimate (as gnomon status shows it)', ['refclock'],
    () => perRefclock(refclocks(), (r) => (r.estimate ? r.estimate.offsetNs / 1e9 : null)));
  gauge(registry, 'gnomon_jitter_seconds', 'Each refclock\'s jitter estimate', ['refclock'],
    () => perRefclock(refclocks(), (r) => (r.estimate ? r.estimate.jitterNs / 1e9 : null)));
  gauge(registry, 'gnomon_refclock_reach', 'Reach register of each refclock (0-255)', ['refclock'],
    () => perRefclock(refclocks(), (r) => parseInt(r.reach, 8)));
  gauge(registry, 'gnomon_satellites_used', 'Satellites used in the fix', ['refclock'], () => perRefclock(refclocks(), (r) => r.fix.satellitesUsed));
  gauge(registry, 'gnomon_satellites_visible', 'Satellites in view', ['refclock'], () => perRefclock(refclocks(), (r) => r.fix.satellitesVisible));

  // Servers and peers (label `server` = the address), ntpq's sign for the offset: the server minus us.
  const associations = () => status().associations ?? [];
  const perServer = (value: (a: StatusReport['associations'][number]) => number | null): Sample[] => associations()
    .flatMap((a) => { const v = value(a); return v === null ? [] : [{ labels: { server: a.address }, value: v }]; });
  gauge(registry, 'gnomon_server_reach', 'Reach register of each upstream server or peer (0-255)', ['server'], () => perServer((a) => a.reach));
  gauge(registry, 'gnomon_server_offset_seconds', 'Each server\'s clock filter offset (+ = the server is ahead, as ntpq)', ['server'],
    () => perServer((a) => (a.filter ? -a.filter.offsetNs / 1e9 : null)));
  gauge(registry, 'gnomon_server_delay_seconds', 'Each server\'s round-trip delay (clock filter)', ['server'], () => perServer((a) => (a.filter ? a.filter.delayNs / 1e9 : null)));
  gauge(registry, 'gnomon_server_falseticker', '1 when the discipline rejects the server as a falseticker', ['server'], () => perServer((a) => (a.falseticker ? 1 : 0)));
  mirroredCounter(registry, 'gnomon_server_kod_total', 'Kiss-o\'-death packets received from each server, by code', ['server', 'code'],
    () => associations().flatMap((a) => Object.entries(a.kod).map(([code, value]) => ({ labels: { server: a.address, code }, value }))));

  const isPps = (r: RefclockStatus) => r.phase !== null || (r.counters.pulses ?? 0) > 0;
  mirroredCounter(registry, 'gnomon_pps_pulses_total', 'PPS pulses seen', ['refclock'],
    () => perRefclock(refclocks(), (r) => (isPps(r) ? r.counters.pulses ?? 0 : null)));
  mirroredCounter(registry, 'gnomon_pps_pulses_accepted_total', 'PPS pulses paired with a second and used', ['refclock'],
    () => perRefclock(refclocks(), (r) => (isPps(r) ? (r.counters.pulsesAccepted ?? 0) : null)));
  mirroredCounter(registry, 'gnomon_pps_pulses_rejected_total', 'PPS pulses refused, by reason', ['refclock', 'reason'], () => refclocks()
    .filter(isPps)
    .flatMap((r) => Object.entries(r.counters).filter(([k]) => !NOT_PULSE_REFUSALS.has(k)).map(([reason, value]) => ({ labels: { refclock: r.name, reason }, value }))));
  const nmeaDrivers = () => refclocks().flatMap((r) => r.drivers.filter((d) => d.driver === 'nmea').map((d) => ({ r, d })));
  mirroredCounter(registry, 'gnomon_nmea_sentences_total', 'NMEA sentences with a valid frame, by sentence type (RMC, GGA, ...)', ['refclock', 'device', 'type'],
    () => nmeaDrivers().flatMap(({ r, d }) => Object.entries(d.counters).filter(([k]) => /^sentence[A-Z0-9]{3}$|^sentenceother$/.test(k))
      .map(([k, value]) => ({ labels: { refclock: r.name, device: d.device, type: k.slice('sentence'.length) }, value }))));
  mirroredCounter(registry, 'gnomon_nmea_errors_total', 'NMEA framing and decoding errors, by kind', ['refclock', 'device', 'error'],
    () => nmeaDrivers().flatMap(({ r, d }) => NMEA_ERROR_COUNTERS.map((error) => ({ labels: { refclock: r.name, device: d.device, error }, value: d.counters[error] ?? 0 }))));
  mirroredCounter(registry, 'gnomon_driver_events_total', 'Every refclock driver counter (nmea, pps, gpsd)', ['refclock', 'driver', 'device', 'counter'],
    () => refclocks().flatMap((r) => r.drivers.flatMap((d) => Object.entries(d.counters)
      .map(([counter, value]) => ({ labels: { refclock: r.name, driver: d.driver, device: d.device, counter }, value })))));

  const c = (k: string) => status().counters[k] ?? 0;
  mirroredCounter(registry, 'gnomon_ntp_received_total', 'NTP datagrams received', [], () => one(c('received')));
  mirroredCounter(registry, 'gnomon_ntp_served_total', 'Time replies sent (mode 4 and 2)', [], () => one(c('processed')));
  mirroredCounter(registry, 'gnomon_ntp_dropped_total', 'Datagrams not answered with time, by reason', ['reason'],
    () => DROP_REASONS.map(([k, reason]) => ({ labels: { reason }, value: c(k) })));
  mirroredCounter(registry, 'gnomon_ntp_kod_sent_total', 'Kiss-o\'-death replies sent, by code', ['code'],
    () => [['kodRate', 'RATE'], ['kodDeny', 'DENY'], ['kodRstr', 'RSTR']].map(([k, code]) => ({ labels: { code: code! }, value: c(k!) })));
  mirroredCounter(registry, 'gnomon_ntp_control_requests_total', 'Mode 6 (ntpq) requests', [], () => one(c('controlRequests')));
  gauge(registry, 'gnomon_ratelimit_table_entries', 'Clients in the rate-limit (MRU) table', [], () => one(src.rateLimitTable().entries));
  gauge(registry, 'gnomon_ratelimit_table_capacity', 'Slots in the rate-limit (MRU) table', [], () => one(src.rateLimitTable().capacity));
  mirroredCounter(registry, 'gnomon_ratelimit_table_evictions_total', 'Clients evicted from the full rate-limit (MRU) table to make room for new ones', [],
    () => one(src.rateLimitTable().evictions ?? 0));
  // The fast path's own work (docs/server.md): interleaved mode, kernel transmit stamps, receive coalescing.
  mirroredCounter(registry, 'gnomon_ntp_interleaved_total', 'Time replies sent in NTP interleaved mode', [], () => one(c('interleaved')));
  mirroredCounter(registry, 'gnomon_ntp_tx_timestamps_total', 'Kernel transmit stamps for interleaved replies, by result', ['result'],
    () => [['txStampKernel', 'kernel'], ['txStampMissing', 'missing'], ['txStampUnmatched', 'unmatched']].map(([k, result]) => ({ labels: { result: result! }, value: c(k!) })));
  mirroredCounter(registry, 'gnomon_ntp_rx_coalesced_total', 'Short receive batches after which a fast-path worker waited --rx-coalesce-us', [], () => one(c('rxCoalesced')));
  gauge(registry, 'gnomon_server_path_info', 'How datagrams are read and answered (value 1): path "fast" or "dgram"', ['path'],
    () => [{ labels: { path: status().server.path ?? 'dgram' }, value: 1 }]);
  gauge(registry, 'gnomon_uptime_seconds', 'Seconds since the daemon started', [], () => one(status().daemon.uptimeS));

  // process_* and nodejs_* (event-loop delay from monitorEventLoopDelay, heap, GC).
  if (options.defaultMetrics !== false) collectDefaultMetrics({ register: registry });
  return registry;
}
