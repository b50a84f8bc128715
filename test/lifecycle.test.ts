import { describe, expect, it } from 'vitest';
import { SessionExpiredError, StoreError } from '../src/errors.ts';
import type { Clock } from '../src/ports/clock.ts';
import type { TokenResponse } from '../src/types.ts';
import { API } from './helpers/fake-auth-server.ts';
import { captureLogs, recordEvents, settle, useFakeAuth } from './helpers/setup.ts';
import { unsignedJwt } from './helpers/tokens.ts';

const ctx = useFakeAuth();
const MINUTE = 60_000;

function skewed(clock: Clock, skewMs: number): Clock {
  return {
    now: () => clock.now() + skewMs,
    setTimeout: (callback, ms) => clock.setTimeout(callback, ms),
    clearTimeout: (handle) => clock.clearTimeout(handle),
  };
}

describe('proactive refresh', () => {
  it('fires refreshMargin before expiry, and again after each refresh', async () => {
    const session = ctx.manager();
    await session.setTokens(ctx.server.issue()); // 60-minute token, 5-minute margin
    await ctx.clock.advance(55 * MINUTE - 1);
    expect(ctx.server.refreshCalls).toBe(0);
    await ctx.clock.advance(1);
    expect(ctx.server.refreshCalls).toBe(1);
    await ctx.clock.advance(55 * MINUTE - 1);
    expect(ctx.server.refreshCalls).toBe(1);
    await ctx.clock.advance(1);
    expect(ctx.server.refreshCalls).toBe(2);
    expect(session.state).toBe('active');
  });

  it('never refreshes earlier than halfway through a short token lifetime', async () => {
    ctx.server.accessTtlSeconds = 60;
    const session = ctx.manager(); // margin 5 minutes > lifetime
    await session.setTokens(ctx.server.issue());
    await ctx.clock.advance(29_999);
    expect(ctx.server.refreshCalls).toBe(0);
    await ctx.clock.advance(1);
    expect(ctx.server.refreshCalls).toBe(1);
  });

  it.each([2, -2])('a device clock %i hours off changes nothing (expires_in counted from receipt)', async (hours) => {
    const session = ctx.manager({ clock: skewed(ctx.clock, hours * 60 * MINUTE) });
    await session.setTokens(ctx.server.issue());
    await ctx.clock.advance(55 * MINUTE - 1);
    expect(ctx.server.refreshCalls).toBe(0);
    await ctx.clock.advance(1);
    expect(ctx.server.refreshCalls).toBe(1);
  });

  it('without expires_in, uses the JWT exp - iat lifetime, immune to clock offset', async () => {
    const serverNow = Math.floor(ctx.clock.now() / 1000);
    const session = ctx.manager({ clock: skewed(ctx.clock, -2 * 60 * MINUTE) });
    const access = unsignedJwt({ sub: 'u1', iat: serverNow, exp: serverNow + 3600 });
    await session.setTokens({ access_token: access, refresh_token: ctx.server.issue().refresh_token! });
    expect(session.info?.accessTokenExpiresAt).toBe(ctx.clock.now() - 2 * 60 * MINUTE + 3600_000);
    await ctx.clock.advance(55 * MINUTE);
    expect(ctx.server.refreshCalls).toBe(1);
  });

  it('a token that is neither JWT nor has expires_in is refreshed on its first 401', async () => {
    const session = ctx.manager();
    const issued = ctx.server.issue();
    await session.setTokens({ access_token: issued.access_token, refresh_token: issued.refresh_token! });
    expect(session.info?.accessTokenExpiresAt).toBeNull();
    ctx.server.expireAccessTokens();
    await expect(session.createClient({ prefix: API }).get('x').json()).resolves.toMatchObject({ ok: true });
    expect(ctx.server.refreshCalls).toBe(1);
  });

  it('a timer that fires 10 minutes late refreshes at once', async () => {
    const session = ctx.manager();
    await session.setTokens(ctx.server.issue());
    ctx.clock.set(ctx.clock.now() + 70 * MINUTE); // suspended: the token expired 10 minutes ago
    const request = session.createClient({ prefix: API }).get('items').json();
    await ctx.clock.advance(0);
    await expect(request).resolves.toMatchObject({ ok: true });
    expect(ctx.server.refreshCalls).toBe(1);
  });
});

