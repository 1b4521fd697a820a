/**
 * The daemon's web server (IO shell): status page, /api/status, /metrics, login, and the config
 * editors (config-routes.ts). Node's http module, bound to loopback unless told otherwise.
 *
 * Who may do what: writes (every POST but /login) need a logged-in session and its CSRF token;
 * reading status (/, /api/status, /api/history, /metrics) needs a session unless the daemon
 * runs with --web-public-status; the editors' pages need a session. docs/web.md.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { StatusReport } from '../daemon/status.js';
import { loadAssets, type Asset } from './assets.js';
import { ChartHistory } from './chart-history.js';
import { HttpError, readForm, redirect, sameOrigin, send, sendHtml, sendJson } from './http.js';
import { loginPage, safeNext } from './pages/login.js';
import { statusPage } from './pages/status.js';
import { PasswordError, readPasswordFile, verifyPassword } from './password.js';
import { clearedSessionCookie, csrfValid, LoginLimiter, readCookie, SESSION_COOKIE, sessionCookie, SessionStore, type Session } from './session.js';
import { html, layout } from './html.js';
import { imfFixdateFromUnixMs } from '../ntp/calendar.js';
import type { Registry } from 'prom-client';
import type { RateLimitTableView } from './metrics.js';

export interface WebLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface WebServerOptions {
  readonly host: string;
  readonly port: number;
  readonly status: () => StatusReport;
  readonly rateLimitTable: () => RateLimitTableView;
  /** The admin password's scrypt file (gnomon passwd); logins are refused while it is missing. */
  readonly passwordFile: string;
  /** --web-public-status: status, history and metrics readable without login. */
  readonly publicStatus?: boolean;
  readonly log?: WebLog;
  /** Login attempts per client address per minute (default 5). */
  readonly loginLimit?: number;
  readonly sessions?: SessionStore;
}

export interface RequestContext {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly url: URL;
  /** The logged-in session (always set for 'login' routes). */
  readonly session: Session | undefined;
  /** The POST form (CSRF already checked). */
  readonly form: URLSearchParams;
}

/** 'open': anyone; 'status': a session, or anyone with --web-public-status; 'login': a session. */
export type Access = 'open' | 'status' | 'login';
export type RouteHandler = (ctx: RequestContext) => Promise<void> | void;

const NO_LOG: WebLog = { info: () => undefined, warn: () => undefined, error: () => undefined };

export class WebServer {
  private readonly routes = new Map<string, { access: Access; handler: RouteHandler }>();
  private readonly server: Server;
  private readonly assets: Map<string, Asset>;
  readonly sessions: SessionStore;
  private readonly limiter: LoginLimiter;
  readonly history = new ChartHistory();
  /** Built at the first /metrics request: prom-client costs ~10 MB of a daemon's RSS that nobody scraping nothing should pay. */
  private registry: Promise<Registry> | undefined;
  private readonly log: WebLog;
  private sampler: NodeJS.Timeout | undefined;

  constructor(private readonly o: WebServerOptions) {
    this.log = o.log ?? NO_LOG;
    this.sessions = o.sessions ?? new SessionStore();
    this.limiter = new LoginLimiter(o.loginLimit ?? 5, 60_000);
    this.assets = loadAssets();
    this.server = createServer({ requestTimeout: 15_000, headersTimeout: 10_000, keepAliveTimeout: 5_000 }, (req, res) => void this.handle(req, res));
    this.server.maxConnections = 64;
    this.routeStatus();
    this.routeLogin();
  }

  /** Adds a route; POST routes get the CSRF check before the handler runs. */
  route(method: 'GET' | 'POST', path: string, access: Access, handler: RouteHandler): void {
    this.routes.set(`${method} ${path}`, { access, handler });
  }

