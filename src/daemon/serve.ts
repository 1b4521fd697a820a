/**
 * `gnomon serve`: wires config, clocks, reference, access control and the UDP shell together,
 * and owns the process's lifecycle (signals, reload, privilege drop).
 *
 * Start-up fails loudly (bad config, address in use: the message names the file:line or the
 * address and exits non-zero); run-time problems are logged once and survived.
 */
import { randomBytes, randomInt } from 'node:crypto';
import { newTimeSpec, timeSpecSeconds } from '../clock/clock.js';
import { Mode6Responder } from '../control/mode6/responder.js';
import { daemonControlView } from './control-view.js';
import { packageVersion } from './version.js';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { ConfigLoadError, loadConfig, formatDiagnostic } from '../config/load.js';
import type { ConfigDiagnostic, GnomonConfig } from '../config/model.js';
import { systemMonotonicClock, systemRealtimeClock } from '../clock/posix.js';
import { Timescale } from '../clock/timescale.js';
import { ServerCounters } from '../server/counters.js';
import { ServerStateCell, unsynchronisedSnapshot } from '../server/state.js';
import { RestrictTable } from '../server/access/restrict.js';
import { RateLimiter } from '../server/access/ratelimit.js';
import { NtpRequestHandler } from '../server/handler/handler.js';
import { NtpUdpServer, type ListenAddress } from '../server/udp.js';
import { Broadcaster } from '../server/broadcast.js';
import { createLogger } from './log.js';
import { listenAddresses } from './listen.js';
import { Reference } from './reference.js';
import { closeControl, defaultControlSocket, listenControl } from '../control/local.js';
import { statusReport } from './status.js';
import { DisciplineOutputs } from './outputs.js';
import { dropPrivileges } from './privileges.js';
import { isIP } from 'node:net';
import { startWeb, type WebOptions } from '../web/daemon-hook.js';
import { keyRingFor } from '../auth/keyfile.js';
import type { KeyRing } from '../auth/mac.js';
import { AssociationSet } from './associations.js';
import { FastPathServer, keyMaterial } from '../server/fast/fast-server.js';
import { fastPathBlocker, fastUnavailableMessage, requestedServerPath, rxCoalesceUs, serverWorkers } from './server-path.js';
import type { AccessSpec } from '../server/fast/protocol.js';

/** The configuration compiled into the package: what `npm start` runs. */
export const EMBEDDED_CONFIG = fileURLToPath(new URL('../../../config/gnomon.conf', import.meta.url));

export interface ServeOptions {
  readonly configPath?: string;
  /** `--listen` values; override the config's addresses. */
  readonly listen: readonly string[];
  /** `--user`: overrides the config's `user`. */
  readonly user?: string;
  /** `--control`: the local control socket (default: defaultControlSocket()). */
  readonly controlSocket?: string;
  /** `--no-kernel`: never steer the system clock, whatever `enable kernel` says. */
  readonly noKernel?: boolean;
  /** Called once the server listens (gnomon demo prints where to look). */
  readonly onListening?: (addresses: readonly { address: string; port: number }[]) => void;
  /** `--web ADDR:PORT|off`, `--web-password FILE`, `--web-public-status` (docs/web.md); default 127.0.0.1:8123. */
  readonly web?: WebOptions;
  /** `--server-path auto|fast|dgram` (else GNOMON_SERVER_PATH; default auto: src/daemon/server-path.ts, docs/server.md). */
  readonly serverPath?: string;
  /** Deprecated `--fast-path` (or GNOMON_FAST_PATH=1): `--server-path fast`. */
  readonly fastPath?: boolean;
  /** `--server-workers N|auto` (else GNOMON_SERVER_WORKERS): fast-path worker threads per listen address (default 0: the main thread answers). */
  readonly serverWorkers?: string;
  /** `--rx-coalesce-us N` (else GNOMON_RX_COALESCE_US): fast-path receive coalescing, µs (default 50, 0 = off). */
  readonly rxCoalesceUs?: string;
}


/** Loads a config; an unreadable file becomes one located diagnostic instead of a stack trace. */
async function loadOrExplain(path: string): Promise<{ config?: GnomonConfig; diagnostics: readonly ConfigDiagnostic[] }> {
  try {
    return await loadConfig(path);
  } catch (err) {
    if (!(err instanceof ConfigLoadError)) throw err;
    return {
      diagnostics: [{
        severity: 'error', code: err.code, message: err.message, at: { file: path, line: 1, column: 1 },
        hint: 'check the path given with --config, and that the file is readable by the user gnomon runs as',
      }],
    };
  }
}

