/**
 * Listen addresses: `--listen` on the command line overrides `interface listen` + `port` from
 * the config; with neither, every interface on the configured port, as ntpd does.
 */
import { isIP } from 'node:net';
import type { GnomonConfig } from '../config/model.js';
import { DEFAULT_NTP_PORT } from '../config/model.js';
import type { ListenAddress } from '../server/udp.js';

export class ListenSpecError extends Error {
  readonly code = 'LISTEN_BAD_ADDRESS';
}

/** Parses "127.0.0.1:11123", "[::1]:123", "::1" or "0.0.0.0" (port from the config when absent). */
export function parseListenSpec(spec: string, defaultPort: number): ListenAddress {
  let host = spec;
  let port = defaultPort;
  const bracket = /^\[([^\]]+)\](?::(\d+))?$/.exec(spec);
  if (bracket) {
    host = bracket[1]!;
    if (bracket[2] !== undefined) port = Number(bracket[2]);
  } else if (isIP(spec) === 0) {
    const i = spec.lastIndexOf(':');
    if (i > 0) {
      host = spec.slice(0, i);
      port = Number(spec.slice(i + 1));
    }
  }
  if (isIP(host) === 0 || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw new ListenSpecError(`--listen ${spec}: expected ADDRESS[:PORT] with an IP address (e.g. 127.0.0.1:11123 or [::1]:123)`);
  }
  return { address: host, port };
}

export function listenAddresses(config: GnomonConfig, overrides: readonly string[]): ListenAddress[] {
  const port = config.port ?? DEFAULT_NTP_PORT;
  if (overrides.length > 0) return overrides.map((s) => parseListenSpec(s, port));
  if (config.listen.length > 0) return config.listen.map((l) => ({ address: l.address, port }));
  return [{ address: '0.0.0.0', port }, { address: '::', port }];
}
