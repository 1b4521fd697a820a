import { describe, expect, it } from 'vitest';
import { createMetricsRegistry } from '../../src/web/metrics.js';
import { ChartHistory } from '../../src/web/chart-history.js';
import { fakeStatus } from './fixtures.js';

/** name{labels} → value, from Prometheus text format; also checks every line is well-formed. */
function parse(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('# HELP ') || line.startsWith('# TYPE ')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*",?)*\})?) (-?[0-9.e+-]+|NaN|[+-]Inf)$/.exec(line);
    expect(m, `malformed line: ${line}`).not.toBeNull();
    out.set(m![1]!, Number(m![2]));
  }
  return out;
}

describe('/metrics', () => {
  it('exports the daemon state in Prometheus text format', async () => {
    let status = fakeStatus();
    const reg = createMetricsRegistry({ status: () => status, rateLimitTable: () => ({ entries: 17, capacity: 1024, evictions: 250 }) }, { defaultMetrics: false });
    const text = await reg.metrics();
    expect(reg.contentType).toMatch(/^text\/plain; version=0\.0\.4/);
    const m = parse(text);
    expect(text).toContain('# TYPE gnomon_ntp_served_total counter');
    expect(text).toContain('# TYPE gnomon_offset_seconds gauge');
    expect(m.get('gnomon_stratum')).toBe(1);
    expect(m.get('gnomon_synchronised')).toBe(1);
    expect(m.get('gnomon_frequency_ppm')).toBe(-12.5);
    expect(m.get('gnomon_offset_seconds{refclock="PPS(0)"}')).toBeCloseTo(-2e-6, 12);
    expect(m.get('gnomon_jitter_seconds{refclock="GPS_NMEA(0)"}')).toBeCloseTo(2.5e-4, 12);
    expect(m.get('gnomon_refclock_reach{refclock="PPS(0)"}')).toBe(255);
    expect(m.get('gnomon_server_reach{server="192.0.2.7"}')).toBe(255);
    expect(m.get('gnomon_server_offset_seconds{server="192.0.2.7"}')).toBeCloseTo(-2.5e-4, 12);
    expect(m.get('gnomon_server_delay_seconds{server="192.0.2.7"}')).toBeCloseTo(8e-4, 12);
    expect(m.get('gnomon_server_falseticker{server="192.0.2.7"}')).toBe(1);
    expect(m.get('gnomon_server_kod_total{server="192.0.2.7",code="RATE"}')).toBe(2);
    expect(m.get('gnomon_pps_pulses_total{refclock="PPS(0)"}')).toBe(120);
    expect(m.get('gnomon_pps_pulses_accepted_total{refclock="PPS(0)"}')).toBe(110);
    expect(m.get('gnomon_pps_pulses_rejected_total{refclock="PPS(0)",reason="nmeaStale"}')).toBe(7);
    expect(m.has('gnomon_pps_pulses_total{refclock="GPS_NMEA(0)"}')).toBe(false);
    expect(m.get('gnomon_nmea_sentences_total{refclock="GPS_NMEA(0)",device="/dev/ttyAMA0",type="RMC"}')).toBe(350);
    expect(m.get('gnomon_nmea_sentences_total{refclock="GPS_NMEA(0)",device="/dev/ttyAMA0",type="GGA"}')).toBe(350);
    expect(m.get('gnomon_nmea_errors_total{refclock="GPS_NMEA(0)",device="/dev/ttyAMA0",error="checksumBad"}')).toBe(3);
    expect(m.get('gnomon_ntp_served_total')).toBe(990);
    expect(m.get('gnomon_ntp_dropped_total{reason="rate_limited"}')).toBe(5);
    expect(m.get('gnomon_ntp_dropped_total{reason="restricted"}')).toBe(4);
    expect(m.get('gnomon_ntp_kod_sent_total{code="RATE"}')).toBe(2);
    expect(m.get('gnomon_ntp_kod_sent_total{code="DENY"}')).toBe(0);
    expect(m.get('gnomon_ratelimit_table_entries')).toBe(17);
    expect(m.get('gnomon_ratelimit_table_capacity')).toBe(1024);
    expect(m.get('gnomon_ratelimit_table_evictions_total')).toBe(250);
    expect(m.get('gnomon_ntp_interleaved_total')).toBe(40);
    expect(m.get('gnomon_ntp_tx_timestamps_total{result="kernel"}')).toBe(39);
    expect(m.get('gnomon_ntp_tx_timestamps_total{result="missing"}')).toBe(1);
    expect(m.get('gnomon_ntp_rx_coalesced_total')).toBe(12);
    expect(m.get('gnomon_server_path_info{path="fast"}')).toBe(1);
    expect(m.get('gnomon_selected_info{selected="PPS(0)",refid="PPS",state="tracking"}')).toBe(1);

    // Mirrored counters follow the daemon's counts at each scrape.
    status = fakeStatus({ processed: 2000 });
    await new Promise((r) => setTimeout(r, 150));
    expect(parse(await reg.metrics()).get('gnomon_ntp_served_total')).toBe(2000);
  });

  it('label values from the daemon are escaped, not trusted', async () => {
    const reg = createMetricsRegistry({ status: () => fakeStatus({ hostileName: 'x"} 1\nevil 2' }), rateLimitTable: () => ({ entries: 0, capacity: 1 }) }, { defaultMetrics: false });
    const text = await reg.metrics();
    expect(text).not.toMatch(/^evil 2$/m);
    parse(text);
  });

  it('includes the event-loop delay and process metrics', async () => {
    const reg = createMetricsRegistry({ status: () => fakeStatus(), rateLimitTable: () => ({ entries: 0, capacity: 1 }) });
    const text = await reg.metrics();
    expect(text).toContain('nodejs_eventloop_lag_seconds');
    expect(text).toContain('nodejs_eventloop_lag_p99_seconds');
    expect(text).toContain('process_cpu_seconds_total');
  });
});

describe('chart history', () => {
  it('keeps the last N points of offset, frequency and served rate, oldest first', () => {
    const h = new ChartHistory(3);
    h.record(fakeStatus({ processed: 0 }), 100);
    h.record(fakeStatus({ processed: 20 }), 102);
    h.record(fakeStatus({ processed: 40 }), 104);
    h.record(fakeStatus({ processed: 100 }), 106);
    const pts = h.since();
    expect(pts.map((p) => p.t)).toEqual([102, 104, 106]);
    expect(pts[2]).toEqual({ t: 106, offsetMs: -0.002, freqPpm: -12.5, servedPerS: 30 });
    expect(h.since(104).map((p) => p.t)).toEqual([106]);
  });
});
