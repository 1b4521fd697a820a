/**
 * Linux socket ABI facts Gnomon needs for kernel timestamps, per architecture: the numbers and
 * byte layouts a C program gets from the headers, written down once (issue 9: "struct layouts and
 * constants for x86_64, arm64 and armhf Linux kept in one module"). Pure: no syscalls here. The
 * shells that make the calls (src/server/kernel-rx-stamp.ts) pick an entry with `linuxSocketAbi`
 * and test/unit/net/linux-abi.test.ts checks the entry for the running machine against its kernel.
 *
 * Sources: include/uapi/asm-generic/socket.h (x86_64, arm64 and arm all use the generic file:
 * SOL_SOCKET 1, SO_TIMESTAMPNS_OLD 35, SO_TIMESTAMPNS_NEW 64), include/uapi/asm-generic/sockios.h
 * (SIOCGSTAMPNS_OLD 0x8907) and include/uapi/linux/sockios.h (SIOCGSTAMPNS_NEW =
 * _IOR(0x89, 0x07, long long[2]) = 0x80108907, Linux ≥ 5.1), net/socket.c (sock_ioctl: _OLD
 * returns a `struct timespec` of the kernel's native `long`, i.e. 32-bit fields on a 32-bit kernel;
 * _NEW always returns `struct __kernel_timespec`, two little-endian int64).
 *
 * What SIOCGSTAMPNS returns (net/core/sock.c sock_gettstamp): the receive time, CLOCK_REALTIME, of
 * the datagram most recently *read* from the socket (recvmsg stores skb->tstamp in sk_stamp). The
 * first call enables timestamping for the socket and, before any stamped datagram was read, fails
 * with ENOENT; a datagram that arrived before stamping took effect reads back as "now".
 *
 * - x86_64, arm64 (LP64): time_t and long are 8 bytes; _OLD and _NEW give the same 16 bytes.
 * - armhf (ILP32, EABI): a 32-bit `long` timespec from _OLD (8 bytes, ends in 2038); Gnomon asks
 *   _NEW first (16 bytes, 64-bit seconds) and falls back to _OLD on kernels before 5.1 (ENOTTY).
 * Anything else (other architectures, other systems): unsupported, the caller uses user-space stamps.
 *
 * Also here, for the batched recvmmsg/sendmmsg path (issue 9) and checked against the kernel by the
 * same test with a known datagram: struct iovec, msghdr, mmsghdr, cmsghdr and sockaddr_in, from
 * include/linux/socket.h, include/uapi/linux/uio.h and glibc's bits/socket.h, natural alignment
 * (gcc on all three ABIs). LP64: pointers and size_t 8 bytes (msghdr 56, mmsghdr 64, cmsghdr 16);
 * armhf: 4 (msghdr 28, mmsghdr 32, cmsghdr 12, CMSG_ALIGN to 4).
 */

export type LinuxAbiName = 'x86_64' | 'aarch64' | 'armhf';

/** A `struct timespec` as the kernel writes it: two little-endian signed integers. */
export interface TimespecLayout {
  readonly size: number;
  readonly secOffset: number;
  readonly secBytes: 4 | 8;
  readonly nsecOffset: number;
  readonly nsecBytes: 4 | 8;
}

/** One way to ask the kernel for a socket's last receive time. */
export interface StampIoctl {
  /** The ioctl request number. */
  readonly request: number;
  /** "SIOCGSTAMPNS" (LP64, where _OLD = the 64-bit call), "SIOCGSTAMPNS_NEW", "SIOCGSTAMPNS_OLD". */
  readonly name: string;
  readonly timespec: TimespecLayout;
}

/** Byte offsets of the structs recvmsg/recvmmsg take. */
export interface MessageLayouts {
  readonly iovec: { readonly size: number; readonly base: number; readonly len: number };
  readonly msghdr: {
    readonly size: number; readonly name: number; readonly namelen: number; readonly iov: number; readonly iovlen: number;
    readonly control: number; readonly controllen: number; readonly flags: number;
  };
  /** struct mmsghdr { struct msghdr msg_hdr; unsigned int msg_len; }. */
  readonly mmsghdr: { readonly size: number; readonly len: number };
  /** struct cmsghdr { size_t cmsg_len; int cmsg_level; int cmsg_type; } and where the data starts (CMSG_DATA). */
  readonly cmsghdr: { readonly len: number; readonly level: number; readonly type: number; readonly data: number };
}

