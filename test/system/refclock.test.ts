// The daemon's NMEA refclock through a real pty made by socat (an independent program): the receiver
// is unplugged and replugged (socat stopped and started again on the same paths) and the daemon
// recovers within 5 s without a restart; garbage and binary bursts cost no good sentence. Observed
// through the real interfaces: `gnomon status --json` over the control socket, the log, and NTP
// replies. Ports 12100-12109.
import { closeSync, existsSync, openSync, writeSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { GnomonDaemon } from './harness/daemon.js';
import { SOCAT } from './harness/gpsd.js';
import { LongRunning, pollUntil, sleep, Teardown, TempDir } from './harness/process.js';
import { query } from './harness/udp.js';
import type { RefclockStatus } from '../../src/daemon/refclocks.js';
import { sentence as nmeaSentence } from '../unit/drivers/nmea/sentences.js';

const teardown = new Teardown();
afterAll(() => teardown.run());

const pad = (n: number, w = 2) => String(n).padStart(w, '0');

/** RMC + GGA for Unix second `sec` (a u-blox-like 3D fix). */
function epoch(sec: number): string {
  const d = new Date(sec * 1000);
  const t = `${pad(d.getUTCHours())}${pad(d.getUTCMinutes())}${pad(d.getUTCSeconds())}.00`;
  const date = `${pad(d.getUTCDate())}${pad(d.getUTCMonth() + 1)}${pad(d.getUTCFullYear() % 100)}`;
  return `${nmeaSentence(`GPRMC,${t},A,4807.03800,N,01131.00000,E,0.010,,${date},,,A`)}\r\n` +
    `${nmeaSentence(`GPGGA,${t},4807.03800,N,01131.00000,E,1,09,0.90,545.4,M,46.9,M,,`)}\r\n`;
}

/** Binary that is not NMEA: a UBX NAV-PVT header and payload-ish bytes, then random bytes without '$' or '!'. */
function garbage(seed: number): Buffer {
  const out = [0xb5, 0x62, 0x01, 0x07, 0x5c, 0x00];
  let x = seed * 2654435761 >>> 0;
  for (let i = 0; i < 200; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    const b = x >>> 24;
    out.push(b === 0x24 || b === 0x21 ? 0x00 : b);
  }
  return Buffer.from(out);
}

/** A socat pty pair: the test writes `writer`, the daemon reads `device`. */
async function startSocat(writer: string, device: string): Promise<LongRunning> {
  const socat = await LongRunning.start(SOCAT, ['-d', '-d', `pty,raw,echo=0,link=${writer}`, `pty,raw,echo=0,link=${device}`]);
  if (await pollUntil(() => (existsSync(writer) && existsSync(device)) || undefined, 5000) === undefined) {
    await socat.stop('SIGKILL', 1000);
    throw new Error(`socat made no pty pair within 5 s:\n${socat.describe()}`);
  }
  return socat;
}

function nmeaOf(status: { refclocks: readonly RefclockStatus[] }): RefclockStatus {
  const r = status.refclocks.find((x) => x.name === 'GPS_NMEA(0)');
  if (!r) throw new Error(`no GPS_NMEA(0) in status: ${JSON.stringify(status)}`);
  return r;
}

/** Writes one epoch per second (100 ms after the host's second) until stopped; bounded by maxSeconds. */
class Writer {
  private fd: number;
  private timer: NodeJS.Timeout | null = null;
  private count = 0;
  lastSecond = 0;
  readonly errors: string[] = [];
  constructor(private path: string, private readonly withGarbage: boolean, private readonly maxSeconds = 60) {
    this.fd = openSync(path, 'w');
  }
  start(): void {
    const tick = () => {
      const now = Date.now();
      this.timer = setTimeout(() => {
        const sec = Math.floor(Date.now() / 1000);
        try {
          if (this.withGarbage) writeSync(this.fd, garbage(sec));
          writeSync(this.fd, epoch(sec));
          if (this.withGarbage) writeSync(this.fd, garbage(sec + 1));
          this.lastSecond = sec;
        } catch (err) {
          // The pty went away (unplug): the test reopens it.
          this.errors.push((err as Error).message);
        }
        if (++this.count < this.maxSeconds) tick();
      }, 1100 - (now % 1000));
    };
    tick();
  }
  reopen(): void {
    try {
      closeSync(this.fd);
    } catch {
      // Already gone with its pty.
    }
    this.fd = openSync(this.path, 'w');
  }
  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    try {
      closeSync(this.fd);
    } catch {
      // Already closed.
    }
  }
}

