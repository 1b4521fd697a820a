/**
 * `npm run hil -- --target pi@HOST [--scenarios antenna,unplug,reboot|all] [--json]`
 * `npm run hil -- --virtual` (the same checks against `gnomon demo` here; root)
 *
 * Prints one table (check, measured, threshold, PASS/FAIL) or --json; exit 0 all passed, 1 a
 * check failed, 2 bad usage or a rig that could not start. Progress goes to stderr.
 */
import { existsSync } from 'node:fs';
import { createInterface } from 'node:readline/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { hardwareBox, OPERATOR_PROMPTS, type Operator } from './box.js';
import type { RigContext, RunOptions } from './observe.js';
import { formatJson, formatTable } from './results.js';
import { runHil } from './runner.js';
import { isScenario, SCENARIOS, type ScenarioName } from './scenarios.js';
import { LocalTransport, SshTransport } from './transport.js';
import { startVirtualRig, VIRTUAL_HOLDOVER_S, virtualRigPrerequisites } from './virtual.js';

const USAGE = `usage: npm run hil -- --target USER@HOST [options]
       npm run hil -- --virtual [options]

Checks a Gnomon box with a GPS over ssh (docs/hil.md): NMEA with fix, kernel PPS at 1 Hz,
pairing, PPS selected in ntpq -p, PPS offset and jitter, a client here seeing stratum 1;
then the scenarios asked for. Thresholds: hil/thresholds.ts.
  --target USER@HOST   the box (ssh -o BatchMode=yes: key login, and sudo -n for reboot)
  --virtual            no box: the virtual rig (gnomon demo in a network namespace; root)
  --scenarios LIST     comma-separated from ${SCENARIOS.join(', ')}; all; none (default: none on
                       hardware, all on the virtual rig). antenna and unplug prompt on hardware.
  --holdover-s S       the box's tos holdover, to check the stratum/LI change after it
                       (virtual rig: 12; hardware: unchecked unless given)
  --window S           seconds of samples for offset/jitter/rates (default 30; virtual 8)
  --settle S           wait up to S s for PPS tracking first (default 120; virtual 40)
  --gnomon CMD         gnomon on the box (default gnomon; e.g. "sudo gnomon")
  --serial PATH        the GPS UART on the box (default /dev/serial0)
  --pps PATH           the PPS assert file (default /sys/class/pps/pps0/assert)
  --ntp-host HOST      the address clients query (default: the target's host)
  --ssh-opt OPT        one more ssh argument, repeatable (e.g. --ssh-opt=-p2222)
  --json               the report as JSON instead of the table
exit: 0 every check passed, 1 a check failed, 2 bad usage or no rig`;

/** The repo's built CLI, for gnomon query on this host and the virtual rig. */
function gnomonMain(): string {
  for (const rel of ['../src/cli/main.js', '../dist/src/cli/main.js']) {
    const p = fileURLToPath(new URL(rel, import.meta.url));
    if (existsSync(p)) return p;
  }
  return fileURLToPath(new URL('../dist/src/cli/main.js', import.meta.url));
}

export function parseScenarios(text: string | undefined, fallback: readonly ScenarioName[]): ScenarioName[] {
  if (text === undefined) return [...fallback];
  if (text === 'all') return [...SCENARIOS];
  if (text === 'none' || text === '') return [];
  const names = text.split(',').map((s) => s.trim()).filter((s) => s !== '');
  const bad = names.filter((n) => !isScenario(n));
  if (bad.length > 0) throw new Error(`unknown scenario ${bad.join(', ')} (valid: ${SCENARIOS.join(', ')}, all, none)`);
  // Always in the canonical order: reboot last.
  return SCENARIOS.filter((s) => names.includes(s));
}

function positive(name: string, text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  const v = Number(text);
  if (!Number.isFinite(v) || v <= 0) throw new Error(`--${name} ${text}: expected a positive number of seconds`);
  return v;
}

function promptOperator(): Operator {
  return {
    async perform(action) {
      const rl = createInterface({ input: process.stdin, output: process.stderr });
      try {
        await rl.question(`\n>>> ${OPERATOR_PROMPTS[action]} `);
      } finally {
        rl.close();
      }
      return Date.now();
    },
  };
}

export async function main(argv: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({ args: argv, options: {
      target: { type: 'string' }, virtual: { type: 'boolean' }, scenarios: { type: 'string' }, 'holdover-s': { type: 'string' },
      window: { type: 'string' }, settle: { type: 'string' }, gnomon: { type: 'string' }, serial: { type: 'string' },
      pps: { type: 'string' }, 'ntp-host': { type: 'string' }, 'ssh-opt': { type: 'string', multiple: true },
      json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' },
    } }));
  } catch (err) {
    process.stderr.write(`hil: ${(err as Error).message}\n${USAGE}\n`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const virtual = values.virtual === true;
  if (virtual === (values.target !== undefined)) {
    process.stderr.write(`hil: give exactly one of --target USER@HOST and --virtual\n${USAGE}\n`);
    return 2;
  }
  let options: RunOptions;
  try {
    const holdover = values['holdover-s'];
    options = {
      scenarios: parseScenarios(values.scenarios, virtual ? SCENARIOS : []),
      windowS: positive('window', values.window, virtual ? 8 : 30),
      settleS: positive('settle', values.settle, virtual ? 40 : 120),
      ...(holdover !== undefined || virtual ? { holdoverS: positive('holdover-s', holdover, VIRTUAL_HOLDOVER_S) } : {}),
    };
  } catch (err) {
    process.stderr.write(`hil: ${(err as Error).message}\n`);
    return 2;
  }
  const log = (line: string) => process.stderr.write(`hil: ${line}\n`);
  const main = gnomonMain();
  let ctx: RigContext;
  let target: string;
  let stop = async () => undefined as void;
  if (virtual) {
    const missing = await virtualRigPrerequisites(main);
    if (missing.length > 0) {
      process.stderr.write(`hil: the virtual rig needs ${missing.join('; ')}\n`);
      return 2;
    }
    let rig;
    try {
      rig = await startVirtualRig({ gnomonMain: main, scenarios: options.scenarios, holdoverS: options.holdoverS, log });
    } catch (err) {
      process.stderr.write(`hil: virtual rig: ${(err as Error).message}\n`);
      return 2;
    }
    const r = rig;
    stop = () => r.stop();
    target = rig.describe;
    ctx = { rig: 'virtual', box: rig.box, client: rig.client, clientGnomon: rig.clientGnomon, operator: rig.operator, options, log };
  } else {
    target = values.target!;
    const transport = new SshTransport(target, values['ssh-opt'] ?? []);
    const box = hardwareBox(transport, target, { gnomon: values.gnomon, serial: values.serial, ppsAssert: values.pps, ntpHost: values['ntp-host'] });
    const reach = await transport.run('true', 20_000);
    if (reach.code !== 0) {
      process.stderr.write(`hil: cannot ssh to ${target}: ${reach.stderr.trim() || `exit ${reach.code}`}\n`);
      return 2;
    }
    ctx = { rig: 'hardware', box, client: new LocalTransport(), clientGnomon: existsSync(main) ? `${process.execPath} ${main}` : undefined,
      operator: promptOperator(), options, log };
  }
  try {
    const report = await runHil(ctx, target);
    process.stdout.write(values.json ? formatJson(report) : formatTable(report));
    return report.pass ? 0 : 1;
  } finally {
    await stop();
  }
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  main(process.argv.slice(2)).then((code) => { process.exitCode = code; }, (err: unknown) => {
    process.stderr.write(`hil: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
    process.exitCode = 2;
  });
}
