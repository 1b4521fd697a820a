/**
 * Kernel receive timestamps for the portable node:dgram path: after a datagram is handed to JS,
 * `ioctl(fd, SIOCGSTAMPNS)` returns the CLOCK_REALTIME at which the kernel received it, instead of
 * the event loop's wake-up ~120-650 µs later (PLATFORM.md). IO shell: koffi, like
 * src/clock/posix.ts (libc loaded once, the function declared once, a reused Buffer, no allocation
 * per packet). The numbers come from src/net/linux-abi.ts.
 *
 * Why the stamp is *this* datagram's: SIOCGSTAMPNS returns the stamp of the datagram most recently
 * read on the socket, and libuv (Node 20, no UV_UDP_RECVMMSG) calls recvmsg once per datagram and
 * runs the JS 'message' callback before the next recvmsg. test/unit/server/kernel-rx-stamp.test.ts
 * checks that on bursts (stamps strictly increasing, each before the JS read); udp.ts also drops a
 * stamp equal to the previous one on the same socket, which is what batched reads would produce.
 *
 * Never throws after construction: a failed ioctl is `false`, and the caller uses its JS stamp.
 */
import type dgram from 'node:dgram';
import { createRequire } from 'node:module';
import type { TimeSpec } from '../clock/clock.js';
import { ENOENT, linuxSocketAbi, readKernelTimespec, type LinuxSocketAbi, type StampIoctl } from '../net/linux-abi.js';

/**
 * A kernel stamp more than this before the JS read (or any amount after it) is not used: the JS
 * read is, and counted. What it guards against is a clock step between the datagram's arrival and
 * the read (stale stamps are caught by the repeat check instead). It is wide on purpose: when the
 * event loop stalls, the kernel stamp is right and the JS read is wrong by the stall. With a 10 ms
 * window, one datagram read 18.8 ms late in a bench run fell back and gave the client a 9.4 ms
 * offset sample (docs/benchmarks.md); bursts alone put the JS read up to ~4-6 ms behind here.
 * Here rather than in udp.ts so the fast-path worker, which applies it too, does not import
 * node:dgram and the dgram shell for one number.
 */
export const MAX_KERNEL_RX_LAG_NS = 1_000_000_000;

/** Reads sockets' kernel receive times. */
export interface KernelRxStamper {
  /** "kernel (SIOCGSTAMPNS)" and the like: what status and mode 6 report. */
  readonly description: string;
  /**
   * Turns stamping on for `fd` (the first SIOCGSTAMPNS does) and says whether the kernel answered
   * as expected (a stamp, or ENOENT before any datagram).
   */
  enable(fd: number): boolean;
  /** The raw CLOCK_REALTIME receive time of the datagram last read on `fd`, into `out`; false on any failure. */
  read(fd: number, out: TimeSpec): boolean;
}

/** Why kernel stamps are not used, or the stamper. */
export type StamperChoice = { readonly stamper: KernelRxStamper; readonly reason?: undefined } | { readonly stamper?: undefined; readonly reason: string };

type Ioctl = (fd: number, request: number, out: Buffer) => number;

class IoctlStamper implements KernelRxStamper {
  private readonly buf = Buffer.alloc(16);
  private chosen: StampIoctl | undefined;

  constructor(private readonly ioctl: Ioctl, private readonly errno: () => number, private readonly abi: LinuxSocketAbi) {}

  get description(): string {
    return `kernel (${this.chosen?.name ?? this.abi.stampIoctls[0]!.name})`;
  }

  enable(fd: number): boolean {
    // The variant is the same for every socket: choose it on the first, keep it after.
    const candidates = this.chosen ? [this.chosen] : this.abi.stampIoctls;
    for (const c of candidates) {
      try {
        if (this.ioctl(fd, c.request, this.buf) === 0 || this.errno() === ENOENT) {
          this.chosen = c;
          return true;
        }
      } catch {
        return false;
      }
      // ENOTTY / EINVAL: this kernel lacks the variant (armhf before 5.1 has no _NEW); try the next.
    }
    return false;
  }

  read(fd: number, out: TimeSpec): boolean {
    const c = this.chosen;
    if (c === undefined) return false;
    try {
      if (this.ioctl(fd, c.request, this.buf) !== 0) return false;
      return readKernelTimespec(this.buf, c.timespec, out);
    } catch {
      return false;
    }
  }
}

let cached: StamperChoice | undefined;

/** The stamper for this machine, or why there is none (unsupported architecture, koffi or libc missing). Loaded once. */
export function kernelRxStamper(platform: string = process.platform, arch: string = process.arch): StamperChoice {
  if (platform === process.platform && arch === process.arch && cached) return cached;
  const abi = linuxSocketAbi(platform, arch);
  let choice: StamperChoice;
  if (!abi) {
    choice = { reason: `no socket ABI for ${platform}/${arch} (Gnomon knows Linux x86_64, arm64, armhf)` };
  } else {
    try {
      const require = createRequire(import.meta.url);
      const koffi = require('koffi') as typeof import('koffi');
      const lib = koffi.load('libc.so.6');
      // ioctl is variadic in C; declared with a fixed pointer third argument, which the x86_64,
      // AAPCS64 and ARM EABI calling conventions pass exactly as the variadic call would.
      const ioctl = lib.func('int ioctl(int fd, unsigned long request, _Out_ uint8_t *arg)') as Ioctl;
      choice = { stamper: new IoctlStamper(ioctl, () => koffi.errno(), abi) };
    } catch (err) {
      choice = { reason: `koffi/libc unavailable: ${(err as Error).message}` };
    }
  }
  if (platform === process.platform && arch === process.arch) cached = choice;
  return choice;
}

/** A stamper over a given ioctl (tests: failures, garbage, throws). */
export function stamperWithIoctl(ioctl: Ioctl, errno: () => number, abi: LinuxSocketAbi): KernelRxStamper {
  return new IoctlStamper(ioctl, errno, abi);
}

/**
 * The file descriptor of a bound dgram socket, or -1. Node 20 has no public API for it; the
 * handle sits in the socket's `Symbol(state symbol)` slot (what the deprecated `_handle` getter
 * returns, without its DEP0112 warning), and UDPWrap exposes `fd` on Unix.
 */
export function dgramSocketFd(socket: dgram.Socket): number {
  try {
    const sym = Object.getOwnPropertySymbols(socket).find((s) => s.description === 'state symbol');
    if (!sym) return -1;
    const state = (socket as unknown as Record<symbol, { handle?: { fd?: unknown } } | undefined>)[sym];
    const fd = state?.handle?.fd;
    return typeof fd === 'number' && Number.isInteger(fd) && fd >= 0 ? fd : -1;
  } catch {
    return -1;
  }
}
