/**
 * A mode 6 client session over UDP, as ntpq runs one: one request at a time, sequence numbers
 * counting up from 1, the response collected fragment by fragment (ResponseAssembler), one retry
 * after a timeout or an incomplete response, an error response raised as ControlServerError.
 *
 * The socket is connected, so an ICMP port unreachable (nothing listening) ends the wait at once.
 */
import dgram from 'node:dgram';
import { isIPv6 } from 'node:net';
import {
  ClientOpcode, ControlServerError, encodeRequest, MAX_FRAGMENTS, parseAssociations, ResponseAssembler,
  type AssociationStatus,
} from './protocol.js';
import { parseVarList, type VarList } from './varlist.js';

/** No (complete) answer: nothing listening, a timeout, or fragments missing after the retry. */
export class NoAnswerError extends Error {
  constructor(message: string, readonly reason: 'refused' | 'timeout' | 'incomplete' | 'socket') {
    super(message);
    this.name = 'NoAnswerError';
  }
}

export { ControlServerError };

export interface SessionOptions {
  readonly port?: number;
  /** Wait for the first fragment of each attempt (ntpq: 5 s). */
  readonly timeoutMs?: number;
  /** Wait for each further fragment (ntpq: 3 s). */
  readonly fragmentTimeoutMs?: number;
  /** Attempts per request (ntpq: 2). */
  readonly attempts?: number;
}

export interface ControlResponse {
  /** Status word of the final fragment. */
  readonly status: number;
  readonly data: Buffer;
}

export class ControlSession {
  private sequence = 0;
  private readonly port: number;
  private readonly timeoutMs: number;
  private readonly fragmentTimeoutMs: number;
  private readonly attempts: number;

  private constructor(private readonly socket: dgram.Socket, readonly address: string, options: SessionOptions) {
    this.port = options.port ?? 123;
    this.timeoutMs = options.timeoutMs ?? 5000;
    this.fragmentTimeoutMs = options.fragmentTimeoutMs ?? Math.min(3000, this.timeoutMs);
    this.attempts = Math.max(1, options.attempts ?? 2);
  }

  /** Opens a socket connected to `address` (an IP address; resolve names before). */
  static async open(address: string, options: SessionOptions): Promise<ControlSession> {
    const socket = dgram.createSocket(isIPv6(address) ? 'udp6' : 'udp4');
    try {
      await new Promise<void>((resolve, reject) => {
        socket.once('error', reject);
        socket.connect(options.port ?? 123, address, () => {
          socket.off('error', reject);
          resolve();
        });
      });
    } catch (err) {
      socket.close();
      throw new NoAnswerError(`cannot open a socket to ${address}: ${(err as Error).message}`, 'socket');
    }
    // Errors outside a request (a late ICMP error) must not crash the process; requests listen themselves.
    socket.on('error', () => undefined);
    return new ControlSession(socket, address, options);
  }

  close(): void {
    try {
      this.socket.close();
    } catch {
      // already closed
    }
  }

  /** Sends one request and collects its whole response. */
  async request(opcode: number, associd: number, data: string = ''): Promise<ControlResponse> {
    let lastProblem: NoAnswerError | undefined;
    for (let attempt = 0; attempt < this.attempts; attempt++) {
      this.sequence = (this.sequence % 0xffff) + 1;
      const result = await this.attempt(opcode, associd, data, this.sequence);
      if (!(result instanceof NoAnswerError)) return result;
      lastProblem = result;
      if (result.reason === 'refused' || result.reason === 'socket') break;
    }
    throw lastProblem ?? new NoAnswerError('no answer', 'timeout');
  }

  private attempt(opcode: number, associd: number, data: string, sequence: number): Promise<ControlResponse | NoAnswerError> {
    const assembler = new ResponseAssembler(opcode, sequence, associd);
    return new Promise((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const finish = (): void => {
        if (timer) clearTimeout(timer);
        this.socket.off('message', onMessage);
        this.socket.off('error', onError);
      };
      const arm = (ms: number): void => {
        if (timer) clearTimeout(timer);
        timer = setTimeout(() => {
          finish();
          resolve(assembler.fragmentCount === 0
            ? new NoAnswerError(`no answer within ${ms / 1000} s`, 'timeout')
            : new NoAnswerError(`incomplete response (${assembler.fragmentCount} fragments)`, 'incomplete'));
        }, ms);
      };
      const onMessage = (msg: Buffer): void => {
        let verdict;
        try {
          verdict = assembler.add(msg);
        } catch (err) {
          finish();
          reject(err as Error);
          return;
        }
        if (assembler.complete) {
          finish();
          resolve({ status: assembler.status, data: assembler.data() });
        } else if (assembler.datagrams >= 2 * MAX_FRAGMENTS) {
          finish();
          resolve(new NoAnswerError(`response of more than ${MAX_FRAGMENTS} fragments`, 'incomplete'));
        } else if (verdict === 'accepted') {
          arm(this.fragmentTimeoutMs);
        }
      };
      const onError = (err: NodeJS.ErrnoException): void => {
        finish();
        resolve(new NoAnswerError(err.code === 'ECONNREFUSED' ? 'connection refused (nothing listening)' : err.message,
          err.code === 'ECONNREFUSED' ? 'refused' : 'socket'));
      };
      this.socket.on('message', onMessage);
      this.socket.on('error', onError);
      arm(this.timeoutMs);
      this.socket.send(encodeRequest({ opcode, sequence, associd, data }), (err) => {
        if (err) onError(err as NodeJS.ErrnoException);
      });
    });
  }

  /** READSTAT for association 0: every association and its peer status word, sorted by id. */
  async readStat(): Promise<{ status: number; associations: AssociationStatus[] }> {
    const r = await this.request(ClientOpcode.ReadStat, 0);
    return { status: r.status, associations: parseAssociations(r.data) };
  }

  /** READVAR: all variables (empty list, as ntpq -p asks) or the named ones. */
  async readVar(associd: number, names: readonly string[] = []): Promise<{ status: number; vars: VarList; text: Buffer }> {
    const r = await this.request(ClientOpcode.ReadVar, associd, names.join(','));
    return { status: r.status, vars: parseVarList(r.data), text: r.data };
  }
}
