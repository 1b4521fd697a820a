/**
 * The one table of every directive Gnomon reads (ARCHITECTURE.md principle 7).
 *
 * The syntax checker (syntax.ts), the compiler, the docs test and `gnomon config` all read
 * this table, so adding a directive or an option here is the whole of teaching Gnomon its
 * spelling. What a directive *means* lives in the compile step for the acted ones.
 *
 * `support`:
 * - 'acted': compiled into GnomonConfig; the daemon reads it.
 * - 'ignored': a real ntpd (or chrony) directive Gnomon does not act on yet. Accepted so an
 *   existing ntp.conf loads, with a CONFIG_NOT_IMPLEMENTED warning naming it, never silently.
 * - 'foreign': chrony.conf syntax that has an ntp.conf spelling. Refused with that spelling
 *   as the hint, because ignoring an `allow`/`deny`/`bindaddress` line would quietly change
 *   who gets served.
 */
import { RESTRICT_FLAGS } from './model.js';
import { REFCLOCK_DRIVERS } from './refclock.js';
import type { ValueSpec } from './values.js';

export interface OptionSpec {
  readonly name: string;
  /** Absent for flags; present for `name VALUE` options. */
  readonly value?: ValueSpec;
  /** Whether Gnomon acts on this option; a used option with acted false is warned about. */
  readonly acted: boolean;
  /** For options not acted on: what that means for the administrator. */
  readonly note?: string;
}

export interface ArgSpec {
  readonly name: string;
  readonly value: ValueSpec;
}

export interface DirectiveSpec {
  readonly name: string;
  readonly origin: 'ntpd' | 'chrony';
  readonly support: 'acted' | 'ignored' | 'foreign';
  readonly summary: string;
  /** Required positional arguments, in order. */
  readonly args?: readonly ArgSpec[];
  /** Repeated trailing arguments (after `args`), at least `min` of them; excludes options. */
  readonly rest?: ArgSpec & { readonly min: number };
  readonly options?: readonly OptionSpec[];
  /** Accepts ntpd's leading `-4`/`-6` address-family qualifier. */
  readonly familyPrefix?: boolean;
  /** Only one such line makes sense; a repeat is warned about and the later one wins. */
  readonly singleton?: boolean;
  /** Why it is not acted on, or (foreign) the ntp.conf spelling to use instead. */
  readonly note?: string;
}

const int = (min: number, max: number): ValueSpec => ({ kind: 'int', min, max });
const INT32 = int(0, 2147483647);
const KEY_ID = int(1, 65535);
const NUMBER: ValueSpec = { kind: 'number' };
const WORD: ValueSpec = { kind: 'word' };
const PATH: ValueSpec = { kind: 'path' };
const ADDRESS: ValueSpec = { kind: 'address' };
/** Seconds; 0 = step. Up to 10 days; compile.ts warns outside ntpd's advice (7200 to 86400). */
const LEAP_SMEAR_INTERVAL = int(0, 864_000);
const flag = (name: string, acted = false, note?: string): OptionSpec => ({ name, acted, ...(note ? { note } : {}) });
const valued = (name: string, value: ValueSpec, acted = false, note?: string): OptionSpec => ({ name, value, acted, ...(note ? { note } : {}) });

/**
 * Poll exponents: ntpd accepts 3..17 (8 s .. 36 h). Gnomon also accepts 0..2 with a warning,
 * because a GPS refclock on a LAN appliance may sensibly be polled every 1-4 s; below 0 (chrony
 * allows -7) is refused as it would mean sub-second polling of network servers too.
 */
const POLL: ValueSpec = {
  kind: 'int', min: 0, max: 17,
  advised: { min: 3, max: 17, why: 'ntpd accepts 3 to 17 (8 s to 36 h) and would raise it to 3; Gnomon honours it' },
};

