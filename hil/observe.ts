/**
 * What the runner and the scenarios share: the rig context (box, client, operator, options) and
 * reading the box's status, once or until a condition holds.
 */
import type { Box, Operator } from './box.js';
import { parseStatus, type StatusView } from './parse.js';
import type { ScenarioName } from './scenarios.js';
import type { Rig } from './thresholds.js';
import type { Transport } from './transport.js';

export interface RunOptions {
  /** Seconds of status samples for the offset/jitter/rate checks (hardware 30, virtual 8). */
  readonly windowS: number;
  /** How long to wait for PPS tracking before measuring (hardware 120, virtual 40). */
  readonly settleS: number;
  /** The box's `tos holdover` in seconds, if the operator wants the end of holdover checked. */
  readonly holdoverS?: number;
  readonly scenarios: readonly ScenarioName[];
  /** Status poll interval during scenarios, ms (default 1000). */
  readonly pollMs?: number;
}

export interface RigContext {
  readonly rig: Rig;
  readonly box: Box;
  /** Runs the remote client (ntpdig) on another host than the box: the runner's own machine on hardware. */
  readonly client: Transport;
  /** `gnomon query` on the client host when it has no ntpdig (e.g. `node dist/src/cli/main.js`). */
  readonly clientGnomon?: string;
  readonly operator: Operator;
  readonly options: RunOptions;
  /** Progress lines (stderr on the CLI). */
  readonly log: (line: string) => void;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** `gnomon status --json` on the box; undefined (with the reason logged once per distinct reason) when it does not answer. */
export async function readStatus(ctx: RigContext): Promise<StatusView | undefined> {
  const r = await ctx.box.transport.run(ctx.box.commands.status, 15_000);
  if (r.code !== 0 && r.code !== 1) {
    noteOnce(ctx, `status: exit ${r.code}${r.timedOut ? ' (timed out)' : ''}: ${r.stderr.trim().split('\n').pop() ?? ''}`);
    return undefined;
  }
  try {
    return parseStatus(r.stdout);
  } catch (err) {
    noteOnce(ctx, (err as Error).message);
    return undefined;
  }
}

const lastNotes = new WeakMap<RigContext, string>();
function noteOnce(ctx: RigContext, line: string): void {
  if (lastNotes.get(ctx) === line) return;
  lastNotes.set(ctx, line);
  ctx.log(line);
}

export interface Observation {
  readonly status: StatusView;
  readonly atMs: number;
}

/**
 * Polls the status until `until` holds or `timeoutMs` passes; every sample (and its time) goes
 * to `seen` first. Returns the matching sample, or undefined.
 */
export async function watch(ctx: RigContext, until: (s: StatusView) => boolean, timeoutMs: number,
  seen?: (o: Observation) => void): Promise<Observation | undefined> {
  const deadline = Date.now() + timeoutMs;
  const interval = ctx.options.pollMs ?? 1000;
  for (;;) {
    const started = Date.now();
    const status = await readStatus(ctx);
    const atMs = Date.now();
    if (status) {
      const o = { status, atMs };
      seen?.(o);
      if (until(status)) return o;
    }
    if (atMs >= deadline) return undefined;
    await sleep(Math.max(0, Math.min(interval - (atMs - started), deadline - atMs)));
  }
}