export interface LinuxSocketAbi {
  readonly name: LinuxAbiName;
  /** Node's process.arch for this ABI. */
  readonly arch: string;
  /** Bytes of a pointer / `long` / `size_t`. */
  readonly longBytes: 4 | 8;
  readonly SOL_SOCKET: number;
  /** SO_TIMESTAMPNS for this ABI's default time_t (the _OLD value on LP64, where _OLD is 64-bit). */
  readonly SO_TIMESTAMPNS: number;
  /** SO_TIMESTAMPNS_NEW (64-bit time on every ABI, Linux ≥ 5.1). */
  readonly SO_TIMESTAMPNS_NEW: number;
  /** SIOCGSTAMPNS variants to try, best first. */
  readonly stampIoctls: readonly StampIoctl[];
  readonly messages: MessageLayouts;
  /** The SCM_TIMESTAMPNS payload for SO_TIMESTAMPNS (the ABI's native timespec) and for SO_TIMESTAMPNS_NEW (always 64-bit). */
  readonly cmsgTimespec: TimespecLayout;
  readonly cmsgTimespecNew: TimespecLayout;
  /** SO_TIMESTAMPING for this ABI's default time_t (_OLD, 37); its SCM_TIMESTAMPING payload is `struct scm_timestamping`. */
  readonly SO_TIMESTAMPING: number;
  /** struct scm_timestamping { struct timespec ts[3]; } of the _OLD option: ts[0] software, ts[2] raw hardware. */
  readonly scmTimestamping: { readonly size: number; readonly software: TimespecLayout };
}

/** Address families, socket type and recv flags (the same numbers on all three ABIs). */
export const AF_INET = 2;
export const AF_INET6 = 10;
export const SOCK_DGRAM = 2;
export const MSG_DONTWAIT = 0x40;
/** struct sockaddr_in: family u16 (host order) at 0, port u16 big-endian at 2, address 4 bytes at 4; 16 bytes. */
export const SOCKADDR_IN = { size: 16, family: 0, port: 2, addr: 4 } as const;
/** struct sockaddr_in6: family at 0, port (BE) at 2, flowinfo at 4, address 16 bytes at 8, scope id at 24; 28 bytes. */
export const SOCKADDR_IN6 = { size: 28, family: 0, port: 2, flowinfo: 4, addr: 8, scopeId: 24 } as const;

/** Lays out the message structs for a pointer/size_t width, with C's natural alignment. */
function messageLayouts(p: 4 | 8): MessageLayouts {
  const align = (n: number, a: number): number => Math.ceil(n / a) * a;
  // msghdr: void *name; socklen_t namelen; struct iovec *iov; size_t iovlen; void *control; size_t controllen; int flags;
  const name = 0;
  const namelen = p;
  const iov = align(namelen + 4, p);
  const iovlen = iov + p;
  const control = iovlen + p;
  const controllen = control + p;
  const flags = controllen + p;
  const size = align(flags + 4, p);
  return {
    iovec: { size: 2 * p, base: 0, len: p },
    msghdr: { size, name, namelen, iov, iovlen, control, controllen, flags },
    mmsghdr: { size: align(size + 4, p), len: size },
    cmsghdr: { len: 0, level: p, type: p + 4, data: align(p + 8, p) },
  };
}

/** CMSG_ALIGN, CMSG_LEN and CMSG_SPACE for an ABI (cmsghdr aligned to sizeof(size_t)). */
export function cmsgLen(abi: LinuxSocketAbi, dataBytes: number): number {
  return abi.messages.cmsghdr.data + dataBytes;
}
export function cmsgSpace(abi: LinuxSocketAbi, dataBytes: number): number {
  const a = abi.longBytes;
  return abi.messages.cmsghdr.data + Math.ceil(dataBytes / a) * a;
}

export const SOL_SOCKET = 1;
export const SO_TIMESTAMPNS_OLD = 35;
export const SO_TIMESTAMPNS_NEW = 64;
export const SIOCGSTAMPNS_OLD = 0x8907;

