/**
 * Binding port 123 needs root (or CAP_NET_BIND_SERVICE); serving does not. After the sockets
 * are bound, a root process switches to the configured user, as ntpd -u and chrony's `user` do.
 */
import { readFileSync } from 'node:fs';

export class PrivilegeError extends Error {
  readonly code = 'PRIVILEGE_DROP_FAILED';
}

/** Switches to `user` if running as root. Returns the new ids, or undefined when not root. */
export function dropPrivileges(user: string): { uid: number; gid: number } | undefined {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return undefined;
  const entry = readFileSync('/etc/passwd', 'utf8').split('\n').map((l) => l.split(':')).find((f) => f[0] === user);
  if (!entry || entry.length < 4) {
    throw new PrivilegeError(`user "${user}" (from \`user\` or --user) does not exist; create it (useradd --system ${user}) or remove the setting`);
  }
  const uid = Number(entry[2]);
  const gid = Number(entry[3]);
  process.setgroups?.([gid]);
  process.setgid!(gid);
  process.setuid!(uid);
  return { uid, gid };
}
