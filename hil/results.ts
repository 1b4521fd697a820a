/**
 * Check results and the one table the runner prints (pure). Also the small helpers that turn a
 * measured value and a threshold row into a PASS/FAIL line.
 */
import { describeLimit, display, limitFor, meets, thresholdRow, type CheckId, type Limit, type Rig } from './thresholds.js';

export type Verdict = 'PASS' | 'FAIL' | 'SKIP';

export interface CheckResult {
  readonly id: CheckId;
  readonly check: string;
  readonly measured: string;
  readonly threshold: string;
  readonly result: Verdict;
  /** The measured number in the row's base unit, when there is one (--json). */
  readonly value?: number;
}

/** A numeric check: PASS when `value` meets the row's limit on `rig` (and `also` holds). */
export function numericResult(id: CheckId, rig: Rig, value: number, measured?: string, also = true, limit?: Limit): CheckResult {
  const row = thresholdRow(id);
  const l = limit ?? limitFor(id, rig);
  const text = measured ?? display(value, row.unit);
  return { id, check: row.check, measured: text, threshold: describeLimit(l, row.unit), result: also && meets(l, value) ? 'PASS' : 'FAIL',
    ...(Number.isFinite(value) ? { value } : {}) };
}

/** A condition check: PASS when `pass`. */
export function conditionResult(id: CheckId, rig: Rig, pass: boolean, measured: string): CheckResult {
  const row = thresholdRow(id);
  return { id, check: row.check, measured, threshold: describeLimit(limitFor(id, rig), row.unit), result: pass ? 'PASS' : 'FAIL' };
}

/** A check that could not run at all (the box did not answer, a precondition failed): FAIL with the reason. */
export function failedResult(id: CheckId, rig: Rig, why: string): CheckResult {
  const row = thresholdRow(id);
  return { id, check: row.check, measured: why, threshold: describeLimit(limitFor(id, rig), row.unit), result: 'FAIL' };
}

/** A check not asked for by the options (e.g. the end of holdover without --holdover-s): SKIP, never counted as a pass. */
export function skippedResult(id: CheckId, rig: Rig, why: string): CheckResult {
  const row = thresholdRow(id);
  return { id, check: row.check, measured: why, threshold: describeLimit(limitFor(id, rig), row.unit), result: 'SKIP' };
}

export interface Report {
  readonly rig: Rig;
  readonly target: string;
  readonly startedAt: string;
  readonly durationS: number;
  /** true when no result is FAIL (SKIPs are listed, not failures). */
  readonly pass: boolean;
  readonly results: readonly CheckResult[];
  /** What the runner saw along the way (lock times, operator steps), for the log and --json. */
  readonly notes: readonly string[];
}

export function makeReport(rig: Rig, target: string, startedMs: number, endedMs: number, results: readonly CheckResult[],
  notes: readonly string[]): Report {
  return { rig, target, startedAt: new Date(startedMs).toISOString(), durationS: Math.round((endedMs - startedMs) / 100) / 10,
    pass: results.length > 0 && results.every((r) => r.result !== 'FAIL'), results, notes };
}

/** Terminal width of a string (µ, ≤, … are one column each; no wide characters are used). */
function width(s: string): number {
  return [...s].length;
}

function pad(s: string, w: number): string {
  return s + ' '.repeat(Math.max(0, w - width(s)));
}

/** The table: check | measured | threshold | result, column widths from the content, and a summary line. */
export function formatTable(report: Report): string {
  const header = ['check', 'measured', 'threshold', 'result'];
  const rows = report.results.map((r) => [r.check, r.measured, r.threshold, r.result]);
  const widths = header.map((h, i) => Math.max(width(h), ...rows.map((row) => width(row[i] ?? ''))));
  const line = (cells: readonly string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : pad(c, widths[i] ?? 0))).join('  ').trimEnd();
  const rule = widths.map((w) => '-'.repeat(w)).join('  ');
  const failed = report.results.filter((r) => r.result === 'FAIL').length;
  const skipped = report.results.filter((r) => r.result === 'SKIP').length;
  const summary = `${report.rig} rig ${report.target}: ${report.results.length - failed - skipped} passed, ${failed} failed`
    + `${skipped > 0 ? `, ${skipped} skipped` : ''} in ${report.durationS} s: ${report.pass ? 'PASS' : 'FAIL'}`;
  return [line(header), rule, ...rows.map(line), '', summary, ''].join('\n');
}

export function formatJson(report: Report): string {
  return `${JSON.stringify(report, null, 2)}\n`;
}
