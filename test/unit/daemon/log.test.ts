// The daemon's log lines: pino JSON with an ISO 8601 UTC "time" (src/daemon/log.ts writes it without Date).
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../../src/daemon/log.js';

const dir = mkdtempSync(join(tmpdir(), 'gnomon-log-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('daemon log', () => {
  it('stamps each line with the UTC time as toISOString writes it', () => {
    const file = join(dir, 'gnomon.log');
    const before = Date.now();
    createLogger(file, 'info').info({ refclock: 'PPS(0)' }, 'started');
    const after = Date.now();
    const line = JSON.parse(readFileSync(file, 'utf8').trim()) as { time: string; msg: string; refclock: string; pid: number; level: number };
    expect(line).toMatchObject({ msg: 'started', refclock: 'PPS(0)', pid: process.pid, level: 30 });
    expect(line.time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    const t = Date.parse(line.time);
    expect(t).toBeGreaterThanOrEqual(before);
    expect(t).toBeLessThanOrEqual(after);
    expect(new Date(t).toISOString()).toBe(line.time);
  });
});
