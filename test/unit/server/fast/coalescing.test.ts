import { describe, expect, it } from 'vitest';
import { COALESCING_WINDOW_S, ENOUGH_PER_WAKEUP, ReceiveCoalescing } from '../../../../src/server/fast/coalescing.js';

const BATCH = 128;

/** Feeds `turns` receive-loop turns of `perTurn` datagrams, `gapS` apart, from `t0S`; returns the sleeps asked (µs) and the end time. */
function drive(c: ReceiveCoalescing, t0S: number, turns: number, perTurn: number, gapS: number): { asked: number[]; endS: number } {
  const asked: number[] = [];
  let t = t0S;
  for (let i = 0; i < turns; i++) {
    t += gapS;
    asked.push(c.afterReceive(perTurn, t));
  }
  return { asked, endS: t };
}

describe('ReceiveCoalescing', () => {
  it("never sleeps below one request per interval (a LAN appliance's usual load)", () => {
    const c = new ReceiveCoalescing(50, BATCH);
    expect(c.engageRatePerS).toBe(20_000);
    // 10,000/s: one datagram every 100 µs, for 1 s of virtual time.
    const { asked } = drive(c, 0, 10_000, 1, 100e-6);
    expect(asked.every((us) => us === 0)).toBe(true);
    expect(c.active).toBe(false);
    expect(c.sleeps).toBe(0);
  });

  it('at 100,000/s sleeps the interval after each short batch once a window has measured the rate', () => {
    const c = new ReceiveCoalescing(50, BATCH);
    const { asked } = drive(c, 0, 2_000, 1, 10e-6);
    const firstWindowTurns = Math.ceil(COALESCING_WINDOW_S / 10e-6);
    // The first window only measures.
    expect(asked.slice(0, firstWindowTurns - 1).every((us) => us === 0)).toBe(true);
    expect(asked.slice(firstWindowTurns + 1).every((us) => us === 50)).toBe(true);
    expect(c.active).toBe(true);
    expect(c.sleeps).toBe(asked.filter((us) => us > 0).length);
  });

  it('receives again at once after a batch long enough to spread a wake-up (saturation: no idle core) or a receive that got nothing', () => {
    const c = new ReceiveCoalescing(50, BATCH);
    const { endS } = drive(c, 0, 2_000, 4, 10e-6);
    expect(c.active).toBe(true);
    expect(c.afterReceive(BATCH, endS + 10e-6)).toBe(0);
    expect(c.afterReceive(ENOUGH_PER_WAKEUP, endS + 20e-6)).toBe(0);
    expect(c.afterReceive(0, endS + 30e-6)).toBe(0);
    expect(c.afterReceive(ENOUGH_PER_WAKEUP - 1, endS + 40e-6)).toBe(50);
    expect(c.afterReceive(3, endS + 50e-6)).toBe(50);
  });

  it('a closed loop at saturation (batches of 60-100 of 128) never sleeps', () => {
    const c = new ReceiveCoalescing(50, BATCH);
    let t = 0;
    for (let i = 0; i < 5_000; i++) {
      t += 250e-6;
      expect(c.afterReceive(60 + (i % 41), t)).toBe(0);
    }
    expect(c.active).toBe(true);
    expect(c.sleeps).toBe(0);
  });

  it('a batch smaller than the threshold is the threshold (tests and small batches)', () => {
    const c = new ReceiveCoalescing(50, 4);
    const { endS } = drive(c, 0, 2_000, 1, 10e-6);
    expect(c.active).toBe(true);
    expect(c.afterReceive(4, endS + 10e-6)).toBe(0);
    expect(c.afterReceive(3, endS + 20e-6)).toBe(50);
  });

  it('stops within one window after the load stops', () => {
    const c = new ReceiveCoalescing(50, BATCH);
    const { endS } = drive(c, 0, 2_000, 1, 10e-6);
    expect(c.active).toBe(true);
    // Receive timeouts (50 ms apart, nothing received), then a lone request.
    expect(c.afterReceive(0, endS + 0.05)).toBe(0);
    expect(c.active).toBe(false);
    expect(c.afterReceive(1, endS + 0.0501)).toBe(0);
  });

  it('0 turns it off at any rate', () => {
    const c = new ReceiveCoalescing(0, BATCH);
    const { asked } = drive(c, 0, 5_000, 3, 5e-6);
    expect(asked.every((us) => us === 0)).toBe(true);
    expect(c.sleeps).toBe(0);
  });
});
