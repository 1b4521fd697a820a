/**
 * Which server path runs (issue 9): `--server-path auto|fast|dgram` or GNOMON_SERVER_PATH, and
 * how many fast-path workers per listen address (`--server-workers N|auto`). Pure: serve.ts asks
 * the fast path whether it can run and opens the sockets.
 *
 * auto (the default): the batched fast path (src/server/fast) where it can run, else node:dgram
 * with one log line saying why. fast: the fast path or no start at all. dgram: node:dgram.
 */
import { availableParallelism } from 'node:os';
import { DEFAULT_RX_COALESCE_US, MAX_RX_COALESCE_US } from '../server/fast/coalescing.js';

export type ServerPathRequest = 'auto' | 'fast' | 'dgram';
export const SERVER_PATHS: readonly ServerPathRequest[] = ['auto', 'fast', 'dgram'];

export class ServerPathError extends Error {
  constructor(readonly code: 'SERVER_PATH_BAD_VALUE' | 'SERVER_WORKERS_BAD_VALUE' | 'RX_COALESCE_BAD_VALUE', message: string) {
    super(message);
  }
}

/**
 * The requested path: `--server-path` first, then GNOMON_SERVER_PATH, then the deprecated
 * `--fast-path` / GNOMON_FAST_PATH=1 (both mean `fast`), else auto. `deprecated` names an alias
 * that was used, for a warning.
 */
export function requestedServerPath(
  flag: string | undefined, fastPathFlag: boolean, env: NodeJS.ProcessEnv,
): { readonly path: ServerPathRequest; readonly deprecated?: string } {
  const pick = (v: string, where: string): ServerPathRequest => {
    if ((SERVER_PATHS as readonly string[]).includes(v)) return v as ServerPathRequest;
    throw new ServerPathError('SERVER_PATH_BAD_VALUE', `${where} "${v}": expected auto, fast or dgram`);
  };
  if (flag !== undefined) return { path: pick(flag, '--server-path') };
  if (env.GNOMON_SERVER_PATH !== undefined && env.GNOMON_SERVER_PATH !== '') return { path: pick(env.GNOMON_SERVER_PATH, 'GNOMON_SERVER_PATH') };
  if (fastPathFlag) return { path: 'fast', deprecated: '--fast-path (use --server-path fast)' };
  if (env.GNOMON_FAST_PATH === '1') return { path: 'fast', deprecated: 'GNOMON_FAST_PATH=1 (use GNOMON_SERVER_PATH=fast)' };
  return { path: 'auto' };
}

/**
 * `--server-workers N|auto` (or GNOMON_SERVER_WORKERS): fast-path worker threads per listen address;
 * auto = the cores Node may use; 0 = none, the main thread answers (src/server/fast/inline-pool.ts).
 */
export function serverWorkers(flag: string | undefined, env: NodeJS.ProcessEnv, cores: () => number = availableParallelism): number {
  const v = flag ?? (env.GNOMON_SERVER_WORKERS || undefined);
  // No worker thread by default: the main thread answers as fast (docs/benchmarks.md) in ~10 MiB less.
  if (v === undefined) return 0;
  if (v === 'auto') return Math.max(1, cores());
  const n = wholeNumberIn(v, 0, 64);
  if (n === undefined) {
    throw new ServerPathError('SERVER_WORKERS_BAD_VALUE', `--server-workers "${v}": expected a whole number 0-64 (0 = the main thread answers) or auto`);
  }
  return n;
}

/** `v` as a whole number in [lo, hi], else undefined (blank text is not 0). */
function wholeNumberIn(v: string, lo: number, hi: number): number | undefined {
  const n = Number(v);
  return v.trim() !== '' && Number.isInteger(n) && n >= lo && n <= hi ? n : undefined;
}

/**
 * `--rx-coalesce-us N` (or GNOMON_RX_COALESCE_US): how long the fast path waits after a short
 * batch when requests come at least once per N µs (src/server/fast/coalescing.ts); 0 = never.
 */
export function rxCoalesceUs(flag: string | undefined, env: NodeJS.ProcessEnv): number {
  const v = flag ?? (env.GNOMON_RX_COALESCE_US || undefined);
  if (v === undefined) return DEFAULT_RX_COALESCE_US;
  const n = wholeNumberIn(v, 0, MAX_RX_COALESCE_US);
  if (n === undefined) {
    throw new ServerPathError('RX_COALESCE_BAD_VALUE', `--rx-coalesce-us "${v}": expected a whole number of microseconds 0-${MAX_RX_COALESCE_US} (0 = off)`);
  }
  return n;
}

/**
 * Why the fast path cannot serve this config on this machine, or undefined: the machine's reason
 * (no socket ABI, koffi does not load), else a config that needs node:dgram (multicastclient: the
 * fast path joins no groups yet).
 */
export function fastPathBlocker(machineReason: string | undefined, multicastGroups: readonly string[]): string | undefined {
  if (machineReason) return machineReason;
  if (multicastGroups.length > 0) return 'multicastclient needs node:dgram (the fast path joins no multicast groups yet)';
  return undefined;
}

/** The error `--server-path fast` stops with: what, why, how to fix. */
export function fastUnavailableMessage(reason: string): string {
  return `--server-path fast: the fast path cannot run: ${reason}; `
    + 'run with --server-path auto (the default: falls back to node:dgram) or --server-path dgram';
}
