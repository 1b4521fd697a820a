/**
 * `gnomon passwd`: sets the web page's admin password (a scrypt hash in a 0600 file; docs/web.md).
 * Interactive on a terminal (asked twice, not echoed); from standard input otherwise (first line),
 * for provisioning scripts: `printf '%s\n' "$PW" | gnomon passwd --file F`.
 */
import { chown, stat } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import type { CliIo } from './io.js';
import { defaultPasswordFile, hashPassword, PasswordError, writePasswordFile, MIN_PASSWORD_LENGTH } from '../web/password.js';

const USAGE = `usage: gnomon passwd [--file PATH] [--config FILE] [--owner USER]

Sets the admin password of the web page (there is no default: until one is set, the page
refuses every login). Stored as a scrypt hash with its salt and parameters, mode 0600.
  --file PATH     the password file (default: web-password next to --config,
                  i.e. /etc/gnomon/web-password on the appliance)
  --config FILE   the config the daemon runs (default /etc/gnomon/ntp.conf)
  --owner USER    give the file to USER (the daemon's \`user\`, e.g. gnomon) so it can read it
On a terminal the password is asked twice and not echoed; otherwise the first line of standard
input is the password (at least ${MIN_PASSWORD_LENGTH} characters).
`;

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8').split(/\r?\n/)[0] ?? '';
}

/** Reads one line from the terminal without echo. */
function askHidden(prompt: string, io: CliIo): Promise<string> {
  return new Promise((resolve, reject) => {
    const stdin = process.stdin;
    io.stderr(prompt);
    stdin.setRawMode(true);
    stdin.resume();
    stdin.setEncoding('utf8');
    let text = '';
    const done = (err?: Error) => {
      stdin.setRawMode(false);
      stdin.pause();
      stdin.off('data', onData);
      io.stderr('\n');
      if (err) reject(err);
      else resolve(text);
    };
    const onData = (chunk: string) => {
      for (const ch of chunk) {
        if (ch === '\r' || ch === '\n') return done();
        if (ch === '\u0003' || ch === '\u0004') return done(new Error('cancelled'));
        if (ch === '\u007f' || ch === '\b') text = text.slice(0, -1);
        else text += ch;
      }
    };
    stdin.on('data', onData);
  });
}

function userIds(user: string): { uid: number; gid: number } {
  const entry = readFileSync('/etc/passwd', 'utf8').split('\n').map((l) => l.split(':')).find((f) => f[0] === user);
  if (!entry || entry.length < 4) throw new Error(`user "${user}" does not exist`);
  return { uid: Number(entry[2]), gid: Number(entry[3]) };
}

export async function passwdCommand(argv: string[], io: CliIo): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        file: { type: 'string' }, config: { type: 'string' }, owner: { type: 'string' }, help: { type: 'boolean', short: 'h', default: false },
      },
    }));
  } catch (err) {
    io.stderr(`gnomon passwd: ${(err as Error).message}\n${USAGE}`);
    return 2;
  }
  if (values.help) {
    io.stdout(USAGE);
    return 0;
  }
  const file = values.file ?? defaultPasswordFile(values.config);
  let password: string;
  try {
    if (process.stdin.isTTY) {
      password = await askHidden(`new web admin password for ${file}: `, io);
      if ((await askHidden('again: ', io)) !== password) {
        io.stderr('gnomon passwd: the two passwords differ; nothing changed\n');
        return 1;
      }
    } else {
      password = await readStdin();
    }
  } catch (err) {
    io.stderr(`gnomon passwd: ${(err as Error).message}; nothing changed\n`);
    return 1;
  }
  try {
    const owner = values.owner ? userIds(values.owner)
      : await stat(file).then((s) => ({ uid: s.uid, gid: s.gid }), () => undefined);
    await writePasswordFile(file, await hashPassword(password));
    if (owner && typeof process.getuid === 'function' && process.getuid() === 0) await chown(file, owner.uid, owner.gid);
  } catch (err) {
    const code = err instanceof PasswordError ? ` (${err.code})` : '';
    io.stderr(`gnomon passwd: ${(err as Error).message}${code}; nothing changed\n`);
    return 1;
  }
  io.stdout(`gnomon passwd: password set in ${file} (scrypt, mode 0600); the web page uses it from the next login\n`);
  return 0;
}
