/**
 * The editors' routes: GET/POST /restrict, GET/POST /broadcast, GET /history, POST /rollback.
 * Every write goes through ConfigStore (src/config/store.ts), the same service as `gnomon
 * config`: it validates, writes atomically, keeps history and reloads the daemon. This module
 * only turns forms into ConfigChanges and outcomes into pages; it touches no file itself.
 */
import { ConfigStore, ConfigStoreError, unifiedDiff, type ConfigChange, type EditResult, type FieldError } from '../config/store.js';
import { HttpError, redirect, sendHtml } from './http.js';
import { broadcastPage } from './pages/broadcast.js';
import type { EditorView, FormState } from './pages/editor-common.js';
import { historyPage } from './pages/history.js';
import { restrictPage } from './pages/restrict.js';
import type { RequestContext, WebLog, WebServer } from './server.js';

export interface ConfigRoutesOptions {
  readonly configPath: string;
  readonly controlSocket: string | null;
  readonly log: WebLog;
  /** For tests: a store to use instead of a new one. */
  readonly store?: ConfigStore;
}

type Parsed = { change: ConfigChange } | { errors: FieldError[] };

function optionalInt(form: URLSearchParams, field: string, errors: FieldError[]): number | undefined {
  const raw = (form.get(field) ?? '').trim();
  if (raw === '') return undefined;
  if (!/^-?\d{1,6}$/.test(raw)) {
    errors.push({ field, code: 'CONFIG_OUT_OF_RANGE', message: `${field} must be a whole number` });
    return undefined;
  }
  return Number(raw);
}

function flagsOf(form: URLSearchParams): string[] {
  return (form.get('flags') ?? '').split(/[\s,]+/).filter((f) => f !== '');
}

/** A form (field `action` names the change) → ConfigChange; the values are checked by the store. */
export function changeFromForm(form: URLSearchParams): Parsed {
  const errors: FieldError[] = [];
  const address = (form.get('address') ?? '').trim();
  const mask = (form.get('mask') ?? '').trim();
  let change: ConfigChange | undefined;
  switch (form.get('action')) {
    case 'restrict-add':
    case 'restrict-remove': {
      const prefixLength = optionalInt(form, 'prefixLength', errors);
      const base = { address, ...(prefixLength !== undefined ? { prefixLength } : {}), ...(mask !== '' ? { mask } : {}) };
      change = form.get('action') === 'restrict-add' ? { kind: 'restrict-add', ...base, flags: flagsOf(form) } : { kind: 'restrict-remove', ...base };
      break;
    }
    case 'restrict-set-default': {
      const family = form.get('family') ?? '';
      if (family !== '' && family !== 'ipv4' && family !== 'ipv6') errors.push({ field: 'family', code: 'CONFIG_BAD_CHANGE', message: 'family is ipv4, ipv6 or empty' });
      change = { kind: 'restrict-set-default', flags: flagsOf(form), ...(family === 'ipv4' || family === 'ipv6' ? { family } : {}) };
      break;
    }
    case 'broadcast-add': {
      const ttl = optionalInt(form, 'ttl', errors);
      const key = optionalInt(form, 'key', errors);
      const minpoll = optionalInt(form, 'minpoll', errors);
      const version = optionalInt(form, 'version', errors);
      change = {
        kind: 'broadcast-add', address, ...(ttl !== undefined ? { ttl } : {}), ...(key !== undefined ? { key } : {}),
        ...(minpoll !== undefined ? { minpoll } : {}), ...(version !== undefined ? { version } : {}),
      };
      break;
    }
    case 'broadcast-remove':
      change = { kind: 'broadcast-remove', address };
      break;
    default:
      errors.push({ field: 'action', code: 'CONFIG_BAD_CHANGE', message: 'unknown form action' });
  }
  return errors.length > 0 || change === undefined ? { errors } : { change };
}

function describe(change: ConfigChange): string {
  switch (change.kind) {
    case 'restrict-add': return `added restrict ${change.address}${change.prefixLength !== undefined ? `/${change.prefixLength}` : change.mask ? ` mask ${change.mask}` : ''} ${change.flags.join(' ')}`;
    case 'restrict-remove': return `removed restrict ${change.address}${change.prefixLength !== undefined ? `/${change.prefixLength}` : ''}`;
    case 'restrict-set-default': return `set restrict ${change.family === 'ipv4' ? '-4 ' : change.family === 'ipv6' ? '-6 ' : ''}default ${change.flags.join(' ')}`;
    case 'broadcast-add': return `added broadcast ${change.address}`;
    case 'broadcast-remove': return `removed broadcast ${change.address}`;
  }
}

function reloadNote(r: Extract<EditResult, { ok: true }>): string {
  return r.reload === 'applied' ? 'the daemon reloaded it' : 'written; no daemon answered, so nothing was reloaded';
}

function failedState(action: string, values: URLSearchParams, message: string, fieldErrors: readonly FieldError[], diagnostics: readonly string[]): FormState {
  const errors = new Map<string, string>();
  for (const e of fieldErrors) {
    const text = e.hint ? `${e.message} (${e.hint})` : e.message;
    errors.set(e.field, errors.has(e.field) ? `${errors.get(e.field)!}; ${text}` : text);
  }
  return { action, errors, values, message, diagnostics };
}

