/**
 * A pseudo-terminal standing in for the receiver's serial port, through libc via koffi (loaded on
 * first use like src/clock/posix.ts). No socat: the daemon's users should not need it to simulate.
 *
 * The simulator holds the master side; whoever opens `/dev/pts/N` (the daemon's serialport, a
 * test's reader) gets the bytes as from a UART. The line is put in raw mode at once, because the
 * default line discipline would turn CR into LF (ICRNL) and echo bytes back to the master.
 * Writes go straight to the non-blocking master: when nobody reads and the kernel's buffer is
 * full, or nobody has the port open, the bytes are dropped and counted, as a UART drops them.
 */
import { closeSync, constants, openSync, readSync, renameSync, symlinkSync, unlinkSync, writeSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, basename } from 'node:path';

const O_RDWR = 0o2;
const O_NOCTTY = 0o400;
const O_NONBLOCK = 0o4000;
const O_CLOEXEC = 0o2000000; // these four are the same on x86_64, arm and arm64
const TCSANOW = 0;
const POLLHUP = 0x10;
/** sizeof(struct termios) is 60 on glibc x86_64/arm64; generous so another libc's layout fits too. */
const TERMIOS_BYTES = 128;

type Fn = (...args: unknown[]) => number;

interface PtyLibc {
  posixOpenpt: Fn;
  grantpt: Fn;
  unlockpt: Fn;
  ptsnameR: Fn;
  tcgetattr: Fn;
  cfmakeraw: Fn;
  tcsetattr: Fn;
  poll: Fn;
  errno: () => number;
}

let libc: PtyLibc | undefined;

function load(): PtyLibc {
  if (libc !== undefined) return libc;
  const koffi = createRequire(import.meta.url)('koffi') as typeof import('koffi');
  const lib = koffi.load('libc.so.6');
  const f = (decl: string): Fn => lib.func(decl) as unknown as Fn;
  libc = {
    posixOpenpt: f('int posix_openpt(int flags)'),
    grantpt: f('int grantpt(int fd)'),
    unlockpt: f('int unlockpt(int fd)'),
    ptsnameR: f('int ptsname_r(int fd, _Out_ uint8_t *buf, size_t buflen)'),
    tcgetattr: f('int tcgetattr(int fd, _Out_ uint8_t *termios)'),
    cfmakeraw: f('void cfmakeraw(_Inout_ uint8_t *termios)'),
    tcsetattr: f('int tcsetattr(int fd, int action, uint8_t *termios)'),
    poll: f('int poll(_Inout_ uint8_t *fds, unsigned long nfds, int timeout)'),
    errno: () => koffi.errno(),
  };
  return libc;
}

export class PtyError extends Error {
  constructor(readonly code: string, message: string) {
    super(message);
    this.name = 'PtyError';
  }
}

export interface PtyCounters {
  /** Bytes handed to the kernel. */
  bytesWritten: number;
  /** Bytes dropped: no reader has the port open, or its buffer is full (EAGAIN). */
  bytesDropped: number;
}

export class Pty {
  /** `/dev/pts/N`. */
  readonly slavePath: string;
  private fd: number;
  private readonly pollFd = Buffer.alloc(8);
  private readonly scratch = Buffer.alloc(256);

  /** Opens a pty pair in raw mode; throws PtyError (koffi missing, no /dev/ptmx, out of ptys). */
  constructor(private readonly counters: PtyCounters) {
    let c: PtyLibc;
    try {
      c = load();
    } catch (err) {
      throw new PtyError('PTY_UNAVAILABLE', `cannot load libc through koffi: ${(err as Error).message}`);
    }
    const fd = c.posixOpenpt(O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) throw new PtyError('PTY_OPEN', `posix_openpt failed (errno ${c.errno()})`);
    this.fd = fd;
    try {
      if (c.grantpt(fd) !== 0) throw new PtyError('PTY_OPEN', `grantpt failed (errno ${c.errno()})`);
      if (c.unlockpt(fd) !== 0) throw new PtyError('PTY_OPEN', `unlockpt failed (errno ${c.errno()})`);
      const name = Buffer.alloc(128);
      if (c.ptsnameR(fd, name, name.length) !== 0) throw new PtyError('PTY_OPEN', `ptsname_r failed (errno ${c.errno()})`);
      this.slavePath = name.subarray(0, name.indexOf(0)).toString('latin1');
      // On Linux termios calls on the master act on the slave's settings, which readers then see.
      const termios = Buffer.alloc(TERMIOS_BYTES);
      if (c.tcgetattr(fd, termios) !== 0) throw new PtyError('PTY_OPEN', `tcgetattr failed (errno ${c.errno()})`);
      c.cfmakeraw(termios);
      if (c.tcsetattr(fd, TCSANOW, termios) !== 0) throw new PtyError('PTY_OPEN', `tcsetattr failed (errno ${c.errno()})`);
      // The master shows POLLHUP only after a slave has been closed, not before the first open:
      // open and close it once so that hasReader() is right from the start.
      closeSync(openSync(this.slavePath, constants.O_RDWR | constants.O_NOCTTY | constants.O_NONBLOCK));
    } catch (err) {
      closeSync(fd);
      throw err;
    }
    this.pollFd.writeInt32LE(fd, 0);
  }

  /**
   * Whether someone has the slave open. Linux reports POLLHUP on the master while no slave fd is
   * open; bytes written then would wait in the kernel and reach the next reader seconds stale,
   * which a real UART never does.
   */
  hasReader(): boolean {
    if (this.fd < 0) return false;
    this.pollFd.writeInt16LE(0, 4);
    this.pollFd.writeInt16LE(0, 6);
    if (load().poll(this.pollFd, 1, 0) < 0) return false;
    return (this.pollFd.readInt16LE(6) & POLLHUP) === 0;
  }

  /** Writes `bytes` if a reader is there; drops (and counts) what the kernel will not take. Never throws. */
  write(bytes: Uint8Array): void {
    this.discardInput();
    if (!this.hasReader()) {
      this.counters.bytesDropped += bytes.length;
      return;
    }
    let n = 0;
    try {
      n = writeSync(this.fd, bytes);
    } catch {
      n = 0; // EAGAIN: the reader's buffer is full; EIO: it just closed
    }
    this.counters.bytesWritten += n;
    this.counters.bytesDropped += bytes.length - n;
  }

  /**
   * Throws away what the reader sent (a daemon configuring its receiver): a receiver ignores what it
   * does not understand, and unread bytes would otherwise fill the master's buffer.
   */
  private discardInput(): void {
    try {
      while (readSync(this.fd, this.scratch) > 0) { /* discard */ }
    } catch {
      // EAGAIN (nothing to read) or EIO (no reader): both mean done
    }
  }

  close(): void {
    if (this.fd < 0) return;
    try {
      closeSync(this.fd);
    } finally {
      this.fd = -1;
    }
  }
}

/** Points `linkPath` at `target` atomically: a reader sees the old link or the new one, never none. */
export function replaceSymlink(target: string, linkPath: string): void {
  const temp = join(dirname(linkPath), `.${basename(linkPath)}.${process.pid}.tmp`);
  try {
    unlinkSync(temp);
  } catch {
    // not there: the usual case
  }
  symlinkSync(target, temp);
  renameSync(temp, linkPath);
}
