// The editors' routes as the daemon registers them (src/web/config-routes-lazy.ts): their code is
// imported at the first request to one of them, never at start-up or for the status page, and the
// pages it then serves are the real editors'.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CONFIG_ROUTES, registerConfigRoutesLazily } from '../../src/web/config-routes-lazy.js';
import { registerConfigRoutes } from '../../src/web/config-routes.js';
import { hashPassword, writePasswordFile } from '../../src/web/password.js';
import type { Access } from '../../src/web/server.js';
import { WebServer } from '../../src/web/server.js';
import { fakeStatus } from './fixtures.js';

const dir = mkdtempSync(join(tmpdir(), 'gnomon-weblazy-'));
const config = join(dir, 'ntp.conf');
const pwFile = join(dir, 'web-password');
const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined };
const servers: WebServer[] = [];

type Loader = NonNullable<Parameters<typeof registerConfigRoutesLazily>[2]>;

/** A web server with the lazy editors; `loads` counts the imports its loader did. */
async function start(load: Loader): Promise<string> {
  const web = new WebServer({ host: '127.0.0.1', port: 0, status: () => fakeStatus(), rateLimitTable: () => ({ entries: 1, capacity: 8 }), passwordFile: pwFile, log: quiet });
  registerConfigRoutesLazily(web, { configPath: config, controlSocket: null, log: quiet }, load);
  servers.push(web);
  return `http://127.0.0.1:${(await web.listen()).port}`;
}

async function login(base: string): Promise<string> {
  const r = await fetch(`${base}/login`, {
    method: 'POST', redirect: 'manual', headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ password: 'password123', next: '/' }).toString(),
  });
  expect(r.status).toBe(303);
  return (r.headers.get('set-cookie') ?? '').split(';')[0]!;
}

beforeAll(async () => {
  writeFileSync(config, 'restrict default nomodify\nrestrict 10.0.0.0 mask 255.0.0.0 noquery\n');
  await writePasswordFile(pwFile, await hashPassword('password123', { N: 1024, r: 8, p: 1, keyLength: 32 }));
});
afterAll(async () => {
  for (const w of servers) await w.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('editors loaded at first use', () => {
  it('CONFIG_ROUTES is exactly what registerConfigRoutes registers, with the same access', () => {
    const registered: { method: string; path: string; access: Access }[] = [];
    registerConfigRoutes({ route: (method, path, access) => void registered.push({ method, path, access }) }, { configPath: config, controlSocket: null, log: quiet });
    expect(registered).toEqual(CONFIG_ROUTES);
  });

  it('start-up, the status page and a request without login import nothing; the first editor request imports once', async () => {
    let loads = 0;
    const base = await start(() => {
      loads++;
      return import('../../src/web/config-routes.js');
    });
    const cookie = await login(base);
    expect((await fetch(`${base}/`, { headers: { cookie } })).status).toBe(200);
    expect((await fetch(`${base}/api/status`, { headers: { cookie } })).status).toBe(200);
    const anonymous = await fetch(`${base}/restrict`, { redirect: 'manual' });
    expect(anonymous.status).toBe(303);
    expect(loads).toBe(0);

    const page = await fetch(`${base}/restrict`, { headers: { cookie } });
    expect(page.status).toBe(200);
    const html = await page.text();
    expect(html).toContain('10.0.0.0');
    expect(html).toMatch(/name="csrf" value="[^"]+"/);
    expect((await fetch(`${base}/history`, { headers: { cookie } })).status).toBe(200);
    expect((await fetch(`${base}/broadcast`, { headers: { cookie } })).status).toBe(200);
    expect(loads).toBe(1);
  });

  it('an import that fails is a 500 for that request and is tried again at the next', async () => {
    let loads = 0;
    const base = await start(async () => {
      loads++;
      if (loads === 1) throw new Error('EIO: the disk hiccuped');
      return import('../../src/web/config-routes.js');
    });
    const cookie = await login(base);
    expect((await fetch(`${base}/restrict`, { headers: { cookie } })).status).toBe(500);
    expect((await fetch(`${base}/restrict`, { headers: { cookie } })).status).toBe(200);
    expect(loads).toBe(2);
  });
});
