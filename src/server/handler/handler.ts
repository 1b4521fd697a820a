/**
 * The server's per-packet logic (pure: bytes in, bytes out; ARCHITECTURE.md principles 1 and 6).
 *
 * Order of work: cheapest checks first (length, version, mode, restrict, rate limit), then the
 * reply is assembled from the pre-encoded state template and the transmit timestamp is written
 * last. Nothing here allocates or throws for any input; outcomes are counted.
 * The reply is never longer than the request: 48 bytes; 52 for a crypto-NAK, which only answers
 * requests that carried a MAC of at least 20 bytes; 48 + 4 + the key's digest length for a signed
 * reply, which answers a request whose MAC under that same key verified (so was as long).
 *
 * Authentication (RFC 5905, RFC 8573): a request with a MAC whose key is trusted and whose MAC
 * verifies is answered with a MAC under the same key; an unknown or untrusted key or a wrong MAC
 * gets a crypto-NAK (counted as authFailed). `restrict notrust` refuses requests without a MAC
 * (ntpd's order: a bad MAC still gets its crypto-NAK). Only requests with a MAC pay for crypto.
 */
import { LeapIndicator, Mode, NTP_HEADER_LENGTH, NTP_OLDEST_VERSION, NTP_VERSION, KissCode } from '../../ntp/constants.js';
import { TRAILER_MALFORMED, scanTrailer } from '../../ntp/packet.js';
import { writeNtpWords } from '../../ntp/timestamp.js';
import type { ServerCounters } from '../counters.js';
import type { ServerStateCell } from '../state.js';
import { RestrictBits, type RestrictTable } from '../access/restrict.js';
import { RateVerdict, type RateLimiter } from '../access/ratelimit.js';
import type { ControlView } from '../../control/mode6/view.js';
import type { Mode6Responder } from '../../control/mode6/responder.js';
import { KeyRing } from '../../auth/mac.js';
import { ParsedAddress, formatAddress, parseAddress } from '../../net/address.js';
import type { InterleavedServer } from '../interleave/server.js';

/** Mode 6 header length: shorter mode 6 datagrams are malformed. */
const CONTROL_HEADER_LENGTH = 12;

/** Writes "now" on the served timescale as a big-endian NTP timestamp (the Timescale does). */
export interface TransmitClock {
  writeNtp(buf: Buffer, offset: number): void;
}

/**
 * Where the request came from and when it arrived; filled by the IO shell, one per shell, reused
 * per packet. The source is kept as words (restrict and the rate table compare numbers); its
 * text is made only when a rare path (mode 6, associations) asks for it.
 */
export class RequestMeta {
  /** Source address as words (IPv4 and v4-mapped IPv6: family 4, word 3). */
  readonly source = new ParsedAddress();
  /** Source UDP port. */
  port = 0;
  /** Receive timestamp on the served timescale, NTP seconds (u32) and fraction (u32). */
  rxSeconds = 0;
  rxFraction = 0;
  /** Monotonic seconds at arrival, for rate limiting. */
  monoS = 0;
  private text: string | undefined;

  /** The source as text, e.g. dgram's rinfo.address (kept as given, so "::ffff:a.b.c.d" stays that). */
  setSourceText(address: string, port: number): void {
    parseAddress(address, this.source); // family 0 when it is not an address: restrict ignores it
    this.text = address;
    this.port = port;
  }

  /** Call after writing `source` directly (the fast path, from the sockaddr): drops the old text. */
  sourceWritten(port: number): void {
    this.text = undefined;
    this.port = port;
  }

  /** Source address as text (dgram's form), made on first use per packet. */
  get address(): string {
    return (this.text ??= formatAddress(this.source.family, this.source.words));
  }
}

/**
 * Where mode 1 and 2 from configured peers and mode 5 from broadcasters go (the daemon's
 * association shell). `wants` is asked first and must be cheap: it runs in the hot path for
 * those modes only.
 */
export interface AssociationPort {
  wants(mode: number, address: string): boolean;
  routeFromServer(buf: Uint8Array, length: number, address: string): void;
}

