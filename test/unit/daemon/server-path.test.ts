// Which server path runs (src/daemon/server-path.ts): flag, environment, deprecated aliases, workers.
import { describe, expect, it } from 'vitest';
import { fastPathBlocker, fastUnavailableMessage, requestedServerPath, rxCoalesceUs, ServerPathError, serverWorkers } from '../../../src/daemon/server-path.js';

describe('requestedServerPath', () => {
  it('defaults to auto', () => {
    expect(requestedServerPath(undefined, false, {})).toEqual({ path: 'auto' });
  });
  it('--server-path wins over GNOMON_SERVER_PATH, which wins over the deprecated aliases', () => {
    expect(requestedServerPath('dgram', true, { GNOMON_SERVER_PATH: 'fast' })).toEqual({ path: 'dgram' });
    expect(requestedServerPath(undefined, true, { GNOMON_SERVER_PATH: 'dgram' })).toEqual({ path: 'dgram' });
    expect(requestedServerPath(undefined, false, { GNOMON_SERVER_PATH: '' })).toEqual({ path: 'auto' });
  });
  it('--fast-path and GNOMON_FAST_PATH=1 mean fast, flagged as deprecated', () => {
    expect(requestedServerPath(undefined, true, {})).toEqual({ path: 'fast', deprecated: '--fast-path (use --server-path fast)' });
    expect(requestedServerPath(undefined, false, { GNOMON_FAST_PATH: '1' }).path).toBe('fast');
    expect(requestedServerPath(undefined, false, { GNOMON_FAST_PATH: '0' }).path).toBe('auto');
  });
  it('refuses anything else, naming where it came from', () => {
    expect(() => requestedServerPath('quick', false, {})).toThrow(/--server-path "quick": expected auto, fast or dgram/);
    expect(() => requestedServerPath(undefined, false, { GNOMON_SERVER_PATH: 'FAST' })).toThrow(ServerPathError);
  });
});

describe('serverWorkers', () => {
  it('0 by default (no worker thread); N; auto = the cores', () => {
    expect(serverWorkers(undefined, {})).toBe(0);
    expect(serverWorkers('3', {})).toBe(3);
    expect(serverWorkers(undefined, { GNOMON_SERVER_WORKERS: '2' })).toBe(2);
    expect(serverWorkers('auto', {}, () => 4)).toBe(4);
  });
  it('0 = no worker thread (the main thread answers)', () => {
    expect(serverWorkers('0', {})).toBe(0);
    expect(serverWorkers(undefined, { GNOMON_SERVER_WORKERS: '0' })).toBe(0);
  });
  it('refuses fractions, words, blanks, negatives and more than 64', () => {
    for (const v of ['1.5', 'many', '65', '-1', ' ']) expect(() => serverWorkers(v, {})).toThrow(/expected a whole number 0-64 \(0 = the main thread answers\) or auto/);
  });
});

describe('rxCoalesceUs', () => {
  it('50 µs by default; N; 0 = off; the flag before the environment', () => {
    expect(rxCoalesceUs(undefined, {})).toBe(50);
    expect(rxCoalesceUs('20', {})).toBe(20);
    expect(rxCoalesceUs('0', {})).toBe(0);
    expect(rxCoalesceUs(undefined, { GNOMON_RX_COALESCE_US: '0' })).toBe(0);
    expect(rxCoalesceUs('30', { GNOMON_RX_COALESCE_US: '0' })).toBe(30);
  });
  it('refuses fractions, words, negatives, blanks and more than 1000 µs, with the stable code', () => {
    for (const v of ['1.5', 'fast', '-1', '1001', ' ']) {
      expect(() => rxCoalesceUs(v, {})).toThrow(/--rx-coalesce-us ".*": expected a whole number of microseconds 0-1000 \(0 = off\)/);
    }
    try {
      rxCoalesceUs('x', {});
    } catch (err) {
      expect((err as ServerPathError).code).toBe('RX_COALESCE_BAD_VALUE');
    }
    expect.assertions(6);
  });
});

describe('fastPathBlocker', () => {
  it('the machine\'s reason first, then a config needing dgram (multicastclient), else none', () => {
    expect(fastPathBlocker('no socket ABI for darwin/arm64', ['224.0.1.1'])).toBe('no socket ABI for darwin/arm64');
    expect(fastPathBlocker(undefined, ['224.0.1.1'])).toMatch(/^multicastclient needs node:dgram/);
    expect(fastPathBlocker(undefined, [])).toBeUndefined();
  });
  it('the refusal says what, why and how to fix', () => {
    expect(fastUnavailableMessage('no socket ABI for darwin/arm64')).toBe(
      '--server-path fast: the fast path cannot run: no socket ABI for darwin/arm64; run with --server-path auto (the default: falls back to node:dgram) or --server-path dgram');
  });
});
