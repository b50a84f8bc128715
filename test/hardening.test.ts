import { describe, expect, it } from 'vitest';
import { ConfigurationError, DiscoveryError, SessionExpiredError, TokenWaitTimeoutError } from '../src/errors.ts';
import { discoverEndpoints } from '../src/discovery.ts';
import { API } from './helpers/fake-auth-server.ts';
import { captureLogs, recordEvents, settle, useFakeAuth } from './helpers/setup.ts';

const ctx = useFakeAuth();
const MINUTE = 60_000;

describe('sign-out races and misbehaving listeners', () => {
  it("a user's sign-out is not undone by another context's refresh in flight", async () => {
    const a = ctx.manager();
    const b = ctx.manager();
    await a.setTokens(ctx.server.issue());
    await b.restore();
    let answer = () => {};
    ctx.server.faults = [{ defer: new Promise<void>((resolve) => (answer = resolve)) }];
    const refreshing = b.refresh().catch((error: unknown) => error);
    await ctx.clock.advance(0); // B holds the lock, its grant in flight
    const events = recordEvents(a);
    const signedOut = a.signOut();
    await ctx.clock.advance(0);
    answer(); // the server rotated; B's answer arrives after the user signed out in A
    await signedOut;
    await ctx.clock.advance(0);
    await refreshing; // B's refresh landed first (the lock), then the sign-out cleared it
    expect([a.state, b.state]).toEqual(['signedOut', 'signedOut']);
    expect(ctx.store.load()).toBeNull();
    expect(events.types()).toEqual(['signedOut']);
  });

  it('signedOut fires after the store is cleared: signing in again from the handler keeps the new session', async () => {
    const session = ctx.manager();
    await session.setTokens(ctx.server.issue());
    const fresh = ctx.server.issue();
    let storedWhenNotified: unknown = 'unset';
    const signedInAgain = new Promise<void>((resolve) =>
      session.on('signedOut', () => {
        storedWhenNotified = ctx.store.load();
        void session.setTokens(fresh).then(resolve);
      }),
    );
    await session.signOut();
    await signedInAgain;
    await ctx.clock.advance(0);
    expect(storedWhenNotified).toBeNull();
    expect(session.state).toBe('active');
    expect(await session.getAccessToken()).toBe(fresh.access_token);
    expect(ctx.store.load()).not.toBeNull();
  });

  it('a listener that throws breaks neither sign-out nor the refresh', async () => {
    const errors: unknown[] = [];
    const log = (message: string, fields?: Record<string, unknown>) => errors.push(message, fields?.['error']);
    const session = ctx.manager({ logger: { debug: () => {}, info: () => {}, warn: log, error: log } });
    const issued = ctx.server.issue();
    await session.setTokens(issued);
    session.on('stateChange', () => {
      throw new Error('app bug');
    });
    session.on('refreshFailed', () => {
      throw new Error('app bug');
    });
    ctx.server.faults = [{ status: 503 }];
    const refreshed = session.refresh();
    await ctx.clock.advance(5000);
    await refreshed;
    expect(session.state).toBe('active');
    await expect(session.signOut()).resolves.toBeUndefined();
    expect(ctx.store.load()).toBeNull();
    expect(ctx.server.revokeCalls).toHaveLength(1);
    expect(errors.some((e) => String(e).includes('app bug'))).toBe(true);
  });
});

describe('where the token goes', () => {
  it('createClient without prefix, baseUrl or trustedOrigins refuses to guess (no window here)', () => {
    const session = ctx.manager();
    expect(() => session.createClient()).toThrow(ConfigurationError);
  });

  it('trustedOrigins names the origins that get the token; others get none', async () => {
    const session = ctx.manager();
    await session.setTokens(ctx.server.issue());
    const seen: (string | null)[] = [];
    const api = session.createClient(
      {
        fetch: async (input) => {
          seen.push((input as Request).headers.get('authorization'));
          return new Response('{}', { headers: { 'content-type': 'application/json' } });
        },
      },
      { trustedOrigins: ['https://api.test'] },
    );
    await api.get('https://api.test/v1/items').json();
    await api.get('https://evil.test/steal').json();
    expect(seen[0]).toMatch(/^Bearer /);
    expect(seen[1]).toBeNull();
  });

  it('discoverEndpoints refuses a plain-http issuer (metadata anyone on the path could forge)', async () => {
    const forged = { issuer: 'http://auth.example.com', token_endpoint: 'https://attacker.example/token' };
    const fetch = (async () => new Response(JSON.stringify(forged))) as typeof globalThis.fetch;
    await expect(discoverEndpoints('http://auth.example.com', { fetch })).rejects.toBeInstanceOf(DiscoveryError);
  });
});

