// Lint rules that carry the architecture (../shared/ARCHITECTURE.md, principle 1):
// the pure core may not reach sockets, files, timers, the wall clock or native bindings.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const PURE_CORE = [
  'src/ntp/**/*.ts',
  'src/net/**/*.ts',
  'src/server/handler/**/*.ts',
  'src/server/access/**/*.ts',
  'src/server/interleave/**/*.ts',
  'src/config/**/*.ts',
  'src/refclock/**/*.ts',
  'src/assoc/**/*.ts',
  'src/discipline/**/*.ts',
  'src/control/mode6/**/*.ts',
  'drivers/driver.ts',
  'drivers/nmea/framing.ts',
  'drivers/nmea/decode.ts',
  'drivers/nmea/rollover.ts',
  'drivers/nmea/replay.ts',
  'drivers/pps/errors.ts',
  'drivers/pps/gpio-v2.ts',
  'drivers/pps/sequence.ts',
  'drivers/pps/sysfs-format.ts',
  'drivers/gpsd/errors.ts',
  'drivers/gpsd/protocol.ts',
  'drivers/sim/faults.ts',
  'drivers/sim/sentences.ts',
  'drivers/sim/scenario.ts',
];
// Files inside pure folders that are the IO shell for that folder (reading files for includefile).
const SHELL_EXCEPTIONS = ['src/config/load.ts', 'src/config/store.ts'];

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'bench/build/**', 'image/build/**', 'image/out/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    files: ['**/*.mjs', '**/*.js'],
    languageOptions: { globals: { process: 'readonly', console: 'readonly', Buffer: 'readonly', URL: 'readonly', setTimeout: 'readonly', clearTimeout: 'readonly' } },
  },
  {
    files: PURE_CORE,
    ignores: SHELL_EXCEPTIONS,
    rules: {
      'no-restricted-imports': ['error', {
        paths: ['node:dgram', 'dgram', 'node:fs', 'fs', 'node:fs/promises', 'fs/promises', 'node:net', 'net',
          'node:timers', 'timers', 'node:child_process', 'koffi', 'serialport', 'onoff', 'pino', 'node:worker_threads']
          .map((name) => ({ name, message: 'Pure core: do IO in a shell module (see ARCHITECTURE.md principle 1).' })),
      }],
      'no-restricted-globals': ['error',
        ...['Date', 'setTimeout', 'setInterval', 'setImmediate', 'performance', 'process'].map((name) => ({
          name, message: 'Pure core: time and scheduling are injected (ARCHITECTURE.md principle 3).',
        })),
      ],
    },
  },
);
