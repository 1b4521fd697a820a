/**
 * Reachability register per refclock, as ntpd keeps and shows it (`ntpq -p` "reach" column).
 *
 * An 8-bit shift register shifted left at each poll; the new bit is 1 if a usable sample arrived
 * since the previous poll. Shown in octal: "377" = the last eight polls all got one. A sample from
 * a receiver without a fix does not count: its time is a free-running receiver clock, so a source
 * whose latest sample had no fix is not usable even while its register is still non-zero.
 */
import type { FixMode } from '../../drivers/driver.js';

export class Reach {
  private reg = 0;
  private gotSample = false;
  private lastFix: FixMode | null = null;

  /** Note a sample that survived pairing and filtering, with the fix its receiver claimed. */
  sample(fix: FixMode): void {
    this.lastFix = fix;
    if (fix !== 'none') this.gotSample = true;
  }

  /** Shift at each poll of the source. */
  poll(): void {
    this.reg = ((this.reg << 1) | (this.gotSample ? 1 : 0)) & 0xff;
    if (!this.gotSample) this.misses++;
    this.gotSample = false;
  }

  /** Polls that found no usable sample since start (ntpd's clock variable `noreply`). */
  misses = 0;

  /** The register, 0..255. */
  get register(): number {
    return this.reg;
  }

  /** ntpq's rendering: octal, no leading zeros ("0", "1", "17", "377"). */
  get octal(): string {
    return this.reg.toString(8);
  }

  get reachable(): boolean {
    return this.reg !== 0;
  }

  /** Reachable and its latest sample had a fix. */
  get usable(): boolean {
    return this.reachable && this.lastFix !== null && this.lastFix !== 'none';
  }
}