describe('transient failures during re-authentication and proactive refresh', () => {
  it('a network error on the biometric exchange keeps the session and retries, never signs out', async () => {
    const session = ctx.manager({
      biometric: { isAvailable: async () => true, getAssertion: async () => 'good-assertion' },
    });
    await session.setTokens(ctx.server.issue());
    ctx.server.revokeAll();
    ctx.server.faults = ['invalid_grant', 'network'];
    const events = recordEvents(session);
    const refreshed = session.refresh();
    await ctx.clock.advance(5000);
    await refreshed;
    expect(session.state).toBe('active');
    expect(events.types()).not.toContain('signedOut');
    expect(ctx.server.assertionCalls).toBe(2);
  });

  it('a request issued while a proactive refresh is in flight waits and gets the new token', async () => {
    const session = ctx.manager();
    const issued = ctx.server.issue();
    await session.setTokens(issued);
    let answer = () => {};
    ctx.server.faults = [{ defer: new Promise<void>((resolve) => (answer = resolve)) }];
    await ctx.clock.advance(55 * MINUTE); // the proactive refresh starts; its answer is pending
    expect(session.state).toBe('refreshing');
    let token: string | undefined;
    const waiting = session.getAccessToken().then((t) => (token = t));
    await ctx.clock.advance(0);
    expect(token).toBeUndefined();
    answer();
    await waiting;
    expect(token).not.toBe(issued.access_token);
    expect(token).toBe(await session.getAccessToken());
  });

  it('while a proactive refresh keeps failing, requests go out with the still-valid token', async () => {
    const session = ctx.manager({ tokenWaitTimeout: 10_000 });
    await session.setTokens(ctx.server.issue());
    ctx.server.faults = Array.from({ length: 50 }, () => ({ status: 503 }));
    await ctx.clock.advance(56 * MINUTE); // inside the margin: refreshing, failing
    expect(session.state).toBe('refreshing');
    const api = session.createClient({ prefix: API });
    const results = await settle([api.get('items').json(), api.get('items').json()]);
    expect(results.fulfilled).toBe(2);
    ctx.clock.set(ctx.clock.now() + 5 * MINUTE); // now expired: requests must wait
    const waiting = expect(api.get('items').json()).rejects.toBeInstanceOf(TokenWaitTimeoutError);
    await ctx.clock.advance(10_000);
    await waiting;
  });
});

describe('token bookkeeping', () => {
  it('a rotated refresh token does not inherit the expiry of the one it replaced', async () => {
    const session = ctx.manager();
    await session.setTokens({ ...ctx.server.issue(), refresh_expires_in: 3600 });
    await ctx.clock.advance(55 * MINUTE); // proactive refresh; the answer has no refresh expiry
    expect(ctx.server.refreshCalls).toBe(1);
    expect(session.info?.refreshTokenExpiresAt).toBeUndefined();
    await ctx.clock.advance(55 * MINUTE);
    expect(ctx.server.refreshCalls).toBe(2);
    expect(session.state).toBe('active');
  });

  it('a relaunch with a refresh token marked dead re-authenticates at once, without waiting for a lost context', async () => {
    let prompts = 0;
    const first = ctx.manager({ broadcast: false, signInPrompt: () => new Promise(() => {}) });
    await first.setTokens(ctx.server.issue());
    ctx.server.revokeAll();
    void first.refresh().catch(() => {});
    await ctx.clock.advance(0); // invalid_grant: marked in the store, prompt shown, app killed
    first.dispose();
    const relaunched = ctx.manager({ signInPrompt: async () => (prompts++, ctx.server.issue()) });
    expect(await relaunched.restore()).toBe('active');
    expect(prompts).toBe(1);
  });

  it('the subject for the device-key assertion survives a relaunch without a persisted access token', async () => {
    const base64url = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
    const subjects: (string | undefined)[] = [];
    const first = ctx.manager({ persistAccessToken: false, broadcast: false });
    const issued = ctx.server.issue();
    await first.setTokens({ ...issued, access_token: `${base64url({ alg: 'ES256' })}.${base64url({ sub: 'user-7' })}.sig` });
    first.dispose();
    ctx.server.revokeAll();
    const relaunched = ctx.manager({
      persistAccessToken: false,
      biometric: { isAvailable: async () => true, getAssertion: async ({ subject }) => (subjects.push(subject), null) },
    });
    await relaunched.restore();
    expect(subjects).toEqual(['user-7']);
  });
});

describe('secrets, with JWT-shaped tokens and error causes', () => {
  it('no token in any event, error (with its cause chain) or log line', async () => {
    const { lines, logger } = captureLogs();
    const jwt = (n: number) => `eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ1LTEifQ.c2lnbmF0dXJl${n}`;
    const answers: unknown[] = [
      { access_token: 42, refresh_token: jwt(2) }, // malformed, with a token inside
      { access_token: jwt(3), refresh_token: jwt(4), expires_in: 'soon' },
      { access_token: jwt(5), refresh_token: jwt(6), expires_in: 60 },
    ];
    const session = ctx.manager({
      logger,
      refreshTokens: async () => answers.shift() as never,
    });
    const events = recordEvents(session);
    await session.setTokens({ access_token: jwt(0), refresh_token: jwt(1), expires_in: 60 });
    const refreshed = session.refresh().catch((error: unknown) => error);
    await ctx.clock.advance(10_000);
    await refreshed;
    await session.signOut();
    const errors = events.log.filter((e) => e.type === 'refreshFailed').map((e) => (e.event as { error: Error }).error);
    expect(errors).toHaveLength(2);
    const walk = (value: unknown, depth = 0): unknown =>
      value instanceof Error && depth < 5
        ? { name: value.name, message: value.message, cause: walk(value.cause, depth + 1) }
        : value;
    const text = JSON.stringify([lines, events.log, errors.map((e) => walk(e))]);
    expect(text).not.toContain('c2lnbmF0dXJl');
  });
});