/**
 * Kernel timestamping (Documentation/networking/timestamping.rst, include/uapi/linux/net_tstamp.h,
 * include/uapi/linux/errqueue.h; the same numbers on all three ABIs). SO_TIMESTAMPING takes a flag
 * word: what to generate (RX_SOFTWARE on arrival; TX_SOFTWARE when the driver hands the packet to
 * the device, loopback included) and what to report (SOFTWARE: software stamps in SCM_TIMESTAMPING
 * control messages). TX flags may also be given per sendmsg in a SOL_SOCKET/SO_TIMESTAMPING control
 * message holding a u32 (Linux ≥ 4.7): only those datagrams are stamped, as chrony does for the
 * replies it may need to answer interleaved. A TX stamp comes back on the socket's error queue
 * (recvmsg with MSG_ERRQUEUE): the sent frame from its link-layer header on (no OPT_TSONLY), an
 * SCM_TIMESTAMPING message and an IP_RECVERR / IPV6_RECVERR message holding a sock_extended_err with
 * ee_errno ENOMSG, ee_origin SO_EE_ORIGIN_TIMESTAMPING and ee_info SCM_TSTAMP_SND.
 */
export const SO_TIMESTAMPING_OLD = 37;
export const SO_TIMESTAMPING_NEW = 65;
export const SOF_TIMESTAMPING_TX_SOFTWARE = 1 << 1;
export const SOF_TIMESTAMPING_RX_SOFTWARE = 1 << 3;
export const SOF_TIMESTAMPING_SOFTWARE = 1 << 4;
export const SOF_TIMESTAMPING_OPT_ID = 1 << 7;
export const SOF_TIMESTAMPING_OPT_TSONLY = 1 << 11;
export const MSG_ERRQUEUE = 0x2000;
export const SOL_IP = 0;
export const IP_RECVERR = 11;
export const SOL_IPV6 = 41;
export const IPV6_RECVERR = 25;
export const ENOMSG = 42;
export const SO_EE_ORIGIN_TIMESTAMPING = 4;
export const SCM_TSTAMP_SND = 0;
/** struct sock_extended_err: u32 ee_errno, u8 ee_origin, u8 ee_type, u8 ee_code, u8 ee_pad, u32 ee_info, u32 ee_data (16 bytes, every ABI). */
export const SOCK_EXTENDED_ERR = { size: 16, errno: 0, origin: 4, info: 8, data: 12 } as const;
/** _IOR(SOCK_IOC_TYPE = 0x89, 0x07, long long[2]): (2 << 30) | (16 << 16) | (0x89 << 8) | 0x07. */
export const SIOCGSTAMPNS_NEW = 0x80108907;

/** errno values the stamping path tells apart (asm-generic/errno-base.h; the same on all three ABIs). */
export const ENOENT = 2;
export const EBADF = 9;
export const EINVAL = 22;
export const ENOTTY = 25;

/** The _IOR encoding, kept so a test can recompute SIOCGSTAMPNS_NEW rather than trust the literal. */
export function iocRead(type: number, nr: number, size: number): number {
  const IOC_READ = 2;
  return ((IOC_READ << 30) >>> 0) + (size << 16) + (type << 8) + nr;
}

const TIMESPEC64: TimespecLayout = { size: 16, secOffset: 0, secBytes: 8, nsecOffset: 8, nsecBytes: 8 };
const TIMESPEC32: TimespecLayout = { size: 8, secOffset: 0, secBytes: 4, nsecOffset: 4, nsecBytes: 4 };

const SCM_TIMESTAMPING64 = { size: 48, software: TIMESPEC64 } as const;

const LP64_IOCTLS: readonly StampIoctl[] = [{ request: SIOCGSTAMPNS_OLD, name: 'SIOCGSTAMPNS', timespec: TIMESPEC64 }];
const LP64_MESSAGES = messageLayouts(8);