/** socat pty pair, a daemon reading one end as its NMEA refclock, a writer on the other; all undone at teardown. */
async function startRig(port: number, withGarbage: boolean, seconds: number) {
  const dir = new TempDir('gnm-refclock-');
  teardown.add('temp dir', () => dir.remove());
  const [writerPath, device] = [dir.file('gpsw'), dir.file('gps0')];
  const socat = await startSocat(writerPath, device);
  const daemon = await GnomonDaemon.start({ config: `refclock nmea unit 0 path ${device} baud 9600\n`, listen: `127.0.0.1:${port}` });
  const rig = { writerPath, device, socat, daemon, writer: new Writer(writerPath, withGarbage, seconds) };
  // rig.socat is replaced on replug: stop whichever runs at the end.
  teardown.add('socat', () => rig.socat.stop('SIGTERM', 2000));
  teardown.add('gnomon', () => daemon.stop());
  teardown.add('writer', () => rig.writer.stop());
  rig.writer.start();
  return rig;
}

describe('NMEA refclock on a socat pty, through the daemon', () => {
  it('unplug (socat gone) and replug on the same path: the daemon recovers within 5 s, unrestarted, logging each change once', async () => {
    const rig = await startRig(12100, false, 60);
    const { daemon, writer, writerPath, device } = rig;

    const synced = await pollUntil(async () => {
      const s = await daemon.status();
      return s.server.selected === 'GPS_NMEA(0)' && nmeaOf(s).counters.timecodes! >= 3 ? s : undefined;
    }, 15_000, 500);
    expect(synced, daemon.describe()).toBeDefined();
    expect(synced!.server).toMatchObject({ stratum: 1, refid: 'GPS' });
    const replies = await query('127.0.0.1', 12100);
    expect(replies[0]?.header?.stratum).toBe(1);

    // Unplug: the pty pair disappears.
    await rig.socat.stop('SIGTERM', 2000);
    const lost = await pollUntil(async () => {
      const d = nmeaOf(await daemon.status()).drivers[0]!;
      return d.state === 'reconnecting' ? d : undefined;
    }, 5000, 200);
    expect(lost, daemon.describe()).toBeDefined();
    await sleep(2500);

    // Replug: a new pty pair on the same paths.
    rig.socat = await startSocat(writerPath, device);
    writer.reopen();
    const replugged = Date.now();
    const before = nmeaOf(await daemon.status()).counters.timecodes!;
    const back = await pollUntil(async () => {
      const r = nmeaOf(await daemon.status());
      return r.drivers[0]!.state === 'running' && r.counters.timecodes! > before ? Date.now() : undefined;
    }, 8000, 100);
    expect(back, daemon.describe()).toBeDefined();
    expect(back! - replugged).toBeLessThan(5000);

    // The same process all along, and the unplug is a handful of log lines, not one per retry.
    expect(daemon.proc.exitStatus).toBeUndefined();
    const stateLines = daemon.logs.filter((l) => l.refclock === 'GPS_NMEA(0)' && l.state === 'reconnecting');
    expect(stateLines.length).toBeGreaterThanOrEqual(1);
    expect(stateLines.length).toBeLessThanOrEqual(2);
    writer.stop();
  }, 60_000);

  it('a device missing at start is one error line, not one per retry (1, 2, 4 s ...), and is picked up when it appears', async () => {
    const dir = new TempDir('gnm-refclock-missing-');
    teardown.add('temp dir', () => dir.remove());
    const device = dir.file('gps1');
    const daemon = await GnomonDaemon.start({
      config: [`refclock nmea unit 0 path ${device} baud 9600`, 'restrict default', 'port 12102', 'interface listen 127.0.0.1'].join('\n'),
      listen: '127.0.0.1:12102',
    });
    teardown.add('daemon', () => daemon.stop());
    await sleep(7500); // retries at 1, 3 and 7 s
    const errors = daemon.logs.filter((l) => l.refclock === 'GPS_NMEA(0)' && l.code === 'NMEA_DEVICE_MISSING');
    expect(errors, daemon.describe()).toHaveLength(1);
    // It appears: the next retry (within 8 s) opens it.
    const writerPath = dir.file('gps0');
    const socat = await startSocat(writerPath, device);
    teardown.add('socat', () => socat.stop('SIGTERM', 2000));
    const running = await pollUntil(async () => (nmeaOf(await daemon.status()).drivers[0]!.state === 'running' || undefined), 12_000, 250);
    expect(running, daemon.describe()).toBe(true);
  }, 40_000);

  it('garbage and binary bursts around every epoch: no good sentence is lost', async () => {
    const { daemon, writer } = await startRig(12101, true, 8);
    await sleep(9500);
    const r = nmeaOf(await daemon.status());
    // 8 epochs written, each between two bursts: 8 timecodes, the last one naming the last second written.
    expect(r.counters.timecodes, `${JSON.stringify(r)}\nwriter errors: ${writer.errors.join('; ')}`).toBe(8);
    expect(BigInt(r.lastTimecodeUnixNs as unknown as string)).toBe(BigInt(writer.lastSecond) * 1_000_000_000n);
    const driver = r.drivers[0]!;
    expect(driver.counters.checksumBad ?? 0).toBe(0);
    expect(driver.counters.skippedBytes).toBeGreaterThan(8 * 200);
    writer.stop();
  }, 30_000);
});
