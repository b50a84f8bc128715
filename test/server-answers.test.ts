/**
 * What servers send that they should not: lifetimes of zero, a Retry-After already past, tokens whose bookkeeping must not leak across rotations.
 */
import { unsignedJwt } from './helpers/tokens.ts';
import { describe, expect, it } from 'vitest';
import { API } from './helpers/fake-auth-server.ts';
import { useFakeAuth } from './helpers/setup.ts';

const ctx = useFakeAuth();
const MINUTE = 60_000;

describe('access token lifetimes a server should not send', () => {
  it('expires_in: 0 does not make the manager refresh in a loop', async () => {
    ctx.server.accessTtlSeconds = 0;
    const session = ctx.manager();
    await session.setTokens(ctx.server.issue());
    await ctx.clock.advance(10 * MINUTE); // nothing asks for a token
    expect(ctx.server.refreshCalls).toBe(0);
    expect(session.info?.accessTokenExpiresAt).toBeNull(); // unknown: a 401 will tell
  });

  it('expires_in: 1 (shorter than the expiry leeway) is used, not refreshed on every request', async () => {
    const session = ctx.manager();
    await session.setTokens(ctx.server.issue());
    ctx.server.accessTtlSeconds = 1;
    await session.refresh();
    expect(session.info?.accessTokenExpiresAt).toBeNull(); // unknown: a 401 will tell
    const api = session.createClient({ prefix: API });
    await Promise.all(Array.from({ length: 5 }, () => api.get('items').json()));
    expect(ctx.server.refreshCalls).toBe(1);
  });
});

describe("a server's Retry-After", () => {
  it('a date already past on a fast device clock does not make a tight retry loop', async () => {
    const session = ctx.manager();
    await session.setTokens(ctx.server.issue());
    const expired = ctx.clock.now() + 2 * 60 * MINUTE;
    // The server asks for 30 s, as a date on its clock; this device's clock is 2 minutes fast.
    const retryAt = new Date(expired + 30_000 - 2 * MINUTE).toUTCString();
    ctx.clock.set(expired);
    ctx.server.faults = Array.from({ length: 50 }, () => ({ status: 503, retryAfter: retryAt }));
    void session.getAccessToken().catch(() => {});
    await ctx.clock.advance(100);
    expect(ctx.server.refreshCalls).toBe(1);
    await ctx.clock.advance(60 * 1000);
    expect(ctx.server.refreshCalls).toBeLessThanOrEqual(8); // backoff: 0.5-1 s, 1-2 s, 2-4 s, ...
  });

  it('Retry-After: 0 waits the ordinary backoff', async () => {
    const session = ctx.manager();
    await session.setTokens(ctx.server.issue());
    ctx.clock.set(ctx.clock.now() + 2 * 60 * MINUTE);
    ctx.server.faults = Array.from({ length: 50 }, () => ({ status: 503, retryAfter: '0' }));
    void session.getAccessToken().catch(() => {});
    await ctx.clock.advance(100);
    expect(ctx.server.refreshCalls).toBe(1);
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
    const subjects: (string | undefined)[] = [];
    const first = ctx.manager({ persistAccessToken: false, broadcast: false });
    const issued = ctx.server.issue();
    await first.setTokens({ ...issued, access_token: unsignedJwt({ sub: 'user-7' }) });
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