export async function serve(opts: ServeOptions): Promise<number> {
  const configPath = opts.configPath ?? EMBEDDED_CONFIG;
  const first = await loadOrExplain(configPath);
  for (const d of first.diagnostics) process.stderr.write(formatDiagnostic(d) + '\n');
  if (!first.config) {
    process.stderr.write(`gnomon: ${configPath} has errors; not starting (run \`gnomon config validate --config ${configPath}\`)\n`);
    return 1;
  }
  let config = first.config;
  let pathRequest: ReturnType<typeof requestedServerPath>;
  let workersPerAddress: number;
  let coalesceUs: number;
  try {
    pathRequest = requestedServerPath(opts.serverPath, opts.fastPath === true, process.env);
    workersPerAddress = serverWorkers(opts.serverWorkers, process.env);
    coalesceUs = rxCoalesceUs(opts.rxCoalesceUs, process.env);
  } catch (err) {
    process.stderr.write(`gnomon: ${(err as Error).message}\n`);
    return 1;
  }
  const log = createLogger(config.logfile);
  for (const d of first.diagnostics) log.warn({ code: d.code, at: d.at }, d.message);

  const realtime = systemRealtimeClock();
  const monotonic = systemMonotonicClock();
  const timescale = new Timescale(realtime);
  const precision = timescale.precisionLog2S;
  log.info({ clock: realtime.source, resolutionNs: Math.round(realtime.resolutionNs), precision }, 'clock');

  const state = new ServerStateCell(unsynchronisedSnapshot(precision));
  const reference = new Reference(config, realtime, timescale, state, log);
  reference.update();

  const counters = new ServerCounters();
  const build = (c: GnomonConfig) => ({
    restrict: new RestrictTable(c.restrict, sourceAddresses(c)),
    limiter: new RateLimiter({ ...c.discard, capacity: c.mru.maxdepth }, randomInt(2 ** 31)),
  });
  const access = build(config);
  const handler = new NtpRequestHandler(timescale, state, access.restrict, access.limiter, counters);
  // Symmetric keys (`keys`, `trustedkey`): read before the privilege drop (the file is root's, mode 600).
  const keys = await keyRingFor(config);
  for (const d of keys.diagnostics) {
    process.stderr.write(formatDiagnostic(d) + '\n');
    log.warn({ code: d.code, at: d.at }, d.message);
  }
  if (!keys.ring) {
    process.stderr.write(`gnomon: the key file named at ${config.keys?.at.file}:${config.keys?.at.line} has errors; not starting\n`);
    return 1;
  }
  handler.setKeys(keys.ring);
  let ring = keys.ring;
  if (keys.ring.size > 0) log.info({ file: config.keys?.path, trusted: keys.ring.ids() }, 'symmetric keys');
  // Mode 6 (ntpq, ntpstat): read-only, from the same state the status socket reports.
  let limiter = access.limiter;
  const monotonicS = () => {
    const t = newTimeSpec();
    monotonic.read(t);
    return timeSpecSeconds(t);
  };
  handler.setControl({
    view: daemonControlView({
      reference, state, counters, timescale, limiter: () => limiter, monotonicS, startedMonotonicS: monotonicS(),
      version: `gnomon ${packageVersion()}`, controlRequests: () => counters.controlRequests,
      rxTimestamps: () => udp.rxStamps.source,
      serverPath: () => (udp instanceof FastPathServer ? udp.path : 'dgram'),
    }),
    responder: new Mode6Responder({ nonceSecret: randomBytes(32) }),
  });
  // GNOMON_RX_TIMESTAMPS=user: the JS read even where kernel stamps work (bench/quality.mjs compares the two).
  const onSocketError = (where: string, err: Error) => log.error({ where, err: err.message }, 'socket error');
  // The server path (issue 9, docs/server.md "Choosing the path"): the batched fast path where it
  // can run, unless dgram is asked for; `fast` refuses to start without it.
  if (pathRequest.deprecated) log.warn({ alias: pathRequest.deprecated }, 'deprecated option');
  const blocker = pathRequest.path === 'dgram' ? undefined : fastPathBlocker(FastPathServer.unavailableReason(), config.broadcastClient?.groups ?? []);
  if (pathRequest.path === 'fast' && blocker) {
    log.fatal({ reason: blocker }, fastUnavailableMessage(blocker));
    process.stderr.write(`gnomon: ${fastUnavailableMessage(blocker)}\n`);
    return 1;
  }
  /** Why auto serves with dgram (status `server.pathReason`). */
  let pathReason: string | undefined;
  const dgramServer = () => new NtpUdpServer(handler, timescale, monotonic, onSocketError,
    { rxTimestamps: process.env.GNOMON_RX_TIMESTAMPS === 'user' ? 'user' : 'auto' });
  const fastServer = () => new FastPathServer(handler, timescale, monotonic, state, counters, onSocketError, {
    rcvbuf: Number(process.env.GNOMON_FAST_RCVBUF ?? 0) || 0,
    workersPerAddress,
    rxCoalesceUs: coalesceUs,
    onWorkerDied: (where, reason, restartInMs) => log.error({ where, reason, restartInMs }, 'fast-path worker died; restarting it'),
    onWorkerRestarted: (where, restarts) => log.info({ where, restarts }, 'fast-path worker restarted'),
  });
  let udp: NtpUdpServer | FastPathServer;
  if (pathRequest.path === 'dgram') {
    udp = dgramServer();
  } else if (blocker) {
    pathReason = blocker;
    log.warn({ reason: blocker }, `server path: dgram (the fast path cannot run: ${blocker})`);
    udp = dgramServer();
  } else {
    udp = fastServer();
    // No worker runs yet: they start with this config.
    void udp.configure(accessSpec(config, ring, access.limiter));
  }

  let addresses: ListenAddress[];
  try {
    addresses = listenAddresses(config, opts.listen);
    try {
      await udp.listen(addresses);
    } catch (err) {
      if (!(udp instanceof FastPathServer) || pathRequest.path !== 'auto') throw err;
      // auto: the fast path's socket did not open; node:dgram may (its error is the one reported if not).
      await udp.close();
      pathReason = `the fast path's socket did not open: ${(err as Error).message}`;
      log.warn({ reason: pathReason }, `server path: dgram (${pathReason})`);
      udp = dgramServer();
      await udp.listen(addresses);
    }
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { listenAddress?: string };
    const hint = e.code === 'EACCES' ? ' (port 123 needs root or CAP_NET_BIND_SERVICE)'
      : e.code === 'EADDRINUSE' ? ' (another NTP server, e.g. ntpd, chronyd or systemd-timesyncd, holds it)' : '';
    log.fatal({ code: e.code, address: e.listenAddress }, `cannot listen on ${e.listenAddress ?? ''}: ${e.message}${hint}`);
    process.stderr.write(`gnomon: cannot listen on ${e.listenAddress ?? opts.listen.join(',')}: ${e.message}${hint}\n`);
    await udp.close();
    return 1;
  }
  const server = udp;
  const serverPath = () => ({
    path: server instanceof FastPathServer ? server.path : 'dgram',
    ...(pathReason ? { pathReason } : {}),
    ...(server instanceof FastPathServer
      ? { workersPerAddress: server.workersPerAddress, workersServing: server.workersServing(), workerRestarts: server.workerRestarts, rxCoalesceUs: coalesceUs }
      : {}),
  });
  if (server instanceof FastPathServer && process.env.GNOMON_TEST_FAULTS === 'worker-crash') {
    // Test-only fault hook (docs/server.md): SIGUSR2 makes one fast-path worker throw, so the
    // restart path runs through the real daemon. Nothing installs it without the variable.
    log.warn({}, 'GNOMON_TEST_FAULTS=worker-crash: SIGUSR2 crashes a fast-path worker (tests only)');
    process.on('SIGUSR2', () => log.warn({ where: server.injectWorkerFault() }, 'test fault: crashing a fast-path worker'));
  }

  log.info({ requested: pathRequest.path, ...serverPath() }, 'server path');
  log.info({ source: udp.rxStamps.source, ...(udp.rxStamps.reason ? { reason: udp.rxStamps.reason } : {}) }, 'receive timestamps');
  const started = Date.now();
  // One table for every thread (the fast path's workers attach to `limiter`'s memory).
  const rateTable = () => ({ entries: limiter.occupied(), capacity: limiter.capacity, evictions: limiter.evictions });
  const controlPath = opts.controlSocket ?? defaultControlSocket();
  let reloading: Promise<void> = Promise.resolve();
  let runningText = await readRunningText(configPath);
  const control = await listenControl(controlPath, (request) => {
    switch (request.command) {
      case 'status': {
        const report = () => statusReport({ configPath, started, state, reference, counters, listening: udp.boundAddresses(), rxTimestamps: udp.rxStamps, server: serverPath(), rateTable });
        // The fast path's workers post their counters first: the report counts every request answered before it.
        return udp instanceof FastPathServer ? udp.flushCounters().then(report) : report();
      }
      case 'reload': {
        // Serialised with SIGHUP reloads; the caller (gnomon config, the web page) gets the outcome.
        log.info({ file: configPath }, 'control: reloading configuration');
        const result = reloading.then(reload);
        reloading = result.then(() => undefined, () => undefined);
        return result;
      }
      case 'running-config':
        return { path: configPath, text: runningText };
      default:
        throw new Error(`unknown command "${request.command}" (this daemon answers: status, reload, running-config)`);
    }
  }).catch((err: Error) => {
    log.error({ socket: controlPath, err: err.message }, 'no control socket: `gnomon status` will not reach this daemon (use --control PATH)');
    return null;
  });
  if (control) log.info({ socket: controlPath }, 'control socket');
  // The web page (src/web): same status as the control socket, edits through the config service and this socket's reload.
  // Both are opened before the privilege drop: the socket's folder and the web's assets may be root's.
  const web = await startWeb(opts.web, {
    configPath, controlSocket: controlPath, log,
    status: () => statusReport({ configPath, started, state, reference, counters, listening: udp.boundAddresses(), rxTimestamps: udp.rxStamps, server: serverPath(), rateTable }),
    rateLimitTable: rateTable,
  });

  const user = opts.user ?? config.user;
  if (user) {
    try {
      const ids = dropPrivileges(user);
      if (ids) log.info({ user, uid: ids.uid, gid: ids.gid }, 'dropped privileges');
    } catch (err) {
      log.fatal({ user }, (err as Error).message);
      await Promise.all([udp.close(), control ? closeControl(control, controlPath) : undefined, web?.close()]);
      return 1;
    }
  }

  // After the privilege drop, so the driftfile and statistics belong to the user the daemon runs as.
  await reference.attachOutputs(await DisciplineOutputs.open(config, log, { noKernel: opts.noKernel ?? false }));
  reference.start();
  // Upstream servers, peers and broadcast servers (src/daemon/associations.ts) join the selection.
  const associations = new AssociationSet(config, ring, {
    raw: realtime, timescale, state, log,
    serverSend: (packet, address, port) => {
      if (!udp.sendFromServerPort(packet, address, port)) log.warn({ address }, 'peer: no server socket of this address family to send from');
    },
  });
  handler.setAssociations(associations);
  reference.attachNetwork(associations);
  associations.start();
  const joinGroups = (c: GnomonConfig) => {
    for (const f of udp.joinGroups(c.broadcastClient?.groups ?? [])) log.error({ group: f.group, at: c.broadcastClient?.at }, `multicastclient: cannot join ${f.group}: ${f.error}`);
  };
  joinGroups(config);
  // Mode 5 to the config's `broadcast` lines, while synchronised (docs/broadcast.md), signed with a line's `key`.
  const broadcaster = new Broadcaster({ state, clock: timescale, log, port: config.port, mac: (packet, headerLength, keyId) => signWith(ring, packet, headerLength, keyId) });
  const warnBroadcastKeys = (c: GnomonConfig) => {
    for (const b of c.broadcast ?? []) {
      if (b.key !== undefined && !ring.get(b.key)) log.warn({ at: b.at, key: b.key }, `broadcast ${b.address} key ${b.key}: no such trusted key; sending unsigned`);
    }
  };
  warnBroadcastKeys(config);
  await broadcaster.configure(config.broadcast);
  const reload = async (): Promise<ReloadResult> => {
    const next = await loadOrExplain(configPath);
    if (!next.config) {
      const errors = next.diagnostics.filter((d) => d.severity === 'error').map(formatDiagnostic);
      log.error({ file: configPath, errors }, 'reload refused: the new config has errors; still running the previous one');
      return { ok: false, code: 'RELOAD_CONFIG_INVALID', message: 'the new config has errors; the daemon keeps the previous one', errors };
    }
    for (const d of next.diagnostics) log.warn({ code: d.code, at: d.at }, d.message);
    // The key file is re-read on every reload (a new or changed key takes effect on reload).
    const nextKeys = await keyRingFor(next.config);
    for (const d of nextKeys.diagnostics) log.warn({ code: d.code, at: d.at }, d.message);
    if (!nextKeys.ring) {
      const errors = nextKeys.diagnostics.filter((d) => d.severity === 'error').map(formatDiagnostic);
      log.error({ file: next.config.keys?.path, errors }, 'reload refused: the key file has errors; still running the previous config');
      return { ok: false, code: 'RELOAD_CONFIG_INVALID', message: 'the key file has errors; the daemon keeps the previous config', errors };
    }
    const nextAddresses = listenAddresses(next.config, opts.listen);
    try {
      await udp.listen(nextAddresses);
    } catch (err) {
      log.error({ err: (err as Error).message }, 'reload refused: cannot listen on the new addresses; still running the previous config');
      await udp.closeExcept(addresses);
      return { ok: false, code: 'RELOAD_LISTEN_FAILED', message: `cannot listen on the new addresses: ${(err as Error).message}`, errors: [] };
    }
    await udp.closeExcept(nextAddresses);
    addresses = nextAddresses;
    config = next.config;
    const a = build(config);
    handler.reconfigure(a.restrict, a.limiter);
    handler.setKeys(nextKeys.ring);
    ring = nextKeys.ring;
    // Awaited: the workers use the new rules before the reload is reported done (gnomon config, the web page).
    if (udp instanceof FastPathServer) await udp.configure(accessSpec(config, ring, a.limiter));
    limiter = a.limiter;
    await reference.reconfigure(config);
    await associations.reconfigure(config, ring);
    joinGroups(config);
    warnBroadcastKeys(config);
    await reference.attachOutputs(await DisciplineOutputs.open(config, log, { noKernel: opts.noKernel ?? false }));
    await broadcaster.configure(config.broadcast);
    runningText = await readRunningText(configPath);
    log.info({ file: configPath, listening: udp.boundAddresses() }, 'configuration reloaded');
    return { ok: true, file: configPath };
  };

  return new Promise<number>((resolve) => {
    const stop = (signal: string) => {
      log.info({ signal, counters: { ...counters }, sendErrors: udp.sendErrors, rxTimestamps: udp.rxStamps }, 'stopping');
      process.off('SIGHUP', onHup);
      void reloading
        .finally(() => Promise.all([udp.close(), broadcaster.close(), associations.stop(), reference.stop(), control ? closeControl(control, controlPath) : undefined, web?.close()]))
        .then(() => resolve(0));
    };
    const onHup = () => {
      log.info({ file: configPath }, 'SIGHUP: reloading configuration');
      reloading = reloading.then(reload).then(() => undefined, (err: Error) => log.error({ err: err.message }, 'reload failed'));
    };
    process.on('SIGHUP', onHup);
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
    // Announced only now, with the signal handlers in place: whoever waits for this line may
    // send SIGTERM or SIGHUP at once.
    for (const a of udp.boundAddresses()) log.info({ address: a.address, port: a.port }, 'listening');
    opts.onListening?.(udp.boundAddresses());
  });
}

