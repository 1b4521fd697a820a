// Upstream NTP servers for tests of Gnomon's client side (`server` / `peer` lines): real chronyd and NTPsec ntpd,
// each serving on port 123 (Gnomon's `server` lines have no port option) at its own address, reachable from the
// namespace Gnomon runs in. Nothing here touches the host clock.
//
// Layout (`UpstreamLab`): Gnomon runs in the lab's `client` namespace; every upstream gets a namespace of its own,
// joined to the client by a veth pair in 10.123.N.0/24 (client side 10.123.N.1, upstream 10.123.N.2), so that
// `server 10.123.1.2`, `server 10.123.2.2`, ... are distinct port-123 servers. One namespace with several loopback
// addresses (127.0.0.2, 127.0.0.3, ...: all of 127/8 is local on lo) does NOT work once NTPsec ntpd is among them:
// ntpd always binds 0.0.0.0:123, [::]:123 and every interface address (127.0.0.1 included, whatever `interface`
// lines say), and chronyd, which binds without SO_REUSEADDR, then cannot bind 127.0.0.2:123 ("Could not open NTP
// socket"), nor ntpd its wildcard after a chronyd ("unable to bind to wildcard address"). Several chronyd upstreams
// do share one namespace on 127.0.0.2, 127.0.0.3, ... (each `-4 bindaddress ADDR`); pass `ns` + `address` for that.
//
// Kinds:
// - `startChronydUpstream({ ns, address, stratum })`: chronyd -x, `local stratum N`, `allow`, no ratelimit: serves
//   the host clock (offset 0), synchronised at once.
// - `startChronydUpstream({ ..., offsetS })`: a WRONG server, serving host time + offsetS (e.g. +0.3 s, -1 s),
//   stable to ~0.1 ms. chronyd -x keeps the clock corrections it would apply in a virtual clock (its "null" clock
//   driver) and serves that corrected time. Its only source is a SOCK refclock fed 10 times a second by a small
//   python3 feeder with samples "true time = system time + offsetS", so it "corrects" its virtual clock by exactly
//   offsetS and serves that; `setOffset()` changes the offset of a running server (effective within ~1 s).
//   Not libfaketime: chronyd (like ntpd) takes its receive timestamps from the kernel (SO_TIMESTAMPING), which
//   libfaketime does not shift, so under `faketime -f +0.3` only the transmit timestamp moves: clients see offset
//   +0.15 s and a round-trip delay of 0.3 s.
// - `startNtpsecUpstream({ ns, address })`: NTPsec ntpd without CAP_SYS_TIME, its only source an NMEA refclock
//   (127.127.20.0, minpoll 0 = 1 s) on a socat pty that this process writes one $GPRMC to each second, 10 ms after
//   the second. It serves the host clock (it cannot steer it) and says stratum 1, leap 00 about 2 s after start;
//   its root dispersion falls below 1.5 s at ~6 s and below 100 ms at ~13-16 s (each clock update halves the
//   contribution of its 8-stage filter's empty slots). `waitSynchronised` waits for both (ntpq -c rv).
import { closeSync, existsSync, openSync, writeFileSync, writeSync } from 'node:fs';
import { nmeaSentence } from '../../../drivers/sim/sentences.js';
import { CHRONYD } from './chrony.js';
import { SOCAT } from './gpsd.js';
import { Netns, requireRoot, udpPortBound, vethPair } from './netns.js';
import { describeRun, LongRunning, pollUntil, Teardown, TempDir, type RunResult } from './process.js';
import { ntpdig, type SntpResult } from './ntpsec.js';

export const NTPD = '/usr/sbin/ntpd';
export const NTPQ = '/usr/bin/ntpq';
export const SETPRIV = '/usr/bin/setpriv';
export const PYTHON3 = '/usr/bin/python3';

function requireBinaries(bins: readonly string[], install: string): void {
  for (const bin of bins) {
    if (!existsSync(bin)) {
      throw new Error(`${bin} is missing: run \`node test/system/ensure-peers.mjs\` as root (${install}). Not skipping.`);
    }
  }
}

/** Anything started here: a served address and a way to stop it and remove what it made. */
export interface Upstream {
  readonly ns: Netns;
  /** The address it serves on (port 123 unless `port` said otherwise). */
  readonly address: string;
  readonly port: number;
  /** Its log(s), for assertion messages. */
  describe(): string;
  stop(): Promise<void>;
}

// ---------------------------------------------------------------------------------------------------------------
// Layout

