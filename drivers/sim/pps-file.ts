/**
 * A stand-in for `/sys/class/pps/ppsN/`: the files the kernel PPS driver (drivers/pps/sysfs.ts,
 * with `sysfsRoot` = the simulator's directory) reads.
 *
 * The kernel prints `%lld.%09d#%u\n` (drivers/pps/sysfs-format.ts): the CLOCK_REALTIME of the last
 * assert edge and the count of edges, `0.000000000#0` before the first. `clear` stays at
 * `0.000000000#0`: pps-gpio with `capture_clear` but a receiver whose falling edge never comes
 * through is not simulated, only an idle clear edge. Each write goes to a temp file in the same
 * directory and is renamed over the real one, so a reader never sees half a line.
 */
import { mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const NO_PULSE = '0.000000000#0\n';

/** The kernel's text for one edge. */
export function formatPpsSysfs(hostNs: bigint, sequence: number): string {
  const sec = hostNs / 1_000_000_000n;
  const nsec = hostNs % 1_000_000_000n;
  return `${sec}.${String(nsec).padStart(9, '0')}#${sequence >>> 0}\n`;
}

export class PpsFile {
  /** `DIR/ppsN`. */
  readonly dir: string;
  readonly assertPath: string;
  readonly clearPath: string;

  /** Creates `root/device/{assert,clear}` holding "no pulse yet"; throws the fs error. */
  constructor(root: string, device = 'pps0') {
    this.dir = join(root, device);
    this.assertPath = join(this.dir, 'assert');
    this.clearPath = join(this.dir, 'clear');
    mkdirSync(this.dir, { recursive: true });
    this.replace(this.assertPath, NO_PULSE);
    this.replace(this.clearPath, NO_PULSE);
  }

  /** Records an assert edge the kernel would have stamped at `hostNs`. */
  pulse(hostNs: bigint, sequence: number): void {
    this.replace(this.assertPath, formatPpsSysfs(hostNs, sequence));
  }

  /** Removes the device directory (what the simulator created). */
  remove(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }

  private replace(path: string, text: string): void {
    const temp = `${path}.${process.pid}.tmp`;
    writeFileSync(temp, text);
    renameSync(temp, path);
  }
}