describe('foreground', () => {
  it('with a fresh token does nothing', async () => {
    const session = ctx.manager();
    await session.setTokens(ctx.server.issue());
    ctx.clock.set(ctx.clock.now() + 30 * MINUTE);
    ctx.lifecycle.foreground();
    await ctx.clock.advance(0);
    expect(ctx.server.refreshCalls).toBe(0);
  });

  it.each([
    ['inside the margin', 57],
    ['expired', 90],
  ])('with a token %s refreshes once', async (_, minutes) => {
    const session = ctx.manager();
    await session.setTokens(ctx.server.issue());
    ctx.clock.set(ctx.clock.now() + minutes * MINUTE); // timers frozen in the background
    ctx.lifecycle.foreground();
    ctx.lifecycle.foreground();
    await ctx.clock.advance(0);
    expect(ctx.server.refreshCalls).toBe(1);
    expect(session.state).toBe('active');
  });
});

describe('offline', () => {
  it('queued requests survive an outage and go out after one successful refresh when the network returns', async () => {
    const session = ctx.manager({ tokenWaitTimeout: 10 * MINUTE });
    const events = recordEvents(session);
    await session.setTokens(ctx.server.issue());
    ctx.server.expireAccessTokens();
    ctx.network.goOffline();
    ctx.server.faults = Array.from({ length: 1000 }, () => 'network' as const);
    const api = session.createClient({ prefix: API });
    const requests = settle(Array.from({ length: 20 }, () => api.get('items').json()));
    await ctx.clock.advance(5 * MINUTE); // several failed attempts with backoff
    const failedAttempts = ctx.server.refreshCalls;
    expect(failedAttempts).toBeGreaterThan(2);
    expect(failedAttempts).toBeLessThan(15); // backoff, not a storm
    expect(session.state).toBe('refreshing');
    ctx.server.faults = [];
    ctx.network.goOnline(); // retried at once, not after the backoff delay
    const results = await requests;
    expect(results.fulfilled).toBe(20);
    expect(ctx.server.refreshCalls).toBe(failedAttempts + 1);
    expect(events.states()).not.toContain('signedOut');
  });
});