export const LINUX_SOCKET_ABIS: Readonly<Record<LinuxAbiName, LinuxSocketAbi>> = {
  x86_64: {
    name: 'x86_64', arch: 'x64', longBytes: 8, SOL_SOCKET, SO_TIMESTAMPNS: SO_TIMESTAMPNS_OLD, SO_TIMESTAMPNS_NEW, stampIoctls: LP64_IOCTLS,
    messages: LP64_MESSAGES, cmsgTimespec: TIMESPEC64, cmsgTimespecNew: TIMESPEC64, SO_TIMESTAMPING: SO_TIMESTAMPING_OLD, scmTimestamping: SCM_TIMESTAMPING64,
  },
  aarch64: {
    name: 'aarch64', arch: 'arm64', longBytes: 8, SOL_SOCKET, SO_TIMESTAMPNS: SO_TIMESTAMPNS_OLD, SO_TIMESTAMPNS_NEW, stampIoctls: LP64_IOCTLS,
    messages: LP64_MESSAGES, cmsgTimespec: TIMESPEC64, cmsgTimespecNew: TIMESPEC64, SO_TIMESTAMPING: SO_TIMESTAMPING_OLD, scmTimestamping: SCM_TIMESTAMPING64,
  },
  armhf: {
    name: 'armhf', arch: 'arm', longBytes: 4, SOL_SOCKET, SO_TIMESTAMPNS: SO_TIMESTAMPNS_OLD, SO_TIMESTAMPNS_NEW,
    messages: messageLayouts(4), cmsgTimespec: TIMESPEC32, cmsgTimespecNew: TIMESPEC64,
    // 32-bit seconds, as the SO_TIMESTAMPNS_OLD this path used (ends in 2038; _NEW would need Linux ≥ 5.1).
    SO_TIMESTAMPING: SO_TIMESTAMPING_OLD, scmTimestamping: { size: 24, software: TIMESPEC32 },
    stampIoctls: [
      { request: SIOCGSTAMPNS_NEW, name: 'SIOCGSTAMPNS_NEW', timespec: TIMESPEC64 },
      { request: SIOCGSTAMPNS_OLD, name: 'SIOCGSTAMPNS_OLD', timespec: TIMESPEC32 },
    ],
  },
};

/**
 * Walks the control messages of one received msghdr (at `start` in `control`, `controlLength` bytes
 * as the kernel wrote msg_controllen) and returns the offset in `control` of the data of the first
 * with (level, type), or -1. Allocation-free; a malformed length ends the walk.
 */
export function findCmsg(abi: LinuxSocketAbi, control: Uint8Array, start: number, controlLength: number, level: number, type: number): number {
  const h = abi.messages.cmsghdr;
  const end = Math.min(start + controlLength, control.length);
  for (let at = start; at + h.data <= end;) {
    const len = abi.longBytes === 8 ? uint32LE(control, at + h.len) + uint32LE(control, at + h.len + 4) * 4_294_967_296 : uint32LE(control, at + h.len);
    if (len < h.data || at + len > end) return -1;
    if (int32LE(control, at + h.level) === level && int32LE(control, at + h.type) === type) return at + h.data;
    at += Math.ceil(len / abi.longBytes) * abi.longBytes;
  }
  return -1;
}

function uint32LE(b: Uint8Array, at: number): number {
  return int32LE(b, at) >>> 0;
}

/** The ABI for Node's (process.platform, process.arch), or undefined where Gnomon has none. */
export function linuxSocketAbi(platform: string, arch: string): LinuxSocketAbi | undefined {
  if (platform !== 'linux') return undefined;
  for (const abi of Object.values(LINUX_SOCKET_ABIS)) if (abi.arch === arch) return abi;
  return undefined;
}

/**
 * Reads a kernel timespec from `buf` (at byte `at`) into `out` (allocation-free; runs per datagram). Returns false
 * for a value that is not a valid instant (nsec outside [0, 1e9) or seconds ≤ 0).
 */
export function readKernelTimespec(buf: Uint8Array, layout: TimespecLayout, out: { sec: number; nsec: number }, at = 0): boolean {
  const sec = layout.secBytes === 8 ? int64LE(buf, at + layout.secOffset) : int32LE(buf, at + layout.secOffset);
  const nsec = layout.nsecBytes === 8 ? int64LE(buf, at + layout.nsecOffset) : int32LE(buf, at + layout.nsecOffset);
  // A seconds field past 2^53 is garbage (and would not convert exactly): refused like a negative one.
  if (!(sec > 0 && sec <= Number.MAX_SAFE_INTEGER) || !(nsec >= 0 && nsec < 1e9)) return false;
  out.sec = sec;
  out.nsec = nsec;
  return true;
}

function int32LE(b: Uint8Array, at: number): number {
  return (b[at]! | (b[at + 1]! << 8) | (b[at + 2]! << 16) | (b[at + 3]! << 24));
}

/** A little-endian int64 as a double: exact up to 2^53 (a time in seconds or nanoseconds of a second is far below). */
function int64LE(b: Uint8Array, at: number): number {
  const lo = (b[at]! | (b[at + 1]! << 8) | (b[at + 2]! << 16) | (b[at + 3]! << 24)) >>> 0;
  return lo + int32LE(b, at + 4) * 4_294_967_296;
}
