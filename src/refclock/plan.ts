/**
 * Configured refclocks (RefclockConfig, any spelling) → the sources the core keeps and which
 * source's timecodes label which source's pulses.
 *
 * Names are ntpd's, so `ntpq -p` and the logs read as they did on the ntpd box: GPS_NMEA(u),
 * GPSD_JSON(u), PPS(u) for every pulse source (kernel PPS, GPIO character device, a sysfs
 * folder). A pulse-only source (ntpd's `server 127.127.22.u`) is labelled by the `prefer`
 * timecode source, else by the first one configured. ntpd insists on `prefer` for its PPS driver;
 * Gnomon does not, since a box with one receiver has only one possible labeller.
 */
import type { RefclockConfig } from '../config/model.js';
import type { RefclockSourceConfig } from './source.js';

export interface PlannedSource {
  readonly config: RefclockConfig;
  readonly source: RefclockSourceConfig;
  /** Index (in the plan) of the source whose timecodes label this one's pulses; null for none needed/available. */
  readonly labeller: number | null;
}

const NAME_OF: Readonly<Record<RefclockConfig['kind'], string>> = {
  nmea: 'GPS_NMEA', gpsd: 'GPSD_JSON', 'pps-kernel': 'PPS', 'pps-gpio': 'PPS', 'pps-sysfs': 'PPS',
};

export function isPulseOnly(kind: RefclockConfig['kind']): boolean {
  return kind === 'pps-kernel' || kind === 'pps-gpio' || kind === 'pps-sysfs';
}

export function refclockName(r: Pick<RefclockConfig, 'kind' | 'unit'>): string {
  return `${NAME_OF[r.kind]}(${r.unit})`;
}

const TYPE_OF: Readonly<Record<RefclockConfig['kind'], number>> = { nmea: 20, gpsd: 46, 'pps-kernel': 22, 'pps-gpio': 22, 'pps-sysfs': 22 };

/** ntpd's pseudo-address for a refclock ("127.127.22.0"), as ntpq -n and statistics files show it. */
export function refclockAddress(r: Pick<RefclockConfig, 'kind' | 'unit'>): string {
  return `127.127.${TYPE_OF[r.kind]}.${r.unit}`;
}

export function planRefclocks(refclocks: readonly RefclockConfig[]): PlannedSource[] {
  const timecode = refclocks.map((r, i) => ({ r, i })).filter(({ r }) => !isPulseOnly(r.kind));
  const labeller = (timecode.find(({ r }) => r.prefer) ?? timecode[0])?.i ?? null;
  return refclocks.map((r) => {
    const pulseOnly = isPulseOnly(r.kind);
    return {
      config: r,
      labeller: pulseOnly ? labeller : null,
      source: {
        name: refclockName(r),
        ...(r.refid !== undefined ? { refid: r.refid } : {}),
        time1Ns: Math.round(r.offsetS * 1e9),
        time2Ns: Math.round(r.delayS * 1e9),
        timecodes: !pulseOnly,
        pulses: pulseOnly || r.usePps,
        prefer: r.prefer,
        noselect: r.noselect,
        stratum: r.stratum ?? 0,
      },
    };
  });
}