describe('restore', () => {
  async function storedSession(mutate?: () => void) {
    const first = ctx.manager({ broadcast: false });
    await first.setTokens({ ...ctx.server.issue(), session_expires_in: 86_400 });
    first.dispose();
    mutate?.();
    return ctx.manager({ broadcast: false, signInPrompt: async () => null });
  }

  it('with a valid access token: active, no network call', async () => {
    const session = await storedSession();
    expect(await session.restore()).toBe('active');
    expect(ctx.server.refreshCalls).toBe(0);
  });

  it('with an expired access token and a live refresh token: one refresh', async () => {
    const session = await storedSession(() => ctx.clock.set(ctx.clock.now() + 2 * 60 * MINUTE));
    expect(await session.restore()).toBe('active');
    expect(ctx.server.refreshCalls).toBe(1);
  });

  it('with a dead refresh token: the re-auth chain, then signed out', async () => {
    const prompted: string[] = [];
    const first = ctx.manager({ broadcast: false });
    await first.setTokens(ctx.server.issue());
    first.dispose();
    ctx.server.revokeAll();
    ctx.clock.set(ctx.clock.now() + 2 * 60 * MINUTE);
    const session = ctx.manager({ signInPrompt: async (reason) => (prompted.push(reason), null) });
    expect(await session.restore()).toBe('signedOut');
    expect(prompted).toEqual(['refreshRejected']);
    expect(ctx.store.load()).toBeNull();
  });

  it('past the absolute session end: re-authenticates without calling the token endpoint', async () => {
    const session = await storedSession(() => ctx.clock.set(ctx.clock.now() + 25 * 60 * MINUTE));
    const events = recordEvents(session);
    expect(await session.restore()).toBe('signedOut');
    expect(ctx.server.refreshCalls).toBe(0);
    expect(events.log.find((e) => e.type === 'reauthRequired')?.event).toEqual({ reason: 'sessionEnded' });
  });

  it('with nothing stored: signed out', async () => {
    expect(await ctx.manager().restore()).toBe('signedOut');
  });

  it.each([
    ['not JSON-shaped', 'garbage'],
    ['a wrong version', { version: 9, refreshToken: 'x' }],
    ['a truncated session', { version: 1, refreshToken: 'rt' }],
  ])('with %s: signed out and the garbage cleared, not thrown', async (_, value) => {
    ctx.store.save(value as never);
    const session = ctx.manager();
    expect(await session.restore()).toBe('signedOut');
    expect(ctx.store.load()).toBeNull();
  });

  it('with a store that throws: a StoreError, and nothing is cleared', async () => {
    let cleared = false;
    const session = ctx.manager({
      store: {
        load: () => {
          throw new Error('keychain locked');
        },
        save: () => {},
        clear: () => {
          cleared = true;
        },
      },
    });
    await expect(session.restore()).rejects.toBeInstanceOf(StoreError);
    expect(cleared).toBe(false);
    expect(session.state).toBe('signedOut');
  });

  it('offline at launch: resolves "refreshing" after the first failure and keeps the session', async () => {
    const session = await storedSession(() => ctx.clock.set(ctx.clock.now() + 2 * 60 * MINUTE));
    ctx.server.faults = ['network'];
    expect(await session.restore()).toBe('refreshing');
    await ctx.clock.advance(2000);
    expect(session.state).toBe('active');
  });

  it('with persistAccessToken: false, the store never sees the access token and relaunch costs one refresh', async () => {
    const first = ctx.manager({ persistAccessToken: false, broadcast: false });
    const issued = ctx.server.issue();
    await first.setTokens(issued);
    first.dispose();
    expect(JSON.stringify(ctx.store.load())).not.toContain(issued.access_token);
    const session = ctx.manager({ persistAccessToken: false });
    expect(await session.restore()).toBe('active');
    expect(ctx.server.refreshCalls).toBe(1);
  });
});

