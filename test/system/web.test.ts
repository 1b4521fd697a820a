// The web page in real Chromium (Debian's, through playwright-core): log in, add a restrict rule and see it in the
// file and in the running daemon's behaviour, roll it back; a POST without the CSRF token is refused; hostile text
// renders as text; a screenshot of the status page is saved for people to look at (its path is printed).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { controlRequest } from '../../src/control/local.js';
import { GNOMON_MAIN, localClockConfig, parseLogLines, REPO_ROOT } from './harness/daemon.js';
import { LongRunning, pollUntil, Teardown, TempDir } from './harness/process.js';
import { buildNtpPacket, exchange } from './harness/udp.js';

const CHROMIUM = '/usr/bin/chromium';
const NTP_PORT = 12600;
const WEB_PORT = 12601;
const BASE = `http://127.0.0.1:${WEB_PORT}`;
const PASSWORD = 'correct horse battery';
const HOSTILE = `<img src=x onerror="document.title='pwned'">`;

const teardown = new Teardown();
let dir: TempDir;
let daemon: LongRunning;
let browser: Browser;
let page: Page;
let configFile: string;

/** What the running daemon runs (its control socket's running-config). */
async function runningConfig(): Promise<string> {
  return ((await controlRequest(dir.file('control.sock'), { command: 'running-config' })) as { text: string }).text;
}

/** Does the daemon answer a client at 127.0.0.2? */
async function answers127002(): Promise<boolean> {
  const replies = await exchange({ host: '127.0.0.1', port: NTP_PORT, bindAddress: '127.0.0.2', requests: [buildNtpPacket()], waitMs: 500 });
  return replies.length > 0;
}

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`${CHROMIUM} is missing: the browser tests need Debian's chromium (apt-get install -y --no-install-recommends chromium, or npm test's pretest: node test/system/ensure-peers.mjs)`);
  }
  if (!existsSync(GNOMON_MAIN)) throw new Error(`${GNOMON_MAIN} does not exist: build first (npm run build)`);
  dir = new TempDir('gnm-web-');
  teardown.add('temp dir', () => dir.remove());
  configFile = dir.file('ntp.conf');
  // A server nobody answers (loopback, a port nothing listens on): listed on the page with reach 0.
  writeFileSync(configFile, localClockConfig(NTP_PORT, 3, [`restrict 10.66.0.0 mask 255.255.0.0 nomodify # ${HOSTILE}`, `server 127.0.0.9 port ${NTP_PORT + 50} minpoll 1 maxpoll 1`]) + '\n');
  const passwd = spawnSync(process.execPath, [GNOMON_MAIN, 'passwd', '--file', dir.file('web-password')], { input: `${PASSWORD}\n`, encoding: 'utf8', timeout: 20_000 });
  expect(passwd.status, `gnomon passwd: ${passwd.stderr}`).toBe(0);
  daemon = await LongRunning.start(process.execPath, [GNOMON_MAIN, 'serve', '--config', configFile, '--listen', `127.0.0.1:${NTP_PORT}`,
    '--control', dir.file('control.sock'), '--web', `127.0.0.1:${WEB_PORT}`, '--web-password', dir.file('web-password')], { cwd: REPO_ROOT });
  teardown.add('gnomon serve', async () => {
    const end = await daemon.stop('SIGTERM', 5000);
    if (end.killed || end.code !== 0) throw new Error(`gnomon did not exit 0 on SIGTERM\n${daemon.describe()}`);
  });
  const up = await daemon.waitForStdoutLine((l) => parseLogLines(l)[0]?.msg === 'web page', 10_000);
  if (!up) throw new Error(`gnomon logged no "web page" line\n${daemon.describe()}`);
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox'] });
  teardown.add('chromium', () => browser.close());
  page = await (await browser.newContext({ viewport: { width: 1200, height: 1100 } })).newPage();
}, 60_000);

afterAll(() => teardown.run(), 30_000);

