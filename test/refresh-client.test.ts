import { HTTPError } from 'ky';
import { describe, expect, it } from 'vitest';
import {
  InvalidTokenResponseError,
  SessionExpiredError,
  TokenWaitTimeoutError,
  TransientRefreshError,
} from '../src/errors.ts';
import { API } from './helpers/fake-auth-server.ts';
import { recordEvents, settle, useFakeAuth } from './helpers/setup.ts';

const ctx = useFakeAuth();

async function signedIn(options = {}) {
  const session = ctx.manager(options);
  await session.setTokens(ctx.server.issue());
  return session;
}

describe('single-flight refresh through the ky client', () => {
  it.each([1, 10, 1000])('%i concurrent requests with an expired token share one refresh', async (n) => {
    const session = await signedIn();
    const api = session.createClient({ prefix: API });
    await ctx.clock.advance(3600 * 1000); // the access token expired (the timer refreshed it)
    const refreshesBefore = ctx.server.refreshCalls;
    ctx.server.expireAccessTokens();
    const results = await settle(Array.from({ length: n }, (_, i) => api.get(`items/${i}`).json()));
    expect(results.rejected).toEqual([]);
    expect(results.fulfilled).toBe(n);
    expect(ctx.server.refreshCalls - refreshesBefore).toBe(1);
    expect(session.state).toBe('active');
  });

  it('1000 requests sent with an expired token before any 401 wait and share one refresh', async () => {
    const session = await signedIn({ refreshMargin: 0 });
    const api = session.createClient({ prefix: API });
    ctx.clock.set(ctx.clock.now() + 3601 * 1000); // expired, and no timer has run yet
    const results = await settle(Array.from({ length: 1000 }, () => api.get('items').json()));
    expect(results.fulfilled).toBe(1000);
    expect(ctx.server.refreshCalls).toBe(1);
    expect(ctx.server.apiCalls).toBe(1000); // nobody went out with the dead token
  });

  it('a 401 loop fails each request after exactly one retry', async () => {
    const session = await signedIn();
    const api = session.createClient({ prefix: API });
    ctx.server.rejectAllTokens = true;
    const results = await settle(Array.from({ length: 10 }, () => api.get('items').json()));
    expect(results.fulfilled).toBe(0);
    expect(results.rejected.every((e) => e instanceof HTTPError && e.response.status === 401)).toBe(true);
    expect(ctx.server.apiCalls).toBe(20);
    expect(ctx.server.refreshCalls).toBe(1);
  });

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

  it('keeps the body and headers of a POST for its retry after a 401', async () => {
    const session = await signedIn();
    const sent: { body: string; type: string | null; token: string | null }[] = [];
    const api = session.createClient({
      prefix: API,
      fetch: async (input, init) => {
        const request = input as Request;
        sent.push({
          body: await request.clone().text(),
          type: request.headers.get('content-type'),
          token: request.headers.get('authorization'),
        });
        return globalThis.fetch(request, init);
      },
    });
    ctx.server.expireAccessTokens();
    await expect(api.post('items', { json: { name: 'x' } }).json()).resolves.toMatchObject({ ok: true });
    expect(ctx.server.refreshCalls).toBe(1);
    expect(sent).toHaveLength(2);
    expect(sent.map(({ body, type }) => [body, type])).toEqual([
      ['{"name":"x"}', 'application/json'],
      ['{"name":"x"}', 'application/json'],
    ]);
    expect(sent[1]!.token).not.toBe(sent[0]!.token);
    expect(sent[1]!.token).toBe(`Bearer ${await session.getAccessToken()}`);
  });

  it('with retry: 0 still retries once after a 401', async () => {
    const session = await signedIn();
    const api = session.createClient({ prefix: API, retry: 0 });
    ctx.server.expireAccessTokens();
    await expect(api.get('items').json()).resolves.toMatchObject({ ok: true });
  });

  it('two managers sharing one store and lock refresh once', async () => {
    const a = await signedIn();
    const b = ctx.manager();
    await b.restore();
    expect(b.state).toBe('active');
    ctx.server.expireAccessTokens();
    const apiA = a.createClient({ prefix: API });
    const apiB = b.createClient({ prefix: API });
    const results = await settle([
      ...Array.from({ length: 20 }, () => apiA.get('items').json()),
      ...Array.from({ length: 20 }, () => apiB.get('items').json()),
    ]);
    expect(results.fulfilled).toBe(40);
    expect(ctx.server.refreshCalls).toBe(1);
    expect(await a.getAccessToken()).toBe(await b.getAccessToken());
  });
});

describe('terminal refresh failure', () => {
  it('makes one refresh attempt; every queued request rejects with SessionExpiredError', async () => {
    const session = await signedIn();
    const events = recordEvents(session);
    const api = session.createClient({ prefix: API });
    ctx.server.revokeAll();
    ctx.server.expireAccessTokens();
    const results = await settle(Array.from({ length: 50 }, () => api.get('items').json()));
    expect(results.fulfilled).toBe(0);
    expect(results.rejected.every((e) => e instanceof SessionExpiredError)).toBe(true);
    expect(ctx.server.refreshCalls).toBe(1);
    expect(session.state).toBe('signedOut');
    expect(events.types()).toEqual(['reauthRequired', 'signedOut']);
    expect(events.log.find((e) => e.type === 'signedOut')?.event).toEqual({ reason: 'reauthFailed' });
    expect(ctx.store.load()).toBeNull();
  });
});

describe('transient refresh failures keep the session', () => {
  it('503 twice, then success: every request succeeds', async () => {
    const session = await signedIn();
    const events = recordEvents(session);
    const api = session.createClient({ prefix: API });
    ctx.server.faults = [{ status: 503 }, { status: 503 }];
    ctx.server.expireAccessTokens();
    const pending = settle(Array.from({ length: 10 }, () => api.get('items').json()));
    await ctx.clock.advance(10_000);
    const results = await pending;
    expect(results.fulfilled).toBe(10);
    expect(ctx.server.refreshCalls).toBe(3);
    expect(events.types()).toEqual(['refreshFailed', 'refreshFailed', 'refreshed']);
    expect(events.states()).not.toContain('signedOut');
  });

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

  it('a waiting request fails with TokenWaitTimeoutError after its own timeout; the session stays', async () => {
    const session = await signedIn({ tokenWaitTimeout: 20_000 });
    ctx.server.faults = Array.from({ length: 100 }, () => 'network' as const);
    ctx.server.expireAccessTokens();
    const api = session.createClient({ prefix: API });
    const request = api.get('items').json();
    const outcome = expect(request).rejects.toBeInstanceOf(TokenWaitTimeoutError);
    await ctx.clock.advance(20_000);
    await outcome;
    expect(session.state).toBe('refreshing');
    expect(ctx.store.load()).not.toBeNull();
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
