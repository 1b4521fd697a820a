// `gnomon demo` as a child process with its own control socket, for system tests.
import { GNOMON_MAIN, REPO_ROOT } from './daemon.js';
import { LongRunning, pollUntil, run, type Teardown, TempDir } from './process.js';
import type { Netns } from './netns.js';
import type { StatusReport } from '../../../src/daemon/status.js';

export interface Demo {
  readonly proc: LongRunning;
  readonly control: string;
  /** Date.now() just before the process was started (the simulator's start, to within its start-up). */
  readonly startedMs: number;
  status(): Promise<StatusReport>;
}

/**
 * `gnomon demo ARGS --control DIR/control.sock`, in `ns` if given (NTPsec's tools only talk to
 * port 123: run it there); stopped (and required to exit 0) by `teardown`.
 */
export async function startDemo(args: readonly string[], teardown: Teardown, ns?: Netns): Promise<Demo> {
  const dir = new TempDir('gnm-demo-');
  teardown.add('demo temp dir', () => dir.remove());
  const control = dir.file('control.sock');
  const startedMs = Date.now();
  const argv = [GNOMON_MAIN, 'demo', ...args, '--control', control];
  const proc = ns ? await ns.start(process.execPath, argv, { cwd: REPO_ROOT }) : await LongRunning.start(process.execPath, argv, { cwd: REPO_ROOT });
  teardown.add('gnomon demo', async () => {
    const end = await proc.stop('SIGTERM', 5000);
    if (end.code !== 0) throw new Error(`gnomon demo exited ${end.code ?? end.signal} after SIGTERM\n${proc.describe()}`);
  });
  const listening = await pollUntil(() => (proc.stdout.includes('"listening"') ? true : undefined), 10_000);
  if (!listening) throw new Error(`gnomon demo did not listen within 10 s\n${proc.describe()}`);
  return {
    proc, control, startedMs,
    status: async () => {
      const r = await run(process.execPath, [GNOMON_MAIN, 'status', '--json', '--control', control], { timeoutMs: 10_000 });
      if (r.code !== 0 && r.code !== 1) throw new Error(`gnomon status exited ${r.code}: ${r.stderr}\n${proc.describe()}`);
      return JSON.parse(r.stdout) as StatusReport;
    },
  };
}

/** Waits until the demo serves from PPS(0) (tracking); returns that status. */
export async function waitForPps(demo: Demo, timeoutMs: number): Promise<StatusReport> {
  const s = await pollUntil(async () => {
    const st = await demo.status();
    return st.server.selected === 'PPS(0)' && st.server.state === 'tracking' ? st : undefined;
  }, timeoutMs, 500);
  if (!s) throw new Error(`no PPS(0) selection within ${timeoutMs} ms: ${JSON.stringify(await demo.status(), null, 1)}\n${demo.proc.describe()}`);
  return s;
}
