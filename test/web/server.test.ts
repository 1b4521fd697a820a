// The web server in-process (no daemon, no browser): routes, login, sessions, CSRF, and the editors through a real
// ConfigStore on a temp file (controlSocket null: no reload).
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigStore } from '../../src/config/store.js';
import { registerConfigRoutes } from '../../src/web/config-routes.js';
import { parseWebListen } from '../../src/web/daemon-hook.js';
import { hashPassword, writePasswordFile } from '../../src/web/password.js';
import { WebServer } from '../../src/web/server.js';
import { fakeStatus } from './fixtures.js';

const dir = mkdtempSync(join(tmpdir(), 'gnomon-websrv-'));
const config = join(dir, 'ntp.conf');
const pwFile = join(dir, 'web-password');
let web: WebServer;
let publicWeb: WebServer;
let base = '';
let publicBase = '';

async function start(publicStatus: boolean, passwordFile: string): Promise<[WebServer, string]> {
  const w = new WebServer({ host: '127.0.0.1', port: 0, status: () => fakeStatus(), rateLimitTable: () => ({ entries: 1, capacity: 8 }), passwordFile, publicStatus, loginLimit: 5 });
  registerConfigRoutes(w, { configPath: config, controlSocket: null, log: { info: () => undefined, warn: () => undefined, error: () => undefined },
    store: new ConfigStore({ path: config, controlSocket: null, broadcastAddresses: () => ['192.168.1.255'] }) });
  const a = await w.listen();
  return [w, `http://127.0.0.1:${a.port}`];
}

const form = (fields: Record<string, string>) => ({ method: 'POST', redirect: 'manual' as const, headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(fields).toString() });

async function login(b: string): Promise<{ cookie: string; csrf: string; etag: string }> {
  const r = await fetch(`${b}/login`, form({ password: 'password123', next: '/restrict' }));
  expect(r.status).toBe(303);
  const setCookie = r.headers.get('set-cookie') ?? '';
  expect(setCookie).toMatch(/HttpOnly; SameSite=Strict/);
  const cookie = setCookie.split(';')[0]!;
  const page = await (await fetch(`${b}/restrict`, { headers: { cookie } })).text();
  return { cookie, csrf: /name="csrf" value="([^"]+)"/.exec(page)![1]!, etag: /name="etag" value="([^"]+)"/.exec(page)![1]! };
}