describe('web page in Chromium', () => {
  it('refuses a wrong password, logs in, and shows the status page with live charts (screenshot saved)', async () => {
    await page.goto(`${BASE}/`);
    expect(new URL(page.url()).pathname).toBe('/login');
    await page.fill('input[name=password]', 'wrong password!');
    await page.click('button[type=submit]');
    await expect.poll(() => page.textContent('#login-error')).toContain('wrong password');
    await page.fill('input[name=password]', PASSWORD);
    await page.click('button[type=submit]');
    await page.waitForURL(`${BASE}/`);
    const cookie = (await page.context().cookies()).find((c) => c.name === 'gnomon_session');
    expect(cookie).toMatchObject({ httpOnly: true, sameSite: 'Strict' });
    await expect.poll(() => page.textContent('#system'), { timeout: 10_000 }).toContain('stratum');
    await expect.poll(() => page.locator('#chart-offset canvas').count(), { timeout: 10_000 }).toBeGreaterThan(0);
    await page.waitForTimeout(4500); // a few 2 s refreshes, so the charts have points
    expect(await page.textContent('#sync-state')).toMatch(/synchronised/);
    expect(await page.textContent('#system')).toContain('LOCL');
    // The servers-and-peers table: the silent server, as a server, reach 0, no samples.
    const row = await page.locator('#associations tr', { hasText: '127.0.0.9' }).innerText();
    expect(row.split('\t').map((c) => c.trim())).toEqual(['', '127.0.0.9', 'server', '-', '2 s', '0', '-', '-', '-', '']);
    expect(await page.textContent('#packets')).toMatch(/\d+ received/);
    const shots = process.env.GNOMON_ARTIFACTS ?? join(tmpdir(), 'gnomon-artifacts');
    mkdirSync(shots, { recursive: true });
    const file = join(shots, 'web-status.png');
    await page.screenshot({ path: file, fullPage: true });
    expect(readFileSync(file).subarray(1, 4).toString()).toBe('PNG');
    console.log(`web.test: status page screenshot: ${file}`);
  }, 60_000);

  it('shows a hostile comment from the file as text, creating no element', async () => {
    await page.goto(`${BASE}/restrict`);
    const row = page.locator('tr[data-rule="10.66.0.0/16"]');
    expect(await row.locator('td.comment').textContent()).toContain(HOSTILE);
    expect(await page.locator('img').count()).toBe(0);
    expect(await page.title()).not.toBe('pwned');
    // And a hostile value typed into the form comes back as text beside the field.
    await page.fill('#restrict-add input[name=address]', HOSTILE);
    await page.click('#restrict-add button[type=submit]');
    await expect.poll(() => page.locator('#restrict-add .field-error[data-field=address]').textContent()).toContain('<img src=x');
    expect(await page.inputValue('#restrict-add input[name=address]')).toBe(HOSTILE);
    expect(await page.locator('img').count()).toBe(0);
    expect(await page.title()).not.toBe('pwned');
  }, 30_000);

  it('adds a restrict rule: in the file, in the running daemon, and the daemon acts on it; then rolls it back', async () => {
    expect(await answers127002()).toBe(true);
    const before = readFileSync(configFile, 'utf8');
    await page.goto(`${BASE}/restrict`);
    await page.fill('#restrict-add input[name=address]', '127.0.0.2');
    await page.fill('#restrict-add input[name=prefixLength]', '32');
    await page.fill('#restrict-add input[name=flags]', 'ignore');
    await page.click('#restrict-add button[type=submit]');
    await expect.poll(() => page.textContent('#flash')).toContain('the daemon reloaded it');
    expect(await page.locator('tr[data-rule="127.0.0.2/32"]').count()).toBe(1);
    const after = readFileSync(configFile, 'utf8');
    expect(after).toMatch(/^restrict 127\.0\.0\.2.* ignore$/m);
    expect(after.startsWith(before.trimEnd().split('\n')[0]!)).toBe(true);
    expect(await runningConfig()).toBe(after);
    expect(await answers127002()).toBe(false);

    // An invalid rule: refused next to its field, the file unchanged.
    await page.fill('#restrict-add input[name=address]', '10.1.2.0');
    await page.fill('#restrict-add input[name=prefixLength]', '40');
    await page.fill('#restrict-add input[name=flags]', 'nomodify');
    await page.click('#restrict-add button[type=submit]');
    await expect.poll(() => page.locator('#restrict-add .field-error').allTextContents()).not.toEqual([]);
    expect(readFileSync(configFile, 'utf8')).toBe(after);

    await page.goto(`${BASE}/history`);
    const newest = await page.locator('button[data-rollback]').first().getAttribute('data-rollback');
    await page.click(`button[data-rollback="${newest}"]`);
    await expect.poll(() => page.textContent('#flash')).toContain(`rolled back to version ${newest}`);
    expect(readFileSync(configFile, 'utf8')).toBe(before);
    expect(await runningConfig()).toBe(before);
    expect(await pollUntil(async () => ((await answers127002()) ? true : undefined), 5000)).toBe(true);
    // The history shows the diff of the rule's version against the current file.
    await page.goto(`${BASE}/history`);
    const latest = await page.locator('button[data-rollback]').first().getAttribute('data-rollback');
    await page.goto(`${BASE}/history?id=${latest}`);
    expect(await page.textContent('#version-diff')).toMatch(/^-restrict 127\.0\.0\.2.*ignore$/m);
  }, 60_000);

  it('refuses a POST without the CSRF token (403) and changes nothing', async () => {
    const before = readFileSync(configFile, 'utf8');
    const r = await page.request.post(`${BASE}/restrict`, { form: { action: 'restrict-add', address: '10.99.0.0', prefixLength: '16', flags: 'noserve' }, maxRedirects: 0 });
    expect(r.status()).toBe(403);
    expect(await r.text()).toContain('CSRF');
    const wrong = await page.request.post(`${BASE}/restrict`, { form: { csrf: 'x'.repeat(43), action: 'restrict-add', address: '10.99.0.0', prefixLength: '16', flags: 'noserve' }, maxRedirects: 0 });
    expect(wrong.status()).toBe(403);
    expect(readFileSync(configFile, 'utf8')).toBe(before);
  }, 30_000);

  it('logs out: the editors and the status API need a login again', async () => {
    await page.goto(`${BASE}/restrict`);
    await page.click('header form[action="/logout"] button');
    await page.waitForURL(/\/login/);
    await page.goto(`${BASE}/restrict`);
    expect(new URL(page.url()).pathname).toBe('/login');
    expect((await page.request.get(`${BASE}/api/status`)).status()).toBe(401);
    expect((await page.request.get(`${BASE}/metrics`)).status()).toBe(401);
  }, 30_000);
});
