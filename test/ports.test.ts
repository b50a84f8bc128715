import { describe, expect, it } from 'vitest';
import { ConfigurationError, InvalidTokenResponseError } from '../src/errors.ts';
import { SessionManager } from '../src/index.ts';
import { inProcessLock, webLock, type LockContext } from '../src/ports/lock.ts';
import { redact } from '../src/ports/logger.ts';
import { WebStorageTokenStore, type StorageLike } from '../src/ports/token-store.ts';
import { backoffDelay, defaultBackoff } from '../src/refresh/backoff.ts';
import { parseRetryAfter } from '../src/refresh/grant.ts';
import { fromStoredSession, parseTokenResponse, toStoredSession } from '../src/token-set.ts';
import { unsignedJwt } from './helpers/tokens.ts';

describe('locks', () => {
  it('inProcessLock runs tasks of one name one at a time, in order', async () => {
    const lock = inProcessLock();
    const order: string[] = [];
    const task = (id: string) => async () => {
      order.push(`${id}:start`);
      await Promise.resolve();
      order.push(`${id}:end`);
    };
    await Promise.all([lock.run('a', task('1')), lock.run('a', task('2')), lock.run('a', task('3'))]);
    expect(order).toEqual(['1:start', '1:end', '2:start', '2:end', '3:start', '3:end']);
  });

  it('inProcessLock keeps going after a task throws', async () => {
    const lock = inProcessLock();
    await expect(lock.run('a', async () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    await expect(lock.run('a', async () => 'next')).resolves.toBe('next');
  });

  it('webLock (Web Locks in Node.js) tells a task whether it waited for another holder', async () => {
    const lock = webLock();
    const contexts: (LockContext | undefined)[] = [];
    let release = () => {};
    const first = lock.run('wl-waited', (context) => {
      contexts.push(context);
      return new Promise<void>((resolve) => (release = resolve));
    });
    await new Promise((resolve) => setImmediate(resolve));
    const second = lock.run('wl-waited', async (context) => {
      contexts.push(context);
    });
    release();
    await Promise.all([first, second]);
    expect(contexts).toEqual([{ waited: false }, { waited: true }]);
  });

  it.each([
    ['inProcessLock', inProcessLock()],
    ['webLock', webLock()],
  ])('%s: a shared hold shows in isHeld until it settles, and blocks nobody', async (_name, lock) => {
    const name = `held-${_name}`;
    expect(await lock.isHeld!(name)).toBe(false);
    let end = () => {};
    lock.holdShared!(name, new Promise<void>((resolve) => (end = resolve)));
    lock.holdShared!(name, Promise.reject(new Error('a chain that failed')));
    await new Promise((resolve) => setImmediate(resolve));
    expect(await lock.isHeld!(name)).toBe(true);
    end();
    await new Promise((resolve) => setImmediate(resolve));
    expect(await lock.isHeld!(name)).toBe(false);
  });

  it('webLock stops waiting for a holder that never lets go, and runs the task anyway', async () => {
    const lock = webLock({ maxWaitMs: 50 });
    void lock.run('wl-orphan', () => new Promise<never>(() => {}));
    await new Promise((resolve) => setImmediate(resolve));
    await expect(lock.run('wl-orphan', async (context) => context)).resolves.toEqual({ waited: true });
  });
});

describe('WebStorageTokenStore', () => {
  function memoryStorage(): StorageLike & { data: Map<string, string> } {
    const data = new Map<string, string>();
    return {
      data,
      getItem: (key) => data.get(key) ?? null,
      setItem: (key, value) => void data.set(key, value),
      removeItem: (key) => void data.delete(key),
    };
  }

  it('round-trips a session as JSON under its key', () => {
    const storage = memoryStorage();
    const store = new WebStorageTokenStore({ storage, key: 'k' });
    const tokens = parseTokenResponse({ access_token: 'a', refresh_token: 'r', expires_in: 60 }, 1000);
    store.save(toStoredSession(tokens, false, 2000));
    expect(JSON.parse(storage.data.get('k')!)).not.toHaveProperty('accessToken');
    expect(fromStoredSession(store.load())?.refreshToken).toBe('r');
  });

  it('hands garbled JSON to the manager, which clears it and stays signed out', async () => {
    const storage = memoryStorage();
    storage.setItem('session-keeper', '{"version":1,"refre');
    const store = new WebStorageTokenStore({ storage });
    const session = new SessionManager({ tokenEndpoint: 'https://a.test/t', clientId: 'c', store, broadcast: false });
    expect(await session.restore()).toBe('signedOut');
    expect(storage.data.size).toBe(0);
    session.dispose();
  });
});

describe('token responses', () => {
  it.each([
    ['null', null],
    ['an array', []],
    ['a string', 'access'],
    ['no access_token', { token_type: 'Bearer', expires_in: 60 }],
    ['an empty access_token', { access_token: '' }],
    ['a numeric access_token', { access_token: 42 }],
    ['a non-numeric expires_in', { access_token: 'a', expires_in: 'soon' }],
    ['a negative expires_in', { access_token: 'a', expires_in: -5 }],
    ['an infinite expires_in', { access_token: 'a', expires_in: Number.POSITIVE_INFINITY }],
    ['a non-bearer token_type', { access_token: 'a', token_type: 'MAC' }],
    ['a non-string refresh_token', { access_token: 'a', refresh_token: {} }],
  ])('rejects %s with InvalidTokenResponseError', (_, input) => {
    expect(() => parseTokenResponse(input, 0)).toThrow(InvalidTokenResponseError);
  });

  it('accepts a numeric string expires_in and keeps the old refresh token when none is sent', () => {
    const previous = parseTokenResponse({ access_token: 'a', refresh_token: 'r', expires_in: 60 }, 0);
    const next = parseTokenResponse({ access_token: 'b', expires_in: '120' }, 1000, previous);
    expect(next).toMatchObject({ accessToken: 'b', refreshToken: 'r', accessTokenExpiresAt: 121_000 });
  });

  it('an expiry that is no expiry (expires_in 0, a JWT exp already past on our clock) reads as unknown', () => {
    const now = 1_000_000_000_000;
    expect(parseTokenResponse({ access_token: 'a', expires_in: 0 }, now).accessTokenExpiresAt).toBeNull();
    expect(
      parseTokenResponse({ access_token: unsignedJwt({ exp: now / 1000 - 60 }) }, now).accessTokenExpiresAt,
    ).toBeNull();
    expect(parseTokenResponse({ access_token: unsignedJwt({ exp: now / 1000 + 60 }) }, now).accessTokenExpiresAt).toBe(
      now + 60_000,
    );
    // expires_in 0 beside a good exp: the exp is used
    expect(
      parseTokenResponse({ access_token: unsignedJwt({ exp: now / 1000 + 60 }), expires_in: 0 }, now)
        .accessTokenExpiresAt,
    ).toBe(now + 60_000);
  });

  it('setTokens with a malformed response keeps the previous session', async () => {
    const session = new SessionManager({ tokenEndpoint: 'https://a.test/t', clientId: 'c', broadcast: false });
    await session.setTokens({ access_token: 'good', expires_in: 600 });
    await expect(session.setTokens({ access_token: '' })).rejects.toBeInstanceOf(InvalidTokenResponseError);
    expect(await session.getAccessToken()).toBe('good');
    session.dispose();
  });
});

describe('options', () => {
  it.each([
    ['a relative tokenEndpoint', { tokenEndpoint: '/token', clientId: 'c' }],
    ['an empty clientId', { tokenEndpoint: 'https://a.test/t', clientId: '' }],
    ['a negative refreshMargin', { tokenEndpoint: 'https://a.test/t', clientId: 'c', refreshMargin: -1 }],
    ['a NaN refreshTimeout', { tokenEndpoint: 'https://a.test/t', clientId: 'c', refreshTimeout: Number.NaN }],
    ['a non-function signInPrompt', { tokenEndpoint: 'https://a.test/t', clientId: 'c', signInPrompt: 'x' }],
  ])('reject %s with ConfigurationError', (_, options) => {
    expect(() => new SessionManager(options as never)).toThrow(ConfigurationError);
  });
});

describe('retry timing', () => {
  it('backoff grows exponentially with jitter, capped at maxDelay', () => {
    expect(backoffDelay(1, defaultBackoff, 0)).toBe(500);
    expect(backoffDelay(1, defaultBackoff, 0.999)).toBeCloseTo(1000, -1);
    expect(backoffDelay(4, defaultBackoff, 0)).toBe(4000);
    expect(backoffDelay(30, defaultBackoff, 1)).toBe(60_000);
    expect(backoffDelay(1, defaultBackoff, 0.5, 120_000)).toBe(60_000);
    // Retry-After lengthens the wait, never shortens it below the backoff.
    expect(backoffDelay(1, defaultBackoff, 0, 7000)).toBe(7000);
    expect(backoffDelay(1, defaultBackoff, 0, 0)).toBe(500);
    expect(backoffDelay(4, defaultBackoff, 0, 1000)).toBe(4000);
  });

  it('reads Retry-After as seconds or as an HTTP date', () => {
    expect(parseRetryAfter('7', 0)).toBe(7000);
    expect(parseRetryAfter(new Date(10_000).toUTCString(), 4000)).toBe(6000);
    expect(parseRetryAfter('soon', 0)).toBeUndefined();
  });
});

describe('redaction', () => {
  it('hides token-named fields and JWT-shaped text', () => {
    const jwt = 'eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ1In0.c2ln';
    expect(redact({ refresh_token: 'abc', note: `sent ${jwt}`, error: new Error(`bad ${jwt}`), attempt: 2 })).toEqual({
      refresh_token: '[redacted]',
      note: 'sent [redacted-jwt]',
      error: 'Error: bad [redacted-jwt]',
      attempt: 2,
    });
  });
});