/** What mode 6 (ntpq) is answered from: the daemon's view of its state and the responder. */
export interface ControlPort {
  readonly view: ControlView;
  readonly responder: Mode6Responder;
}

/**
 * Mode 6 requests answered per second, over all clients, and the burst allowed (a bound on what
 * spoofed queries can reflect when `noquery` is not set: 64/s × at most 1920 bytes).
 */
export const CONTROL_RATE_PER_S = 64;
export const CONTROL_BURST = 128;

export class NtpRequestHandler {
  /** Datagrams of the last mode 6 answer still to be sent (takeControlReply). */
  private controlPending = 0;
  private controlTokens = CONTROL_BURST;
  private controlLastS = Number.NEGATIVE_INFINITY;
  private keys = new KeyRing();
  private associations: AssociationPort | undefined;
  /** Interleaved mode (src/server/interleave): only where kernel transmit stamps are read (the fast path). */
  private interleave: InterleavedServer | undefined;
  /** The shell writes unsigned basic replies' transmit timestamps itself (the fast path: once per batch, right before the send). */
  private shellStampsTransmit = false;

  constructor(
    private readonly clock: TransmitClock,
    private readonly state: ServerStateCell,
    private restrict: RestrictTable,
    private rateLimiter: RateLimiter,
    readonly counters: ServerCounters,
    private control?: ControlPort,
  ) {}

  /**
   * `on`: leave the transmit timestamp of unsigned basic time replies (48 bytes, not a kiss, not
   * interleaved) to the shell, which must write it before sending. The fast path restamps every such
   * reply of a batch right before its sendmmsg, so a clock read here per reply would be thrown away.
   */
  setShellStampsTransmit(on: boolean): void {
    this.shellStampsTransmit = on;
  }

  /** Attaches (or detaches) mode 6; without it mode 6 requests are declined. */
  setControl(control: ControlPort | undefined): void {
    this.control = control;
  }

  /** Swaps access control on reload; the socket and the counters stay. */
  reconfigure(restrict: RestrictTable, rateLimiter: RateLimiter): void {
    this.restrict = restrict;
    this.rateLimiter = rateLimiter;
  }

  /** Attaches the association shell: peers' mode 1/2 and broadcasts (mode 5) go there. */
  setAssociations(port: AssociationPort | undefined): void {
    this.associations = port;
  }

  /** Turns on interleaved mode for server replies (the shell must then commit and record transmit stamps). */
  setInterleave(interleave: InterleavedServer | undefined): void {
    this.interleave = interleave;
  }

  /** Swaps the trusted keys (start-up and reload). */
  setKeys(keys: KeyRing): void {
    this.keys = keys;
  }

  /** The rate-limit table in use (the MRU list and status pages read it). */
  get clients(): RateLimiter {
    return this.rateLimiter;
  }

