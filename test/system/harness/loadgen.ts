// bench/loadgen.c for system tests: compiled on demand (bench/runner/loadgen.mjs), run for a bounded
// burst (its own --duration, and a SIGKILL timer 15 s after it), its one JSON summary line parsed.
import { spawn } from 'node:child_process';
import { REPO_ROOT } from './daemon.js';

/** The fields of loadgen's summary the tests read (bench/loadgen.c prints more). */
export interface LoadgenResult {
  sent: number; matched: number; lost: number; kod: number; wrong_origin: number;
  addresses?: number; reply_addr_checked?: number; reply_addr_mismatch?: number;
  offset_us?: { abs_p50: number; abs_p99: number; mean: number };
}

/** Sends to 127.0.0.1:`port` for `seconds` (1-60) with loadgen's other `args` (e.g. --rate, --addresses). */
export async function loadgenBurst(port: number, seconds: number, args: readonly string[], label: string): Promise<LoadgenResult> {
  const { compileLoadgen } = await import('../../../bench/runner/loadgen.mjs' as string) as { compileLoadgen: () => void };
  compileLoadgen();
  const child = spawn(`${REPO_ROOT}bench/build/loadgen`, ['--port', String(port), '--duration', String(seconds), ...args, '--label', label],
    { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (c: string) => (out += c));
  child.stderr.setEncoding('utf8').on('data', (c: string) => (err += c));
  const guard = setTimeout(() => child.kill('SIGKILL'), (seconds + 15) * 1000);
  // 'close', not 'exit': the JSON line is written just before exit and may arrive after 'exit'.
  const code = await new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)));
  clearTimeout(guard);
  if (code !== 0) throw new Error(`loadgen exited ${code}: ${err}`);
  return JSON.parse(out.trim().split('\n').pop()!) as LoadgenResult;
}
