/**
 * ntpd's mode 6 variable tables (NTPsec 1.2.2 ntp_control.c: sys_var, peer_var, clock_var), in
 * ntpd's code order, which is also the order of the output when a request names variables.
 * `def` marks the variables sent when none are named. Each `put` returns the item text, or
 * undefined when ntpd would send nothing (e.g. `tai` while unknown, `mode` for a non-refclock).
 *
 * Variables ntpd has and Gnomon does not track (kernel PLL, I/O and timer statistics,
 * authentication, NTS) are still known, with ntpd's zero values, so ntpq's kerninfo, iostats,
 * authinfo, ntsinfo... print instead of failing.
 */
import type { Association, ClockVariables, ControlView, SystemStatistics, SystemVariables } from './view.js';
import { addrPort, filterArray, fixed, hex, int, quoted, refidText, ts } from './format.js';

export interface SysContext {
  readonly sys: SystemVariables;
  readonly view: ControlView;
  stats?: SystemStatistics;
  peers?: readonly Association[];
}

export interface VarDef<C> {
  readonly name: string;
  readonly def: boolean;
  /** `mustput`: the variable was asked for by name (ntpd prints some only then). */
  readonly put: (c: C, mustput: boolean) => string | undefined;
}

const u = (name: string, v: number): string => `${name}=${int(v)}`;
const zero = <C>(name: string): VarDef<C> => ({ name, def: false, put: () => `${name}=0` });

function stats(c: SysContext): SystemStatistics {
  c.stats ??= c.view.sysstats();
  return c.stats;
}

function sysPeer(c: SysContext): Association | undefined {
  if (c.sys.peer === 0) return undefined;
  c.peers ??= c.view.associations();
  return c.peers.find((a) => a.associd === c.sys.peer);
}

function varList<C>(name: string, table: readonly VarDef<C>[]): VarDef<C> {
  return { name, def: false, put: () => `${name}="${table.map((v) => v.name).join(',')}"` };
}

type S = VarDef<SysContext>;
const sysStat = (name: string, pick: (s: SystemStatistics) => number): S => ({ name, def: false, put: (c) => u(name, pick(stats(c))) });