const ASSOC_OPTIONS: readonly OptionSpec[] = [
  flag('iburst', true), flag('burst', true), flag('prefer', true), flag('noselect', true), flag('true', true),
  valued('minpoll', POLL, true), valued('maxpoll', POLL, true), valued('version', int(1, 4), true),
  valued('key', KEY_ID, true),
  // chrony's spelling: the remote's port (ntpd has none; always 123). For development and tests on unprivileged ports.
  valued('port', int(1, 65535), true),
  flag('autokey', false, 'Autokey (RFC 5906) is not implemented; the association runs unauthenticated'),
  valued('mode', int(0, 255), false, 'driver modes are not implemented beyond the NMEA baud-rate bits (16 to 80), which set the refclock\'s baud'),
  valued('ttl', int(0, 255), false, 'only meaningful for manycast/broadcast, which Gnomon does not do yet'),
  flag('preempt', false, 'the association is kept like a persistent one'),
  flag('xleave', false, 'interleaved mode is not implemented; basic mode is used'),
];

const STATS_FILES = ['clockstats', 'cryptostats', 'loopstats', 'peerstats', 'rawstats', 'sysstats', 'timingstats', 'protostats'];
const SYSTEM_FLAGS = ['auth', 'bclient', 'calibrate', 'kernel', 'mode7', 'monitor', 'ntp', 'stats',
  'peer_clear_digest_early', 'unpeer_crypto_early', 'unpeer_crypto_nak_early', 'unpeer_digest_early'];
const NOT_YET = 'accepted so existing ntp.conf files load; the line has no effect yet';

