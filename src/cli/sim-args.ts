/**
 * The simulator's command-line options, shared by `gnomon sim` and `gnomon demo` so both spell
 * them (and refuse bad ones) the same way. Parsing only: nothing is created here.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { FAULT_NAMES, FAULT_SUMMARIES, parseFault, type FaultSpec } from '../../drivers/sim/faults.js';
import { DEFAULT_NMEA_DELAY_MS, type ScenarioOptions } from '../../drivers/sim/scenario.js';
import { RECEIVER_STYLES, type ReceiverStyle } from '../../drivers/sim/sentences.js';

type OptionsConfig = NonNullable<ParseArgsConfig['options']>;

/** One line per option, ending in a newline; for the commands' usage texts. */
export const SIM_OPTIONS_USAGE = `simulator options:
  --receiver ublox|mtk   receiver style (default ublox: GN talker, ZDA, NMEA ${DEFAULT_NMEA_DELAY_MS.ublox} ms after PPS;
                         mtk: GP talker, no ZDA, NMEA ${DEFAULT_NMEA_DELAY_MS.mtk} ms after PPS)
  --offset-ms X          the host clock is X ms ahead of the simulated GPS time (default 0;
                         behind: --offset-ms=-X)
  --drift-ppm Y          and that offset grows by Y ppm (default 0)
  --pps-jitter-us J      PPS timestamp jitter, standard deviation in µs (default 2)
  --nmea-delay-ms D      PPS edge to the first NMEA byte, 0-900 ms (default per receiver)
  --fault NAME[@START][+DURATION]
                         repeatable or comma-separated; from second START (default 0) for
                         DURATION seconds (default: until stopped). Faults:
${FAULT_NAMES.map((n) => `      ${n.padEnd(18)} ${FAULT_SUMMARIES[n]}`).join('\n')}
  --seed N               seed for jitter and garbage (default 1): same seed, same run
`;

export type SimArgs =
  | { readonly error: string }
  | {
    readonly help: boolean;
    /** `--dir`, if given. */
    readonly dir: string | undefined;
    /** Everything startSimulator needs but the directory. */
    readonly options: ScenarioOptions;
    /** The values of the caller's own options (`extraOptions`), as parseArgs gives them. */
    readonly extra: Record<string, unknown>;
  };

const SIM_OPTIONS: NonNullable<ParseArgsConfig['options']> = {
  dir: { type: 'string' },
  receiver: { type: 'string', default: 'ublox' },
  'offset-ms': { type: 'string' },
  'drift-ppm': { type: 'string' },
  'pps-jitter-us': { type: 'string' },
  'nmea-delay-ms': { type: 'string' },
  fault: { type: 'string', multiple: true },
  seed: { type: 'string' },
  help: { type: 'boolean', short: 'h', default: false },
} as const satisfies OptionsConfig;

/** A number option in [min, max], or the fallback when absent; throws a one-line message. */
export function numberOption(name: string, text: string | undefined, fallback: number, min: number, max: number, integer = false): number {
  if (text === undefined) return fallback;
  const v = Number(text);
  if (text.trim() === '' || !Number.isFinite(v) || v < min || v > max || (integer && !Number.isInteger(v))) {
    throw new Error(`--${name} ${text}: expected ${integer ? 'an integer' : 'a number'} from ${min} to ${max}`);
  }
  return v;
}

/** Parses the simulator's options plus `extraOptions` (the calling command's own); never throws. */
export function parseSimArgs(argv: string[], extraOptions: OptionsConfig = {}): SimArgs {
  try {
    const { values } = parseArgs({ args: argv, options: { ...extraOptions, ...SIM_OPTIONS } });
    const v = values as Record<string, string | boolean | string[] | undefined>;
    const str = (name: string): string | undefined => (typeof v[name] === 'string' ? v[name] : undefined);
    const receiver = str('receiver') as ReceiverStyle;
    if (!RECEIVER_STYLES.includes(receiver)) throw new Error(`--receiver ${receiver}: expected ${RECEIVER_STYLES.join(' or ')}`);
    const faults: FaultSpec[] = [];
    for (const text of ((v.fault as string[] | undefined) ?? []).flatMap((f) => f.split(',')).filter((f) => f !== '')) {
      const r = parseFault(text);
      if (!r.ok) throw new Error(`--fault: ${r.message}`);
      faults.push(r.fault);
    }
    const delay = str('nmea-delay-ms');
    const options: ScenarioOptions = {
      receiver,
      offsetMs: numberOption('offset-ms', str('offset-ms'), 0, -1e12, 1e12),
      driftPpm: numberOption('drift-ppm', str('drift-ppm'), 0, -1000, 1000),
      ppsJitterUs: numberOption('pps-jitter-us', str('pps-jitter-us'), 2, 0, 100_000),
      ...(delay === undefined ? {} : { nmeaDelayMs: numberOption('nmea-delay-ms', delay, 0, 0, 900) }),
      faults,
      seed: numberOption('seed', str('seed'), 1, 0, 2 ** 32 - 1, true),
    };
    const extra: Record<string, unknown> = {};
    for (const name of Object.keys(extraOptions)) extra[name] = v[name];
    const dir = str('dir');
    return { help: v.help === true, dir: dir === '' ? undefined : dir, options, extra };
  } catch (err) {
    return { error: (err as Error).message };
  }
}