export const SYS_VARS: readonly S[] = ((): S[] => {
  const t: S[] = [
    { name: 'leap', def: true, put: (c) => u('leap', c.sys.leap) },
    { name: 'stratum', def: true, put: (c) => u('stratum', c.sys.stratum) },
    { name: 'precision', def: true, put: (c) => u('precision', c.sys.precisionLog2S) },
    { name: 'rootdelay', def: true, put: (c) => `rootdelay=${fixed(c.sys.rootDelayMs, 3)}` },
    { name: 'rootdisp', def: true, put: (c) => `rootdisp=${fixed(c.sys.rootDispersionMs, 3)}` },
    { name: 'refid', def: true, put: (c) => `refid=${refidText(c.sys.refid)}` },
    { name: 'reftime', def: true, put: (c) => `reftime=${ts(c.sys.reftime)}` },
    { name: 'tc', def: true, put: (c) => u('tc', c.sys.tc) },
    { name: 'peer', def: true, put: (c) => u('peer', c.sys.peer) },
    { name: 'offset', def: true, put: (c) => `offset=${fixed(c.sys.offsetMs, 6)}` },
    { name: 'frequency', def: true, put: (c) => `frequency=${fixed(c.sys.frequencyPpm, 6)}` },
    { name: 'sys_jitter', def: true, put: (c) => `sys_jitter=${fixed(c.sys.sysJitterMs, 6)}` },
    { name: 'clk_jitter', def: true, put: (c) => `clk_jitter=${fixed(c.sys.clkJitterMs, 6)}` },
    { name: 'clock', def: true, put: (c) => `clock=${ts(c.sys.clock)}` },
    { name: 'processor', def: true, put: (c) => quoted('processor', c.sys.processor) },
    { name: 'system', def: true, put: (c) => quoted('system', c.sys.system) },
    { name: 'version', def: true, put: (c) => quoted('version', c.sys.version) },
    { name: 'clk_wander', def: true, put: (c) => `clk_wander=${fixed(c.sys.clkWanderPpm, 6)}` },
    // 19: sys_var_list, filled in below
    { name: 'sys_var_list', def: false, put: () => undefined },
    { name: 'tai', def: true, put: (c) => ((c.sys.taiOffsetS ?? 0) > 0 ? u('tai', c.sys.taiOffsetS!) : undefined) },
    // leapsec / expire: ntpd prints the leap file's dates; Gnomon's leap table has no file dates.
    { name: 'leapsec', def: true, put: () => undefined },
    { name: 'expire', def: true, put: () => undefined },
    { name: 'mintc', def: true, put: (c) => u('mintc', c.sys.mintc) },
    { name: 'mru_enabled', def: false, put: () => 'mru_enabled=0x1' },
    { name: 'mru_depth', def: false, put: (c) => u('mru_depth', c.view.mru().length) },
  ];
  for (const n of ['mru_deepest', 'mru_mindepth', 'mru_maxage', 'mru_minage', 'mru_maxdepth', 'mru_mem', 'mru_maxmem']) t.push(zero(n));
  t.push(
    sysStat('ss_uptime', (s) => s.uptimeS),
    sysStat('ss_reset', (s) => s.sinceResetS),
    sysStat('ss_received', (s) => s.received),
    sysStat('ss_thisver', (s) => s.currentVersion),
    sysStat('ss_oldver', (s) => s.olderVersion),
    sysStat('ss_badformat', (s) => s.badFormat),
    sysStat('ss_badauth', (s) => s.authFailed),
    sysStat('ss_declined', (s) => s.declined),
    sysStat('ss_restricted', (s) => s.restricted),
    sysStat('ss_limited', (s) => s.rateLimited),
    sysStat('ss_kodsent', (s) => s.kodSent),
    sysStat('ss_processed', (s) => s.processed),
    { name: 'peeradr', def: false, put: (c) => { const p = sysPeer(c); return `peeradr=${p ? addrPort(p.srcadr, p.srcport) : '0.0.0.0:0'}`; } },
    { name: 'peermode', def: false, put: (c) => u('peermode', sysPeer(c)?.hmode ?? 0) },
    { name: 'authdelay', def: false, put: () => 'authdelay=0.000' },
  );
  for (const n of ['authkeys', 'authfreek', 'authklookups', 'authknotfound', 'authencrypts', 'authdigestencrypts', 'authcmacencrypts', 'authdecrypts']) t.push(zero(n));
  t.push({ name: 'authreset', def: false, put: (c) => u('authreset', stats(c).uptimeS) });
  // Kernel PLL (ntp_adjtime): Gnomon steers the kernel only optionally and reports none of it here.
  for (const n of ['koffset', 'kfreq', 'kmaxerr', 'kesterr']) t.push(zero(n));
  t.push({ name: 'kstflags', def: false, put: () => 'kstflags=""' });
  for (const n of ['ktimeconst', 'kprecis', 'kfreqtol', 'kppsfreq', 'kppsstab', 'kppsjitter', 'kppscalibdur', 'kppscalibs', 'kppscaliberrs', 'kppsjitexc', 'kppsstbexc']) t.push(zero(n));
  t.push({ name: 'iostats_reset', def: false, put: (c) => u('iostats_reset', stats(c).sinceResetS) });
  for (const n of ['total_rbuf', 'free_rbuf', 'used_rbuf', 'rbuf_lowater', 'io_dropped', 'io_ignored']) t.push(zero(n));
  t.push(sysStat('io_received', (s) => s.received), sysStat('io_sent', (s) => s.processed + s.kodSent));
  for (const n of ['io_sendfailed', 'io_wakeups', 'io_goodwakeups']) t.push(zero(n));
  t.push({ name: 'timerstats_reset', def: false, put: (c) => u('timerstats_reset', stats(c).sinceResetS) });
  t.push(zero('timer_overruns'), zero('timer_xmts'));
  t.push({ name: 'fuzz', def: false, put: () => 'fuzz=0.000000' });
  t.push({ name: 'clk_wander_threshold', def: false, put: () => 'clk_wander_threshold=0.000' });
  for (const n of ['mru_exists', 'mru_new', 'mru_recycleold', 'mru_recyclefull', 'mru_none', 'mru_oldest_age']) t.push(zero(n));
  t.push(
    { name: 'leapsmearinterval', def: true, put: (c) => ((c.sys.leapSmearIntervalS ?? 0) > 0 ? u('leapsmearinterval', c.sys.leapSmearIntervalS!) : undefined) },
    { name: 'leapsmearoffset', def: true, put: (c) => ((c.sys.leapSmearIntervalS ?? 0) > 0 ? `leapsmearoffset=${fixed(c.sys.leapSmearOffsetMs ?? 0, 3)}` : undefined) },
    { name: 'tick', def: false, put: () => 'tick=0.000000' },
    sysStat('ss_numctlreq', (s) => s.controlRequests),
    { name: 'rootdist', def: false, put: (c) => `rootdist=${fixed(c.sys.rootDistanceMs ?? c.sys.rootDelayMs / 2 + c.sys.rootDispersionMs, 3)}` },
  );
  for (const n of ['authdigestdecrypts', 'authdigestfails', 'authcmacdecrypts', 'authcmacfails', 'lockclock', 'mru_hashslots']) t.push(zero(n));
  t.push(
    sysStat('ss_reset_r', (s) => s.uptimeS),
    sysStat('ss_received_r', (s) => s.received),
    sysStat('ss_thisver_r', (s) => s.currentVersion),
    sysStat('ss_oldver_r', (s) => s.olderVersion),
    sysStat('ss_badformat_r', (s) => s.badFormat),
    sysStat('ss_badauth_r', (s) => s.authFailed),
    sysStat('ss_declined_r', (s) => s.declined),
    sysStat('ss_restricted_r', (s) => s.restricted),
    sysStat('ss_limited_r', (s) => s.rateLimited),
    sysStat('ss_kodsent_r', (s) => s.kodSent),
    sysStat('ss_processed_r', (s) => s.processed),
  );
  for (const n of ['ss_ver1', 'ss_ver1_r', 'ss_ver1client', 'ss_ver1client_r', 'ss_ver1zero', 'ss_ver1zero_r', 'ss_ver1symm', 'ss_ver1symm_r']) t.push(zero(n));
  for (const n of ['nts_client_send', 'nts_client_recv_good', 'nts_client_recv_bad', 'nts_server_send', 'nts_server_recv_good',
    'nts_server_recv_bad', 'nts_cookie_make', 'nts_cookie_decode', 'nts_cookie_decode_old', 'nts_cookie_decode_old2',
    'nts_cookie_decode_older', 'nts_cookie_decode_too_old', 'nts_cookie_decode_error', 'nts_ke_serves_good',
    'nts_ke_serves_bad', 'nts_ke_probes_good', 'nts_ke_probes_bad']) t.push(zero(n));
  // Gnomon's own, after ntpd's codes so theirs keep their numbers: sent by default (ntpq -c rv shows it).
  t.push({ name: 'rxtimestamps', def: true, put: (c) => (c.sys.rxTimestamps !== undefined ? quoted('rxtimestamps', c.sys.rxTimestamps) : undefined) });
  t.push({ name: 'serverpath', def: true, put: (c) => (c.sys.serverPath !== undefined ? quoted('serverpath', c.sys.serverPath) : undefined) });
  t[18] = varList('sys_var_list', t);
  return t;
})();

