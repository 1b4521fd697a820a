/**
 * The editors' routes (config-routes.ts), registered at start and loaded at the first request to
 * one of them: behind them is the config service with its edit, history and diff code (the
 * `diff` package), ~0.45 MiB of the daemon's heap that a daemon nobody edits through the web
 * never needs (docs/server.md, memory).
 */
import type { ConfigRoutesOptions } from './config-routes.js';
import type { Access, RouteHandler, WebServer } from './server.js';

/** Every route registerConfigRoutes adds, with its access (test/web/config-routes-lazy.test.ts checks they agree). */
export const CONFIG_ROUTES: readonly { readonly method: 'GET' | 'POST'; readonly path: string; readonly access: Access }[] = [
  { method: 'GET', path: '/restrict', access: 'login' },
  { method: 'POST', path: '/restrict', access: 'login' },
  { method: 'GET', path: '/broadcast', access: 'login' },
  { method: 'POST', path: '/broadcast', access: 'login' },
  { method: 'GET', path: '/history', access: 'login' },
  { method: 'POST', path: '/rollback', access: 'login' },
];

type Loader = () => Promise<Pick<typeof import('./config-routes.js'), 'registerConfigRoutes'>>;

/**
 * Registers CONFIG_ROUTES on `web`; the first request to any of them imports config-routes.ts
 * (through `load`, a test's spy) and builds its handlers once. A failed import is a 500 for that
 * request and is tried again at the next.
 */
export function registerConfigRoutesLazily(web: Pick<WebServer, 'route'>, o: ConfigRoutesOptions, load: Loader = () => import('./config-routes.js')): void {
  let handlers: Promise<Map<string, RouteHandler>> | undefined;
  const loaded = (): Promise<Map<string, RouteHandler>> => {
    handlers ??= load().then((m) => {
      const table = new Map<string, RouteHandler>();
      m.registerConfigRoutes({ route: (method, path, _access, handler) => void table.set(`${method} ${path}`, handler) }, o);
      return table;
    }).catch((err: unknown) => {
      handlers = undefined;
      throw err;
    });
    return handlers;
  };
  for (const { method, path, access } of CONFIG_ROUTES) {
    web.route(method, path, access, async (ctx) => {
      const handler = (await loaded()).get(`${method} ${path}`);
      if (!handler) throw new Error(`config-routes.ts registers no ${method} ${path}`);
      await handler(ctx);
    });
  }
}
