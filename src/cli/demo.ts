/**
 * `gnomon demo`: the GPS simulator and the daemon together, what `npm start` runs.
 *
 * The daemon reads the simulator's devices exactly as it reads real ones: the simulator makes
 * DIR/gps0 (a pty) and DIR/pps0/assert (kernel PPS sysfs format), the generated config names
 * them in ordinary `refclock` lines, and `gnomon serve`'s code runs on that config. Only the
 * receiver is simulated.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { CliIo } from './io.js';
import { parseSimArgs, SIM_OPTIONS_USAGE } from './sim-args.js';

/** The demo's base config (restrict lines); the simulator's refclock lines are appended. */
export const DEMO_CONFIG = fileURLToPath(new URL('../../../config/demo.conf', import.meta.url));
/** `npm start` serves here: loopback, an unprivileged port. */
export const DEMO_LISTEN = '127.0.0.1:11123';

const USAGE = `usage: gnomon demo [sim options] [--listen ADDR[:PORT]]... [--config EXTRA] [--control PATH]
       [--web ADDR:PORT|off] [--web-password FILE] [--web-public-status]

Runs the GPS simulator and the NTP server together; the server reads the simulated receiver's
pty and PPS file like real devices and serves stratum 1 once NMEA and PPS are paired.
  --listen ADDR[:PORT]  where to serve (default ${DEMO_LISTEN})
  --config EXTRA        more ntp.conf directives (restrict, broadcast, keys, ...) to include
  --control PATH        the control socket for \`gnomon status\`
  --web ADDR:PORT       the web page (default 127.0.0.1:8123; off for none; docs/web.md)
  --web-password FILE   its admin password file (gnomon passwd --file FILE)
  --web-public-status   status and /metrics readable without login
  --dir DIR             where the simulator's devices go (default: a new temp dir, removed at exit)
${SIM_OPTIONS_USAGE}`;

export async function demoCommand(argv: string[], io: CliIo): Promise<number> {
  const parsed = parseSimArgs(argv, { listen: { type: 'string', multiple: true }, config: { type: 'string' }, control: { type: 'string' },
    web: { type: 'string' }, 'web-password': { type: 'string' }, 'web-public-status': { type: 'boolean' } });
  if ('error' in parsed) {
    io.stderr(`gnomon demo: ${parsed.error}\n${USAGE}`);
    return 2;
  }
  if (parsed.help) {
    io.stdout(USAGE);
    return 0;
  }
  const extra = parsed.extra as { listen?: string[]; config?: string; control?: string; web?: string; 'web-password'?: string; 'web-public-status'?: boolean };
  const ownDir = parsed.dir === undefined;
  const dir = parsed.dir ?? mkdtempSync(join(tmpdir(), 'gnomon-demo-'));
  const { startSimulator } = await import('../../drivers/sim/run.js');
  let sim;
  try {
    sim = await startSimulator({ ...parsed.options, dir });
  } catch (err) {
    io.stderr(`gnomon demo: ${(err as Error).message}\n`);
    if (ownDir) rmSync(dir, { recursive: true, force: true });
    return 1;
  }
  const configPath = join(dir, 'ntp.conf');
  writeFileSync(configPath, [
    '# Written by gnomon demo: the demo config, the simulated receiver, and --config EXTRA.',
    `includefile ${DEMO_CONFIG}`,
    ...sim.configLines(),
    ...(extra.config ? [`includefile ${resolve(extra.config)}`] : []),
    '',
  ].join('\n'));
  io.stderr(`gnomon demo: simulated ${parsed.options.receiver} receiver in ${dir} (config ${configPath})\n`);
  const { serve } = await import('../daemon/serve.js');
  try {
    return await serve({
      configPath,
      listen: extra.listen && extra.listen.length > 0 ? extra.listen : [DEMO_LISTEN],
      controlSocket: extra.control,
      web: { listen: extra.web, passwordFile: extra['web-password'], publicStatus: extra['web-public-status'] ?? false },
      // A demo never steers the host clock, whatever --config EXTRA says.
      noKernel: true,
    });
  } finally {
    await sim.stop();
    if (ownDir) rmSync(dir, { recursive: true, force: true });
  }
}