export interface PeerContext {
  readonly a: Association;
}
type P = VarDef<PeerContext>;
const isRefclock = (a: Association): boolean => a.clock !== undefined;

export const PEER_VARS: readonly P[] = ((): P[] => {
  const t: P[] = [
    { name: 'config', def: false, put: () => 'config=1' },
    { name: 'authenable', def: false, put: ({ a }) => u('authenable', a.keyid === 0 ? 1 : 0) },
    { name: 'authentic', def: false, put: () => 'authentic=0' },
    { name: 'srcadr', def: true, put: ({ a }) => `srcadr=${a.srcadr}` },
    { name: 'srcport', def: true, put: ({ a }) => u('srcport', a.srcport) },
    { name: 'dstadr', def: true, put: ({ a }) => `dstadr=${a.dstadr}` },
    { name: 'dstport', def: true, put: ({ a }) => u('dstport', a.dstport) },
    { name: 'leap', def: true, put: ({ a }) => u('leap', a.leap) },
    { name: 'hmode', def: true, put: ({ a }) => u('hmode', a.hmode) },
    { name: 'stratum', def: true, put: ({ a }) => u('stratum', a.stratum) },
    { name: 'ppoll', def: true, put: ({ a }) => u('ppoll', a.ppoll) },
    { name: 'hpoll', def: true, put: ({ a }) => u('hpoll', a.hpoll) },
    { name: 'precision', def: true, put: ({ a }) => u('precision', a.precisionLog2S) },
    { name: 'rootdelay', def: true, put: ({ a }) => `rootdelay=${fixed(a.rootDelayMs, 3)}` },
    { name: 'rootdisp', def: true, put: ({ a }) => `rootdisp=${fixed(a.rootDispersionMs, 3)}` },
    { name: 'refid', def: true, put: ({ a }) => `refid=${refidText(a.refid)}` },
    { name: 'reftime', def: true, put: ({ a }) => `reftime=${ts(a.reftime)}` },
    // org: not reported (ntpd: leaking it is a vulnerability)
    { name: 'org', def: false, put: () => undefined },
    { name: 'rec', def: true, put: ({ a }) => `rec=${ts(a.rec)}` },
    { name: 'xmt', def: true, put: ({ a }) => `xmt=${ts(a.xmt)}` },
    { name: 'reach', def: true, put: ({ a }) => `reach=${hex(a.reach & 0xff)}` },
    { name: 'unreach', def: true, put: ({ a }) => u('unreach', a.unreach) },
    { name: 'timer', def: false, put: () => 'timer=0' },
    { name: 'delay', def: true, put: ({ a }) => `delay=${fixed(a.delayMs, 6)}` },
    { name: 'offset', def: true, put: ({ a }) => `offset=${fixed(a.offsetMs, 6)}` },
    { name: 'jitter', def: true, put: ({ a }) => `jitter=${fixed(a.jitterMs, 6)}` },
    { name: 'dispersion', def: true, put: ({ a }) => `dispersion=${fixed(a.dispersionMs, 6)}` },
    { name: 'keyid', def: true, put: ({ a }) => (a.keyid > 65535 ? `keyid=${hex(a.keyid)}` : u('keyid', a.keyid)) },
    { name: 'filtdelay', def: true, put: ({ a }) => `filtdelay=${filterArray(a.filtdelayMs)}` },
    { name: 'filtoffset', def: true, put: ({ a }) => `filtoffset=${filterArray(a.filtoffsetMs)}` },
    { name: 'pmode', def: true, put: ({ a }) => u('pmode', a.pmode ?? 4) },
    { name: 'received', def: false, put: ({ a }) => u('received', a.received ?? 0) },
    { name: 'sent', def: false, put: ({ a }) => u('sent', a.sent ?? 0) },
    { name: 'filtdisp', def: true, put: ({ a }) => `filtdisp=${filterArray(a.filtdispMs)}` },
    { name: 'flash', def: true, put: ({ a }) => `flash=${hex(a.flash ?? 0)}` },
    { name: 'mode', def: true, put: ({ a }) => (isRefclock(a) ? u('mode', a.refclockMode ?? 0) : undefined) },
    { name: 'peer_var_list', def: false, put: () => undefined },
    { name: 'headway', def: true, put: ({ a }) => u('headway', a.headway ?? 0) },
    { name: 'bias', def: true, put: () => undefined },
    { name: 'srchost', def: true, put: ({ a }) => (a.srchost !== undefined ? quoted('srchost', a.srchost) : undefined) },
  ];
  for (const n of ['timerec', 'timereach', 'badauth', 'bogusorg', 'oldpkt', 'seldisp', 'selbroken', 'candidate']) t.push(zero(n));
  t.push({ name: 'ntscookies', def: true, put: () => 'ntscookies=-1' });
  t[36] = varList('peer_var_list', t);
  return t;
})();