export interface UpstreamHost {
  /** The upstream's own namespace. */
  ns: Netns;
  /** The upstream's address (10.123.N.2), as Gnomon's `server` line names it. */
  address: string;
  /** The client's address on this link (10.123.N.1). */
  clientAddress: string;
}

/**
 * A client namespace (for Gnomon) and up to 200 upstream namespaces, each on its own veth link (see the header).
 * `destroy()` (or the Teardown given to `create`) deletes them all, killing whatever still runs inside.
 */
export class UpstreamLab {
  private readonly hosts: UpstreamHost[] = [];

  private constructor(readonly client: Netns) {}

  static async create(teardown?: Teardown): Promise<UpstreamLab> {
    const lab = new UpstreamLab(await Netns.create());
    teardown?.add(`upstream lab ${lab.client.name}`, () => lab.destroy());
    return lab;
  }

  /** A new namespace joined to the client: 10.123.N.1 (client) <-> 10.123.N.2 (upstream), N = 1, 2, ... */
  async addHost(): Promise<UpstreamHost> {
    const n = this.hosts.length + 1;
    if (n > 200) throw new Error('UpstreamLab: at most 200 upstream namespaces');
    const ns = await Netns.create();
    try {
      const link = await vethPair(this.client, ns, `10.123.${n}`);
      const host = { ns, address: link.bAddr, clientAddress: link.aAddr };
      this.hosts.push(host);
      return host;
    } catch (err) {
      await ns.destroy();
      throw err;
    }
  }

  async destroy(): Promise<void> {
    const failures: string[] = [];
    for (const ns of [...this.hosts.splice(0).map((h) => h.ns).reverse(), this.client]) {
      try {
        await ns.destroy();
      } catch (err) {
        failures.push(err instanceof Error ? err.message : String(err));
      }
    }
    if (failures.length > 0) throw new Error(failures.join('\n'));
  }
}

// ---------------------------------------------------------------------------------------------------------------
// chronyd (right or wrong)

export interface ChronydUpstreamOptions {
  ns: Netns;
  /** Address to bind (default 127.0.0.1). IPv4 addresses bind IPv4 only (-4), so that servers can share a namespace. */
  address?: string;
  /** Default 123. */
  port?: number;
  /** Stratum served (default 1). */
  stratum?: number;
  /**
   * Serve host time + offsetS (seconds) instead of the host time (see the header). The server answers unsynchronised
   * (stratum 0, leap 3) until its refclock is selected; start() waits until it serves the offset (~2-3 s).
   */
  offsetS?: number;
  /** Reference ID of a wrong server (its refclock's), default "GPS": it looks like any GPS stratum 1. */
  refid?: string;
  /** Extra chrony.conf lines. */
  extra?: readonly string[];
}

/** One sample per `interval` s for at most `count`, struct sock_sample of chrony's refclock_sock.c; offset from a file. */
const SOCK_FEEDER = `
import socket, struct, sys, time
sock_path, offset_file, count, interval = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
offset = None
failures = 0
for i in range(count):
    try:
        with open(offset_file) as f:
            offset = float(f.read())
    except (OSError, ValueError):
        pass
    if offset is not None:
        now = time.time()
        sec = int(now)
        try:
            # tv_sec, tv_usec, offset (true - system), pulse, leap, _pad, magic "SOCK"
            s.sendto(struct.pack('@lldiiii', sec, int((now - sec) * 1e6), offset, 0, 0, 0, 0x534f434b), sock_path)
        except OSError as e:
            failures += 1
            if failures <= 3:
                print('sample not sent:', e, file=sys.stderr, flush=True)
    time.sleep(interval)
`;

export class ChronydUpstream implements Upstream {
  private constructor(readonly ns: Netns, readonly address: string, readonly port: number, readonly stratum: number,
    private readonly dir: TempDir, private readonly chronyd: LongRunning, private readonly feeder: LongRunning | undefined,
    private offset: number | undefined) {}

  /** The offset it was asked to serve (undefined: the host clock). */
  get offsetS(): number | undefined {
    return this.offset;
  }

