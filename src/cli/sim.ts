/**
 * `gnomon sim`: a GPS receiver simulator for trying the daemon without a GPS (docs/simulator.md).
 *
 * Prints the config lines that make the daemon read the simulated receiver, then writes NMEA to
 * a pty and kernel-PPS-format pulses to a file until SIGINT/SIGTERM or `--duration`, and removes
 * what it created. It never changes the host clock.
 */
import { startSimulator, simConfigLines, SimError } from '../../drivers/sim/run.js';
import type { CliIo } from './io.js';
import { numberOption, parseSimArgs, SIM_OPTIONS_USAGE } from './sim-args.js';

const USAGE = `usage: gnomon sim --dir DIR [options]
  Simulates a GPS receiver: NMEA on a pty at DIR/gps0 and kernel-PPS pulses in DIR/pps0/assert.
  Prints the two config lines that make the daemon read them, then runs until Ctrl-C / SIGTERM
  (or --duration) and removes what it created (DIR itself only if it made it). The host clock
  is never changed. See docs/simulator.md.
  --dir DIR              where gps0 and pps0/ go (created if missing)
  --duration S           stop after S seconds (for scripts)
  --print-config         only print the config lines for DIR and exit
${SIM_OPTIONS_USAGE}`;

export async function simCommand(argv: string[], io: CliIo): Promise<number> {
  const p = parseSimArgs(argv, { duration: { type: 'string' }, 'print-config': { type: 'boolean', default: false } });
  let durationS: number | undefined;
  try {
    if ('error' in p) throw new Error(p.error);
    if (!p.help && p.dir === undefined) throw new Error('--dir DIR is required');
    const d = p.extra.duration as string | undefined;
    durationS = d === undefined ? undefined : numberOption('duration', d, 0, 0.001, 1e9);
  } catch (err) {
    io.stderr(`gnomon sim: ${(err as Error).message}\n(gnomon sim --help lists the options)\n`);
    return 2;
  }
  if ('error' in p) return 2;
  if (p.help) {
    io.stdout(USAGE);
    return 0;
  }
  const dir = p.dir!;
  if (p.extra['print-config'] === true) {
    io.stdout(simConfigLines(dir).join('\n') + '\n');
    return 0;
  }
  let sim;
  try {
    sim = await startSimulator({ ...p.options, dir });
  } catch (err) {
    if (err instanceof SimError) {
      io.stderr(`gnomon sim: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
  io.stdout(sim.configLines().join('\n') + '\n');
  io.stdout(`simulating ${p.options.receiver} GPS: NMEA on ${sim.gpsPath}, PPS on ${sim.ppsPath} (Ctrl-C stops)\n`);
  await new Promise<void>((resolve) => {
    const done = (): void => {
      process.off('SIGINT', done);
      process.off('SIGTERM', done);
      if (timer !== undefined) clearTimeout(timer);
      resolve();
    };
    const timer = durationS === undefined ? undefined : setTimeout(done, durationS * 1000);
    process.on('SIGINT', done);
    process.on('SIGTERM', done);
  });
  await sim.stop();
  return 0;
}