/**
 * What READSTAT with an association id sends: ntpd walks the *system* table's default codes and
 * prints the *peer* variables with those numbers (1-18, 20-23: config ... unreach, timer).
 */
export const READSTAT_PEER_CODES: readonly number[] = SYS_VARS.map((v, i) => (v.def ? i : -1)).filter((i) => i >= 0 && i < PEER_VARS.length);

type K = VarDef<ClockVariables>;
export const CLOCK_VARS: readonly K[] = ((): K[] => {
  const t: K[] = [
    { name: 'name', def: true, put: (c, must) => (c.name !== '' || must ? quoted('name', c.name) : undefined) },
    { name: 'timecode', def: true, put: (c) => quoted('timecode', c.timecode) },
    { name: 'poll', def: true, put: (c) => u('poll', c.poll) },
    { name: 'noreply', def: true, put: (c) => u('noreply', c.noreply) },
    { name: 'badformat', def: true, put: (c) => u('badformat', c.badformat) },
    { name: 'baddata', def: true, put: (c) => u('baddata', c.baddata) },
    { name: 'fudgetime1', def: true, put: (c, must) => (c.fudgetime1Ms !== undefined || must ? `fudgetime1=${fixed(c.fudgetime1Ms ?? 0, 3)}` : undefined) },
    { name: 'fudgetime2', def: true, put: (c, must) => (c.fudgetime2Ms !== undefined || must ? `fudgetime2=${fixed(c.fudgetime2Ms ?? 0, 3)}` : undefined) },
    { name: 'stratum', def: true, put: (c) => u('stratum', c.stratum) },
    { name: 'refid', def: true, put: (c) => `refid=${refidText(c.refid)}` },
    { name: 'flags', def: true, put: (c) => u('flags', c.flags) },
    { name: 'device', def: true, put: (c, must) => (c.device !== '' || must ? quoted('device', c.device) : undefined) },
    { name: 'clock_var_list', def: false, put: () => undefined },
  ];
  t[12] = varList('clock_var_list', t);
  return t;
})();

/** Looks a requested name up like ctl_getitem (exact match). */
export function findVar<C>(table: readonly VarDef<C>[], name: string): number {
  for (let i = 0; i < table.length; i++) if (table[i]!.name === name) return i;
  return -1;
}
