/**
 * The fast path's workers bind with SO_REUSEPORT, which lets a second process of the same user
 * bind the same port and share its traffic silently. Binding each listen address once first with
 * node:dgram, without SO_REUSEPORT, makes a port another server holds fail with EADDRINUSE as on
 * the dgram path (and resolves port 0 for the workers).
 */
import { createSocket } from 'node:dgram';
import { isIPv6 } from 'node:net';
import type { ListenAddress } from '../udp.js';

/** Binds (address, port) with node:dgram, no SO_REUSEPORT, and closes it: the port it got, or the bind's error. */
export function probeBind(l: ListenAddress, key: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = isIPv6(l.address) ? createSocket({ type: 'udp6', ipv6Only: true }) : createSocket('udp4');
    s.once('error', (err) => {
      s.close();
      reject(Object.assign(err, { listenAddress: key }));
    });
    s.bind({ address: l.address, port: l.port, exclusive: true }, () => {
      const port = s.address().port;
      s.close(() => resolve(port));
    });
  });
}
