import { chmodSync, existsSync, mkdirSync, statSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import type { Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, test } from 'vitest';
import { ConfigStore, etagOf, unifiedDiff, type ConfigChange } from '../../../src/config/store.js';
import { closeControl, listenControl, type ControlRequest } from '../../../src/control/local.js';
import { validateText } from '../../../src/config/changes.js';

const root = mkdtempSync(join(tmpdir(), 'gnomon-store-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let counter = 0;

const COMMENT = '# Hand-written by the admin: do NOT touch   (tabs\tand  spaces)';
const UNRELATED = 'driftfile   /var/lib/gnomon/drift   # unrelated directive';
const BASE = `${COMMENT}\nserver 127.127.1.0\nfudge 127.127.1.0 stratum 5\nrestrict default kod limited nomodify\n${UNRELATED}\n`;

function fresh(text = BASE, options: { historyDepth?: number; controlSocket?: string | null } = {}): { store: ConfigStore; path: string; dir: string } {
  const dir = join(root, `c${++counter}`);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const path = join(dir, 'ntp.conf');
  writeFileSync(path, text);
  const store = new ConfigStore({ path, controlSocket: options.controlSocket ?? null, historyDepth: options.historyDepth, broadcastAddresses: () => ['192.168.1.255'] });
  return { store, path, dir };
}

describe('ConfigStore', () => {
  test('read gives the text and the sha256 of the bytes', async () => {
    const { store, path } = fresh();
    expect(await store.read()).toEqual({ path, text: BASE, etag: etagOf(readFileSync(path)) });
  });

  test('every change kind round trips through the file; history and .prev follow', async () => {
    const { store, path } = fresh();
    const steps: ConfigChange[] = [
      { kind: 'restrict-add', address: '10.0.0.0/8', flags: ['nomodify', 'noquery'] },
      { kind: 'restrict-set-default', flags: ['kod', 'limited'] },
      { kind: 'broadcast-add', address: '224.0.1.1', ttl: 2 },
      { kind: 'broadcast-remove', address: '224.0.1.1' },
      { kind: 'restrict-remove', address: '10.0.0.0/8' },
      { kind: 'restrict-set-default', flags: ['kod', 'limited', 'nomodify'] },
    ];
    const texts = [BASE];
    for (const change of steps) {
      const r = await store.apply(change, (await store.read()).etag);
      expect(r, JSON.stringify(change)).toMatchObject({ ok: true, reload: 'no-daemon' });
      if (!r.ok) continue;
      expect(readFileSync(path, 'utf8')).toBe(r.text);
      expect(r.etag).toBe(etagOf(readFileSync(path)));
      expect(readFileSync(`${path}.prev`, 'utf8')).toBe(texts.at(-1));
      texts.push(r.text);
    }
    expect(readFileSync(path, 'utf8')).toBe(BASE);
    expect((await store.restrictRules()).map((r) => r.flags)).toEqual([['kod', 'limited', 'nomodify']]);
    const history = await store.history();
    expect(history.map((h) => h.id)).toEqual(['6', '5', '4', '3', '2', '1']);
    for (const [i, h] of history.entries()) {
      const text = await store.historyText(h.id);
      expect(text).toBe(texts[texts.length - 2 - i]);
      expect(h.etag).toBe(etagOf(Buffer.from(text)));
      expect(h.bytes).toBe(Buffer.byteLength(text));
      expect(Number.isNaN(Date.parse(h.savedAt))).toBe(false);
    }
  });

  test('100 random edits keep a hand-written comment and an unrelated directive byte-for-byte', async () => {
    const address = fc.constantFrom('10.0.0.0/8', '192.168.0.0/16', '172.16.5.0/24', '2001:db8::/32', '10.1.2.3', '10.0.0.0/33', 'bad"addr');
    const flags = fc.subarray(['ignore', 'kod', 'limited', 'nomodify', 'noquery', 'nopeer', 'noserve', 'notrust', 'nosuchflag']);
    const change: fc.Arbitrary<ConfigChange> = fc.oneof(
      fc.record({ kind: fc.constant('restrict-add' as const), address, flags }),
      fc.record({ kind: fc.constant('restrict-remove' as const), address }),
      fc.record({ kind: fc.constant('restrict-set-default' as const), flags }),
      fc.record({ kind: fc.constant('broadcast-add' as const), address: fc.constantFrom('224.0.1.1', '192.168.1.255', '192.168.1.7', 'ff05::101'), ttl: fc.integer({ min: 0, max: 4 }) }),
      fc.record({ kind: fc.constant('broadcast-remove' as const), address: fc.constantFrom('224.0.1.1', '192.168.1.255', 'ff05::101') }),
    );
    const { store, path } = fresh(`${BASE}restrict 127.0.0.1   # loopback, kept\n`);
    const changes = fc.sample(change, { numRuns: 100, seed: 42 });
    let accepted = 0;
    for (const c of changes) {
      const before = readFileSync(path);
      const r = await store.apply(c, null);
      const after = readFileSync(path);
      if (r.ok) accepted++;
      else expect(after.equals(before), `${JSON.stringify(c)} refused but the file changed`).toBe(true);
      const text = after.toString('utf8');
      expect(text.split('\n')).toContain(COMMENT);
      expect(text.split('\n')).toContain(UNRELATED);
      expect(text.startsWith(`${COMMENT}\nserver 127.127.1.0\nfudge 127.127.1.0 stratum 5\n`)).toBe(true);
      expect(validateText(text, { fileName: path }).ok).toBe(true);
    }
    expect(accepted).toBeGreaterThan(30);
    expect(changes.length).toBe(100);
  });

  test('invalid input: refused with field errors, the file unchanged byte-for-byte, nothing added to history', async () => {
    const { store, path } = fresh();
    const before = readFileSync(path);
    const cases: [ConfigChange, string, string][] = [
      [{ kind: 'restrict-add', address: '10.0.0.0/33', flags: ['ignore'] }, 'address', 'CONFIG_INVALID_MASK'],
      [{ kind: 'restrict-add', address: '10.0.0.0/8', flags: ['nosuchflag'] }, 'flags', 'CONFIG_UNKNOWN_OPTION'],
      [{ kind: 'broadcast-add', address: '192.168.1.7' }, 'address', 'CONFIG_NOT_BROADCAST'],
      [{ kind: 'restrict-add', address: '10.0.0.1"\n# <img src=x onerror=alert(1)>', flags: [] }, 'address', 'CONFIG_INVALID_ADDRESS'],
      [{ kind: 'broadcast-add', address: '224.0.1.1', ttl: 300 }, 'ttl', 'CONFIG_OUT_OF_RANGE'],
      [{ kind: 'broadcast-add', address: '224.0.1.1', minpoll: -1 }, 'minpoll', 'CONFIG_OUT_OF_RANGE'],
      [{ kind: 'broadcast-add', address: '224.0.1.1', key: 0 }, 'key', 'CONFIG_OUT_OF_RANGE'],
    ];
    for (const [change, field, code] of cases) {
      const r = await store.apply(change, null);
      expect(r, JSON.stringify(change)).toMatchObject({ ok: false, code: 'CONFIG_INVALID' });
      expect(!r.ok && r.fieldErrors).toEqual(expect.arrayContaining([expect.objectContaining({ field, code })]));
      expect(!r.ok && r.message.length).toBeGreaterThan(10);
      expect(readFileSync(path).equals(before)).toBe(true);
    }
    expect(await store.history()).toEqual([]);
    expect(existsSync(`${path}.prev`)).toBe(false);
  });

  test('a stale etag is refused and the file is unchanged', async () => {
    const { store, path } = fresh();
    const seen = await store.read();
    const other = new ConfigStore({ path, controlSocket: null });
    expect(await other.apply({ kind: 'restrict-add', address: '10.0.0.0/8', flags: [] }, seen.etag)).toMatchObject({ ok: true });
    const now = readFileSync(path);
    const r = await store.apply({ kind: 'restrict-add', address: '192.168.0.0/16', flags: [] }, seen.etag);
    expect(r).toMatchObject({ ok: false, code: 'CONFIG_STALE' });
    expect(readFileSync(path).equals(now)).toBe(true);
  });

  test('concurrent edits from one process are serialised: none is lost', async () => {
    const { store, path } = fresh();
    const other = new ConfigStore({ path, controlSocket: null });
    const results = await Promise.all(Array.from({ length: 12 }, (_, i) =>
      (i % 2 === 0 ? store : other).apply({ kind: 'restrict-add', address: `10.${i}.0.0/16`, flags: ['noquery'] }, null)));
    expect(results.every((r) => r.ok)).toBe(true);
    const rules = (await store.restrictRules()).filter((r) => r.kind === 'address').map((r) => r.address).sort();
    expect(rules).toEqual(Array.from({ length: 12 }, (_, i) => `10.${i}.0.0`).sort());
  });

  test('a lock left by a dead process is broken; stale tmp and lock leftovers do not break reads or writes', async () => {
    const { store, path, dir } = fresh();
    writeFileSync(`${path}.lock`, '2147483646 deadbeef\n'); // no such pid
    writeFileSync(`${path}.lock.2147483646.abcd`, '2147483646 abcd\n');
    writeFileSync(`${path}.tmp`, 'restrict default ign'); // a half-written tmp from a killed writer
    expect(await store.read()).toMatchObject({ text: BASE });
    expect(await store.apply({ kind: 'restrict-add', address: '10.0.0.0/8', flags: [] }, null)).toMatchObject({ ok: true });
    expect(readdirSync(dir).filter((n) => n.includes('.lock'))).toEqual([]);
  });

  test('a live lock held by another process makes the edit wait, then fail with CONFIG_WRITE_FAILED', async () => {
    const { path } = fresh();
    writeFileSync(`${path}.lock`, `${process.ppid} other\n`); // the parent of this worker is alive
    const store = new ConfigStore({ path, controlSocket: null, lockTimeoutMs: 200 });
    const r = await store.apply({ kind: 'restrict-add', address: '10.0.0.0/8', flags: [] }, null);
    expect(r).toMatchObject({ ok: false, code: 'CONFIG_WRITE_FAILED' });
    expect(!r.ok && r.message).toMatch(/another edit is in progress/);
    expect(readFileSync(path, 'utf8')).toBe(BASE);
  });

  test('rollback: default = the version before the current; by id; a second rollback undoes the first', async () => {
    const { store, path } = fresh();
    await store.apply({ kind: 'restrict-add', address: '10.0.0.0/8', flags: [] }, null);
    const v2 = readFileSync(path, 'utf8');
    await store.apply({ kind: 'restrict-add', address: '192.168.0.0/16', flags: [] }, null);
    const v3 = readFileSync(path, 'utf8');
    expect(await store.rollback()).toMatchObject({ ok: true, text: v2 });
    expect(readFileSync(path, 'utf8')).toBe(v2);
    expect(await store.rollback()).toMatchObject({ ok: true, text: v3 });
    expect(await store.rollback('1')).toMatchObject({ ok: true, text: BASE });
    expect(readFileSync(path, 'utf8')).toBe(BASE);
    expect(await store.rollback('99')).toMatchObject({ ok: false, code: 'CONFIG_NO_SUCH_ENTRY' });
    expect(await store.rollback(undefined, 'not-the-etag')).toMatchObject({ ok: false, code: 'CONFIG_STALE' });
    const empty = fresh().store;
    expect(await empty.rollback()).toMatchObject({ ok: false, code: 'CONFIG_NO_SUCH_ENTRY' });
  });

  test('history keeps historyDepth versions, oldest pruned; ids keep counting', async () => {
    const { store } = fresh(BASE, { historyDepth: 3 });
    for (let i = 0; i < 7; i++) await store.apply({ kind: 'restrict-add', address: `10.${i}.0.0/16`, flags: [] }, null);
    const history = await store.history();
    expect(history.map((h) => h.id)).toEqual(['7', '6', '5']);
    expect(await store.historyText('7')).toContain('restrict 10.5.0.0/16');
    expect(await store.historyText('7')).not.toContain('restrict 10.6.0.0/16');
    await expect(store.historyText('1')).rejects.toThrow(/no history entry/);
  });

  test('the file keeps its mode; .prev and history copies get it too', async () => {
    const { store, path } = fresh();
    chmodSync(path, 0o640);
    expect(await store.apply({ kind: 'restrict-add', address: '10.0.0.0/8', flags: [] }, null)).toMatchObject({ ok: true });
    expect(statSync(path).mode & 0o777).toBe(0o640);
    expect(statSync(`${path}.prev`).mode & 0o777).toBe(0o640);
  });

  test('a Latin-1 file keeps its bytes outside the edited line', async () => {
    const latin1 = Buffer.concat([Buffer.from('# caf'), Buffer.from([0xe9]), Buffer.from('\nrestrict default\n')]);
    const { store, path } = fresh();
    writeFileSync(path, latin1);
    expect(await store.apply({ kind: 'restrict-add', address: '10.0.0.0/8', flags: [] }, null)).toMatchObject({ ok: true });
    expect(readFileSync(path).equals(Buffer.concat([latin1, Buffer.from('restrict 10.0.0.0/8\n')]))).toBe(true);
  });
});

describe('ConfigStore and the daemon', () => {
  async function fakeDaemon(dir: string, answer: (request: ControlRequest) => unknown): Promise<{ socket: string; server: Server; requests: string[] }> {
    const socket = join(dir, 'control.sock');
    const requests: string[] = [];
    const server = await listenControl(socket, (request) => {
      requests.push(request.command);
      return answer(request);
    });
    return { socket, server, requests };
  }

  test('reload applied: the daemon is asked once per edit', async () => {
    const { path, dir } = fresh();
    const d = await fakeDaemon(dir, () => ({ ok: true, file: path }));
    try {
      const store = new ConfigStore({ path, controlSocket: d.socket });
      expect(await store.apply({ kind: 'restrict-add', address: '10.0.0.0/8', flags: [] }, null)).toMatchObject({ ok: true, reload: 'applied', warnings: [] });
      expect(d.requests).toEqual(['reload']);
    } finally {
      await closeControl(d.server, d.socket);
    }
  });

  test('reload refused: the previous file, .prev and history are restored; the daemon\'s errors are returned', async () => {
    const { path, dir } = fresh();
    const seed = new ConfigStore({ path, controlSocket: null });
    await seed.apply({ kind: 'restrict-add', address: '172.16.0.0/12', flags: [] }, null);
    const before = readFileSync(path);
    const prevBefore = readFileSync(`${path}.prev`);
    const historyBefore = await seed.history();
    const d = await fakeDaemon(dir, () => ({ ok: false, code: 'RELOAD_LISTEN_FAILED', message: 'cannot listen on the new addresses: EADDRNOTAVAIL', errors: ['x.conf:3:1: error: nope'] }));
    try {
      const store = new ConfigStore({ path, controlSocket: d.socket });
      const r = await store.apply({ kind: 'restrict-add', address: '10.0.0.0/8', flags: [] }, null);
      expect(r).toMatchObject({ ok: false, code: 'CONFIG_RELOAD_REFUSED', diagnostics: ['x.conf:3:1: error: nope'] });
      expect(!r.ok && r.message).toMatch(/RELOAD_LISTEN_FAILED.*restored/);
      expect(readFileSync(path).equals(before)).toBe(true);
      expect(readFileSync(`${path}.prev`).equals(prevBefore)).toBe(true);
      expect(await store.history()).toEqual(historyBefore);
    } finally {
      await closeControl(d.server, d.socket);
    }
  });

  test('no daemon (socket missing): the new file is kept, reload "no-daemon" with a notice', async () => {
    const { path, dir } = fresh();
    const store = new ConfigStore({ path, controlSocket: join(dir, 'nobody.sock') });
    const r = await store.apply({ kind: 'restrict-add', address: '10.0.0.0/8', flags: [] }, null);
    expect(r).toMatchObject({ ok: true, reload: 'no-daemon' });
    expect(r.ok && r.warnings.join('\n')).toMatch(/no daemon reloaded/);
    expect(readFileSync(path, 'utf8')).toContain('restrict 10.0.0.0/8\n');
    expect(await store.running()).toBeNull();
  });

  test('running() returns the daemon\'s running-config text', async () => {
    const { path, dir } = fresh();
    const d = await fakeDaemon(dir, (request) => (request.command === 'running-config' ? { path, text: 'restrict default\n' } : { ok: true }));
    try {
      expect(await new ConfigStore({ path, controlSocket: d.socket }).running()).toEqual({ text: 'restrict default\n' });
    } finally {
      await closeControl(d.server, d.socket);
    }
  });
});

describe('unifiedDiff', () => {
  test('a unified diff with labels; empty for equal texts', () => {
    expect(unifiedDiff('a\nb\nc\n', 'a\nB\nc\n', ['running', 'ntp.conf'])).toBe('--- running\n+++ ntp.conf\n@@ -1,3 +1,3 @@\n a\n-b\n+B\n c\n');
    expect(unifiedDiff('same\n', 'same\n', ['a', 'b'])).toBe('');
  });
});