beforeAll(async () => {
  writeFileSync(config, '# hand-written comment\nrestrict default nomodify\nrestrict 10.0.0.0 mask 255.0.0.0 noquery # <script>alert(1)</script>\n');
  [web, base] = await start(false, pwFile);
  [publicWeb, publicBase] = await start(true, pwFile);
});
afterAll(async () => {
  await web.close();
  await publicWeb.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('web server', () => {
  it('parses --web', () => {
    expect(parseWebListen('127.0.0.1:8123')).toEqual({ host: '127.0.0.1', port: 8123 });
    expect(parseWebListen('[::1]:80')).toEqual({ host: '::1', port: 80 });
    for (const bad of ['8123', 'example.com:80', '127.0.0.1:0', '127.0.0.1:70000']) expect(() => parseWebListen(bad)).toThrow(/ADDR:PORT/);
  });

  it('dates every response (RFC 9110 IMF-fixdate, GMT), without Node\'s Date header code', async () => {
    for (const path of ['/login', '/', '/assets/status.js', '/no-such-page']) {
      const before = Math.floor(Date.now() / 1000) * 1000;
      const r = await fetch(`${base}${path}`, { redirect: 'manual' });
      const after = Date.now();
      const date = r.headers.get('date') ?? '';
      expect(date).toMatch(/^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d\d (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d\d:\d\d:\d\d GMT$/);
      expect(Date.parse(date)).toBeGreaterThanOrEqual(before);
      expect(Date.parse(date)).toBeLessThanOrEqual(after);
    }
  });

  it('refuses every login while no password is set', async () => {
    const r = await fetch(`${base}/login`, form({ password: 'anything at all' }));
    expect(r.status).toBe(403);
    expect(await r.text()).toContain('set one with gnomon passwd');
    await writePasswordFile(pwFile, await hashPassword('password123', { N: 1024, r: 8, p: 1, keyLength: 32 }));
  });

  it('needs a login for status and editors unless status is public', async () => {
    expect((await fetch(`${base}/api/status`)).status).toBe(401);
    expect((await fetch(`${base}/metrics`)).status).toBe(401);
    const r = await fetch(`${base}/restrict`, { redirect: 'manual' });
    expect(r.status).toBe(303);
    expect(r.headers.get('location')).toBe('/login?next=%2Frestrict');
    expect((await fetch(`${publicBase}/api/status`)).status).toBe(200);
    const m = await fetch(`${publicBase}/metrics`);
    expect(m.headers.get('content-type')).toMatch(/^text\/plain/);
    expect(await m.text()).toContain('gnomon_stratum 1');
    expect((await fetch(`${publicBase}/restrict`, { redirect: 'manual' })).status).toBe(303);
    const page = await fetch(`${publicBase}/`);
    expect(page.headers.get('content-security-policy')).toContain("script-src 'self'");
    expect((await fetch(`${publicBase}/assets/uPlot.iife.min.js`)).status).toBe(200);
  });

  it('a wrong password is 401; the sixth try in a minute is 429', async () => {
    const [w, b] = await start(false, pwFile);
    try {
      for (let i = 0; i < 5; i++) expect((await fetch(`${b}/login`, form({ password: 'wrong password' }))).status).toBe(401);
      const r = await fetch(`${b}/login`, form({ password: 'password123' }));
      expect(r.status).toBe(429);
      expect(Number(r.headers.get('retry-after'))).toBeGreaterThan(0);
    } finally {
      await w.close();
    }
  });

  it('edits through the config service; CSRF, origin and stale versions are refused; values are escaped', async () => {
    const s = await login(base);
    const page = await (await fetch(`${base}/restrict`, { headers: { cookie: s.cookie } })).text();
    expect(page).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(page).not.toContain('<script>alert');

    const before = readFileSync(config, 'utf8');
    const add = { action: 'restrict-add', address: '192.168.7.0', prefixLength: '24', flags: 'noserve' };
    expect((await fetch(`${base}/restrict`, { ...form(add), headers: { ...form(add).headers, cookie: s.cookie } })).status).toBe(403);
    const cross = { ...form({ ...add, csrf: s.csrf }), headers: { ...form(add).headers, cookie: s.cookie, origin: 'http://evil.example' } };
    expect((await fetch(`${base}/restrict`, cross)).status).toBe(403);
    expect(readFileSync(config, 'utf8')).toBe(before);

    const ok = await fetch(`${base}/restrict`, { ...form({ ...add, csrf: s.csrf, etag: s.etag }), headers: { ...form(add).headers, cookie: s.cookie } });
    expect(ok.status).toBe(303);
    const after = readFileSync(config, 'utf8');
    expect(after).toMatch(/^restrict 192\.168\.7\.0\S* noserve$/m);
    expect(after).toContain('# hand-written comment\n');

    // The old etag is stale now.
    const stale = await fetch(`${base}/restrict`, { ...form({ ...add, address: '192.168.8.0', csrf: s.csrf, etag: s.etag }), headers: { ...form(add).headers, cookie: s.cookie } });
    expect(stale.status).toBe(409);
    // Invalid input: 422, the error next to the field, escaped.
    const bad = await fetch(`${base}/restrict`, { ...form({ action: 'restrict-add', address: '"><b>x', flags: 'nosuchflag', csrf: s.csrf }), headers: { ...form(add).headers, cookie: s.cookie } });
    expect(bad.status).toBe(422);
    const text = await bad.text();
    expect(text).toMatch(/data-field="address">[^<]*&quot;&gt;&lt;b&gt;x/);
    expect(text).toMatch(/data-field="flags">[^<]*nosuchflag/);
    expect(readFileSync(config, 'utf8')).toBe(after);

    // History and rollback.
    const hist = await (await fetch(`${base}/history`, { headers: { cookie: s.cookie } })).text();
    const id = /data-rollback="([^"]+)"/.exec(hist)![1]!;
    const etag = /name="etag" value="([^"]+)"/.exec(hist)![1]!;
    const rb = await fetch(`${base}/rollback`, { ...form({ id, etag, csrf: s.csrf }), headers: { ...form(add).headers, cookie: s.cookie } });
    expect(rb.status).toBe(303);
    expect(readFileSync(config, 'utf8')).toBe(before);

    // Logout ends the session.
    expect((await fetch(`${base}/logout`, { ...form({ csrf: s.csrf }), headers: { ...form(add).headers, cookie: s.cookie } })).status).toBe(303);
    expect((await fetch(`${base}/restrict`, { redirect: 'manual', headers: { cookie: s.cookie } })).status).toBe(303);
  });
});
