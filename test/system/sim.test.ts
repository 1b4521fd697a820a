// `gnomon sim` as users run it (the built CLI), read by independent programs: socat on the pty, plain file reads
// of the PPS file. Checks that the pty is a real /dev/pts device carrying checksum-valid NMEA with the simulated
// time, that the PPS file advances once a second at GPS second + --offset-ms, that `--fault unplug` replaces the
// pty, and that SIGTERM exits 0 and removes what it made. No ports.
import { existsSync, lstatSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { NmeaDecoder } from '../../drivers/nmea/decode.js';
import { NmeaFramer } from '../../drivers/nmea/framing.js';
import { parsePpsSysfs } from '../../drivers/pps/sysfs-format.js';
import { LongRunning, pollUntil, run, sleep, TempDir, Teardown } from './harness/process.js';

const CLI = new URL('../../dist/src/cli/main.js', import.meta.url).pathname;
const teardown = new Teardown();
afterEach(() => teardown.run());

async function startSim(dir: string, ...args: string[]): Promise<LongRunning> {
  const sim = await LongRunning.start('node', [CLI, 'sim', '--dir', dir, ...args]);
  teardown.add('stop gnomon sim', () => sim.stop('SIGKILL', 1000));
  const line = await sim.waitForStdoutLine((l) => l.startsWith('simulating '), 10_000);
  expect(line, sim.describe()).toBeDefined();
  return sim;
}

/** socat as an independent reader of the pty, for `ms`; returns what it received. */
async function readPty(path: string, ms: number): Promise<string> {
  const reader = await LongRunning.start('socat', ['-u', `FILE:${path},raw,echo=0`, '-']);
  teardown.add('stop socat', () => reader.stop('SIGKILL', 1000));
  await sleep(ms);
  await reader.stop('SIGTERM', 2000);
  return reader.stdout;
}

function decodeNmea(text: string) {
  const framer = new NmeaFramer();
  const decoder = new NmeaDecoder();
  const utcNs: bigint[] = [];
  for (const s of framer.push(Buffer.from(text, 'latin1'), 0n)) utcNs.push(...decoder.push(s).map((e) => e.utcNs));
  utcNs.push(...decoder.end().map((e) => e.utcNs));
  return { framer, utcNs };
}

describe('gnomon sim', () => {
  it('a pty of checksum-valid NMEA at host time − offset, a PPS file ticking at GPS second + offset; SIGTERM cleans up', async () => {
    const tmp = new TempDir('gnm-sim-');
    teardown.add('remove temp dir', () => tmp.remove());
    const dir = tmp.file('sim');
    const sim = await startSim(dir, '--offset-ms', '250', '--pps-jitter-us', '1');
    expect(sim.stdout.split('\n').slice(0, 2)).toEqual([
      `refclock nmea unit 0 path ${dir}/gps0 baud 9600`,
      `refclock pps-sysfs unit 0 path ${dir}/pps0`,
    ]);
    // The printed lines are a valid config.
    writeFileSync(tmp.file('ntp.conf'), sim.stdout.split('\n').slice(0, 2).join('\n') + '\n');
    const validate = await run('node', [CLI, 'config', 'validate', '--config', tmp.file('ntp.conf')], { timeoutMs: 10_000 });
    expect(validate.code, validate.stdout + validate.stderr).toBe(0);

    const gps = join(dir, 'gps0');
    expect(lstatSync(gps).isSymbolicLink()).toBe(true);
    expect(readlinkSync(gps)).toMatch(/^\/dev\/pts\/\d+$/);

    // Read the PPS file as the kernel driver would, while socat reads the pty.
    const pulses = new Map<number, bigint>();
    let reading = true;
    const ppsReader = (async () => {
      while (reading) {
        const r = parsePpsSysfs(readFileSync(join(dir, 'pps0', 'assert'), 'utf8'));
        if (r.kind === 'pulse') pulses.set(r.sequence, BigInt(r.time.sec) * 1_000_000_000n + BigInt(r.time.nsec));
        await sleep(100);
      }
    })();
    const text = await readPty(gps, 3500);
    reading = false;
    await ppsReader;
    const hostNowNs = BigInt(Date.now()) * 1_000_000n;

    const { framer, utcNs } = decodeNmea(text);
    expect(framer.counters.checksumBad).toBe(0);
    expect(utcNs.length, text).toBeGreaterThanOrEqual(2);
    // The simulated GPS time is the host's minus 250 ms: the last label is within a couple of seconds of it.
    const behindMs = Number(hostNowNs - 250_000_000n - utcNs.at(-1)!) / 1e6;
    expect(behindMs).toBeGreaterThan(0);
    expect(behindMs).toBeLessThan(2500);

    // The sequence advances by one a second; each timestamp is a labelled GPS second + 250 ms (± 1 µs jitter).
    const seqs = [...pulses.keys()].sort((a, b) => a - b);
    expect(seqs.length).toBeGreaterThanOrEqual(2);
    for (let i = 1; i < seqs.length; i++) {
      const stepNs = Number(pulses.get(seqs[i]!)! - pulses.get(seqs[i - 1]!)!);
      expect(Math.abs(stepNs - (seqs[i]! - seqs[i - 1]!) * 1e9)).toBeLessThan(20_000);
    }
    const labelled = new Set(utcNs);
    const matched = [...pulses.values()].filter((ns) => labelled.has(((ns - 250_000_000n + 500_000_000n) / 1_000_000_000n) * 1_000_000_000n));
    expect(matched.length).toBeGreaterThanOrEqual(1);
    for (const ns of matched) {
      const offsetNs = Number((ns - 250_000_000n + 500_000_000n) % 1_000_000_000n) - 500_000_000;
      expect(Math.abs(offsetNs)).toBeLessThan(10_000);
    }

    const end = await sim.stop('SIGTERM', 5000);
    expect(end, sim.describe()).toMatchObject({ code: 0, killed: false });
    expect(existsSync(gps)).toBe(false);
    expect(existsSync(join(dir, 'pps0'))).toBe(false);
  });

  it('--fault unplug: the pty vanishes and a new one appears at DIR/gps0, which a reader can open again', async () => {
    const tmp = new TempDir('gnm-sim-');
    teardown.add('remove temp dir', () => tmp.remove());
    const gps = tmp.file('gps0');
    const sim = await startSim(tmp.path, '--receiver', 'mtk', '--fault', 'unplug', '--duration', '20');
    const first = await readPty(gps, 2500);
    expect(decodeNmea(first).utcNs.length, first).toBeGreaterThanOrEqual(1);
    // Unplugged for seconds 4-6 of each 10 after the first pulse.
    const gone = await pollUntil(() => (existsSync(gps) ? undefined : true), 8000, 50);
    expect(gone, sim.describe()).toBe(true);
    const back = await pollUntil(() => (existsSync(gps) ? readlinkSync(gps) : undefined), 6000, 50);
    expect(back, sim.describe()).toMatch(/^\/dev\/pts\/\d+$/);
    const second = await readPty(gps, 2500);
    const { framer, utcNs } = decodeNmea(second);
    expect(framer.counters.checksumBad).toBe(0);
    expect(utcNs.length, second).toBeGreaterThanOrEqual(1);
    const end = await sim.stop('SIGTERM', 5000);
    expect(end, sim.describe()).toMatchObject({ code: 0, killed: false });
    expect(existsSync(gps)).toBe(false);
  });

  it('bad options: one line, exit 2; --print-config prints and exits 0', async () => {
    const unknown = await run('node', [CLI, 'sim', '--dir', '/tmp/x', '--fault', 'gps-on-fire'], { timeoutMs: 10_000 });
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/unknown fault "gps-on-fire" \(valid: fix-loss, antenna-unplugged, no-pps, no-nmea, garbage, wrong-second, week-rollover, leap-second, unplug\)/);
    const badNumber = await run('node', [CLI, 'sim', '--dir', '/tmp/x', '--drift-ppm', 'lots'], { timeoutMs: 10_000 });
    expect(badNumber.code).toBe(2);
    expect(badNumber.stderr).toMatch(/--drift-ppm lots: expected a number/);
    const unwritable = await run('node', [CLI, 'sim', '--dir', '/proc/gnomon-sim', '--duration', '1'], { timeoutMs: 10_000 });
    expect(unwritable.code, unwritable.stderr).toBe(2);
    expect(unwritable.stderr).toMatch(/^gnomon sim: \/proc\/gnomon-sim: cannot create directory/);
    const print = await run('node', [CLI, 'sim', '--dir', '/run/gnomon-sim', '--print-config'], { timeoutMs: 10_000 });
    expect(print.code).toBe(0);
    expect(print.stdout).toBe('refclock nmea unit 0 path /run/gnomon-sim/gps0 baud 9600\nrefclock pps-sysfs unit 0 path /run/gnomon-sim/pps0\n');
  });
});
