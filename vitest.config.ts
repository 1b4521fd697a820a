import { defineConfig } from 'vitest/config';

/**
 * The server path the system tests' daemons run on (issue 9): GNOMON_SERVER_PATH from the
 * environment (auto when unset: the fast path on this Linux machine). `npm test` runs every file on
 * it, then the server-facing files once more on dgram (project `path:dgram`, after the first group so
 * the two passes of a file never share its loopback ports); `npm run test:system:dgram` runs every
 * system test file on dgram.
 */
const SERVER_PATH = process.env.GNOMON_SERVER_PATH || 'auto';
const DGRAM_PASS = ['auth', 'broadcast', 'clients', 'lifecycle', 'ntpq', 'peers', 'peering', 'restrict', 'unsynchronised', 'fastpath']
  .map((f) => `test/system/${f}.test.ts`);

export default defineConfig({
  test: {
    // System tests start real daemons and peers; keep them from fighting over the 2 cores.
    fileParallelism: true,
    maxWorkers: 2,
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // A skipped test must never pass silently as a success: fail the run if any test is skipped or todo.
    allowOnly: false,
    passWithNoTests: false,
    reporters: ['default', './test/support/no-skips-reporter.ts'],
    projects: [
      { extends: true, test: { name: `path:${SERVER_PATH}`, include: ['test/**/*.test.ts'] } },
      ...(SERVER_PATH === 'dgram' ? [] : [{
        extends: true as const,
        test: { name: 'path:dgram', include: DGRAM_PASS, env: { GNOMON_SERVER_PATH: 'dgram' }, sequence: { groupOrder: 1 } },
      }]),
    ],
  },
});
