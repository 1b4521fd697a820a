/**
 * The four syscalls the GPIO cdev driver needs, behind an interface so tests use a fake.
 * The real one calls libc through koffi, loaded on first use like src/clock/posix.ts.
 *
 * Why poll-then-read and not a blocking read in `.async()`: a read blocked on a quiet line (no
 * PPS wired, receiver off) would hold one of libuv's four pool threads forever, and closing an fd
 * does not wake a read blocked on it. poll() with a timeout returns, so close() takes effect
 * within one timeout and the pool thread is lent, not lost.
 */
import { createRequire } from 'node:module';
import { constants } from 'node:os';

/** A failed syscall with its errno name ('ENOENT', 'EBUSY', ...), as Node's own errors carry it. */
export class SyscallError extends Error {
  constructor(readonly code: string, readonly syscall: string, detail: string) {
    super(`${syscall} ${detail}: ${code}`);
    this.name = 'SyscallError';
  }
}

export interface GpioChipApi {
  /** open(path, O_RDWR | O_CLOEXEC), as libgpiod opens chips; throws SyscallError. */
  open(path: string): number;
  /** ioctl(fd, request, arg) with `arg` read and written in place; throws SyscallError. */
  ioctl(fd: number, request: number, arg: Buffer): void;
  /** Wait up to `timeoutMs` for data, then read into `buf`: bytes read, 0 on timeout; rejects with SyscallError. */
  read(fd: number, buf: Buffer, timeoutMs: number): Promise<number>;
  close(fd: number): void;
}

const O_RDWR = 2;
const O_CLOEXEC = 0o2000000; // same value on arm, arm64 and x86
const POLLIN = 0x1;

const errnoNames = new Map<number, string>(Object.entries(constants.errno).map(([name, n]) => [n, name]));
const errnoName = (n: number): string => errnoNames.get(n) ?? `errno ${n}`;

type Koffi = typeof import('koffi');
type SyncFn = (...args: unknown[]) => number;
type AsyncFn = { async: (...args: unknown[]) => void };

let api: GpioChipApi | undefined;

/** The koffi-backed API; throws if koffi cannot load (the driver turns that into a coded error). */
export function koffiGpioChipApi(): GpioChipApi {
  if (api !== undefined) return api;
  const koffi = createRequire(import.meta.url)('koffi') as Koffi;
  const lib = koffi.load('libc.so.6');
  const open = lib.func('int open(const char *path, int flags)') as unknown as SyncFn;
  const ioctl = lib.func('int ioctl(int fd, unsigned long request, _Inout_ uint8_t *arg)') as unknown as SyncFn;
  const poll = lib.func('int poll(_Inout_ uint8_t *fds, unsigned long nfds, int timeout)') as unknown as AsyncFn;
  const read = lib.func('long read(int fd, _Out_ uint8_t *buf, unsigned long count)') as unknown as SyncFn;
  const close = lib.func('int close(int fd)') as unknown as SyncFn;
  api = {
    open(path) {
      const fd = open(path, O_RDWR | O_CLOEXEC);
      if (fd < 0) throw new SyscallError(errnoName(koffi.errno()), 'open', path);
      return fd;
    },
    ioctl(fd, request, arg) {
      if (ioctl(fd, request, arg) < 0) throw new SyscallError(errnoName(koffi.errno()), 'ioctl', `0x${request.toString(16)}`);
    },
    read(fd, buf, timeoutMs) {
      // struct pollfd { int fd; short events; short revents; }: per call, since calls may overlap.
      const pfd = Buffer.alloc(8);
      pfd.writeInt32LE(fd, 0);
      pfd.writeInt16LE(POLLIN, 4);
      return new Promise((resolve, reject) => {
        poll.async(pfd, 1, timeoutMs, (err: unknown, ready: number) => {
          if (err) return reject(err as Error);
          // poll's errno belongs to a pool thread; < 0 here is EINTR in practice: try again next round.
          if (ready <= 0) return resolve(0);
          const n = read(fd, buf, buf.length);
          if (n < 0) return reject(new SyscallError(errnoName(koffi.errno()), 'read', `fd ${fd}`));
          // Readable yet nothing to read is end of file (line gone): an error, or the loop would spin.
          if (n === 0) return reject(new SyscallError('EOF', 'read', `fd ${fd}`));
          resolve(n);
        });
      });
    },
    close(fd) {
      close(fd);
    },
  };
  return api;
}
