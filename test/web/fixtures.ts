// A StatusReport as a GPS + PPS daemon gives it (the shape of `gnomon status --json`).
import type { StatusReport } from '../../src/daemon/status.js';

export function fakeStatus(over: { hostileName?: string; processed?: number } = {}): StatusReport {
  const nmea = {
    name: over.hostileName ?? 'GPS_NMEA(0)', reach: '377', address: '127.127.20.0', timecode: '$GPRMC,...', noreply: 0,
    estimate: { basis: 'timecode', offsetNs: 1_500_000, jitterNs: 250_000 },
    fix: { mode: '3d', satellitesUsed: 9, satellitesVisible: 12, hdop: 0.9 },
    lastTimecodeAgeNs: 1e8, lastTimecodeUnixNs: '1795346660000000000', phase: null, lastRejectReason: null,
    counters: { timecodes: 100, pulses: 0, pulsesAccepted: 0, accepted: 100 },
    drivers: [{ driver: 'nmea', device: '/dev/ttyAMA0', state: 'running', counters: { sentences: 700, sentenceRMC: 350, sentenceGGA: 350, checksumBad: 3, parseErrors: 1 } }],
    prefer: false, noselect: false, pollLog2S: 4, labelledBy: null,
  };
  const pps = {
    name: 'PPS(0)', reach: '377', address: '127.127.22.0', timecode: '', noreply: 0,
    estimate: { basis: 'pulse', offsetNs: -2_000, jitterNs: 1_000 },
    fix: { mode: 'none', satellitesUsed: null, satellitesVisible: null, hdop: null },
    lastTimecodeAgeNs: null, lastTimecodeUnixNs: null, phase: { state: 'ok', phaseNs: 110e6, spreadNs: 1e6, observations: 50 },
    lastRejectReason: 'nmeaStale', counters: { timecodes: 0, pulses: 120, pulsesAccepted: 110, nmeaStale: 7, phaseLearning: 3 },
    drivers: [{ driver: 'pps-sysfs', device: '/dev/pps0', state: 'running', counters: {} }],
    prefer: false, noselect: false, pollLog2S: 4, labelledBy: 'GPS_NMEA(0)',
  };
  return {
    daemon: { pid: 1, uptimeS: 60, config: '/etc/gnomon/ntp.conf', listening: [{ address: '0.0.0.0', port: 123 }] },
    server: { synchronised: true, stratum: 1, leap: 0, refid: 'PPS', rootDispersionS: 0.0001, state: 'tracking', selected: 'PPS(0)', freqPpm: -12.5, correctionNs: 300, path: 'fast' },
    refclocks: [nmea, pps] as unknown as StatusReport['refclocks'],
    associations: [{
      name: '192.0.2.7', address: '192.0.2.7', hmode: 3, pmode: 4, prefer: false, noselect: false, alwaysTrue: false, reach: 0o377, pollLog2S: 6,
      // As the daemon sends it: statusReport turns bigint instants into strings (JSON has no bigint).
      lastReceiveNs: '1800000000000000000' as unknown as bigint, upstream: { leap: 0, stratum: 1, precisionLog2S: -20, rootDelayS: 0, rootDispersionS: 0.0001, refid: 0x47505300, reftime: { seconds: 0, fraction: 0 } },
      filter: { offsetNs: 250_000, delayNs: 800_000, dispersionNs: 20_000, jitterNs: 30_000, stages: [] },
      keyId: 0, rejects: {}, kod: { RATE: 2 }, sent: 20, received: 20, demobilised: false, falseticker: true,
    }],
    counters: { received: 1000, processed: over.processed ?? 990, restricted: 4, rateLimited: 5, kodSent: 2, kodRate: 2, kodDeny: 0, kodRstr: 0, badFormat: 1, declined: 0, authFailed: 0, controlRequests: 3, interleaved: 40, txStampKernel: 39, txStampMissing: 1, txStampUnmatched: 0, rxCoalesced: 12 },
  };
}
