/**
 * The box under test as the checks see it: a transport, where its devices are, how to ask Gnomon,
 * how to reboot it, and who performs the physical steps (an operator at the bench, or the
 * simulator's fault schedule on the virtual rig).
 */
import { shellQuote, type Transport } from './transport.js';

export interface BoxPaths {
  /** The GPS UART (the Pi's /dev/serial0; the simulator's pty symlink on the virtual rig). */
  readonly serial: string;
  /** The kernel PPS assert file (/sys/class/pps/pps0/assert; the simulator's DIR/pps0/assert). */
  readonly ppsAssert: string;
}

export interface BoxCommands {
  /** Prints `gnomon status --json` (exit 0 synchronised, 1 not). */
  readonly status: string;
  /** Prints the `ntpq -p` table of the box's own server. */
  readonly peers: string;
  /** Prints an id that changes at every boot. */
  readonly bootId: string;
}

export interface Box {
  readonly transport: Transport;
  readonly paths: BoxPaths;
  readonly commands: BoxCommands;
  /** The address a client on another host queries (the runner's target host; the veth address on the virtual rig). */
  readonly ntpHost: string;
  /**
   * Starts a reboot and returns once it is under way (the command was sent / the demo stopped). The
   * runner then waits for a new boot id.
   */
  reboot(): Promise<void>;
}

export type OperatorAction = 'pull-antenna' | 'restore-antenna' | 'unplug-gps' | 'replug-gps';

export const OPERATOR_PROMPTS: Readonly<Record<OperatorAction, string>> = {
  'pull-antenna': 'Disconnect the GPS antenna (unscrew the SMA/u.FL), then press Enter.',
  'restore-antenna': 'Reconnect the GPS antenna, then press Enter.',
  'unplug-gps': 'Unplug the GPS module (its TX wire on pin 10, or its USB cable), then press Enter.',
  'replug-gps': 'Plug the GPS module back in, then press Enter.',
};

/** Performs a physical step; resolves with the Date.now() at which it happened. */
export interface Operator {
  perform(action: OperatorAction): Promise<number>;
}

export interface HardwareBoxOptions {
  /** How to call gnomon on the box ("gnomon", "sudo gnomon", "/opt/gnomon/bin/gnomon"). */
  readonly gnomon?: string;
  readonly serial?: string;
  readonly ppsAssert?: string;
  /** The host name or address clients use; default: the host part of the ssh target. */
  readonly ntpHost?: string;
}

/** The host part of an ssh target: "pi@10.0.0.5" → "10.0.0.5". */
export function targetHost(target: string): string {
  return target.includes('@') ? target.slice(target.lastIndexOf('@') + 1) : target;
}

/** `ntpq -pn` of the box's own server if NTPsec's ntpq is installed, else Gnomon's clone of the table. */
export function peersCommand(gnomon: string): string {
  return `if command -v ntpq >/dev/null 2>&1; then ntpq -pn 127.0.0.1; else ${gnomon} peers -n; fi`;
}

/** A real Pi reached through `transport` (ssh). */
export function hardwareBox(transport: Transport, target: string, options: HardwareBoxOptions = {}): Box {
  const gnomon = options.gnomon ?? 'gnomon';
  return {
    transport,
    paths: { serial: options.serial ?? '/dev/serial0', ppsAssert: options.ppsAssert ?? '/sys/class/pps/pps0/assert' },
    commands: { status: `${gnomon} status --json`, peers: peersCommand(gnomon), bootId: 'cat /proc/sys/kernel/random/boot_id' },
    ntpHost: options.ntpHost ?? targetHost(target),
    async reboot() {
      // The connection drops as the box goes down: any exit status is fine.
      await transport.run('sudo -n systemctl reboot || sudo -n reboot', 15_000);
    },
  };
}

/** `cat PATH` quoted for the box's shell. */
export function catCommand(path: string): string {
  return `cat ${shellQuote(path)}`;
}
