/**
 * How a request through the ky client fails when no token can be had: the same typed,
 * transient error whether it waited before it was sent or after its 401.
 */
import { TimeoutError } from 'ky';
import { describe, expect, it } from 'vitest';
import { isTransientError, TokenWaitTimeoutError } from '../src/errors.ts';
import { API } from './helpers/fake-auth-server.ts';
import { useFakeAuth } from './helpers/setup.ts';

const ctx = useFakeAuth();

describe('a request whose token cannot be renewed (the token endpoint is unreachable)', () => {
  it('after a 401, it fails with TokenWaitTimeoutError just before its ky timeout, not with ky TimeoutError', async () => {
    const session = ctx.manager();
    await session.setTokens(ctx.server.issue());
    ctx.server.faults = Array.from({ length: 100 }, () => 'network' as const);
    ctx.server.expireAccessTokens(); // the server rejects the token the client still trusts: a 401
    // ky's own timeout runs on real timers; keep it short.
    const api = session.createClient({ prefix: API, timeout: 300, retry: 0 });
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
