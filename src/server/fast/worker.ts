/**
 * A fast-path worker (node:worker_threads): the blocking driver of one BatchResponder
 * (responder.ts). Loop: recvmmsg (blocks ≤ the receive timeout) → the responder's turn → control
 * messages (receiveMessageOnPort: the loop never yields to the event loop) → the coalescing wait.
 * The stop flag in shared memory is checked after every receive, so a SIGTERM ends the worker
 * within the receive timeout.
 *
 * Everything the responder does not answer (mode 6, mode 1/2/5) goes to the main thread as bytes +
 * sender + raw receive stamp; the main thread answers with sendto on this socket's descriptor
 * (docs/server.md).
 */
import { parentPort, receiveMessageOnPort, workerData, type MessagePort } from 'node:worker_threads';
import { threadSleep } from './coalescing.js';
import { createBatchResponder, type BatchResponder } from './responder.js';
import type { FromWorker, ToWorker, WorkerStart } from './protocol.js';

const start = workerData as WorkerStart;
const control = start.control as MessagePort;
const post = (m: FromWorker): void => parentPort!.postMessage(m);

function run(): void {
  let r: BatchResponder;
  try {
    r = createBatchResponder(start, post);
  } catch (err) {
    post({ kind: 'error', message: (err as Error).message, errno: (err as { errno?: number }).errno ?? 0 });
    return;
  }
  const sock = r.sock;
  post({ kind: 'ready', fd: sock.fd, address: sock.address, port: sock.port });
  const sleeper = (start.coalesceUs ?? 0) > 0 ? threadSleep(start.coalesceUs!) : undefined;
  try {
    while (!r.stopping()) {
      const sleepUs = r.turn(sock.receive());
      for (let m = receiveMessageOnPort(control); m !== undefined; m = receiveMessageOnPort(control)) r.control(m.message as ToWorker);
      if (sleepUs > 0) sleeper!.sleepUs(sleepUs);
    }
  } catch (err) {
    // A bug (or the test-only fault): free what the thread's exit would leak, then die as before
    // (the main thread logs it, closes the descriptor and restarts the worker).
    r.crash();
    throw err;
  }
  r.finish();
  post({ kind: 'stopped' });
}

run();
