// The simulator's IO pieces on the real kernel: a pty, the PPS files, and the whole simulator read
// by the daemon's own NMEA and kernel-PPS drivers.
import { existsSync, lstatSync, mkdtempSync, openSync, closeSync, readFileSync, readlinkSync, readSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { DriverContext, RefclockPulse, RefclockSample } from '../../../../drivers/driver.js';
import { NmeaDriver } from '../../../../drivers/nmea/io.js';
import { parsePpsSysfs } from '../../../../drivers/pps/sysfs-format.js';
import { PpsSysfsDriver } from '../../../../drivers/pps/sysfs.js';
import { formatPpsSysfs, PpsFile } from '../../../../drivers/sim/pps-file.js';
import { Pty, replaceSymlink } from '../../../../drivers/sim/pty.js';
import { startSimulator, simConfigLines, type RunningSimulator } from '../../../../drivers/sim/run.js';
import { systemRealtimeClock } from '../../../../src/clock/posix.js';

const dirs: string[] = [];
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'gnomon-sim-'));
  dirs.push(d);
  return d;
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('Pty', () => {
  it('raw mode: bytes arrive exactly (CR LF kept, nothing echoed); nothing is kept for a reader that is not there', () => {
    const counters = { bytesWritten: 0, bytesDropped: 0 };
    const pty = new Pty(counters);
    try {
      expect(pty.slavePath).toMatch(/^\/dev\/pts\/\d+$/);
      expect(pty.hasReader()).toBe(false);
      pty.write(Buffer.from('$STALE*00\r\n'));
      expect(counters).toEqual({ bytesWritten: 0, bytesDropped: 11 });
      const fd = openSync(pty.slavePath, 'r');
      try {
        expect(pty.hasReader()).toBe(true);
        const bytes = Buffer.from([0x24, 0x41, 0x0d, 0x0a, 0xb5, 0x62, 0x00, 0x03, 0x0d]);
        pty.write(bytes);
        const buf = Buffer.alloc(64);
        const n = readSync(fd, buf);
        expect(buf.subarray(0, n)).toEqual(bytes);
      } finally {
        closeSync(fd);
      }
      expect(pty.hasReader()).toBe(false);
    } finally {
      pty.close();
      pty.close();
    }
  });

  it('replaceSymlink swaps the link in one rename', () => {
    const d = tempDir();
    replaceSymlink('/dev/pts/1', join(d, 'gps0'));
    replaceSymlink('/dev/pts/2', join(d, 'gps0'));
    expect(readlinkSync(join(d, 'gps0'))).toBe('/dev/pts/2');
  });
});

describe('PpsFile', () => {
  it('writes what the kernel prints, and what drivers/pps/sysfs-format.ts parses', () => {
    const d = tempDir();
    const pps = new PpsFile(d);
    expect(readFileSync(pps.assertPath, 'utf8')).toBe('0.000000000#0\n');
    expect(readFileSync(pps.clearPath, 'utf8')).toBe('0.000000000#0\n');
    pps.pulse(1_795_341_600_000_000_123n, 7);
    expect(readFileSync(pps.assertPath, 'utf8')).toBe('1795341600.000000123#7\n');
    expect(parsePpsSysfs(readFileSync(pps.assertPath, 'utf8'))).toEqual({ kind: 'pulse', time: { sec: 1_795_341_600, nsec: 123 }, sequence: 7 });
    expect(formatPpsSysfs(999_999_999n, 1)).toBe('0.999999999#1\n');
    pps.remove();
    expect(existsSync(join(d, 'pps0'))).toBe(false);
  });
});

describe('startSimulator', () => {
  it('prints the config lines for its directory', () => {
    expect(simConfigLines('/run/sim')).toEqual([
      'refclock nmea unit 0 path /run/sim/gps0 baud 9600',
      'refclock pps-sysfs unit 0 path /run/sim/pps0',
    ]);
  });

  it('the daemon\'s NMEA and kernel-PPS drivers read it: pulses at GPS second + offset, samples labelling them', async () => {
    const d = join(tempDir(), 'sim');
    const clock = systemRealtimeClock();
    const sim: RunningSimulator = await startSimulator({
      dir: d, receiver: 'ublox', offsetMs: 300, driftPpm: 0, ppsJitterUs: 0, faults: [], seed: 1, clock,
    });
    const pulses: RefclockPulse[] = [];
    const samples: RefclockSample[] = [];
    const ctx = (name: string): DriverContext => ({
      name, realtime: clock, sample: (s) => void samples.push(s), pulse: (p) => void pulses.push(p),
      state: () => undefined, counters: () => undefined,
    });
    const nmea = new NmeaDriver({ path: sim.gpsPath, baud: 9600 });
    const pps = new PpsSysfsDriver({ device: 'pps0', sysfsRoot: sim.dir });
    try {
      expect(lstatSync(sim.gpsPath).isSymbolicLink()).toBe(true);
      expect(readlinkSync(sim.gpsPath)).toMatch(/^\/dev\/pts\/\d+$/);
      expect(sim.ppsPath).toBe(join(d, 'pps0', 'assert'));
      await nmea.init(ctx('NMEA(0)'));
      await pps.init(ctx('PPS(0)'));
      for (let i = 0; i < 60 && (pulses.length < 2 || samples.length < 2); i++) await sleep(100);
    } finally {
      await nmea.close();
      await pps.close();
      await sim.stop();
    }
    expect(pulses.length).toBeGreaterThanOrEqual(2);
    expect(samples.length).toBeGreaterThanOrEqual(2);
    // The kernel-format timestamp is exact: jitter 0, offset 300 ms.
    for (const p of pulses) expect(p.systemTime.nsec).toBe(300_000_000);
    for (const s of samples) {
      expect(s.referenceTime.nsec).toBe(0);
      expect(s.referenceTime.sec).toBeGreaterThanOrEqual(sim.startGpsSec);
      expect(s.fix.mode).toBe('3d');
      // Stamped at the burst's first byte: edge (300 ms) + u-blox delay (110 ± 4 ms) + timer lateness.
      const lagMs = (s.systemTime.sec - s.referenceTime.sec) * 1000 + (s.systemTime.nsec - s.referenceTime.nsec) / 1e6;
      expect(lagMs).toBeGreaterThan(400);
      expect(lagMs).toBeLessThan(1300); // within the second it labels (1 s + the 300 ms offset)
    }
    expect(sim.counters.pulses).toBeGreaterThanOrEqual(2);
    expect(sim.counters.bytesWritten).toBeGreaterThan(0);
    expect(existsSync(d)).toBe(false); // it made the directory, so it removed it
  });

  it('refuses to replace a DIR/gps0 that is not a symlink', async () => {
    const d = tempDir();
    closeSync(openSync(join(d, 'gps0'), 'w'));
    await expect(startSimulator({ dir: d, receiver: 'mtk', offsetMs: 0, driftPpm: 0, ppsJitterUs: 0, faults: [], seed: 1 }))
      .rejects.toThrow(/gps0 exists and is not a symlink/);
  });
});
