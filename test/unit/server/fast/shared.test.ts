// What crosses into the fast-path worker: the seqlock'd snapshot + correction line (src/server/fast/shared.ts)
// and trusted keys as data (keyMaterial), which must rebuild a KeyRing that signs exactly as the original.
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { KeyRing } from '../../../../src/auth/mac.js';
import { parseKeyFile } from '../../../../src/auth/keys.js';
import { keyMaterial } from '../../../../src/server/fast/fast-server.js';
import { SharedServerView } from '../../../../src/server/fast/shared.js';
import { ServerStateCell, unsynchronisedSnapshot } from '../../../../src/server/state.js';
import { Timescale } from '../../../../src/clock/timescale.js';

describe('SharedServerView', () => {
  it('a read returns what was written: template, LI bits, line; the stop flag is seen', () => {
    const v = new SharedServerView();
    const cell = new ServerStateCell(unsynchronisedSnapshot(-20));
    cell.onPublish((t, leap) => v.writeState(t, leap));
    const ts = new Timescale({ read: (t) => { t.sec = 1; t.nsec = 0; }, resolutionNs: 1, source: 'fixed' });
    ts.onLine((correctionNs, slopeNsPerS, t0Sec, t0Nsec) => v.writeLine({ correctionNs, slopeNsPerS, t0Sec, t0Nsec }));
    cell.publish({ ...unsynchronisedSnapshot(-20), leap: 1, stratum: 2, rootDelayS: 0.25 });
    ts.setCorrectionLine(123.5, -4.25, 1_800_000_000, 999);
    const template = new Uint8Array(24);
    const line = { correctionNs: 0, slopeNsPerS: 0, t0Sec: 0, t0Nsec: 0 };
    expect(v.read(template, line)).toBe(cell.leapBits);
    expect(Buffer.from(template)).toEqual(cell.template);
    expect(line).toEqual({ correctionNs: 123.5, slopeNsPerS: -4.25, t0Sec: 1_800_000_000, t0Nsec: 999 });
    expect(v.sequence() % 2).toBe(0);
    expect(v.stopping).toBe(false);
    v.stop();
    expect(v.stopping).toBe(true);
  });

  it('a reader in another thread never sees a torn copy while the writer rewrites continuously', async () => {
    const v = new SharedServerView();
    // The worker reads 200k times, as SharedServerView.read does (offsets of shared.ts): each template must be 24
    // copies of one byte, and the LI bits, written in the same critical section, that byte too.
    const code = `
      const { workerData, parentPort } = require('node:worker_threads');
      const ints = new Int32Array(workerData, 0, 4), line = new Float64Array(workerData, 16, 4), tpl = new Uint8Array(workerData, 48, 24);
      let torn = 0, reads = 0;
      const t = new Uint8Array(24);
      for (let k = 0; k < 200000; k++) {
        let s1, leap;
        for (;;) {
          s1 = Atomics.load(ints, 0); if (s1 & 1) continue;
          for (let i = 0; i < 24; i++) t[i] = tpl[i];
          leap = ints[2];
          if (Atomics.load(ints, 0) === s1) break;
        }
        reads++;
        for (let i = 1; i < 24; i++) if (t[i] !== t[0]) torn++;
        if (leap !== t[0]) torn++;
      }
      parentPort.postMessage({ torn, reads });`;
    const w = new Worker(code, { eval: true, workerData: v.buffer });
    const done = new Promise<{ torn: number; reads: number }>((r) => w.once('message', r));
    let finished = false;
    void done.then(() => { finished = true; });
    const tpl = new Uint8Array(24);
    for (let k = 0; !finished; k++) {
      for (let j = 0; j < 1000; j++) {
        const b = (k * 1000 + j) & 0x7f;
        tpl.fill(b);
        v.writeState(tpl, b);
        v.writeLine({ correctionNs: b, slopeNsPerS: 0, t0Sec: 0, t0Nsec: 0 });
      }
      await new Promise((r) => setImmediate(r));
    }
    const result = await done;
    await w.terminate();
    expect(result.reads).toBe(200000);
    expect(result.torn).toBe(0);
  });
});

describe('keyMaterial', () => {
  it('rebuilds a ring that signs and verifies as the original (MD5, SHA1, AES128 CMAC)', () => {
    const parsed = parseKeyFile([
      '1 MD5 md5secret',
      '2 SHA1 0123456789abcdef0123456789abcdef01234567',
      '3 AES128CMAC 000102030405060708090a0b0c0d0e0f',
    ].join('\n'));
    const ring = new KeyRing(parsed.keys.values(), [1, 2, 3]);
    const data = structuredClone(keyMaterial(ring));
    const copy = new KeyRing(data.map((k) => ({ ...k, secret: Buffer.from(k.secret) })), data.map((k) => k.id));
    expect(copy.ids()).toEqual([1, 2, 3]);
    const packet = Buffer.alloc(48, 0x5a);
    for (const id of [1, 2, 3]) {
      const a = Buffer.alloc(20);
      const b = Buffer.alloc(20);
      ring.get(id)!.sign(packet, 48, a, 0);
      copy.get(id)!.sign(packet, 48, b, 0);
      expect(b, `key ${id}`).toEqual(a);
      expect(copy.get(id)!.digestLength).toBe(ring.get(id)!.digestLength);
    }
  });
});
