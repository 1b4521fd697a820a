/**
 * The local control channel between the daemon and the `gnomon` CLI: a Unix socket, so who may
 * ask is decided by file permissions, never by a UDP source address (mode 6 stays read-only).
 *
 * Protocol: the client writes one JSON object and a newline (`{"command":"status"}`), the
 * daemon answers with one JSON object and a newline and closes. Small, versionless, and easy to
 * poke with `socat - UNIX-CONNECT:/run/gnomon/control.sock`.
 */
import { accessSync, constants, chmodSync, unlinkSync } from 'node:fs';
import { createConnection, createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** The appliance's runtime directory (systemd `RuntimeDirectory=gnomon`). */
export const APPLIANCE_CONTROL_SOCKET = '/run/gnomon/control.sock';
/** A request larger than this is not one of ours. */
const MAX_REQUEST_BYTES = 64 * 1024;

/**
 * Where daemon and CLI meet when neither is told: $GNOMON_CONTROL_SOCKET, else the appliance's
 * /run/gnomon when it exists and is writable, else a per-user path in the temp directory (development).
 */
export function defaultControlSocket(env: NodeJS.ProcessEnv = process.env): string {
  if (env.GNOMON_CONTROL_SOCKET) return env.GNOMON_CONTROL_SOCKET;
  try {
    accessSync('/run/gnomon', constants.W_OK);
    return APPLIANCE_CONTROL_SOCKET;
  } catch {
    return join(tmpdir(), `gnomon-${process.getuid?.() ?? 'user'}.sock`);
  }
}

export interface ControlRequest {
  readonly command: string;
  readonly [key: string]: unknown;
}

export type ControlHandler = (request: ControlRequest) => Promise<unknown> | unknown;

export class ControlError extends Error {
  constructor(readonly code: 'CONTROL_UNREACHABLE' | 'CONTROL_IN_USE' | 'CONTROL_BAD_REPLY' | 'CONTROL_TIMEOUT', message: string) {
    super(message);
    this.name = 'ControlError';
  }
}

/** Asks `path` whether a daemon answers there (a stale socket file from a crash does not). */
function answers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createConnection(path);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/**
 * Listens on `path` (mode 0660: the daemon's user and group). A socket file left by a crashed
 * daemon is replaced; one a live daemon answers on is CONTROL_IN_USE.
 */
export async function listenControl(path: string, handle: ControlHandler): Promise<Server> {
  const server = createServer({ allowHalfOpen: true }, (socket) => {
    let text = '';
    socket.setEncoding('utf8');
    socket.on('error', () => undefined);
    socket.on('data', (chunk: string) => {
      text += chunk;
      if (text.length > MAX_REQUEST_BYTES) {
        socket.end(JSON.stringify({ ok: false, error: 'request too large' }) + '\n');
        return;
      }
      const nl = text.indexOf('\n');
      if (nl < 0) return;
      socket.removeAllListeners('data');
      void reply(text.slice(0, nl)).then((answer) => socket.end(JSON.stringify(answer) + '\n'));
    });
  });
  const reply = async (line: string): Promise<unknown> => {
    let request: ControlRequest;
    try {
      request = JSON.parse(line) as ControlRequest;
      if (typeof request?.command !== 'string') throw new Error('no "command"');
    } catch (err) {
      return { ok: false, error: `bad request: ${(err as Error).message}` };
    }
    try {
      return { ok: true, result: await handle(request) };
    } catch (err) {
      return { ok: false, error: (err as Error).message };
    }
  };
  const bind = () => new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, () => {
      server.off('error', reject);
      resolve();
    });
  });
  try {
    await bind();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err;
    if (await answers(path)) throw new ControlError('CONTROL_IN_USE', `${path}: another gnomon daemon answers there`);
    unlinkSync(path);
    await bind();
  }
  chmodSync(path, 0o660);
  return server;
}

export function closeControl(server: Server, path: string): Promise<void> {
  return new Promise((resolve) => server.close(() => {
    try {
      unlinkSync(path);
    } catch {
      // Already gone.
    }
    resolve();
  }));
}

/** One request to the daemon at `path`; rejects with a coded ControlError the CLI can explain. */
export function controlRequest(path: string, request: ControlRequest, timeoutMs = 5000): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const socket = createConnection(path);
    let text = '';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new ControlError('CONTROL_TIMEOUT', `${path}: no answer within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.setEncoding('utf8');
    socket.once('connect', () => socket.write(JSON.stringify(request) + '\n'));
    socket.on('data', (chunk: string) => (text += chunk));
    socket.once('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(new ControlError('CONTROL_UNREACHABLE', `${path}: ${err.code ?? err.message}: no gnomon daemon is listening there`));
    });
    socket.once('end', () => {
      clearTimeout(timer);
      try {
        const answer = JSON.parse(text) as { ok: boolean; result?: unknown; error?: string };
        if (!answer.ok) reject(new ControlError('CONTROL_BAD_REPLY', answer.error ?? 'the daemon refused the request'));
        else resolve(answer.result);
      } catch {
        reject(new ControlError('CONTROL_BAD_REPLY', `${path}: not a gnomon daemon's answer`));
      }
    });
  });
}