describe('re-authentication chain', () => {
  function deadSession(options: Parameters<typeof ctx.manager>[0]) {
    return async () => {
      const session = ctx.manager(options);
      await session.setTokens(ctx.server.issue());
      ctx.server.revokeAll();
      ctx.server.expireAccessTokens();
      return session;
    };
  }

  it('biometric success: every waiting request is retried with the new token', async () => {
    const prompts: string[] = [];
    const session = await deadSession({
      biometric: { isAvailable: async () => true, getAssertion: async () => 'good-assertion' },
      signInPrompt: async (reason) => (prompts.push(reason), null),
    })();
    const events = recordEvents(session);
    const api = session.createClient({ prefix: API });
    const results = await settle(Array.from({ length: 30 }, () => api.get('items').json()));
    expect(results.fulfilled).toBe(30);
    expect(ctx.server.assertionCalls).toBe(1);
    expect(prompts).toEqual([]);
    expect(events.types()).toEqual(['reauthRequired', 'reauthenticated']);
  });

  it('biometric cancelled -> sign-in prompt success', async () => {
    let prompts = 0;
    const session = await deadSession({
      biometric: { isAvailable: async () => true, getAssertion: async () => null },
      signInPrompt: async () => (prompts++, ctx.server.issue()),
    })();
    const api = session.createClient({ prefix: API });
    const results = await settle(Array.from({ length: 30 }, () => api.get('items').json()));
    expect(results.fulfilled).toBe(30);
    expect(prompts).toBe(1);
    expect(ctx.server.assertionCalls).toBe(0);
  });

  it('biometric assertion rejected by the server -> sign-in prompt', async () => {
    let prompts = 0;
    const session = await deadSession({
      biometric: { isAvailable: async () => true, getAssertion: async () => 'forged-assertion' },
      signInPrompt: async () => (prompts++, ctx.server.issue()),
    })();
    await session.refresh();
    expect(ctx.server.assertionCalls).toBe(1);
    expect(prompts).toBe(1);
    expect(session.state).toBe('active');
  });

  it('prompt dismissed -> signed out; waiting requests reject with SessionExpiredError', async () => {
    const session = await deadSession({
      biometric: { isAvailable: async () => false, getAssertion: async () => 'unused' },
      signInPrompt: async () => null,
    })();
    const events = recordEvents(session);
    const api = session.createClient({ prefix: API });
    const results = await settle(Array.from({ length: 30 }, () => api.get('items').json()));
    expect(results.rejected).toHaveLength(30);
    expect(results.rejected.every((e) => e instanceof SessionExpiredError)).toBe(true);
    expect(events.types()).toEqual(['reauthRequired', 'signedOut']);
    expect(ctx.server.assertionCalls).toBe(0);
  });

  it('a slow sign-in prompt is waited for beyond tokenWaitTimeout', async () => {
    let answer: (response: TokenResponse | null) => void = () => {};
    const session = await deadSession({
      tokenWaitTimeout: 10_000,
      signInPrompt: () => new Promise((resolve) => (answer = resolve)),
    })();
    const request = session.createClient({ prefix: API }).get('items').json();
    await ctx.clock.advance(2 * MINUTE);
    expect(session.state).toBe('reauthenticating');
    answer(ctx.server.issue());
    await expect(request).resolves.toMatchObject({ ok: true });
  });
});

describe('sign-out', () => {
  it('revokes the refresh token, clears the store and rejects waiting requests', async () => {
    const session = ctx.manager();
    const issued = ctx.server.issue();
    await session.setTokens(issued);
    ctx.server.faults = ['hang'];
    const waiting = expect(session.refresh()).rejects.toBeInstanceOf(SessionExpiredError);
    await session.signOut();
    await waiting;
    expect(ctx.server.revokeCalls).toEqual([issued.refresh_token]);
    expect(ctx.store.load()).toBeNull();
    expect(session.state).toBe('signedOut');
    await expect(session.getAccessToken()).rejects.toBeInstanceOf(SessionExpiredError);
  });

  it('with the network down never throws and still ends the session', async () => {
    const session = ctx.manager({
      fetch: async () => {
        throw new TypeError('fetch failed');
      },
    });
    await session.setTokens(ctx.server.issue());
    await expect(session.signOut()).resolves.toBeUndefined();
    expect(ctx.store.load()).toBeNull();
  });
});

describe('session monitoring', () => {
  it('emits sessionExpiring sessionWarning before the absolute end, and tracks the session age', async () => {
    const session = ctx.manager({ sessionWarning: 10 * MINUTE });
    const events = recordEvents(session);
    await session.setTokens({ ...ctx.server.issue(), session_expires_in: 3 * 3600 });
    await ctx.clock.advance(170 * MINUTE - 1);
    expect(events.types()).not.toContain('sessionExpiring');
    await ctx.clock.advance(1);
    const warning = events.log.find((e) => e.type === 'sessionExpiring')?.event;
    expect(warning).toEqual({ sessionExpiresAt: session.info!.sessionExpiresAt, remainingMs: 10 * MINUTE });
    expect(session.info?.ageMs).toBe(170 * MINUTE);
    await ctx.clock.advance(20 * MINUTE);
    expect(events.types().filter((t) => t === 'sessionExpiring')).toHaveLength(1);
  });

  it('a new sign-in is warned again, even when its absolute end is the one already announced', async () => {
    const session = ctx.manager({ sessionWarning: 10 * MINUTE });
    const events = recordEvents(session);
    await session.setTokens({ ...ctx.server.issue(), session_expires_in: 3 * 3600 });
    await ctx.clock.advance(170 * MINUTE); // warned
    // The identity provider's session ends when it did: the sign-in gets the same end.
    await session.setTokens({ ...ctx.server.issue(), session_expires_in: 10 * 60 });
    await ctx.clock.advance(0);
    expect(events.types().filter((t) => t === 'sessionExpiring')).toHaveLength(2);
  });

  it('a re-authentication is warned again, even when its absolute end is the one already announced', async () => {
    const session = ctx.manager({
      sessionWarning: 10 * MINUTE,
      signInPrompt: async () => ({ ...ctx.server.issue(), session_expires_in: 10 * 60 }),
    });
    const events = recordEvents(session);
    await session.setTokens({ ...ctx.server.issue(), session_expires_in: 3 * 3600 });
    await ctx.clock.advance(170 * MINUTE); // warned
    ctx.server.revokeAll();
    await session.refresh(); // invalid_grant: the prompt signs the user in again, same end
    await ctx.clock.advance(0);
    expect(events.types()).toContain('reauthenticated');
    expect(events.types().filter((t) => t === 'sessionExpiring')).toHaveLength(2);
  });
});

