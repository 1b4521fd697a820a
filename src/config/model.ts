/**
 * The typed configuration the daemon acts on, compiled from the lossless ntp.conf tree.
 *
 * The tree (see tree.ts) is what the CLI and the web page edit; this model is a read-only
 * view of it for the daemon. Every value carries the position it came from so that run-time
 * messages ("restrict at /etc/gnomon/ntp.conf:7:1 ...") can point back into the file.
 */

/** Where a value came from, 1-based like compilers print it. */
export interface SourcePosition {
  readonly file: string;
  readonly line: number;
  readonly column: number;
}

/** A located problem in a config file. `code` is stable; tests and tools may match on it. */
export interface ConfigDiagnostic {
  readonly severity: 'error' | 'warning';
  readonly code: string;
  readonly message: string;
  /** What to do about it, phrased for an administrator. */
  readonly hint?: string;
  readonly directive?: string;
  readonly at: SourcePosition;
}

/** ntpd's restrict flags (ntp_acc(5)); `version` = only the current NTP version is served. */
export const RESTRICT_FLAGS = [
  'ignore', 'kod', 'limited', 'lowpriotrap', 'nomodify', 'noquery', 'nopeer', 'noserve',
  'notrap', 'notrust', 'version', 'nomrulist', 'noepeer',
] as const;
export type RestrictFlag = (typeof RESTRICT_FLAGS)[number];

export interface RestrictRule {
  /** `default` = the catch-all; `source` = template for addresses of configured servers/peers. */
  readonly kind: 'default' | 'source' | 'address';
  /** Which families a `default`/`source` rule covers (`restrict -4 default` → 'ipv4'). */
  readonly family: 'any' | 'ipv4' | 'ipv6';
  /** Normalised address text for kind 'address' (e.g. "10.0.0.0", "2001:db8::"). */
  readonly address?: string;
  /** Prefix length for kind 'address' (from `/len` or `mask M`; a bare host is 32 or 128). */
  readonly prefixLength?: number;
  readonly flags: readonly RestrictFlag[];
  readonly at: SourcePosition;
}

/** ntpd's `discard average A minimum M monitor N` (ntp_misc(5)); all values as ntpd reads them. */
export interface DiscardSettings {
  /** log2 of the minimum average headway between packets from one client, seconds (ntpd default 3 = 8 s). */
  readonly averageLog2S: number;
  /** log2 of the minimum interval between two packets from one client, seconds (ntpd default 1 = 2 s). */
  readonly minimumLog2S: number;
  /** ntpd's discard probability knob (default 3000); accepted and kept for ntpq, not used by the table. */
  readonly monitor: number;
}

/** Client table (ntpd's MRU list). Memory is fixed at start-up: `mru maxdepth N` entries. */
export interface MruSettings {
  readonly maxdepth: number;
}

/** One `server`/`pool`/`peer` line. Refclocks use the 127.127.T.U pseudo-address as in ntpd. */
export interface AssociationLine {
  readonly kind: 'server' | 'pool' | 'peer';
  /** Host name or address as written. */
  readonly host: string;
  /** Set when host is 127.127.T.U: driver type T and unit U. */
  readonly refclock?: { readonly type: number; readonly unit: number };
  readonly iburst: boolean;
  readonly burst: boolean;
  readonly prefer: boolean;
  readonly noselect: boolean;
  readonly true: boolean;
  readonly minpoll?: number;
  readonly maxpoll?: number;
  readonly version?: number;
  readonly key?: number;
  /** The server's UDP port (chrony's `port` option; default 123). */
  readonly port?: number;
  readonly autokey: boolean;
  readonly at: SourcePosition;
}

/** A `fudge 127.127.T.U ...` line. */
export interface FudgeLine {
  readonly refclock: { readonly type: number; readonly unit: number };
  /** Stratum the refclock claims (0-15). */
  readonly stratum?: number;
  /** Seconds added to the refclock's time (ntpd time1). */
  readonly time1S?: number;
  /** Seconds, driver-specific (ntpd time2; the NMEA driver's per-receiver delay). */
  readonly time2S?: number;
  /** Up to four ASCII characters. */
  readonly refid?: string;
  readonly flags: { readonly flag1?: boolean; readonly flag2?: boolean; readonly flag3?: boolean; readonly flag4?: boolean };
  readonly at: SourcePosition;
}

/** Which driver a reference clock uses (drivers/nmea, drivers/pps sysfs or gpio-cdev, drivers/gpsd). */
export type RefclockKind = 'nmea' | 'pps-kernel' | 'pps-gpio' | 'pps-sysfs' | 'gpsd';

