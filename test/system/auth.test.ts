// Acceptance (issue 7, server side of symmetric-key authentication): real clients with keys against Gnomon.
// - chronyd -x -Q with `server ... key N` and a chrony key file (MD5, SHA1, AES128 written from the same secrets as
//   Gnomon's ntp.keys): gets a sample; with a wrong secret or an unknown key it gets none, and Gnomon counts authFailed.
// - `restrict default notrust`: the authenticated chronyd is served, the unauthenticated one is not.
// - ntpdig -a N -k KEYFILE (port 123, so in a namespace), reading the very file Gnomon reads.
// Ports: 12700-12701 on loopback; 123 inside the namespace.
import { readFileSync, writeFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { CHRONYD, parseMeasurementsLog } from './harness/chrony.js';
import { localClockConfig } from './harness/daemon.js';
import { requireRoot } from './harness/netns.js';
import { run, TempDir } from './harness/process.js';
import { gnomonSuite } from './harness/suite.js';
import type { Netns } from './harness/netns.js';

const STRATUM = 2;
const KEYS = [
  { id: 1, ntp: 'MD5', chrony: 'MD5', secret: Buffer.from('gnomonMD5secret') },
  { id: 2, ntp: 'SHA1', chrony: 'SHA1', secret: Buffer.from('00112233445566778899aabbccddeeff01234567', 'hex') },
  { id: 3, ntp: 'AES128CMAC', chrony: 'AES128', secret: Buffer.from('2b7e151628aed2a6abf7158809cf4f3c', 'hex') },
] as const;

// Written at module load: the configs below name the file. Mode 600, as the daemon wants it.
const dir = new TempDir('gnm-auth-');
const NTP_KEYS = dir.file('ntp.keys');
afterAll(() => dir.remove());
// The MD5 key as ASCII (up to 20 characters), the others as hex: both of ntp.keys(5)'s spellings.
writeFileSync(NTP_KEYS, KEYS.map((k) => `${k.id} ${k.ntp} ${k.ntp === 'MD5' ? k.secret.toString() : k.secret.toString('hex')}`).join('\n') + '\n', { mode: 0o600 });
/** chrony's format: `ID TYPE HEX:...`; `wrong` flips the secret's last byte. */
function chronyKeys(name: string, wrong = false): string {
  const path = dir.file(name);
  writeFileSync(path, KEYS.map((k) => {
    const s = Buffer.from(k.secret);
    if (wrong) s[s.length - 1]! ^= 1;
    return `${k.id} ${k.chrony} HEX:${s.toString('hex')}`;
  }).join('\n') + '\n' + '9 SHA1 HEX:00112233445566778899aabbccddeeff01234567\n', { mode: 0o600 });
  return path;
}
const RIGHT = chronyKeys('chrony-right.keys');
const WRONG = chronyKeys('chrony-wrong.keys', true);
const AUTH_LINES = [`keys ${NTP_KEYS}`, 'trustedkey 1 2 3'];

/** chronyd -Q: one authenticated query (poll -4: a server whose replies fail is given up within ~2 s). */
async function chronydQuery(port: number, keyfile: string, key: number | undefined) {
  requireRoot('run chronyd -u root');
  const d = new TempDir('gnm-authq-');
  try {
    const args = ['-x', '-u', 'root', '-Q', '-t', '4',
      `server 127.0.0.1 port ${port} iburst maxsamples 1 minpoll -4 maxpoll -4${key === undefined ? '' : ` key ${key}`}`,
      `keyfile ${keyfile}`, `logdir ${d.path}`, 'log measurements', `pidfile ${d.file('chronyd.pid')}`, `driftfile ${d.file('drift')}`];
    const r = await run(CHRONYD, args, { timeoutMs: 15_000 });
    let log = '';
    try {
      log = readFileSync(d.file('measurements.log'), 'utf8');
    } catch { /* no samples at all */ }
    return { ok: r.code === 0, samples: parseMeasurementsLog(log), why: `${r.stderr}\n${log}` };
  } finally {
    d.remove();
  }
}

describe('chronyd with keys against Gnomon (127.0.0.1:12700)', () => {
  const suite = gnomonSuite(localClockConfig(12700, STRATUM, AUTH_LINES), '127.0.0.1:12700');

  for (const k of KEYS) {
    it(`key ${k.id} (${k.chrony}): chronyd gets an authenticated sample`, async () => {
      const before = (await suite.gnomon.status()).counters;
      const q = await chronydQuery(12700, RIGHT, k.id);
      expect(q.ok, q.why).toBe(true);
      expect(q.samples.length, q.why).toBeGreaterThan(0);
      expect(q.samples[0]!.stratum).toBe(STRATUM);
      const after = (await suite.gnomon.status()).counters;
      expect(after.authenticated! - before.authenticated!).toBeGreaterThan(0);
      expect(after.authFailed).toBe(before.authFailed);
    });
  }

  for (const [name, keyfile, key] of [['a wrong SHA1 secret', WRONG, 2], ['a wrong AES128 secret', WRONG, 3], ['a key Gnomon does not have', RIGHT, 9]] as const) {
    it(`${name}: no usable time, and Gnomon counts authFailed`, async () => {
      const before = (await suite.gnomon.status()).counters;
      const q = await chronydQuery(12700, keyfile, key);
      expect(q.ok, q.why).toBe(false);
      const after = (await suite.gnomon.status()).counters;
      expect(after.authFailed! - before.authFailed!, suite.gnomon.describe()).toBeGreaterThan(0);
      expect(after.authenticated).toBe(before.authenticated);
    });
  }
});

describe('restrict notrust (127.0.0.1:12701): only authenticated requests are served', () => {
  const suite = gnomonSuite(localClockConfig(12701, STRATUM, [...AUTH_LINES, 'restrict default notrust']), '127.0.0.1:12701');

  it('chronyd with key 2 is served; chronyd without a key is not', async () => {
    const signed = await chronydQuery(12701, RIGHT, 2);
    expect(signed.ok, signed.why).toBe(true);
    const plain = await chronydQuery(12701, RIGHT, undefined);
    expect(plain.ok, plain.why).toBe(false);
    expect((await suite.gnomon.status()).counters.restricted).toBeGreaterThan(0);
  });
});

describe('ntpdig -a N -k KEYFILE against Gnomon on port 123 (namespace)', () => {
  const suite = gnomonSuite(localClockConfig(123, STRATUM, AUTH_LINES), 'port123');
  const ntpdig = (ns: Netns, key: number, keyfile: string) =>
    ns.run('ntpdig', ['-j', '-t', '2', '-a', String(key), '-k', keyfile, '127.0.0.1'], { timeoutMs: 15_000 });

  for (const k of KEYS) {
    it(`key ${k.id} (${k.ntp}): the time is accepted`, async () => {
      const r = await ntpdig(suite.ns, k.id, NTP_KEYS);
      const json = r.stdout.split('\n').find((l) => l.trim().startsWith('{'));
      expect(json, `${r.stdout}\n${r.stderr}`).toBeDefined();
      expect((JSON.parse(json!) as { stratum: number }).stratum).toBe(STRATUM);
    });
  }

  it('a wrong key: ntpdig refuses the reply; Gnomon counts authFailed', async () => {
    const wrong = dir.file('ntpdig-wrong.keys');
    writeFileSync(wrong, '2 SHA1 00112233445566778899aabbccddeeff01234568\n', { mode: 0o600 });
    const before = (await suite.gnomon.status()).counters;
    const r = await ntpdig(suite.ns, 2, wrong);
    expect(r.stdout.split('\n').some((l) => l.trim().startsWith('{')), `${r.stdout}\n${r.stderr}`).toBe(false);
    const after = (await suite.gnomon.status()).counters;
    expect(after.authFailed! - before.authFailed!).toBeGreaterThan(0);
  });
});
