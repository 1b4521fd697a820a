/**
 * Under `npm test` (which sets GNOMON_NO_SKIPS=1), a skipped or todo test fails the run: in this project a skipped test that
 * counts as passing is a defect (a system test that cannot reach its peer must fail, not skip).
 * Filtered local runs (`npx vitest run -t ...`) are not affected.
 */
import type { Reporter, TestModule } from 'vitest/node';

export default class NoSkipsReporter implements Reporter {
  onTestRunEnd(testModules: ReadonlyArray<TestModule>): void {
    if (process.env.GNOMON_NO_SKIPS !== '1') return;
    const skipped: string[] = [];
    for (const m of testModules) {
      for (const t of m.children.allTests()) {
        const state = t.result().state;
        if (state === 'skipped' || state === 'pending') skipped.push(`${m.moduleId}: ${t.fullName}`);
      }
    }
    if (skipped.length > 0) {
      process.stderr.write(`\n${skipped.length} test(s) skipped; npm test counts a skip as a failure:\n  ${skipped.join('\n  ')}\n`);
      process.exitCode = 1;
    }
  }
}
