import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // System tests start real daemons and peers; keep them from fighting over the 2 cores.
    fileParallelism: true,
    maxWorkers: 2,
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // A skipped test must never pass silently as a success: fail the run if any test is skipped or todo.
    allowOnly: false,
    passWithNoTests: false,
    reporters: ['default', './test/support/no-skips-reporter.ts'],
  },
});
