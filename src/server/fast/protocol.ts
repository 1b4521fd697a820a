/**
 * Messages between the main thread and a fast-path worker (src/server/fast/worker.ts), all
 * structured-clone data.
 */
import type { RestrictRule } from '../../config/model.js';
import type { RateLimitSettings } from '../access/ratelimit.js';
import type { MacKind } from '../../auth/keys.js';

/** Trusted keys as data (a KeyRing holds ciphers, which do not cross threads). */
export interface KeyMaterial {
  readonly id: number;
  readonly type: string;
  readonly mac: MacKind;
  readonly secret: Uint8Array;
  readonly digestLength: number;
  readonly line: number;
}

/** What the worker builds its restrict table, rate limiter and key ring from. */
export interface AccessSpec {
  readonly restrict: readonly RestrictRule[];
  readonly sources: readonly string[];
  readonly limiter: RateLimitSettings;
  /** The main thread's rate table (RateLimiter.memory): every thread counts clients in the one table. */
  readonly rateTable: SharedArrayBuffer;
  readonly keys: readonly KeyMaterial[];
}

export interface WorkerStart {
  readonly abi: string;
  readonly address: string;
  readonly port: number;
  readonly rcvbuf: number;
  readonly receiveTimeoutMs: number;
  /** Receive coalescing interval, µs (coalescing.ts; --rx-coalesce-us); 0 or absent: off. */
  readonly coalesceUs?: number;
  readonly shared: SharedArrayBuffer;
  /** A MessagePort (transferred) the worker polls with receiveMessageOnPort. */
  readonly control: unknown;
  readonly access: AccessSpec;
}

export type ToWorker =
  /** New access config and keys (reload); the worker answers `applied` with the generation once it uses them. */
  | { readonly kind: 'access'; readonly access: AccessSpec; readonly generation: number }
  /** Post the counters now, then `applied` with the generation (`gnomon status` reads what was served). */
  | { readonly kind: 'flush'; readonly generation: number }
  /**
   * Test-only (GNOMON_TEST_FAULTS=worker-crash, docs/server.md): the worker throws `message` from
   * its loop, as an unexpected bug would, so the restart path runs through the real daemon.
   */
  | { readonly kind: 'fault'; readonly message: string };

export type FromWorker =
  | { readonly kind: 'ready'; readonly fd: number; readonly address: string; readonly port: number }
  | { readonly kind: 'error'; readonly message: string; readonly errno: number }
  | {
    readonly kind: 'forward'; readonly bytes: Uint8Array; readonly name: Uint8Array; readonly address: string; readonly port: number;
    /** Raw CLOCK_REALTIME receive time (kernel stamp, or the read after recvmmsg). */
    readonly rxSec: number; readonly rxNsec: number;
  }
  | {
    readonly kind: 'stats'; readonly counters: Readonly<Record<string, number>>;
    readonly rx: { readonly kernel: number; readonly missing: number; readonly outOfWindow: number; readonly forwarded: number; readonly receiveErrors: number };
    readonly sendDropped: number;
  }
  | { readonly kind: 'applied'; readonly generation: number }
  | { readonly kind: 'stopped' };
