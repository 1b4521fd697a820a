// A real gpsd reading a pty that the test writes a receiver log into (../shared/PEERS.md, "GPS side"):
// socat makes the pty pair, gpsd reads one end, the test writes NMEA into the other; `gpspipe -w` is an independent
// client whose output is the oracle. Every process is stopped by PID (LongRunning) and the temp dir removed.
//
// gpsfake is not used: it starts feeding the log as soon as gpsd is told about the pty, before any client has
// connected (and, without a client, before gpsd even opens the device), so the first epochs race the test's clients
// and, with -1, nothing at all reached clients on this machine. Writing the pty ourselves lets the test connect
// every client first and then replay.
import { closeSync, existsSync, openSync, readFileSync, writeSync } from 'node:fs';
import { createConnection } from 'node:net';
import { requireRoot } from './netns.js';
import { LongRunning, pollUntil, run, sleep, TempDir } from './process.js';

export const GPSD = '/usr/sbin/gpsd';
export const GPSPIPE = '/usr/bin/gpspipe';
export const SOCAT = '/usr/bin/socat';

const INSTALL_HINT = 'install gpsd, gpsd-clients and socat (as root on Debian: `node test/system/ensure-peers.mjs`, ' +
  'or apt-get install -y --no-install-recommends gpsd gpsd-tools gpsd-clients socat). Not skipping.';

function requireTool(path: string): void {
  if (!existsSync(path)) throw new Error(`${path} is missing: ${INSTALL_HINT}`);
}

/** Whether something accepts TCP connections on 127.0.0.1:port. */
export function tcpPortOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** The data lines of a gpsd-format log (`#` comments dropped), CR LF terminated as a receiver sends them. */
export function logSentences(file: string): string[] {
  return readFileSync(file, 'latin1').split('\n').map((l) => l.replace(/\r$/, ''))
    .filter((l) => l !== '' && !l.startsWith('#')).map((l) => `${l}\r\n`);
}

/** "2034-11-27T20:26:40.000Z" → "20:26:40.000": the time of day, to compare with a .chk whatever gpsd did to the date. */
export function timeOfDay(iso: string): string {
  return iso.slice(11, 23);
}

/** The TPVs with a "time" in JSON lines (gpspipe -w output, a .chk), in order: the time string and gpsd's mode. */
export function tpvTimes(jsonLines: string): Array<{ time: string; mode: number }> {
  const tpvs: Array<{ time: string; mode: number }> = [];
  for (const line of jsonLines.split('\n')) {
    if (!line.startsWith('{"class":"TPV"')) continue;
    const time = /"time":"([^"]+)"/.exec(line)?.[1];
    if (time !== undefined) tpvs.push({ time, mode: Number(/"mode":(\d)/.exec(line)?.[1] ?? 0) });
  }
  return tpvs;
}

export class GpsdOnPty {
  private constructor(readonly port: number, readonly dir: TempDir, readonly socat: LongRunning,
    private gpsdProc: LongRunning, readonly devicePath: string, private readonly writerPath: string) {}

  /** The running gpsd (a new one after restartGpsd). */
  get gpsd(): LongRunning {
    return this.gpsdProc;
  }

  /**
   * socat pty pair DIR/gps0 (the test writes) ↔ DIR/gps1 (gpsd reads); `gpsd -N -n -b -S port DIR/gps1`.
   * -n opens the device at once (as root, before gpsd drops privileges: the pty is root's, mode 600);
   * -b (read-only) stops gpsd writing probes and changing the line speed, which flushes what is queued.
   * Resolves once gpsd accepts TCP connections on 127.0.0.1:port.
   */
  static async start(port: number): Promise<GpsdOnPty> {
    requireRoot('run gpsd on a pty');
    for (const tool of [GPSD, GPSPIPE, SOCAT]) requireTool(tool);
    if (await tcpPortOpen(port)) throw new Error(`port ${port} is already in use: is another gpsd test running?`);
    const dir = new TempDir('gnm-gpsd-');
    const [writer, device] = [dir.file('gps0'), dir.file('gps1')];
    let socat: LongRunning | undefined;
    let gpsd: LongRunning | undefined;
    try {
      socat = await LongRunning.start(SOCAT, ['-d', '-d', `pty,raw,echo=0,link=${writer}`, `pty,raw,echo=0,link=${device}`]);
      const s = socat;
      if (await pollUntil(() => (existsSync(writer) && existsSync(device)) || undefined, 5000) === undefined) {
        throw new Error(`socat made no pty pair within 5 s:\n${s.describe()}`);
      }
      gpsd = await GpsdOnPty.launchGpsd(port, device);
      return new GpsdOnPty(port, dir, socat, gpsd, device, writer);
    } catch (err) {
      await gpsd?.stop('SIGTERM', 3000);
      await socat?.stop('SIGTERM', 3000);
      dir.remove();
      throw err;
    }
  }