  /**
   * Handles one datagram. Writes the reply into `out` (at least 72 bytes) and returns its
   * length, or 0 when nothing is to be sent.
   */
  handle(req: Buffer, length: number, meta: RequestMeta, out: Buffer): number {
    const c = this.counters;
    c.received++;
    // Mode 6 (ntpq): answered, if at all, in datagrams of their own (takeControlReply); returns 0 here.
    if (length >= CONTROL_HEADER_LENGTH && (req[0]! & 7) === Mode.Control) return this.handleControl(req, length, meta);
    if (length < NTP_HEADER_LENGTH) {
      c.badFormat++;
      return 0;
    }
    const b0 = req[0]!;
    const version = (b0 >> 3) & 7;
    let mode = b0 & 7;
    if (version < NTP_OLDEST_VERSION || version > NTP_VERSION) {
      c.badFormat++;
      return 0;
    }
    // NTPv1 had no mode field; ntpd treats mode 0 from a v1 sender as a client request.
    if (mode === Mode.Reserved && version === 1) mode = Mode.Client;
    // A configured peer's mode 1/2 and broadcasts are not requests: the association takes them
    // (it checks their MAC and origin); only `ignore` keeps them out, as ntpd's restrict does.
    if ((mode === Mode.SymmetricActive || mode === Mode.SymmetricPassive || mode === Mode.Broadcast)
      && this.associations !== undefined && this.associations.wants(mode, meta.address)) {
      if ((this.restrict.lookupAddress(meta.source) & RestrictBits.ignore) !== 0) {
        c.restricted++;
        return 0;
      }
      c.toAssociations++;
      this.associations.routeFromServer(req, length, meta.address);
      return 0;
    }
    if (mode !== Mode.Client && mode !== Mode.SymmetricActive) {
      c.declined++;
      return 0;
    }
    if (version === NTP_VERSION) c.currentVersion++;
    else c.olderVersion++;

    const bits = this.restrict.lookupAddress(meta.source);
    if ((bits & RestrictBits.ignore) !== 0) {
      c.restricted++;
      return 0;
    }
    const verdict = this.rateLimiter.observe(meta, mode, version);
    const macAt = scanTrailer(req, length, version);
    if (macAt === TRAILER_MALFORMED) {
      c.badFormat++;
      return 0;
    }
    const hasMac = macAt < length;

    if ((bits & RestrictBits.noserve) !== 0 || ((bits & RestrictBits.version) !== 0 && version !== NTP_VERSION)) {
      c.restricted++;
      return (bits & RestrictBits.kod) !== 0 && verdict !== RateVerdict.Limited ? this.kiss(req, out, KissCode.DENY, 0) : 0;
    }
    // notrust: a request without a MAC is refused; one with a MAC is judged by it below.
    if ((bits & RestrictBits.notrust) !== 0 && !hasMac) {
      c.restricted++;
      return (bits & RestrictBits.kod) !== 0 && verdict !== RateVerdict.Limited ? this.kiss(req, out, KissCode.RSTR, 0) : 0;
    }
    if ((bits & RestrictBits.limited) !== 0 && verdict !== RateVerdict.Accept) {
      c.rateLimited++;
      if ((bits & RestrictBits.kod) !== 0 && verdict === RateVerdict.LimitedSendKod && mode === Mode.Client) {
        return this.kiss(req, out, KissCode.RATE, this.rateLimiter.averageLog2S);
      }
      return 0;
    }
    let replyMode: number = Mode.Server;
    if (mode === Mode.SymmetricActive) {
      // An unconfigured peer would mobilise an ephemeral association: only without nopeer/noepeer.
      if ((bits & (RestrictBits.nopeer | RestrictBits.noepeer)) !== 0) {
        c.declined++;
        return 0;
      }
      replyMode = Mode.SymmetricPassive;
    }

    const s = this.state;
    const t = s.template;
    // The 24-byte template by TypedArray.set (a memmove in V8's builtin), then bytes 0 and 2: a byte
    // loop over it was ~8 % of the fast path's per-request JS. (Buffer.copy, a C++ call, costs more.)
    out.set(t);
    out[0] = s.leapBits | (version << 3) | replyMode;
    out[2] = req[2]!; // poll: echoed, as ntpd and chrony do
    for (let i = 0; i < 8; i++) out[24 + i] = req[40 + i]!; // origin = the request's transmit timestamp
    writeNtpWords(out, 32, meta.rxSeconds, meta.rxFraction);
    if (hasMac) {
      const key = this.keys.get(req.readUInt32BE(macAt));
      if (key === undefined || !key.verify(req, macAt, length)) {
        // RFC 5905 crypto-NAK: header + a zero key ID; it carries no usable authenticated time.
        c.authFailed++;
        out.writeUInt32BE(0, 48);
        this.clock.writeNtp(out, 40);
        c.processed++;
        return NTP_HEADER_LENGTH + 4;
      }
      out.writeUInt32BE(key.id, 48);
      if (!this.interleaved(req, version, replyMode, out)) this.clock.writeNtp(out, 40);
      key.sign(out, NTP_HEADER_LENGTH, out, NTP_HEADER_LENGTH + 4);
      c.authenticated++;
      c.processed++;
      return NTP_HEADER_LENGTH + 4 + key.digestLength;
    }
    // Last: as close to the send as this layer can get (or left to the shell, which gets closer).
    if (!this.interleaved(req, version, replyMode, out) && !this.shellStampsTransmit) this.clock.writeNtp(out, 40);
    c.processed++;
    return NTP_HEADER_LENGTH;
  }

