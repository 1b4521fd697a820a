/**
 * The contract between the association core (src/assoc, pure) and the daemon shell that owns
 * its sockets, timers and DNS (src/daemon/associations.ts).
 *
 * An association is the client side of NTP towards one other server: `server` (we send mode 3,
 * it answers mode 4), `peer` (symmetric active: both send mode 1; a passive side answers
 * mode 2), or a broadcast server heard by `broadcastclient` (mode 5). `pool` lines become
 * several `server` associations in the shell.
 *
 * Time: every local instant the core sees is the raw (undisciplined) system clock in ns since
 * the Unix epoch, the same clock the refclock samples use, so that the offsets of refclocks and
 * upstream servers are comparable and the discipline fits them alike. Timestamps that go on the
 * wire as our own time (symmetric mode's transmit and receive timestamps) are served time; the
 * shell passes both readings. Signs: offsetNs = local raw clock − the server's clock (+ = local
 * ahead), as SourceEstimate's; RFC 5905's θ is the negative of it.
 */
import type { NtpTimestamp } from '../ntp/timestamp.js';
import type { PreparedKey } from '../auth/mac.js';

export type AssociationMode = 'client' | 'symmetric';

export interface AssociationConfig {
  /** As ntpq shows it in the remote column: the address (a pool member's own address). */
  readonly name: string;
  /** The peer's IP address (literal; DNS is the shell's business). */
  readonly address: string;
  readonly mode: AssociationMode;
  /** log2 s; defaults 6 and 10 as ntpd. */
  readonly minpollLog2S: number;
  readonly maxpollLog2S: number;
  readonly iburst: boolean;
  readonly burst: boolean;
  readonly prefer: boolean;
  readonly noselect: boolean;
  /** `true`: never a falseticker (ntpd's truechimer flag). */
  readonly alwaysTrue: boolean;
  /** NTP version sent (default 4). */
  readonly version: number;
  /** Symmetric key for outgoing MACs and required on replies (`key N`); undefined = unauthenticated. */
  readonly key?: PreparedKey;
}

/** What the core asks the shell to do. */
export type AssociationAction =
  /** Send these bytes to the association's address (the shell picks the socket: its own for client mode, the server's port for symmetric). */
  | { readonly kind: 'send'; readonly packet: Uint8Array }
  /** The server said DENY or RSTR (kiss-o'-death) or a fatal crypto failure: stop polling it (a pool finds another). */
  | { readonly kind: 'demobilise'; readonly reason: 'kodDeny' | 'kodRestrict' }
  /** Nothing answered for this long: a pool re-resolves its name. */
  | { readonly kind: 'unreachable' };

/** Local clock readings the shell takes at one instant. */
export interface LocalTime {
  /** Raw system clock, ns since the Unix epoch. */
  readonly rawNs: bigint;
  /** Served (disciplined) time at the same instant: what our own packets carry. */
  readonly served: NtpTimestamp;
}

/** Why a reply was not used (stable counter names; ntpq's flash bits map onto these). */
export const REPLY_REJECT_REASONS = [
  'duplicate', 'bogusOrigin', 'unsynchronised', 'badStratum', 'distance', 'badMac', 'cryptoNak', 'badFormat', 'badMode',
] as const;
export type ReplyRejectReason = (typeof REPLY_REJECT_REASONS)[number];

/** One accepted exchange (RFC 5905 section 8), before the clock filter. */
export interface NtpSample {
  /**
   * Local raw instant the sample belongs to, ns since the Unix epoch: the midpoint of T1 and T4
   * (the measured offset is the mean of the clock's error at both), T4 for a broadcast.
   */
  readonly atNs: bigint;
  /** Local − server, ns (+ = local ahead). */
  readonly offsetNs: number;
  /** Round-trip delay δ, ns (≥ the precision). */
  readonly delayNs: number;
  /** ε at atNs: both sides' precision + PHI × the exchange's duration, ns. */
  readonly dispersionNs: number;
}

/** The association's view of the upstream server's own state (from its last accepted packet). */
export interface UpstreamState {
  readonly leap: number;
  readonly stratum: number;
  readonly precisionLog2S: number;
  readonly rootDelayS: number;
  readonly rootDispersionS: number;
  /** The server's refid as a u32 (ntpq prints it as text at stratum 1, as an address above). */
  readonly refid: number;
  readonly reftime: NtpTimestamp;
}

/**
 * What the discipline uses (the clock filter's output fed through a regression, as for refclocks)
 * and ntpq shows. Distances in s, offsets in ns with SourceEstimate's sign.
 */
export interface AssociationStatus {
  readonly name: string;
  readonly address: string;
  /** RFC 5905 host mode: 3 client, 1 symmetric active, 2 symmetric passive (unconfigured), 6 broadcast client (ntpd's MODE_BCLIENT). */
  readonly hmode: number;
  /** The remote's mode in its last packet (4, 2, 1, 5), 0 before any. */
  readonly pmode: number;
  readonly prefer: boolean;
  readonly noselect: boolean;
  readonly alwaysTrue: boolean;
  /** 8-bit reach register. */
  readonly reach: number;
  /** Current poll interval, log2 s (ntpq's poll column is 2^this). */
  readonly pollLog2S: number;
  /** Local raw instant of the last accepted packet, null before any (ntpq's `when`). */
  readonly lastReceiveNs: bigint | null;
  readonly upstream: UpstreamState | null;
  /** Clock filter output, null until the first sample. */
  readonly filter: {
    readonly offsetNs: number;
    readonly delayNs: number;
    readonly dispersionNs: number;
    readonly jitterNs: number;
    /** The 8 stages, newest first: ntpq's filtdelay/filtoffset/filtdisp (absent stages: dispersion 16 s). */
    readonly stages: readonly { readonly offsetNs: number; readonly delayNs: number; readonly dispersionNs: number }[];
  } | null;
  readonly keyId: number;
  /** Replies rejected, by reason; KoD received, by code. */
  readonly rejects: Readonly<Partial<Record<ReplyRejectReason, number>>>;
  readonly kod: Readonly<Record<string, number>>;
  readonly sent: number;
  readonly received: number;
  /** Set once a KoD DENY/RSTR stopped the association. */
  readonly demobilised: boolean;
  /** Filter outputs dropped by the popcorn spike rule (RFC 5905 SGATE). */
  readonly spikes?: number;
  /** Reported unreachable (8 polls with reach 0) and not heard from since. */
  readonly unreachable?: boolean;
  /** Why the latest refused packet was refused; null before any. */
  readonly lastReject?: ReplyRejectReason | null;
  /** Broadcast client only: calibration volleys run, and the round-trip delay δ in use (null while calibrating). */
  readonly calibrations?: number;
  readonly broadcastDelayNs?: number | null;
}
