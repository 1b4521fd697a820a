/**
 * Logged-in sessions, their CSRF tokens, and the login rate limit.
 *
 * A session id is 32 random bytes (base64url) in a cookie that is HttpOnly and SameSite=Strict
 * (Secure only behind TLS, which the appliance does not terminate: reach it through an SSH
 * tunnel). Each session has its own CSRF token, checked on every POST in constant time. Sessions
 * expire after `idleMs` without use and `maxAgeMs` after login, whichever comes first.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';

export const SESSION_COOKIE = 'gnomon_session';

export interface Session {
  readonly id: string;
  readonly csrf: string;
  readonly createdMs: number;
  lastUsedMs: number;
}

export interface SessionOptions {
  readonly idleMs?: number;
  readonly maxAgeMs?: number;
  /** Milliseconds now; injected for tests. */
  readonly now?: () => number;
  /** At most this many live sessions (the oldest goes first). */
  readonly capacity?: number;
}

function token(): string {
  return randomBytes(32).toString('base64url');
}

/** Compares two strings without leaking where they differ (different lengths: false, also constant in content). */
export function constantTimeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a, 'utf8');
  const y = Buffer.from(b, 'utf8');
  if (x.length !== y.length) {
    timingSafeEqual(x, x);
    return false;
  }
  return timingSafeEqual(x, y);
}

export class SessionStore {
  private readonly sessions = new Map<string, Session>();
  private readonly idleMs: number;
  private readonly maxAgeMs: number;
  private readonly now: () => number;
  private readonly capacity: number;

  constructor(o: SessionOptions = {}) {
    this.idleMs = o.idleMs ?? 30 * 60_000;
    this.maxAgeMs = o.maxAgeMs ?? 12 * 3600_000;
    this.now = o.now ?? Date.now;
    this.capacity = o.capacity ?? 64;
  }

  create(): Session {
    const t = this.now();
    this.prune(t);
    while (this.sessions.size >= this.capacity) {
      const oldest = this.sessions.keys().next().value;
      if (oldest === undefined) break;
      this.sessions.delete(oldest);
    }
    const s: Session = { id: token(), csrf: token(), createdMs: t, lastUsedMs: t };
    this.sessions.set(s.id, s);
    return s;
  }

  /** The live session for a cookie value (touching it), or undefined. */
  get(id: string | undefined): Session | undefined {
    if (id === undefined || id.length !== 43) return undefined;
    const s = this.sessions.get(id);
    if (s === undefined) return undefined;
    const t = this.now();
    if (this.expired(s, t)) {
      this.sessions.delete(id);
      return undefined;
    }
    s.lastUsedMs = t;
    return s;
  }

  destroy(id: string): void {
    this.sessions.delete(id);
  }

  get size(): number {
    return this.sessions.size;
  }

  /** Seconds the cookie may live (the absolute limit). */
  get cookieMaxAgeS(): number {
    return Math.floor(this.maxAgeMs / 1000);
  }

  private expired(s: Session, t: number): boolean {
    return t - s.lastUsedMs > this.idleMs || t - s.createdMs > this.maxAgeMs;
  }

  private prune(t: number): void {
    for (const [id, s] of this.sessions) if (this.expired(s, t)) this.sessions.delete(id);
  }
}

/** True when the form's token is the session's own. */
export function csrfValid(session: Session | undefined, submitted: string | undefined): boolean {
  return session !== undefined && typeof submitted === 'string' && constantTimeEqual(session.csrf, submitted);
}

export function sessionCookie(id: string, maxAgeS: number, secure = false): string {
  return `${SESSION_COOKIE}=${id}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${maxAgeS}${secure ? '; Secure' : ''}`;
}

export function clearedSessionCookie(): string {
  return `${SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0`;
}

/** The value of cookie `name` in a Cookie header. */
export function readCookie(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

/**
 * Login attempts per client address: at most `limit` in any `windowMs` (a sliding window of
 * attempt times). A successful login does not reset it: guessing stays slow either way.
 */
export class LoginLimiter {
  private readonly attempts = new Map<string, number[]>();

  constructor(private readonly limit = 5, private readonly windowMs = 60_000, private readonly now: () => number = Date.now,
    private readonly capacity = 4096) {}

  /** Records an attempt; returns 0 when allowed, else the seconds until the next one is. */
  attempt(address: string): number {
    const t = this.now();
    const recent = (this.attempts.get(address) ?? []).filter((a) => t - a < this.windowMs);
    if (recent.length >= this.limit) {
      this.attempts.set(address, recent);
      return Math.max(1, Math.ceil((recent[0]! + this.windowMs - t) / 1000));
    }
    recent.push(t);
    this.attempts.delete(address);
    if (this.attempts.size >= this.capacity) {
      const oldest = this.attempts.keys().next().value;
      if (oldest !== undefined) this.attempts.delete(oldest);
    }
    this.attempts.set(address, recent);
    return 0;
  }
}
