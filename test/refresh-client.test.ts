import { describe, expect, it } from 'vitest';
import { InvalidTokenResponseError, TransientRefreshError } from '../src/errors.ts';
import { API } from './helpers/fake-auth-server.ts';
import { recordEvents, useFakeAuth } from './helpers/setup.ts';

const ctx = useFakeAuth();

async function signedIn(options = {}) {
  const session = ctx.manager(options);
  await session.setTokens(ctx.server.issue());
  return session;
}

describe('the ky client (the shared client suites are in test/clients/)', () => {
  it('retries without refreshing when the 401 answered a token older than the current one', async () => {
    const session = await signedIn();
    const api = session.createClient({ prefix: API });
    const first = await session.getAccessToken();
    await session.refresh();
    expect(ctx.server.refreshCalls).toBe(1);
    // A request that went out with the old token comes back 401.
    const token = await session.handleUnauthorized(first);
    expect(token).not.toBe(first);
    expect(ctx.server.refreshCalls).toBe(1);
    await expect(api.get('items').json()).resolves.toMatchObject({ ok: true });
  });

  it('attaches the token only to the origin of baseUrl', async () => {
    const session = await signedIn();
    const seen: (string | null)[] = [];
    const api = session.createClient({
      baseUrl: API,
      fetch: async (input) => {
        seen.push((input as Request).headers.get('authorization'));
        return new Response('{}', { headers: { 'content-type': 'application/json' } });
      },
    });
    await api.get('https://elsewhere.test/x').json();
    await api.get('items').json();
    expect(seen[0]).toBeNull();
    expect(seen[1]).toMatch(/^Bearer at-/);
  });

  it('with retry: 0 still retries once after a 401', async () => {
    const session = await signedIn();
    const api = session.createClient({ prefix: API, retry: 0 });
    ctx.server.expireAccessTokens();
    await expect(api.get('items').json()).resolves.toMatchObject({ ok: true });
  });
});

describe('transient refresh failures keep the session', () => {
  it('a network error is retried and never signs out', async () => {
    const session = await signedIn();
    ctx.server.faults = ['network', 'network', 'network'];
    ctx.server.expireAccessTokens();
    const token = session.handleUnauthorized(await session.getAccessToken());
    const outcome = expect(token).resolves.toMatch(/^at-/);
    await ctx.clock.advance(20_000);
    await outcome;
    expect(ctx.server.refreshCalls).toBe(4);
  });

  it('429 with Retry-After waits as long as the server asked', async () => {
    const session = await signedIn();
    const events = recordEvents(session);
    ctx.server.faults = [{ status: 429, retryAfter: '7' }];
    const refreshed = session.refresh();
    await ctx.clock.advance(6_900);
    expect(ctx.server.refreshCalls).toBe(1);
    await ctx.clock.advance(200);
    await refreshed;
    expect(ctx.server.refreshCalls).toBe(2);
    const failed = events.log.find((e) => e.type === 'refreshFailed')?.event as { retryInMs: number };
    expect(failed.retryInMs).toBe(7000);
  });

  it('a refresh that hangs is abandoned after refreshTimeout and retried', async () => {
    const session = await signedIn({ refreshTimeout: 5000 });
    const events = recordEvents(session);
    ctx.server.faults = ['hang'];
    const refreshed = session.refresh();
    await ctx.clock.advance(5000);
    const failure = events.log.find((e) => e.type === 'refreshFailed')?.event as { error: Error };
    expect(failure.error).toBeInstanceOf(TransientRefreshError);
    await ctx.clock.advance(5000);
    await refreshed;
    expect(session.state).toBe('active');
    expect(ctx.server.refreshCalls).toBe(2);
  });

  it('a malformed token response is not stored and the refresh is retried', async () => {
    const session = await signedIn();
    const before = ctx.store.load();
    const events = recordEvents(session);
    ctx.server.faults = ['malformed'];
    const refreshed = session.refresh();
    await ctx.clock.advance(0);
    expect(ctx.store.load()).toEqual(before);
    const failure = events.log.find((e) => e.type === 'refreshFailed')?.event as { error: Error };
    expect(failure.error).toBeInstanceOf(InvalidTokenResponseError);
    await ctx.clock.advance(5000);
    await refreshed;
    expect(session.state).toBe('active');
  });
});

describe('a custom refresh function', () => {
  it('replaces the standard grant', async () => {
    const calls: string[] = [];
    const session = await signedIn({
      refreshTokens: async (refreshToken: string) => {
        calls.push(refreshToken);
        return { access_token: 'custom-access', expires_in: 600 };
      },
    });
    await session.refresh();
    expect(calls).toHaveLength(1);
    expect(await session.getAccessToken()).toBe('custom-access');
    expect(ctx.server.refreshCalls).toBe(0);
  });
});
