/**
 * How a request through the ky client fails when no token can be had: the same typed,
 * transient error whether it waited before it was sent or after its 401.
 */
import { TimeoutError } from 'ky';
import { describe, expect, it } from 'vitest';
import { sendWithOneRetry, type Replayable, type TokenProvider } from '../src/client/one-retry.ts';
import { isTransientError, TokenWaitTimeoutError } from '../src/errors.ts';
import { systemClock } from '../src/ports/clock.ts';
import { API } from './helpers/fake-auth-server.ts';
import { useFakeAuth } from './helpers/setup.ts';

const ctx = useFakeAuth();

describe('a request whose token cannot be renewed (the token endpoint is unreachable)', () => {
  it('after a 401, it fails with TokenWaitTimeoutError just before its ky timeout, not with ky TimeoutError', async () => {
    const session = ctx.manager();
    await session.setTokens(ctx.server.issue());
    ctx.server.faults = Array.from({ length: 100 }, () => 'network' as const);
    ctx.server.expireAccessTokens(); // the server rejects the token the client still trusts: a 401
    // ky's own timeout runs on real timers: short, but long enough for the 401 to come back
    // on a loaded machine (it must arrive before ky's timeout for this to be the case tested).
    const api = session.createClient({ prefix: API, timeout: 1_500, retry: 0 });
    const error = await api
      .get('items')
      .json()
      .catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(TokenWaitTimeoutError);
    expect(error).not.toBeInstanceOf(TimeoutError);
    expect(isTransientError(error)).toBe(true);
    expect(session.state).toBe('refreshing'); // the session is kept
  });

  it('with ky timeout: false, the wait after a 401 is bounded by tokenWaitTimeout alone', async () => {
    const session = ctx.manager({ tokenWaitTimeout: 20_000 });
    await session.setTokens(ctx.server.issue());
    ctx.server.faults = Array.from({ length: 100 }, () => 'network' as const);
    ctx.server.expireAccessTokens();
    const api = session.createClient({ prefix: API, timeout: false, retry: 0 });
    const outcome = expect(api.get('items').json()).rejects.toBeInstanceOf(TokenWaitTimeoutError);
    await ctx.clock.advance(20_000);
    await outcome;
  });
});

describe('the wait for a new token after a 401, bounded by an instant', () => {
  /** A session whose refresh never ends: only the signal can end the wait. */
  const stalled: TokenProvider = {
    getAccessToken: () => Promise.resolve('at-1'),
    handleUnauthorized: (_used, { signal } = {}) =>
      new Promise((_resolve, reject) => {
        if (signal?.aborted) reject(signal.reason);
        signal?.addEventListener('abort', () => reject(signal.reason));
      }),
  };
  const unauthorized: Replayable = {
    send: () => Promise.resolve(new Response(null, { status: 401 })),
    resend: () => Promise.reject(new Error('not resent')),
    drop: () => {},
  };

  it('already past when the 401 comes back, it fails at once, without waiting for a timer', async () => {
    const outcome = sendWithOneRetry(stalled, 'at-1', unauthorized, undefined, systemClock.now() - 1);
    // Microtasks only: a timer, even of 0 ms, would lose this race.
    const microtasks = async (): Promise<string> => {
      for (let i = 0; i < 20; i++) await Promise.resolve();
      return 'still waiting';
    };
    const first = await Promise.race([outcome.catch((error: unknown) => error), microtasks()]);
    expect(first).toBeInstanceOf(TokenWaitTimeoutError);
  });
});