/**
 * One reference clock, whichever spelling configured it: ntpd's `server 127.127.T.U` + `fudge`,
 * NTPsec's `refclock nmea|pps|gpsd ...`, or Gnomon's `refclock pps-gpio|pps-sysfs ...`.
 * Nothing in the daemon reads this yet; it is the model the refclock wiring will read.
 */
export interface RefclockConfig {
  readonly kind: RefclockKind;
  /** Which spelling the line used. */
  readonly style: 'ntpd' | 'ntpsec' | 'gnomon';
  /** ntpd/NTPsec unit number (0-255); no two refclocks of the same kind share one. */
  readonly unit: number;
  /** nmea: serial device; pps-kernel: /dev/ppsN; pps-sysfs: the sysfs PPS folder or name; gpsd: the gpsd device to follow. */
  readonly path?: string;
  /** nmea with usePps: where the pulses come from (ntpd: /dev/gpsppsU; NTPsec: `ppspath`). */
  readonly ppsPath?: string;
  /** nmea: serial speed in bit/s (4800-115200). */
  readonly baudBps?: number;
  /** pps-gpio: GPIO character device name (gpiochipN) and line offset. */
  readonly chip?: string;
  readonly line?: number;
  /** gpsd: where gpsd listens. */
  readonly host?: string;
  readonly port?: number;
  /** Seconds added to the clock's time (ntpd/NTPsec time1). */
  readonly offsetS: number;
  /** nmea/gpsd: per-receiver serial delay in seconds (time2); 0 elsewhere. */
  readonly delayS: number;
  readonly refid?: string;
  readonly stratum?: number;
  readonly prefer: boolean;
  readonly noselect: boolean;
  readonly minpoll?: number;
  readonly maxpoll?: number;
  /** Raw ntpd/NTPsec driver mode, as written. */
  readonly mode?: number;
  /** Which PPS edge is the second: assert (rising, default) or clear (ntpd flag2 1). */
  readonly edge: 'assert' | 'clear';
  /** nmea: discipline with the receiver's PPS (ntpd/NTPsec flag1 1); pps kinds: always true. */
  readonly usePps: boolean;
  readonly at: SourcePosition;
}

/** The statistics files Gnomon writes, in ntpd's formats (docs/statistics.md). */
export const WRITTEN_STATS = ['loopstats', 'peerstats', 'clockstats'] as const;
export type StatsName = (typeof WRITTEN_STATS)[number];

/** One `filegen NAME ...` set, with ntpd's defaults where no line says otherwise. */
export interface FilegenSettings {
  /** File name inside the stats folder (ntpd `file`, default the statistic's name); no '/' or '..'. */
  readonly file: string;
  /** day: FILE.YYYYMMDD, a new file at each UTC midnight (ntpd's default); none: one file, FILE. */
  readonly type: 'day' | 'none';
  /** Keep FILE (no suffix) as a hard link to the current day's file (ntpd `link`, its default). */
  readonly link: boolean;
  /** The `filegen` line that set this, if any. */
  readonly at?: SourcePosition;
}

/**
 * `statistics`, `statsdir` and `filegen`: present when any of those lines is. A set is written
 * when `statistics` names it or its `filegen` line says `enable`, and not when `filegen` says
 * `disable` (ntpd applies `statistics` first, then `filegen`, so `disable` wins).
 */
export interface StatsConfig {
  /** The folder (`statsdir`, trailing '/' removed; default /var/log/ntpstats, Debian's). */
  readonly dir: string;
  readonly enabled: Readonly<Record<StatsName, boolean>>;
  readonly filegen: Readonly<Record<StatsName, FilegenSettings>>;
}

export const DEFAULT_STATSDIR = '/var/log/ntpstats';

/**
 * One `broadcast ADDR [key K] [ttl T] [minpoll P] [version V]` line (ntpd): send mode 5 packets
 * to an IPv4 subnet broadcast address or an IPv4/IPv6 multicast group every 2^minpoll seconds
 * while synchronised (src/server/broadcast.ts, docs/broadcast.md).
 */
export interface BroadcastLine {
  /** Canonical address text (formatIp). */
  readonly address: string;
  readonly family: 4 | 6;
  /** 224.0.0.0/4 or ff00::/8; otherwise an IPv4 (subnet) broadcast address. */
  readonly multicast: boolean;
  /** Multicast TTL / IPv6 hop limit (default 1: the local link, what ntpd leaves the kernel at when no ttl is given). */
  readonly ttl: number;
  /** Interval exponent: one packet every 2^minpoll s (ntpd default 6 = 64 s); also the packet's poll field. */
  readonly minpoll: number;
  /** NTP version in the packets (1-4, default 4). */
  readonly version: number;
  /** Symmetric key to sign with; accepted, not used yet (authentication comes later: the packet's MAC hook). */
  readonly key?: number;
  readonly at: SourcePosition;
}

