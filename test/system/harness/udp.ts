// A raw UDP NTP client for tests that need exact request bytes (restrict, rate limits, versions, modes).
// It builds and decodes the 48-byte NTP header itself, independently of src/ntp, so it can serve as an oracle.
import { createSocket } from 'node:dgram';

/** Seconds between 1900-01-01 (NTP era 0) and 1970-01-01. */
const NTP_UNIX_OFFSET = 2_208_988_800n;

export const MODE = { symmetricActive: 1, symmetricPassive: 2, client: 3, server: 4, broadcast: 5, control: 6 } as const;

export interface NtpHeader {
  leap: number;
  version: number;
  mode: number;
  stratum: number;
  poll: number;
  precision: number;
  /** Root delay and dispersion in NTP short format (16.16), raw. */
  rootDelay: number;
  rootDispersion: number;
  /** Reference ID as 4 raw bytes, as hex, and as ASCII (trailing NULs dropped; for KoD codes and refclocks). */
  refidHex: string;
  refidAscii: string;
  /** 64-bit NTP timestamps as bigints (seconds << 32 | fraction). */
  reference: bigint;
  origin: bigint;
  receive: bigint;
  transmit: bigint;
  length: number;
}

/** The current time as an NTP 64-bit timestamp (from Date.now(): millisecond resolution is fine for tests). */
export function ntpNow(): bigint {
  const ms = BigInt(Date.now());
  const seconds = ms / 1000n + NTP_UNIX_OFFSET;
  const fraction = ((ms % 1000n) << 32n) / 1000n;
  return ((seconds & 0xffff_ffffn) << 32n) | fraction;
}

/** NTP timestamp difference a - b in seconds (for offsets in the same era). */
export function ntpDiffSeconds(a: bigint, b: bigint): number {
  return Number(BigInt.asIntN(64, a - b)) / 2 ** 32;
}

export interface RequestFields {
  leap?: number;
  version?: number;
  mode?: number;
  stratum?: number;
  poll?: number;
  precision?: number;
  transmit?: bigint;
}

/** A 48-byte NTP packet with the given header fields (defaults: LI 0, v4, mode 3, transmit = now). */
export function buildNtpPacket(fields: RequestFields = {}): Buffer {
  const buf = Buffer.alloc(48);
  const leap = fields.leap ?? 0;
  const version = fields.version ?? 4;
  const mode = fields.mode ?? MODE.client;
  buf[0] = ((leap & 3) << 6) | ((version & 7) << 3) | (mode & 7);
  buf[1] = fields.stratum ?? 0;
  buf.writeInt8(fields.poll ?? 6, 2);
  buf.writeInt8(fields.precision ?? -20, 3);
  buf.writeBigUInt64BE(fields.transmit ?? ntpNow(), 40);
  return buf;
}

/** Decodes the 48-byte header of an NTP packet; throws on anything shorter. */
export function parseNtpPacket(data: Buffer): NtpHeader {
  if (data.length < 48) throw new Error(`NTP packet too short: ${data.length} bytes`);
  const b0 = data[0] ?? 0;
  const refid = data.subarray(12, 16);
  return {
    leap: b0 >> 6,
    version: (b0 >> 3) & 7,
    mode: b0 & 7,
    stratum: data[1] ?? 0,
    poll: data.readInt8(2),
    precision: data.readInt8(3),
    rootDelay: data.readUInt32BE(4),
    rootDispersion: data.readUInt32BE(8),
    refidHex: refid.toString('hex'),
    refidAscii: refid.toString('latin1').replace(/\0+$/, ''),
    reference: data.readBigUInt64BE(16),
    origin: data.readBigUInt64BE(24),
    receive: data.readBigUInt64BE(32),
    transmit: data.readBigUInt64BE(40),
    length: data.length,
  };
}

/** A kiss-o'-death reply: stratum 0 with an ASCII code in the reference ID (RFC 5905 7.4). */
export function kissCode(header: NtpHeader): string | undefined {
  return header.stratum === 0 && /^[A-Z]{4}$/.test(header.refidAscii) ? header.refidAscii : undefined;
}

export interface Reply {
  data: Buffer;
  header: NtpHeader | undefined;
  from: { address: string; port: number };
  /** ms since the first request was sent. */
  atMs: number;
}

export interface ExchangeOptions {
  host: string;
  port: number;
  /** Datagrams to send, in order, from one socket (one source port). */
  requests: readonly Buffer[];
  /** Pause between sends; 0 sends them back to back. */
  gapMs?: number;
  /** How long to keep listening after the last send. */
  waitMs: number;
  /** Local address to bind (default: any, for IPv4 "0.0.0.0"). */
  bindAddress?: string;
  /** Local port to bind (default: ephemeral). Port 123 is needed to look like a symmetric peer to some servers. */
  bindPort?: number;
}

/** Sends the datagrams and collects every reply until `waitMs` after the last send. Never throws on silence. */
export async function exchange(options: ExchangeOptions): Promise<Reply[]> {
  const family = options.host.includes(':') ? 'udp6' : 'udp4';
  const socket = createSocket({ type: family });
  const replies: Reply[] = [];
  const start = Date.now();
  socket.on('message', (data, rinfo) => {
    let header: NtpHeader | undefined;
    try {
      header = parseNtpPacket(data);
    } catch {
      header = undefined;
    }
    replies.push({ data, header, from: { address: rinfo.address, port: rinfo.port }, atMs: Date.now() - start });
  });
  const errors: Error[] = [];
  socket.on('error', (err) => errors.push(err));
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind({ address: options.bindAddress, port: options.bindPort ?? 0 }, () => {
        socket.off('error', reject);
        resolve();
      });
    });
    const gapMs = options.gapMs ?? 0;
    for (const request of options.requests.slice(0, 10_000)) {
      await new Promise<void>((resolve, reject) => {
        socket.send(request, options.port, options.host, (err) => (err ? reject(err) : resolve()));
      });
      if (gapMs > 0) await new Promise((resolve) => setTimeout(resolve, gapMs));
    }
    await new Promise((resolve) => setTimeout(resolve, options.waitMs));
  } finally {
    socket.close();
  }
  // ICMP port unreachable shows up as ECONNREFUSED on some stacks; silence is what the tests look at.
  const unexpected = errors.filter((e) => (e as NodeJS.ErrnoException).code !== 'ECONNREFUSED');
  if (unexpected.length > 0) throw unexpected[0];
  return replies;
}

/** One request, the replies to it (normally 0 or 1). */
export function query(host: string, port: number, request: Buffer = buildNtpPacket(), waitMs = 500): Promise<Reply[]> {
  return exchange({ host, port, requests: [request], waitMs });
}

/** A short description of replies for assertion messages. */
export function describeReplies(replies: readonly Reply[]): string {
  if (replies.length === 0) return 'no replies';
  return replies.map((r) => {
    const h = r.header;
    if (h === undefined) return `${r.data.length} bytes (not NTP)`;
    return `${r.data.length}B li=${h.leap} vn=${h.version} mode=${h.mode} stratum=${h.stratum} refid=${h.refidHex}` +
      `(${JSON.stringify(h.refidAscii)}) at ${r.atMs}ms`;
  }).join('\n');
}