  static async start(options: ChronydUpstreamOptions): Promise<ChronydUpstream> {
    requireRoot('run chronyd -u root');
    requireBinaries([CHRONYD], 'chrony, unpacked into /opt/chrony');
    if (options.offsetS !== undefined) requireBinaries([PYTHON3], 'python3, which ntpsec depends on');
    const address = options.address ?? '127.0.0.1';
    const port = options.port ?? 123;
    const stratum = options.stratum ?? 1;
    if (!Number.isInteger(stratum) || stratum < 1 || stratum > 15) throw new Error(`stratum ${stratum}: 1..15`);
    const dir = new TempDir('gnm-upchrony-');
    const config = [`port ${port}`, `bindaddress ${address}`, 'allow', 'cmdport 0',
      `bindcmdaddress ${dir.file('chronyd.sock')}`, `pidfile ${dir.file('chronyd.pid')}`,
      `driftfile ${dir.file('drift')}`];
    if (options.offsetS === undefined) {
      config.push(`local stratum ${stratum}`);
    } else {
      // poll -2: the median of the last ~3 samples is used 4 times a second; selected ~2 s after start.
      config.push(`refclock SOCK ${dir.file('refclock.sock')} refid ${options.refid ?? 'GPS'} poll -2 ` +
        `precision 1e-6 stratum ${stratum - 1}`);
      writeFileSync(dir.file('offset'), String(options.offsetS));
    }
    config.push(...(options.extra ?? []), '');
    writeFileSync(dir.file('chronyd.conf'), config.join('\n'));
    const family = address.includes(':') ? '-6' : '-4';
    let chronyd: LongRunning | undefined;
    let feeder: LongRunning | undefined;
    try {
      chronyd = await options.ns.start(CHRONYD, [family, '-x', '-u', 'root', '-d', '-f', dir.file('chronyd.conf')]);
      if (options.offsetS !== undefined) {
        // 36000 samples, 10 a second: one hour at most.
        feeder = await LongRunning.start(PYTHON3,
          ['-c', SOCK_FEEDER, dir.file('refclock.sock'), dir.file('offset'), '36000', '0.1']);
      }
    } catch (err) {
      await chronyd?.stop('SIGTERM', 5000);
      dir.remove();
      throw err;
    }
    const upstream = new ChronydUpstream(options.ns, address, port, stratum, dir, chronyd, feeder, options.offsetS);
    const ready = port === 123 ? await upstream.waitServing(15_000)
      : await pollUntil(async () => (await udpPortBound(port, options.ns)) || undefined, 5000);
    if (ready === undefined) {
      const what = upstream.describe();
      await upstream.stop();
      throw new Error(`chronyd upstream at ${address}:${port} did not serve ` +
        `${options.offsetS === undefined ? '' : `offset ${options.offsetS} s `}stratum ${stratum} within 15 s:\n${what}`);
    }
    return upstream;
  }

  /**
   * Polls with ntpdig (in the server's namespace, port 123 only) until it answers at its stratum and, for a wrong
   * server, with the asked offset (±5 ms). Returns the answer, or undefined after `timeoutMs`.
   */
  async waitServing(timeoutMs: number): Promise<SntpResult | undefined> {
    return pollUntil(async () => {
      if (this.chronyd.exitStatus !== undefined) return undefined;
      const r = await ntpdig(this.ns, this.address, { timeoutS: 1 });
      const a = r.answer;
      if (a === undefined || a.stratum !== this.stratum) return undefined;
      return Math.abs(a.offset - (this.offset ?? 0)) < 0.005 ? r : undefined;
    }, timeoutMs, 200);
  }

  /** A wrong server only: serve host time + offsetS from now on (in effect within ~1 s; see waitServing). */
  setOffset(offsetS: number): void {
    if (this.feeder === undefined) throw new Error('setOffset: this chronyd upstream was started without offsetS');
    writeFileSync(this.dir.file('offset'), String(offsetS));
    this.offset = offsetS;
  }

  describe(): string {
    return [this.chronyd.describe(), this.feeder?.describe()].filter((x) => x !== undefined).join('\n');
  }

  async stop(): Promise<void> {
    await this.feeder?.stop('SIGTERM', 2000);
    const end = await this.chronyd.stop('SIGTERM', 5000);
    this.dir.remove();
    if (end.killed) throw new Error(`chronyd upstream at ${this.address} needed SIGKILL:\n${this.chronyd.describe()}`);
  }
}

export function startChronydUpstream(options: ChronydUpstreamOptions): Promise<ChronydUpstream> {
  return ChronydUpstream.start(options);
}

// ---------------------------------------------------------------------------------------------------------------
// NTPsec ntpd fed by an NMEA refclock

export interface NtpsecUpstreamOptions {
  /** A namespace of its own (see the header: ntpd binds port 123 on every address in it). */
  ns: Netns;
  /** The address clients use (for ntpq/ntpdig and `address`); ntpd listens on all of the namespace's. */
  address: string;
  /** The refclock's minpoll = maxpoll (log2 s, default 0 = every second). */
  poll?: number;
  /** When each $GPRMC is written after its second, ms (default 10). */
  nmeaDelayMs?: number;
  /** Extra ntp.conf lines. */
  extra?: readonly string[];
}