  async listen(): Promise<{ address: string; port: number }> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.o.port, this.o.host, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    this.sample();
    this.sampler = setInterval(() => this.sample(), 2000);
    this.sampler.unref();
    const a = this.server.address();
    return typeof a === 'object' && a !== null ? { address: a.address, port: a.port } : { address: this.o.host, port: this.o.port };
  }

  close(): Promise<void> {
    if (this.sampler) clearInterval(this.sampler);
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  private sample(): void {
    try {
      this.history.record(this.o.status(), Date.now() / 1000);
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, 'web: status sample failed');
    }
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    // Node's own Date header is Date.prototype.toUTCString, which looks the local time zone up
    // through ICU first (~1 MiB of the daemon's RSS for a header that is always GMT).
    res.sendDate = false;
    res.setHeader('Date', imfFixdateFromUnixMs(Date.now()));
    try {
      await this.dispatch(req, res);
    } catch (err) {
      const e = err instanceof HttpError ? err : new HttpError(500, 'WEB_INTERNAL', 'internal error');
      if (!(err instanceof HttpError)) this.log.error({ err: (err as Error).message, url: req.url }, 'web: request failed');
      if (!res.headersSent) sendHtml(res, e.status, layout({ title: `Error ${e.status}`, body: html`<p class="field-error">${e.message}</p>` }));
      else res.destroy();
    }
  }

  private async dispatch(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://gnomon.invalid');
    const method = req.method === 'HEAD' ? 'GET' : req.method ?? 'GET';
    if (method === 'GET' && url.pathname === '/favicon.ico') {
      res.writeHead(204, { 'Cache-Control': 'max-age=86400' }).end();
      return;
    }
    if (method === 'GET' && this.assets.has(url.pathname)) {
      const a = this.assets.get(url.pathname)!;
      send(res, 200, a.type, a.body, { 'Cache-Control': 'max-age=3600' });
      return;
    }
    const route = this.routes.get(`${method} ${url.pathname}`);
    if (!route) {
      const other = this.routes.has(`${method === 'GET' ? 'POST' : 'GET'} ${url.pathname}`);
      throw new HttpError(other ? 405 : 404, other ? 'WEB_METHOD' : 'WEB_NOT_FOUND', other ? 'method not allowed' : 'no such page');
    }
    const session = this.sessions.get(readCookie(req.headers.cookie, SESSION_COOKIE));
    let form = new URLSearchParams();
    if (method === 'POST') {
      if (!sameOrigin(req)) throw new HttpError(403, 'WEB_CROSS_ORIGIN', 'cross-origin form refused');
      form = await readForm(req);
      if (route.access !== 'open' && !csrfValid(session, form.get('csrf') ?? undefined)) {
        throw new HttpError(403, 'WEB_CSRF', session ? 'missing or wrong CSRF token: reload the page and try again' : 'log in first');
      }
    } else if (!session && (route.access === 'login' || (route.access === 'status' && !this.o.publicStatus))) {
      if (url.pathname.startsWith('/api/') || url.pathname === '/metrics') throw new HttpError(401, 'WEB_LOGIN', 'log in first');
      redirect(res, `/login?next=${encodeURIComponent(url.pathname + url.search)}`);
      return;
    }
    await route.handler({ req, res, url, session, form });
  }

  private routeStatus(): void {
    this.route('GET', '/', 'status', ({ res, session }) => sendHtml(res, 200, statusPage(session?.csrf)));
    this.route('GET', '/api/status', 'status', ({ res }) => sendJson(res, 200, this.o.status()));
    this.route('GET', '/api/history', 'status', ({ res, url }) => {
      const since = Number(url.searchParams.get('since') ?? '-1');
      sendJson(res, 200, this.history.since(Number.isFinite(since) ? since : -1));
    });
    this.route('GET', '/metrics', 'status', async ({ res }) => {
      this.registry ??= import('./metrics.js').then((m) => m.createMetricsRegistry({ status: this.o.status, rateLimitTable: this.o.rateLimitTable }));
      const registry = await this.registry;
      send(res, 200, registry.contentType, await registry.metrics());
    });
  }

  private routeLogin(): void {
    this.route('GET', '/login', 'open', async ({ res, url, session }) => {
      if (session) return redirect(res, safeNext(url.searchParams.get('next') ?? undefined));
      const noPassword = await readPasswordFile(this.o.passwordFile).then(() => false, (e: unknown) => e instanceof PasswordError && e.code === 'PASSWORD_FILE_MISSING');
      sendHtml(res, 200, loginPage({ next: safeNext(url.searchParams.get('next') ?? undefined), noPassword }));
    });
    this.route('POST', '/login', 'open', async ({ req, res, form }) => {
      const next = safeNext(form.get('next') ?? undefined);
      const client = req.socket.remoteAddress ?? 'unknown';
      const wait = this.limiter.attempt(client);
      if (wait > 0) {
        this.log.warn({ client }, 'web: login rate limit');
        return sendHtml(res, 429, loginPage({ next, message: `too many login attempts: wait ${wait} s` }), { 'Retry-After': String(wait) });
      }
      let record;
      try {
        record = await readPasswordFile(this.o.passwordFile);
      } catch (err) {
        const missing = err instanceof PasswordError && err.code === 'PASSWORD_FILE_MISSING';
        this.log.error({ file: this.o.passwordFile, err: (err as Error).message }, 'web: login refused');
        return sendHtml(res, 403, loginPage({ next, noPassword: missing, message: missing ? 'logins are refused: no admin password is set (set one with gnomon passwd)' : 'logins are refused: the password file is unreadable (set a new one with gnomon passwd)' }));
      }
      if (!(await verifyPassword(form.get('password') ?? '', record))) {
        this.log.warn({ client }, 'web: wrong password');
        return sendHtml(res, 401, loginPage({ next, message: 'wrong password' }));
      }
      const s = this.sessions.create();
      this.log.info({ client }, 'web: logged in');
      redirect(res, next, { 'Set-Cookie': sessionCookie(s.id, this.sessions.cookieMaxAgeS) });
    });
    this.route('POST', '/logout', 'login', ({ res, session }) => {
      if (session) this.sessions.destroy(session.id);
      redirect(res, '/login', { 'Set-Cookie': clearedSessionCookie() });
    });
  }
}