describe('secrets', () => {
  it('no token appears in any event, error or log line', async () => {
    const { lines, logger } = captureLogs();
    const session = ctx.manager({ logger, signInPrompt: async () => null });
    const events = recordEvents(session);
    const issued = ctx.server.issue();
    await session.setTokens(issued);
    ctx.server.faults = [{ status: 503 }, 'malformed', 'network'];
    const refreshed = session.refresh();
    await ctx.clock.advance(MINUTE);
    await refreshed;
    ctx.server.revokeAll();
    const errors = (await settle([session.refresh()])).rejected;
    const everything = JSON.stringify([lines, events.log, errors, errors.map(String)], (_, v) =>
      v instanceof Error ? { ...v, message: v.message, stack: v.stack } : v,
    );
    expect(errors).toHaveLength(1);
    for (const secret of [issued.access_token, issued.refresh_token!, 'rt-2', 'at-2']) {
      expect(everything).not.toContain(secret);
    }
  });
});

describe('re-authentication across contexts sharing a store', () => {
  async function twoContexts(promptA: (signal: AbortSignal) => Promise<TokenResponse | null>) {
    const prompts: string[] = [];
    const signals: AbortSignal[] = [];
    const a = ctx.manager({
      signInPrompt: async (_reason, { signal }) => (prompts.push('a'), promptA(signal)),
    });
    const b = ctx.manager({
      signInPrompt: async (_reason, { signal }) => {
        prompts.push('b');
        signals.push(signal);
        return new Promise<null>((resolve) => signal.addEventListener('abort', () => resolve(null)));
      },
    });
    await a.setTokens(ctx.server.issue());
    await b.restore();
    ctx.server.revokeAll();
    ctx.server.expireAccessTokens();
    return { a, b, prompts, signals };
  }

  it('one dead refresh token: one prompt, one presentation; the other context follows the outcome', async () => {
    const { a, b, prompts } = await twoContexts(async () => ctx.server.issue());
    const apiA = a.createClient({ prefix: API });
    const apiB = b.createClient({ prefix: API });
    const results = await settle([
      ...Array.from({ length: 10 }, () => apiA.get('items').json()),
      ...Array.from({ length: 10 }, () => apiB.get('items').json()),
    ]);
    await ctx.clock.advance(0);
    expect(results.fulfilled).toBe(20);
    expect(prompts).toEqual(['a']);
    expect(ctx.server.refreshCalls).toBe(1);
    expect(await b.getAccessToken()).toBe(await a.getAccessToken());
  });

  it('the prompt dismissed in one context signs both out', async () => {
    let answerA: (response: TokenResponse | null) => void = () => {};
    const { a, b, prompts } = await twoContexts(() => new Promise((resolve) => (answerA = resolve)));
    const outcomeA = expect(a.createClient({ prefix: API }).get('items').json()).rejects.toBeInstanceOf(
      SessionExpiredError,
    );
    await ctx.clock.advance(0); // A found the token dead and shows its prompt
    const outcomeB = expect(b.createClient({ prefix: API }).get('items').json()).rejects.toBeInstanceOf(
      SessionExpiredError,
    );
    await ctx.clock.advance(0);
    expect(b.state).toBe('reauthenticating'); // waiting for A's outcome, no prompt of its own
    answerA(null);
    await Promise.all([outcomeA, outcomeB]);
    expect(prompts).toEqual(['a']);
    expect(ctx.server.refreshCalls).toBe(1);
    expect([a.state, b.state]).toEqual(['signedOut', 'signedOut']);
  });

  it('a context that prompted too closes its prompt when the other one re-authenticated first', async () => {
    let answerA: (response: TokenResponse | null) => void = () => {};
    const { a, b, prompts, signals } = await twoContexts(() => new Promise((resolve) => (answerA = resolve)));
    const requestA = a.createClient({ prefix: API }).get('items').json();
    await ctx.clock.advance(0);
    const requestB = b.createClient({ prefix: API }).get('items').json();
    await ctx.clock.advance(2 * MINUTE + 1); // the user takes longer than the handoff wait
    expect(prompts).toEqual(['a', 'b']);
    answerA(ctx.server.issue());
    await expect(requestA).resolves.toMatchObject({ ok: true });
    await expect(requestB).resolves.toMatchObject({ ok: true });
    expect(signals[0]?.aborted).toBe(true);
    expect(ctx.server.refreshCalls).toBe(1);
  });
});