  private static async launchGpsd(port: number, device: string): Promise<LongRunning> {
    const gpsd = await LongRunning.start(GPSD, ['-N', '-n', '-b', '-S', String(port), device]);
    const up = await pollUntil(async () => (await tcpPortOpen(port)) || gpsd.exitStatus !== undefined || undefined, 10_000);
    if (up === undefined || gpsd.exitStatus !== undefined) {
      await gpsd.stop('SIGTERM', 3000);
      throw new Error(`gpsd did not listen on 127.0.0.1:${port} within 10 s:\n${gpsd.describe()}`);
    }
    return gpsd;
  }

  /** Stops gpsd only (the pty stays), as when the gpsd service restarts. */
  async stopGpsd(): Promise<void> {
    const end = await this.gpsd.stop('SIGTERM', 5000);
    await removeShmCreatedBy(this.gpsd.pid);
    if (end.killed) throw new Error(`gpsd needed SIGKILL:\n${this.gpsd.describe()}`);
  }

  /** Starts a new gpsd on the same port and pty (after stopGpsd). */
  async restartGpsd(): Promise<void> {
    this.gpsdProc = await GpsdOnPty.launchGpsd(this.port, this.devicePath);
  }

  /**
   * Writes the sentences into the pty: `lineGapMs` after each, `epochGapMs` more after each RMC (the last
   * sentence of most receivers' 1 Hz epoch), so gpsd sees epochs arrive as it would from a receiver, faster.
   */
  async replay(sentences: readonly string[], options: { lineGapMs?: number; epochGapMs?: number } = {}): Promise<void> {
    const fd = openSync(this.writerPath, 'w');
    try {
      for (const s of sentences) {
        writeSync(fd, s, null, 'latin1');
        await sleep(options.lineGapMs ?? 2);
        if (/^\$..RMC,/.test(s)) await sleep(options.epochGapMs ?? 40);
      }
    } finally {
      closeSync(fd);
    }
  }

  /** `gpspipe -w` on this gpsd, once it has printed gpsd's WATCH answer (so it sees everything written after). */
  async gpspipe(): Promise<LongRunning> {
    const pipe = await LongRunning.start(GPSPIPE, ['-w', `127.0.0.1:${this.port}`]);
    const watch = await pipe.waitForStdoutLine((l) => l.startsWith('{"class":"WATCH"'), 10_000);
    if (watch === undefined) {
      await pipe.stop('SIGTERM', 3000);
      throw new Error(`gpspipe -w did not get gpsd's WATCH answer within 10 s:\n${pipe.describe()}`);
    }
    return pipe;
  }

  /** gpsd, then socat; fails if either needed SIGKILL. Removes the temp dir. */
  async stop(): Promise<void> {
    const problems: string[] = [];
    for (const proc of [this.gpsd, this.socat]) {
      const end = await proc.stop('SIGTERM', 5000);
      if (end.killed) problems.push(`${proc.command} needed SIGKILL`);
    }
    await removeShmCreatedBy(this.gpsd.pid);
    this.dir.remove();
    if (problems.length > 0) throw new Error(problems.join('; '));
  }
}

/**
 * gpsd (as root) creates SysV shared memory for ntpd/chronyd (keys NTP0-NTP7) and its own export segment, and
 * never removes them. Remove the ones this gpsd created (creator PID), and only once nothing is attached.
 */
async function removeShmCreatedBy(pid: number): Promise<void> {
  const list = await run('ipcs', ['-m', '-p'], { timeoutMs: 5000 });
  for (const line of list.stdout.split('\n')) {
    const [id, , cpid] = line.trim().split(/\s+/);
    if (id === undefined || !/^\d+$/.test(id) || Number(cpid) !== pid) continue;
    const attached = await run('ipcs', ['-m', '-i', id], { timeoutMs: 5000 });
    if (/nattch=0\b/.test(attached.stdout)) await run('ipcrm', ['-m', id], { timeoutMs: 5000 });
  }
}
