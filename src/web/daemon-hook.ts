/**
 * How `gnomon serve` (and `gnomon demo`) start the web server: `--web ADDR:PORT` (default
 * 127.0.0.1:8123, `--web off` for none), `--web-password FILE`, `--web-public-status`.
 * A web server that cannot listen is logged and the NTP service runs on without it.
 */
import { isIP } from 'node:net';
import type { StatusReport } from '../daemon/status.js';
import { registerConfigRoutesLazily } from './config-routes-lazy.js';
import { defaultPasswordFile } from './password.js';
import type { RateLimitTableView } from './metrics.js';
import { WebServer, type WebLog } from './server.js';

export const DEFAULT_WEB_LISTEN = '127.0.0.1:8123';

export interface WebOptions {
  /** ADDR:PORT, or 'off'. */
  readonly listen?: string;
  readonly passwordFile?: string;
  readonly publicStatus?: boolean;
}

export class WebOptionError extends Error {
  readonly code = 'WEB_BAD_LISTEN';
  constructor(message: string) {
    super(message);
    this.name = 'WebOptionError';
  }
}

/** "127.0.0.1:8123", "[::1]:8123", "0.0.0.0:80" → host and port; WebOptionError otherwise. */
export function parseWebListen(value: string): { host: string; port: number } {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([0-9.]+|localhost)):(\d{1,5})$/.exec(value.trim());
  const host = m ? (m[1] ?? m[2])! : '';
  const port = m ? Number(m[3]) : NaN;
  if (!m || (host !== 'localhost' && isIP(host) === 0) || port < 1 || port > 65535) {
    throw new WebOptionError(`--web ${value}: expected ADDR:PORT (e.g. ${DEFAULT_WEB_LISTEN}, [::1]:8123, or a LAN address), or off`);
  }
  return { host, port };
}

export interface WebDaemonContext {
  readonly configPath: string;
  readonly controlSocket: string;
  readonly status: () => StatusReport;
  readonly rateLimitTable: () => RateLimitTableView;
  readonly log: WebLog;
}

/** Starts the web server for the daemon; null when it is off or cannot listen (logged). */
export async function startWeb(options: WebOptions | undefined, ctx: WebDaemonContext): Promise<WebServer | null> {
  const listen = options?.listen ?? DEFAULT_WEB_LISTEN;
  if (listen === 'off') return null;
  let where;
  try {
    where = parseWebListen(listen);
  } catch (err) {
    ctx.log.error({ web: listen }, (err as Error).message);
    return null;
  }
  const passwordFile = options?.passwordFile ?? defaultPasswordFile(ctx.configPath);
  let web: WebServer;
  try {
    web = new WebServer({
      ...where, status: ctx.status, rateLimitTable: ctx.rateLimitTable, passwordFile, publicStatus: options?.publicStatus ?? false, log: ctx.log,
    });
    registerConfigRoutesLazily(web, { configPath: ctx.configPath, controlSocket: ctx.controlSocket, log: ctx.log });
  } catch (err) {
    // A web page that cannot be built (its assets unreadable, say) must never take NTP down with it.
    ctx.log.error({ web: listen }, `web page not started: ${(err as Error).message} (the NTP service runs on)`);
    return null;
  }
  try {
    const bound = await web.listen();
    ctx.log.info({ address: bound.address, port: bound.port, passwordFile, publicStatus: options?.publicStatus ?? false }, 'web page');
    return web;
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    ctx.log.error({ web: listen, code: e.code }, `web page: cannot listen on ${listen}: ${e.message} (the NTP service runs on; use --web ADDR:PORT or --web off)`);
    await web.close();
    return null;
  }
}
