import { describe, expect, it } from 'vitest';
import { constantTimeEqual, csrfValid, LoginLimiter, readCookie, SESSION_COOKIE, sessionCookie, SessionStore } from '../../src/web/session.js';

describe('sessions', () => {
  it('have random 256-bit ids and CSRF tokens, distinct per session', () => {
    const store = new SessionStore();
    const a = store.create();
    const b = store.create();
    expect(a.id).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(a.csrf).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(new Set([a.id, b.id, a.csrf, b.csrf]).size).toBe(4);
    expect(store.get(a.id)).toBe(a);
    expect(store.get('nope')).toBeUndefined();
    expect(store.get(undefined)).toBeUndefined();
  });

  it('expire after the idle time and after the absolute maximum', () => {
    let now = 0;
    const store = new SessionStore({ idleMs: 1000, maxAgeMs: 5000, now: () => now });
    const s = store.create();
    now = 900;
    expect(store.get(s.id)).toBe(s);
    now = 1800; // 900 ms after last use
    expect(store.get(s.id)).toBe(s);
    now = 2801;
    expect(store.get(s.id)).toBeUndefined();
    const t = store.create();
    for (now = 3000; now <= 7800; now += 800) expect(store.get(t.id)).toBe(t);
    now = 8100; // used 300 ms ago but created 5100 ms ago
    expect(store.get(t.id)).toBeUndefined();
  });

  it('destroy logs out; capacity drops the oldest', () => {
    const store = new SessionStore({ capacity: 2 });
    const a = store.create();
    const b = store.create();
    const c = store.create();
    expect(store.get(a.id)).toBeUndefined();
    expect(store.get(b.id)).toBe(b);
    store.destroy(c.id);
    expect(store.get(c.id)).toBeUndefined();
  });

  it('CSRF: only the session\'s own token passes', () => {
    const store = new SessionStore();
    const s = store.create();
    const other = store.create();
    expect(csrfValid(s, s.csrf)).toBe(true);
    expect(csrfValid(s, other.csrf)).toBe(false);
    expect(csrfValid(s, undefined)).toBe(false);
    expect(csrfValid(s, '')).toBe(false);
    expect(csrfValid(undefined, s.csrf)).toBe(false);
    expect(csrfValid(s, s.csrf.slice(0, -1))).toBe(false);
  });

  it('constant-time compare', () => {
    expect(constantTimeEqual('abc', 'abc')).toBe(true);
    expect(constantTimeEqual('abc', 'abd')).toBe(false);
    expect(constantTimeEqual('abc', 'abcd')).toBe(false);
  });

  it('the cookie is HttpOnly, SameSite=Strict, path /, Secure only when asked', () => {
    const c = sessionCookie('ID', 3600);
    expect(c).toBe(`${SESSION_COOKIE}=ID; Path=/; HttpOnly; SameSite=Strict; Max-Age=3600`);
    expect(sessionCookie('ID', 1, true)).toContain('; Secure');
    expect(readCookie(`a=1; ${SESSION_COOKIE}=xyz; b=2`, SESSION_COOKIE)).toBe('xyz');
    expect(readCookie(undefined, SESSION_COOKIE)).toBeUndefined();
  });
});

describe('login rate limit', () => {
  it('allows 5 tries a minute per address, then says how long to wait', () => {
    let now = 0;
    const l = new LoginLimiter(5, 60_000, () => now);
    for (let i = 0; i < 5; i++) expect(l.attempt('10.0.0.1')).toBe(0);
    expect(l.attempt('10.0.0.1')).toBe(60);
    expect(l.attempt('10.0.0.2')).toBe(0);
    now = 30_000;
    expect(l.attempt('10.0.0.1')).toBe(30);
    now = 60_001;
    expect(l.attempt('10.0.0.1')).toBe(0);
  });
});