export const DIRECTIVES: readonly DirectiveSpec[] = [
  // ── acted ──────────────────────────────────────────────────────────────────────────────
  { name: 'server', origin: 'ntpd', support: 'acted', summary: 'poll a server, or configure a refclock (127.127.T.U)',
    familyPrefix: true, args: [{ name: 'address', value: { kind: 'host' } }], options: ASSOC_OPTIONS },
  { name: 'pool', origin: 'ntpd', support: 'acted', summary: 'poll several servers found under one DNS name',
    familyPrefix: true, args: [{ name: 'address', value: { kind: 'host' } }], options: ASSOC_OPTIONS },
  { name: 'peer', origin: 'ntpd', support: 'acted', summary: 'symmetric-active association with another server',
    familyPrefix: true, args: [{ name: 'address', value: { kind: 'host' } }], options: ASSOC_OPTIONS },
  { name: 'fudge', origin: 'ntpd', support: 'acted', summary: 'calibrate a refclock: offsets, stratum, refid, driver flags',
    args: [{ name: 'refclock', value: { kind: 'refclock' } }],
    options: [
      valued('time1', NUMBER, true), valued('time2', NUMBER, true), valued('stratum', int(0, 15), true),
      valued('refid', { kind: 'refid' }, true),
      valued('flag1', { kind: 'bit' }, true), valued('flag2', { kind: 'bit' }, true),
      valued('flag3', { kind: 'bit' }, true), valued('flag4', { kind: 'bit' }, true),
      valued('minjitter', NUMBER, false, 'the driver\'s measured jitter is used as is'),
    ] },
  // NTPsec's spelling (driver name first) and Gnomon's pps-gpio/pps-sysfs. chrony's `refclock PPS /dev/pps0`
  // is told apart by its second token and refused in compile.ts before this table is consulted.
  { name: 'refclock', origin: 'ntpd', support: 'acted', summary: 'a reference clock, NTPsec style: `refclock nmea|pps|gpsd unit U ...`, or `refclock pps-gpio|pps-sysfs ...`',
    args: [{ name: 'driver', value: { kind: 'enum', values: REFCLOCK_DRIVERS } }],
    options: [
      valued('unit', int(0, 255), true), valued('path', PATH, true), valued('ppspath', PATH, true),
      valued('baud', int(4800, 115200), true),
      valued('time1', NUMBER, true), valued('time2', NUMBER, true), valued('stratum', int(0, 15), true),
      valued('refid', { kind: 'refid' }, true),
      valued('flag1', { kind: 'bit' }, true), valued('flag2', { kind: 'bit' }, true),
      valued('flag3', { kind: 'bit' }, false, 'the PPS driver\'s kernel discipline is not used; Gnomon disciplines the clock itself'),
      valued('flag4', { kind: 'bit' }, false, 'extra clockstats logging is not implemented'),
      valued('mode', int(0, 255), true), flag('prefer', true), flag('noselect', true),
      valued('minpoll', POLL, true), valued('maxpoll', POLL, true),
      valued('chip', WORD, true), valued('line', int(0, 511), true), valued('edge', { kind: 'enum', values: ['assert', 'clear'] }, true),
      valued('host', { kind: 'host' }, true), valued('port', int(1, 65535), true),
      valued('subtype', int(0, 255), false, 'NTPsec\'s subtype only matters for drivers Gnomon does not have'),
      valued('holdover', NUMBER, false, 'holdover is not implemented'),
      flag('iburst', false, 'refclocks are read as their data arrives; iburst has no effect'),
    ] },
  { name: 'restrict', origin: 'ntpd', support: 'acted', summary: 'access control: who may get time, query or modify',
    familyPrefix: true, args: [{ name: 'address', value: WORD }],
    options: [
      valued('mask', ADDRESS, true),
      ...RESTRICT_FLAGS.map((name) => flag(name, true)),
      flag('ntpport', false, 'the rule applies to every source port'),
      flag('mssntp', false, 'Microsoft MS-SNTP signing is not supported'),
      valued('ippeerlimit', int(-1, 2147483647), false, 'ephemeral peers are never accepted'),
      valued('serverresponse', { kind: 'enum', values: ['fuzz'] }, false, 'receive timestamps are not fuzzed'),
    ] },
  { name: 'interface', origin: 'ntpd', support: 'acted', summary: '`interface listen ADDRESS` binds an address; ignore/drop accepted',
    args: [{ name: 'action', value: { kind: 'enum', values: ['listen', 'ignore', 'drop'] } }, { name: 'target', value: WORD }] },
  { name: 'port', origin: 'chrony', support: 'acted', summary: 'UDP port to serve NTP on (default 123), e.g. an unprivileged port for development',
    args: [{ name: 'port', value: int(1, 65535) }], singleton: true },
  { name: 'discard', origin: 'ntpd', support: 'acted', summary: 'rate limits for `restrict ... limited`: average and minimum (log2 s), monitor',
    options: [valued('average', int(0, 17), true), valued('minimum', int(0, 17), true), valued('monitor', INT32, true)] },
  { name: 'mru', origin: 'ntpd', support: 'acted', summary: 'client table size, fixed at start-up: `mru maxdepth N`',
    options: [
      valued('maxdepth', int(1, 1048576), true),
      ...['mindepth', 'maxage', 'maxmem', 'initalloc', 'initmem', 'incalloc', 'incmem'].map((name) =>
        valued(name, INT32, false, 'the table is preallocated with maxdepth entries; this knob has no effect')),
    ] },
  { name: 'driftfile', origin: 'ntpd', support: 'acted', summary: 'where the frequency estimate is kept across restarts',
    args: [{ name: 'file', value: PATH }], singleton: true },
  { name: 'logfile', origin: 'ntpd', support: 'acted', summary: 'log to this file instead of the journal', args: [{ name: 'file', value: PATH }], singleton: true },
  { name: 'user', origin: 'chrony', support: 'acted', summary: 'unprivileged user to run as after binding the port', args: [{ name: 'user', value: WORD }], singleton: true },
  // Statistics files in ntpd's formats (docs/statistics.md): loopstats, peerstats and clockstats are written;
  // the other names are accepted with a warning naming them (compile.ts).
  { name: 'statistics', origin: 'ntpd', support: 'acted', summary: 'statistics files to write (loopstats, peerstats, clockstats)',
    rest: { name: 'name', value: { kind: 'enum', values: STATS_FILES }, min: 1 } },
  { name: 'statsdir', origin: 'ntpd', support: 'acted', summary: 'folder for statistics files (default /var/log/ntpstats)',
    args: [{ name: 'folder', value: PATH }], singleton: true },
  { name: 'filegen', origin: 'ntpd', support: 'acted', summary: 'statistics file name, rotation (type day|none), link, enable/disable',
    args: [{ name: 'name', value: { kind: 'enum', values: STATS_FILES } }],
    options: [valued('file', WORD, true), valued('type', { kind: 'enum', values: ['none', 'pid', 'day', 'week', 'month', 'year', 'age'] }, true),
      flag('link', true), flag('nolink', true), flag('enable', true), flag('disable', true)] },
  // Kernel clock steering (docs/kernel-steering.md). Only `step` and `panic` of tinker and the `kernel` flag of
  // enable/disable are acted on; compile.ts warns about the other flags by name.
  { name: 'tinker', origin: 'ntpd', support: 'acted', summary: 'clock discipline constants: `tinker step S panic S` (kernel steering thresholds)',
    options: [
      valued('step', NUMBER, true), valued('panic', NUMBER, true),
      ...['allan', 'dispersion', 'freq', 'huffpuff', 'stepback', 'stepfwd', 'stepout', 'tick'].map((name) => valued(name, NUMBER, false, 'Gnomon\'s discipline uses its own constants')),
    ] },
  { name: 'enable', origin: 'ntpd', support: 'acted', summary: 'turn on system options; `enable kernel` lets Gnomon steer the system clock',
    rest: { name: 'flag', value: { kind: 'enum', values: SYSTEM_FLAGS }, min: 1 } },
  { name: 'disable', origin: 'ntpd', support: 'acted', summary: 'turn off system options; `disable kernel` (the default) keeps hands off the system clock',
    rest: { name: 'flag', value: { kind: 'enum', values: SYSTEM_FLAGS }, min: 1 } },
  { name: 'includefile', origin: 'ntpd', support: 'acted', summary: 'read another file here (relative paths: from this file\'s folder)',
    args: [{ name: 'file', value: PATH }] },
  { name: 'leapfile', origin: 'ntpd', support: 'acted', summary: 'leap seconds from the IERS/NIST leap-seconds.list (tzdata: /usr/share/zoneinfo/leap-seconds.list)',
    args: [{ name: 'file', value: { kind: 'path', mustExist: true } }], singleton: true },
  // ntpd 4.2.8p3+/NTPsec built with leap smear: N > 0 smears over N seconds, 0 = step (the default).
  { name: 'leapsmearinterval', origin: 'ntpd', support: 'acted', summary: 'smear leap seconds over this many seconds (86400 typical; 0 = step)',
    args: [{ name: 'seconds', value: LEAP_SMEAR_INTERVAL }], singleton: true },

  // Mode 5 sender (src/server/broadcast.ts, docs/broadcast.md); the address checks are in compile.ts.
  { name: 'broadcast', origin: 'ntpd', support: 'acted', summary: 'send mode 5 time to an IPv4 subnet broadcast or an IPv4/IPv6 multicast address while synchronised',
    args: [{ name: 'address', value: ADDRESS }],
    options: [valued('key', KEY_ID, false, 'symmetric-key authentication comes later; the packets are sent without a MAC'),
      valued('version', int(1, 4), true), valued('minpoll', POLL, true), valued('ttl', int(1, 255), true),
      flag('autokey', false, 'Autokey (RFC 5906) is not implemented; the packets are sent without a MAC')] },

  // ── ignored: real ntpd directives, accepted with a warning ────────────────────────────────
  // Server side of symmetric-key authentication (src/auth, docs/authentication.md); associations do not sign yet.
  { name: 'keys', origin: 'ntpd', support: 'acted', summary: 'symmetric key file (ntp.keys(5) format)', args: [{ name: 'file', value: { kind: 'path', mustExist: true } }], singleton: true },
  { name: 'trustedkey', origin: 'ntpd', support: 'acted', summary: 'keys trusted for authentication', rest: { name: 'key', value: KEY_ID, min: 1 } },
  { name: 'requestkey', origin: 'ntpd', support: 'ignored', summary: 'key for ntpdc (mode 7) requests', args: [{ name: 'key', value: KEY_ID }],
    note: 'mode 7 is never served' },
  { name: 'controlkey', origin: 'ntpd', support: 'ignored', summary: 'key for ntpq (mode 6) writes', args: [{ name: 'key', value: KEY_ID }],
    note: 'mode 6 writes are not accepted' },
  { name: 'crypto', origin: 'ntpd', support: 'ignored', summary: 'Autokey public-key cryptography',
    options: ['cert', 'leap', 'digest', 'host', 'ident', 'pw', 'randfile'].map((name) => valued(name, WORD)), note: 'Autokey is not implemented' },
  { name: 'broadcastclient', origin: 'ntpd', support: 'acted', summary: 'take time from mode 5 broadcasts heard on the NTP port (a client volley measures the delay first; `novolley` skips it)',
    options: [flag('novolley', true)], singleton: true },
  { name: 'multicastclient', origin: 'ntpd', support: 'acted', summary: 'join these multicast groups (default 224.0.1.1) and take time from their mode 5 packets',
    rest: { name: 'address', value: ADDRESS, min: 0 } },
  { name: 'manycastserver', origin: 'ntpd', support: 'ignored', summary: 'answer manycast solicitations', rest: { name: 'address', value: ADDRESS, min: 1 },
    note: 'manycast is not implemented' },
  { name: 'manycastclient', origin: 'ntpd', support: 'ignored', summary: 'find servers by manycast', args: [{ name: 'address', value: ADDRESS }], options: ASSOC_OPTIONS,
    note: 'manycast is not implemented' },
  { name: 'broadcastdelay', origin: 'ntpd', support: 'ignored', summary: 'assumed broadcast delay, seconds', args: [{ name: 'seconds', value: NUMBER }], note: NOT_YET },
  // Only `maxdist` (ntpd) and `holdover` (Gnomon's) act: how long the discipline holds over without a reference.
  { name: 'tos', origin: 'ntpd', support: 'acted', summary: 'selection parameters: `tos maxdist S`, `minsane N`, `orphan N`, and Gnomon\'s `tos holdover S` bound holdover',
    options: [
      ...['beacon', 'ceiling', 'floor', 'maxclock', 'minclock', 'orphanwait', 'bcpollbstep'].map((name) => valued(name, INT32, false, 'Gnomon\'s selection uses its own constants')),
      valued('minsane', int(1, 15), true), valued('orphan', int(1, 16), true),
      valued('cohort', { kind: 'bit' }, false, 'Gnomon\'s selection uses its own constants'), valued('maxdist', NUMBER, true),
      valued('mindist', NUMBER, false, 'Gnomon\'s selection uses its own constants'), valued('basedate', WORD, false, 'Gnomon\'s week-rollover pivot is the build date'),
      valued('holdover', NUMBER, true),
    ] },
  { name: 'setvar', origin: 'ntpd', support: 'ignored', summary: 'extra mode 6 system variable', rest: { name: 'text', value: WORD, min: 1 }, note: NOT_YET },
  { name: 'logconfig', origin: 'ntpd', support: 'ignored', summary: 'ntpd log message classes', rest: { name: 'class', value: WORD, min: 1 },
    note: 'Gnomon logs by level, not by class' },
  { name: 'rlimit', origin: 'ntpd', support: 'ignored', summary: 'process resource limits',
    options: ['memlock', 'stacksize', 'filenum'].map((name) => valued(name, INT32)), note: 'set limits in the systemd unit instead' },
  { name: 'trap', origin: 'ntpd', support: 'ignored', summary: 'mode 6 trap receiver', args: [{ name: 'address', value: ADDRESS }],
    options: [valued('port', int(1, 65535)), valued('interface', ADDRESS)], note: 'traps are not sent' },
  { name: 'ttl', origin: 'ntpd', support: 'ignored', summary: 'manycast TTLs', rest: { name: 'ttl', value: int(0, 255), min: 1 }, note: 'manycast is not implemented' },
  { name: 'saveconfigdir', origin: 'ntpd', support: 'ignored', summary: 'folder for ntpq saveconfig', args: [{ name: 'folder', value: PATH }],
    note: 'saveconfig is not served' },
  { name: 'automax', origin: 'ntpd', support: 'ignored', summary: 'Autokey session key lifetime', args: [{ name: 'log2s', value: int(0, 17) }],
    note: 'Autokey is not implemented' },
  { name: 'revoke', origin: 'ntpd', support: 'ignored', summary: 'Autokey key regeneration interval', args: [{ name: 'log2s', value: int(0, 32) }],
    note: 'Autokey is not implemented' },
  { name: 'keysdir', origin: 'ntpd', support: 'ignored', summary: 'Autokey key folder', args: [{ name: 'folder', value: PATH }], note: 'Autokey is not implemented' },
  { name: 'pidfile', origin: 'ntpd', support: 'ignored', summary: 'where to write the process id', args: [{ name: 'file', value: PATH }],
    note: 'systemd tracks the process' },
  { name: 'phone', origin: 'ntpd', support: 'ignored', summary: 'modem refclock dial strings', rest: { name: 'number', value: WORD, min: 1 },
    note: 'modem refclocks are not implemented' },

  // ── chrony directives without an ntp.conf spelling, harmless to skip ─────────────────────
  { name: 'rtcsync', origin: 'chrony', support: 'ignored', summary: 'chrony: copy system time to the RTC', note: 'the Pi has no RTC by default' },
  { name: 'logdir', origin: 'chrony', support: 'ignored', summary: 'chrony: log folder', args: [{ name: 'folder', value: PATH }], note: NOT_YET },
  { name: 'log', origin: 'chrony', support: 'ignored', summary: 'chrony: which logs to write', rest: { name: 'name', value: WORD, min: 1 }, note: NOT_YET },
  { name: 'dumpdir', origin: 'chrony', support: 'ignored', summary: 'chrony: measurement history folder', args: [{ name: 'folder', value: PATH }], note: NOT_YET },
  { name: 'leapsectz', origin: 'chrony', support: 'ignored', summary: 'chrony: leap seconds from the tz database', args: [{ name: 'zone', value: WORD }],
    note: 'write `leapfile /usr/share/zoneinfo/leap-seconds.list` (the tz database\'s leap seconds in ntpd\'s spelling); the receiver\'s announcement is used meanwhile' },
  { name: 'hwtimestamp', origin: 'chrony', support: 'ignored', summary: 'chrony: NIC hardware timestamping', rest: { name: 'interface', value: WORD, min: 1 },
    note: 'the Pi\'s NIC has no hardware timestamps' },

  // ── foreign: chrony spellings with an ntp.conf equivalent ───────────────────────────────
  ...([
    ['allow', 'write `restrict ADDRESS mask MASK nomodify notrap nopeer noquery`; ntp.conf serves everyone not refused by `restrict default`'],
    ['deny', 'write `restrict ADDRESS mask MASK ignore`'],
    ['local', 'use the local-clock refclock: `server 127.127.1.0` and `fudge 127.127.1.0 stratum N`'],
    ['bindaddress', 'write `interface listen ADDRESS`'],
    ['ratelimit', 'add `limited` (and `kod`) to a restrict line and set `discard average A minimum M`'],
    ['clientloglimit', 'write `mru maxdepth ENTRIES`'],
    ['keyfile', 'write `keys FILE` and `trustedkey N...`; the key file is in ntpd\'s format (`N SHA1 HEX`: chrony\'s without the `HEX:` prefix)'],
    ['cmdallow', 'write a `restrict` line without `noquery` for that address'],
    ['cmddeny', 'add `noquery` to the `restrict` line for that address'],
    ['makestep', 'write `tinker step SECONDS` (and `enable kernel` for Gnomon to step the system clock)'],
    ['leapsecmode', 'Gnomon steps leap seconds by default (chrony\'s `system`/`step`); to smear them write `leapsmearinterval 86400` (see docs/leap-seconds.md)'],
  ] as const).map(([name, note]): DirectiveSpec => ({ name, origin: 'chrony', support: 'foreign', summary: `chrony: ${name}`, note })),
];

const BY_NAME: ReadonlyMap<string, DirectiveSpec> = new Map(DIRECTIVES.map((d) => [d.name, d]));

export function lookupDirective(name: string): DirectiveSpec | undefined {
  return BY_NAME.get(name);
}

/** Names offered in "did you mean" hints: what a person may write, not what we refuse. */
export function suggestableDirectives(): string[] {
  return DIRECTIVES.filter((d) => d.support !== 'foreign').map((d) => d.name);
}
