// Estimates for the discipline tests.
import type { SourceEstimate } from '../../../src/refclock/source.js';

export const fix3d = { mode: '3d' as const, satellitesUsed: 9, satellitesVisible: 12, hdop: 0.8 };

export function est(basis: 'pulse' | 'timecode', jitterNs: number, extra: Partial<SourceEstimate> = {}): SourceEstimate {
  const atNs = 10n ** 18n;
  return {
    basis, offsetNs: 1000, jitterNs, atNs, leap: 'none', fix: fix3d, refid: basis === 'pulse' ? 'PPS' : 'GPS',
    model: { t0Ns: atNs, offsetNs: 1000, freqPpm: 0, offsetSdNs: 0, freqSdPpm: 0, jitterNs, samples: 16, lastSampleNs: atNs },
    ...extra,
  };
}