/** What a reload did, for the control channel (gnomon config, the web page). */
export type ReloadResult =
  | { readonly ok: true; readonly file: string }
  | { readonly ok: false; readonly code: 'RELOAD_CONFIG_INVALID' | 'RELOAD_LISTEN_FAILED'; readonly message: string; readonly errors: readonly string[] };

/** The text of the config the daemon runs, for `gnomon config diff`; '' for the embedded default if unreadable. */
async function readRunningText(path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch {
    return '';
  }
}

/** Appends key ID + MAC after the header (a broadcast's); 0 bytes when the key is not trusted. */
function signWith(ring: KeyRing, packet: Buffer, headerLength: number, keyId: number): number {
  const key = ring.get(keyId);
  if (!key) return 0;
  packet.writeUInt32BE(keyId, headerLength);
  key.sign(packet, headerLength, packet, headerLength + 4);
  return 4 + key.digestLength;
}

/** What a fast-path worker builds its restrict table and keys from; its rate limiter is a view of `limiter`'s table. */
function accessSpec(c: GnomonConfig, ring: KeyRing, limiter: RateLimiter): AccessSpec {
  return { restrict: c.restrict, sources: sourceAddresses(c), limiter: { ...c.discard, capacity: c.mru.maxdepth }, rateTable: limiter.memory, keys: keyMaterial(ring) };
}

/** Literal addresses of configured servers and peers, for `restrict source` (names come with DNS, later). */
function sourceAddresses(c: GnomonConfig): string[] {
  return c.associations.filter((a) => !a.refclock && isIP(a.host) !== 0).map((a) => a.host);
}