/** HTTP status for a refused edit. */
function statusOf(code: string): number {
  return code === 'CONFIG_STALE' ? 409 : code === 'CONFIG_WRITE_FAILED' || code === 'CONFIG_RELOAD_REFUSED' ? 500 : 422;
}

export function registerConfigRoutes(web: Pick<WebServer, 'route'>, o: ConfigRoutesOptions): ConfigStore {
  const store = o.store ?? new ConfigStore({ path: o.configPath, controlSocket: o.controlSocket });
  /** One-shot messages after a redirect, per session. */
  const flashes = new Map<string, { message: string; warnings: string[] }>();

  const view = async (ctx: RequestContext, failed?: FormState): Promise<{ v: EditorView; text: string }> => {
    const current = await store.read();
    const running = await store.running();
    const flash = failed ? undefined : flashes.get(ctx.session!.id);
    flashes.delete(ctx.session!.id);
    return {
      text: current.text,
      v: {
        csrf: ctx.session!.csrf, etag: current.etag, path: current.path, runningDiffers: running === null ? null : running.text !== current.text,
        ...(flash ? { flash } : {}), ...(failed ? { failed } : {}),
      },
    };
  };
  const pages = {
    '/restrict': async (ctx: RequestContext, failed?: FormState) => {
      const { v, text } = await view(ctx, failed);
      return restrictPage(v, await store.restrictRules(text));
    },
    '/broadcast': async (ctx: RequestContext, failed?: FormState) => {
      const { v, text } = await view(ctx, failed);
      return broadcastPage(v, await store.broadcastLines(text));
    },
  };

  const afterEdit = async (ctx: RequestContext, page: '/restrict' | '/broadcast' | '/history', what: string, result: EditResult, action: string) => {
    if (result.ok) {
      o.log.info({ change: what, reload: result.reload }, 'web: config changed');
      flashes.set(ctx.session!.id, { message: `${what}: ${reloadNote(result)}`, warnings: result.warnings });
      return redirect(ctx.res, page);
    }
    o.log.warn({ change: what, code: result.code }, `web: change refused: ${result.message}`);
    const failed = failedState(action, ctx.form, result.message, result.fieldErrors, result.diagnostics);
    const html = page === '/history' ? await historyHtml(ctx, undefined, failed) : await pages[page](ctx, failed);
    sendHtml(ctx.res, statusOf(result.code), html);
  };

  const editRoute = (page: '/restrict' | '/broadcast', actions: readonly string[]) => async (ctx: RequestContext) => {
    const action = ctx.form.get('action') ?? '';
    if (!actions.includes(action)) throw new HttpError(400, 'WEB_BAD_ACTION', `unknown action for ${page}`);
    const parsed = changeFromForm(ctx.form);
    if ('errors' in parsed) {
      return sendHtml(ctx.res, 422, await pages[page](ctx, failedState(action, ctx.form, 'nothing was changed: check the marked fields', parsed.errors, [])));
    }
    const result = await store.apply(parsed.change, ctx.form.get('etag') || null);
    await afterEdit(ctx, page, describe(parsed.change), result, action);
  };

  const historyHtml = async (ctx: RequestContext, id: string | undefined, failed?: FormState): Promise<string> => {
    const { v, text } = await view(ctx, failed);
    const running = await store.running();
    let selected;
    if (id !== undefined) {
      try {
        selected = { id, diff: unifiedDiff(await store.historyText(id), text, [`version ${id}`, 'current']) };
      } catch (err) {
        if (!(err instanceof ConfigStoreError)) throw err;
        throw new HttpError(404, err.code, err.message);
      }
    }
    return historyPage(v, {
      entries: await store.history(), ...(selected ? { selected } : {}),
      pendingDiff: running === null ? null : unifiedDiff(running.text, text, ['running', 'file']),
    });
  };

  web.route('GET', '/restrict', 'login', async (ctx) => sendHtml(ctx.res, 200, await pages['/restrict'](ctx)));
  web.route('POST', '/restrict', 'login', editRoute('/restrict', ['restrict-add', 'restrict-remove', 'restrict-set-default']));
  web.route('GET', '/broadcast', 'login', async (ctx) => sendHtml(ctx.res, 200, await pages['/broadcast'](ctx)));
  web.route('POST', '/broadcast', 'login', editRoute('/broadcast', ['broadcast-add', 'broadcast-remove']));
  web.route('GET', '/history', 'login', async (ctx) => sendHtml(ctx.res, 200, await historyHtml(ctx, ctx.url.searchParams.get('id') ?? undefined)));
  web.route('POST', '/rollback', 'login', async (ctx) => {
    const id = (ctx.form.get('id') ?? '').trim();
    const result = await store.rollback(id === '' ? undefined : id, ctx.form.get('etag') || null);
    await afterEdit(ctx, '/history', id === '' ? 'rolled back to the previous version' : `rolled back to version ${id}`, result, 'rollback');
  });
  return store;
}