export const BROADCAST_DEFAULTS = { ttl: 1, minpoll: 6, version: 4 } as const;

export interface GnomonConfig {
  /** Addresses to bind; empty = the default (127.0.0.1 for development, see daemon). */
  readonly listen: readonly { readonly address: string; readonly at: SourcePosition }[];
  /** UDP port for NTP (`port N`, as in chrony); 123 when absent. */
  readonly port: number;
  readonly restrict: readonly RestrictRule[];
  readonly discard: DiscardSettings;
  readonly mru: MruSettings;
  readonly associations: readonly AssociationLine[];
  readonly fudge: readonly FudgeLine[];
  /** Reference clocks from both spellings (see RefclockConfig); the local clock (127.127.1.U) is not one. */
  readonly refclocks: readonly RefclockConfig[];
  readonly driftfile?: string;
  readonly logfile?: string;
  /** Unprivileged user to switch to after binding (`user NAME`, as chrony's directive). */
  readonly user?: string;
  /**
   * `leapfile PATH` (ntpd): the IERS/NIST leap-seconds.list, relative paths resolved from the
   * naming file's folder; `at` is the path token. Read by src/daemon/leapfile.ts.
   */
  readonly leapfile?: { readonly path: string; readonly at: SourcePosition };
  /**
   * `leapsmearinterval N` (ntpd) with N > 0: smear leap seconds over N seconds, centred on the
   * leap (docs/leap-seconds.md). Absent (or 0) = step, with LI announced on the last day.
   */
  readonly leapSmearIntervalS?: number;
  /** `statistics`/`statsdir`/`filegen` (ntpd): which statistics files to write, where. Read by src/daemon/stats.ts. */
  readonly stats?: StatsConfig;
  /**
   * `enable kernel` / `disable kernel` (ntpd's flag): whether Gnomon steers the system clock
   * (frequency, steps, leap and sync status through adjtimex; docs/kernel-steering.md). DEFAULT
   * FALSE, unlike ntpd: development machines and tests must never have their clock changed, so
   * only a config that says `enable kernel` (the appliance's does) lets it; `gnomon serve
   * --no-kernel` overrides it back off. Served time follows the reference either way.
   */
  readonly kernel: boolean;
  /** `tinker step S panic S` (ntpd): kernel step threshold (0 = never step) and panic threshold (0 = none), seconds. */
  readonly tinker: { readonly stepS: number; readonly panicS: number };
  /**
   * `tos maxdist S` (ntpd, default 1.5) and `tos holdover S` (Gnomon's, default 3600): holdover
   * ends when the root distance passes maxdist or holdover seconds after the last sample.
   */
  readonly discipline: { readonly holdoverS: number; readonly maxDistanceS: number; readonly minSane: number };
  /** `tos orphan N` (ntpd): with no usable source, serve at stratum N (refid 127.0.0.1) instead of unsynchronised. 16 = off. */
  readonly orphanStratum?: number;
  /**
   * `broadcastclient [novolley]` / `multicastclient [ADDR...]` (ntpd): take time from mode 5 packets
   * arriving on the NTP port; `groups` are the multicast groups to join (224.0.1.1 when the line
   * names none). Absent: mode 5 is ignored.
   */
  readonly broadcastClient?: { readonly novolley: boolean; readonly groups: readonly string[]; readonly at: SourcePosition };
  /**
   * `keys PATH` (ntpd): the symmetric key file, relative paths resolved from the naming file's
   * folder; `at` is the path token. Read by src/auth/keyfile.ts when the daemon starts and reloads.
   */
  readonly keys?: { readonly path: string; readonly at: SourcePosition };
  /** `trustedkey N...` (all lines together, in order, without repeats): the keys requests may be authenticated with. */
  readonly trustedKeys?: readonly { readonly id: number; readonly at: SourcePosition }[];
  /** `broadcast` lines in file order; absent when there are none. Read by src/server/broadcast.ts. */
  readonly broadcast?: readonly BroadcastLine[];
}

export const DEFAULT_DISCARD: DiscardSettings = { averageLog2S: 3, minimumLog2S: 1, monitor: 3000 };
export const DEFAULT_MRU: MruSettings = { maxdepth: 8192 };
export const DEFAULT_NTP_PORT = 123;