const pad = (n: number): string => String(n).padStart(2, '0');

/** $GPRMC (valid fix) for the UTC second `ms` falls in. */
function rmcFor(ms: number): string {
  const d = new Date(Math.floor(ms / 1000) * 1000);
  const t = `${pad(d.getUTCHours())}${pad(d.getUTCMinutes())}${pad(d.getUTCSeconds())}.00`;
  const date = `${pad(d.getUTCDate())}${pad(d.getUTCMonth() + 1)}${pad(d.getUTCFullYear() % 100)}`;
  return `${nmeaSentence(`GPRMC,${t},A,4807.038,N,01131.000,E,0.0,0.0,${date},,,A`)}\r\n`;
}

/** `ntpq -c rv` output ("a=b, c=d, ...") as a map. */
export function parseRv(text: string): Map<string, string> {
  const vars = new Map<string, string>();
  for (const m of text.replace(/\n/g, ' ').matchAll(/([A-Za-z_][\w.]*)=("[^"]*"|[^,]*)/g)) {
    vars.set(m[1] ?? '', (m[2] ?? '').trim().replace(/^"|"$/g, ''));
  }
  return vars;
}

/** Is a UDP socket bound to exactly ADDRESS:PORT in `ns` (ss)? */
export async function addressBound(ns: Netns, address: string, port: number): Promise<boolean> {
  const r = await ns.run('ss', ['-H', '-l', '-u', '-n', `sport = :${port}`], { timeoutMs: 5000 });
  const local = address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
  return r.code === 0 && r.stdout.split('\n').some((line) => line.trim().split(/\s+/)[3] === local);
}

export interface SyncState {
  /** "00" synchronised, "11" not. */
  leap: string;
  stratum: number;
  /** Root dispersion, ms. */
  rootdispMs: number;
  /** ms since start() was called. */
  atMs: number;
  /** ms after start() that ntpq first showed leap 00 (as far as syncState calls saw), if it has. */
  firstLeap00Ms: number | undefined;
  rv: RunResult;
}

export class NtpsecUpstream implements Upstream {
  readonly port = 123;
  private readonly startedAt = Date.now();
  private firstLeap00Ms: number | undefined;

  private constructor(readonly ns: Netns, readonly address: string, private readonly teardown: Teardown,
    private readonly ntpd: LongRunning, private readonly socat: LongRunning) {}

  static async start(options: NtpsecUpstreamOptions): Promise<NtpsecUpstream> {
    requireRoot('run NTPsec ntpd in a namespace');
    requireBinaries([NTPD, NTPQ, SETPRIV, SOCAT], 'ntpsec, util-linux (setpriv), socat');
    const teardown = new Teardown();
    try {
      const dir = new TempDir('gnm-upntpsec-');
      teardown.add('temp dir', () => dir.remove());
      const writer = dir.file('gps0');
      const device = dir.file('gps1');
      const socat = await LongRunning.start(SOCAT, ['-d', '-d', `pty,raw,echo=0,link=${writer}`,
        `pty,raw,echo=0,link=${device}`]);
      teardown.add('socat', () => socat.stop('SIGTERM', 2000));
      if (await pollUntil(() => (existsSync(writer) && existsSync(device)) || undefined, 5000) === undefined) {
        throw new Error(`socat made no pty pair within 5 s:\n${socat.describe()}`);
      }
      // One sentence a second, nmeaDelayMs after the second, for at most an hour.
      const delay = options.nmeaDelayMs ?? 10;
      const fd = openSync(writer, 'w');
      let written = 0;
      let timer: NodeJS.Timeout | undefined;
      const next = (): number => 1000 + delay - (Date.now() % 1000);
      const tick = (): void => {
        try {
          writeSync(fd, rmcFor(Date.now()));
        } catch {
          return; // pty gone: stopping
        }
        if (++written < 3600) timer = setTimeout(tick, next());
      };
      timer = setTimeout(tick, next());
      teardown.add('nmea writer', () => {
        if (timer) clearTimeout(timer);
        closeSync(fd);
      });

      const poll = options.poll ?? 0;
      const conf = dir.file('ntp.conf');
      writeFileSync(conf, [
        // time2: the driver's end-of-line delay, so that ntpd sees the sentence's own time (offset near 0).
        `refclock nmea unit 0 path ${device} baud 4800 minpoll ${poll} maxpoll ${poll} time2 ${delay / 1000}`,
        'tos minsane 1',
        // `restrict default` alone serves mode 3 but leaves ntpq (mode 6) unanswered: name who may query.
        'restrict default',
        'restrict 127.0.0.1',
        'restrict ::1',
        `restrict ${options.address}`,
        'restrict 10.123.0.0 mask 255.255.0.0', // UpstreamLab's links
        `driftfile ${dir.file('drift')}`,
        `statsdir ${dir.path}/`,
        ...(options.extra ?? []),
        '',
      ].join('\n'));
      // Without CAP_SYS_TIME in the bounding and inheritable sets: its clock calls fail (EPERM), the host clock stays.
      const ntpd = await options.ns.start(SETPRIV, ['--bounding-set', '-sys_time', '--inh-caps', '-sys_time',
        NTPD, '-n', '-c', conf]);
      teardown.add('ntpd', async () => {
        const end = await ntpd.stop('SIGTERM', 5000);
        if (end.killed) throw new Error(`ntpd needed SIGKILL:\n${ntpd.describe()}`);
      });
      const upstream = new NtpsecUpstream(options.ns, options.address, teardown, ntpd, socat);
      // ntpd may find a just-created veth address only on its next interface scan (~3 s later): wait for it.
      const bound = await pollUntil(async () => (await addressBound(options.ns, options.address, 123)) || undefined,
        10_000, 100);
      if (bound === undefined) {
        throw new Error(`ntpd did not bind ${options.address}:123 within 10 s:\n${ntpd.describe()}`);
      }
      return upstream;
    } catch (err) {
      await teardown.run().catch(() => undefined);
      throw err;
    }
  }

  /** `ntpq ARGS ADDRESS` in the server's namespace. */
  ntpq(args: readonly string[]): Promise<RunResult> {
    return this.ns.run(NTPQ, [...args, this.address], { timeoutMs: 10_000 });
  }

  async syncState(): Promise<SyncState | undefined> {
    const rv = await this.ntpq(['-c', 'rv 0 leap,stratum,rootdisp']);
    const vars = parseRv(rv.stdout);
    if (rv.code !== 0 || !vars.has('leap')) return undefined;
    const atMs = Date.now() - this.startedAt;
    if (vars.get('leap') === '00') this.firstLeap00Ms ??= atMs;
    return {
      leap: vars.get('leap') ?? '', stratum: Number(vars.get('stratum')), rootdispMs: Number(vars.get('rootdisp')),
      atMs, firstLeap00Ms: this.firstLeap00Ms, rv,
    };
  }

  /**
   * Polls `ntpq -c rv` every 250 ms until ntpd says leap 00, stratum 1 and root dispersion below `maxRootDispMs`
   * (default 100: usable by any client; about 13-16 s after start; 1500 → ~6 s; Infinity → leap/stratum only, ~2 s).
   * Throws with ntpd's log and the last rv after `timeoutMs`. Returns the state, with the time since start().
   */
  async waitSynchronised(timeoutMs: number, options: { maxRootDispMs?: number } = {}): Promise<SyncState> {
    const max = options.maxRootDispMs ?? 100;
    let last: SyncState | undefined;
    const done = await pollUntil(async () => {
      if (this.ntpd.exitStatus !== undefined) return false;
      last = await this.syncState();
      return last !== undefined && last.leap === '00' && last.stratum === 1 && last.rootdispMs < max ? true : undefined;
    }, timeoutMs, 250);
    if (done !== true || last === undefined) {
      const peers = await this.ntpq(['-pn']);
      throw new Error(`NTPsec ntpd at ${this.address} not synchronised (leap 00, stratum 1, rootdisp < ${max} ms) ` +
        `within ${timeoutMs} ms; last rv: ${last === undefined ? 'none' : describeRun(last.rv)}\n${describeRun(peers)}\n` +
        this.describe());
    }
    return last;
  }

  describe(): string {
    return `${this.ntpd.describe()}\n${this.socat.describe()}`;
  }

  stop(): Promise<void> {
    return this.teardown.run();
  }
}

export function startNtpsecUpstream(options: NtpsecUpstreamOptions): Promise<NtpsecUpstream> {
  return NtpsecUpstream.start(options);
}

/** `ntpdig -j` from `ns` to each address, one sample each: a short check of what a client there sees. */
export async function ntpdigAll(ns: Netns, addresses: readonly string[]): Promise<SntpResult[]> {
  const out: SntpResult[] = [];
  for (const address of addresses.slice(0, 50)) out.push(await ntpdig(ns, address, { timeoutS: 2 }));
  return out;
}

/** For messages: `ntpdig` results in one line each. */
export function describeSntp(results: readonly SntpResult[]): string {
  return results.map((r) => (r.answer === undefined ? `${r.run.command}: ${r.run.stderr.trim()}`
    : JSON.stringify(r.answer))).join('\n');
}