  /** Interleaved mode's turn (mode 4 replies only): true when it wrote origin and transmit. */
  private interleaved(req: Buffer, version: number, replyMode: number, out: Buffer): boolean {
    return this.interleave !== undefined && replyMode === Mode.Server && this.interleave.serve(req, version, out);
  }

  /**
   * Mode 6, in ntpd's order (ntp_proto.c receive): version, restrict (`ignore`, `noquery`: dropped
   * silently and counted as restricted), the rate limit of a `limited` rule, then the responder.
   * Leaves the answer's datagram count for takeControlReply(); never throws.
   */
  private handleControl(req: Buffer, length: number, meta: RequestMeta): number {
    const c = this.counters;
    this.controlPending = 0;
    const version = (req[0]! >> 3) & 7;
    if (version < NTP_OLDEST_VERSION || version > NTP_VERSION) {
      c.badFormat++;
      return 0;
    }
    const bits = this.restrict.lookupAddress(meta.source);
    if ((bits & (RestrictBits.ignore | RestrictBits.noquery)) !== 0) {
      c.restricted++;
      return 0;
    }
    const verdict = this.rateLimiter.observe(meta, Mode.Control, version);
    if ((bits & RestrictBits.limited) !== 0 && verdict !== RateVerdict.Accept) {
      c.rateLimited++;
      return 0;
    }
    const control = this.control;
    if (control === undefined) {
      c.declined++;
      return 0;
    }
    // One token bucket for all mode 6 clients.
    const elapsed = meta.monoS - this.controlLastS;
    this.controlLastS = meta.monoS;
    this.controlTokens = Math.min(CONTROL_BURST, this.controlTokens + (elapsed > 0 ? elapsed * CONTROL_RATE_PER_S : 0));
    if (!(this.controlTokens >= 1)) {
      c.rateLimited++;
      return 0;
    }
    this.controlTokens -= 1;
    c.controlRequests++;
    this.controlPending = control.responder.respond(req, length, meta, control.view, (bits & RestrictBits.nomrulist) !== 0);
    return 0;
  }

  /**
   * The number of datagrams the last mode 6 request is answered with (0 if none), once: the IO
   * shell calls this when handle() returned 0 and sends controlDatagram(0 .. n-1).
   */
  takeControlReply(): number {
    const n = this.controlPending;
    this.controlPending = 0;
    return n;
  }

  /** Datagram i of the last mode 6 answer, copied (dgram may queue it past the next request). */
  controlDatagram(i: number): Buffer {
    return Buffer.from(this.control!.responder.datagram(i));
  }

  /**
   * A kiss-o'-death as ntpd sends it: LI=3, stratum 0, the code as refid, and the client's own
   * transmit timestamp in origin/receive/transmit so it carries no usable time.
   */
  private kiss(req: Buffer, out: Buffer, code: number, pollLog2S: number): number {
    const version = (req[0]! >> 3) & 7;
    const mode = (req[0]! & 7) === Mode.SymmetricActive ? Mode.SymmetricPassive : Mode.Server;
    out[0] = (LeapIndicator.Unsynchronised << 6) | (version << 3) | mode;
    out[1] = 0;
    out[2] = Math.max((req[2]! << 24) >> 24, pollLog2S) & 0xff;
    out[3] = this.state.template[3]!;
    out.fill(0, 4, 12);
    out.writeUInt32BE(code, 12);
    out.fill(0, 16, 24);
    req.copy(out, 24, 40, 48);
    req.copy(out, 32, 40, 48);
    req.copy(out, 40, 40, 48);
    this.counters.kodSent++;
    if (code === KissCode.RATE) this.counters.kodRate++;
    else if (code === KissCode.DENY) this.counters.kodDeny++;
    else this.counters.kodRstr++;
    return NTP_HEADER_LENGTH;
  }
}