describe('a store that fails', () => {
  it('on save: the session goes on in memory, the failure is logged without a token', async () => {
    const lines: string[] = [];
    const log = (message: string, fields?: unknown) => lines.push(`${message} ${JSON.stringify(fields)}`);
    const session = ctx.manager({
      store: {
        load: () => null,
        save: () => {
          throw new Error('disk full');
        },
        clear: () => {},
      },
      logger: { debug: log, info: log, warn: log, error: log },
    });
    const issued = ctx.server.issue();
    await session.setTokens(issued);
    await session.refresh();
    expect(session.state).toBe('active');
    expect(await session.getAccessToken()).not.toBe(issued.access_token);
    expect(lines.some((line) => line.includes('failed to save'))).toBe(true);
    expect(lines.join('\n')).not.toContain(issued.refresh_token);
  });
});

describe('getAccessToken', () => {
  it('stops waiting when its signal aborts, and the refresh goes on', async () => {
    const session = ctx.manager();
    await session.setTokens(ctx.server.issue());
    ctx.server.faults = ['hang'];
    ctx.server.expireAccessTokens();
    ctx.clock.set(ctx.clock.now() + 2 * 60 * MINUTE);
    const controller = new AbortController();
    const waiting = session.getAccessToken({ signal: controller.signal });
    controller.abort(new Error('user navigated away'));
    await expect(waiting).rejects.toThrow('user navigated away');
    expect(session.state).toBe('refreshing');
    await ctx.clock.advance(30_000);
    expect(session.state).toBe('active');
  });
});

describe('dispose', () => {
  it('stops the refresh and rejects waiting requests, keeping the stored session', async () => {
    const session = ctx.manager();
    await session.setTokens(ctx.server.issue());
    ctx.server.faults = Array.from({ length: 10 }, () => 'network' as const);
    ctx.clock.set(ctx.clock.now() + 2 * 60 * MINUTE);
    const waiting = expect(session.getAccessToken()).rejects.toBeInstanceOf(SessionExpiredError);
    await ctx.clock.advance(0);
    const attempts = ctx.server.refreshCalls;
    session.dispose();
    await waiting;
    await ctx.clock.advance(10 * MINUTE);
    expect(ctx.server.refreshCalls).toBe(attempts);
    expect(ctx.clock.pendingTimers).toBe(0);
    expect(ctx.store.load()).not.toBeNull();
  });
});
