/**
 * A request made for one session is never sent with another session's token: not after a 401, not on ky's retry, not after waiting through a prompt or an account switch.
 */
import { MemoryTokenStore } from '../src/ports/token-store.ts';
import type { SessionManager } from '../src/index.ts';
import { describe, expect, it } from 'vitest';
import type { StoredSession, TokenResponse } from '../src/types.ts';
import { API } from './helpers/fake-auth-server.ts';
import { recordEvents, useFakeAuth } from './helpers/setup.ts';
import { ALICE, CAROL, outcomeOf, unsignedJwt } from './helpers/tokens.ts';

const ctx = useFakeAuth();
const MINUTE = 60_000;

/** A store whose loads read at once but answer only on `answer()` (a keychain that is slow to reply). */
function slowAnswerStore() {
  const inner = new MemoryTokenStore();
  const state = { slow: false, pending: [] as (() => void)[] };
  const store = {
    load: () => {
      const value = inner.load();
      if (!state.slow) return value;
      return new Promise<unknown>((resolve) => state.pending.push(() => resolve(value)));
    },
    save: (session: StoredSession) => inner.save(session),
    clear: () => inner.clear(),
    subscribe: (listener: () => void) => inner.subscribe(listener),
  };
  const answer = () => state.pending.splice(0).forEach((resolve) => resolve());
  return { state, store, inner, answer };
}

/** A ky client of `session` whose first API request is held at the server until `release()`; records Authorization headers. */
function heldClient(session: SessionManager) {
  let release!: () => void;
  const held = new Promise<void>((resolve) => (release = resolve));
  const seen: string[] = [];
  let first = true;
  const api = session.createClient({
    prefix: API,
    retry: 0,
    fetch: async (input, init) => {
      seen.push((input instanceof Request ? input.headers : new Headers(init?.headers)).get('authorization') ?? '');
      if (first) {
        first = false;
        await held;
      }
      return globalThis.fetch(input, init);
    },
  });
  return { api, seen, release: () => release() };
}

/** A ky client of `session` whose requests all succeed (no retry); records their Authorization headers. */
function answeringClient(session: SessionManager) {
  const seen: string[] = [];
  const api = session.createClient({
    prefix: API,
    retry: 0,
    fetch: async (input, init) => {
      seen.push(new Request(input, init).headers.get('authorization') ?? '');
      return Response.json({ ok: 1 });
    },
  });
  return { api, seen };
}

/**
 * A ky client of `session` whose first request is held until `release()`, then answered 503
 * (ky retries it); records the Authorization header of every request sent.
 */
function busyOnce(session: SessionManager) {
  let release!: () => void;
  const held = new Promise<void>((resolve) => (release = resolve));
  const seen: string[] = [];
  const api = session.createClient({
    prefix: API,
    retry: { limit: 2, delay: () => 0 },
    fetch: async (input, init) => {
      seen.push(new Request(input, init).headers.get('authorization') ?? '');
      if (seen.length > 1) return globalThis.fetch(input, init);
      await held;
      return new Response('busy', { status: 503 });
    },
  });
  return { api, seen, release: () => release() };
}

describe('a sign-in, a sign-out and requests of the session before', () => {
  it('signOut() then an immediate setTokens(): the new session is neither cleared nor revoked', async () => {
    const { state, store, inner, answer } = slowAnswerStore();
    const session = ctx.manager({ store });
    const events = recordEvents(session);
    await session.setTokens(ctx.server.issue());
    state.slow = true;
    const out = session.signOut(); // user A signs out; the clear waits for the store
    await ctx.clock.advance(0); // the sign-out's task holds the lock and reads the store
    const second = ctx.server.issue(); // user B signs in right away: its save waits for the lock
    const signingIn = session.setTokens(second);
    answer();
    await out;
    await signingIn;
    await ctx.clock.advance(0);
    expect(session.state).toBe('active');
    expect(ctx.server.revokeCalls).not.toContain(second.refresh_token);
    // The sign-out's clear came first, then B's sign-in was written ...
    expect((inner.load() as StoredSession | null)?.refreshToken).toBe(second.refresh_token);
    // ... and 'signedOut' (for A) did not come after B's sign-in
    expect(events.types().at(-1)).not.toBe('signedOut');
  });

  it("setTokens() while a refresh re-reads the store after its grant: the old session's rotation does not replace it", async () => {
    const { state, store, inner, answer } = slowAnswerStore();
    const session = ctx.manager({ store });
    await session.setTokens(ctx.server.issue()); // user A
    let grantLanded!: () => void;
    ctx.server.faults.push({ defer: new Promise<void>((resolve) => (grantLanded = resolve)) });
    const refreshing = session.refresh();
    await ctx.clock.advance(0); // the grant is at the server
    state.slow = true;
    grantLanded();
    await ctx.clock.advance(0); // the grant answered; the refresh re-reads the store (slowly)
    expect(state.pending.length).toBe(1);
    const b = ctx.server.issue(); // user B signs in meanwhile: its save waits for the lock
    const signingIn = session.setTokens(b);
    state.slow = false;
    answer();
    await refreshing.catch(() => {});
    await signingIn;
    await ctx.clock.advance(0);
    expect(session.state).toBe('active');
    const token = await session.getAccessToken();
    expect(token).toBe(b.access_token); // not A's rotated token
    expect((inner.load() as StoredSession | null)?.refreshToken).toBe(b.refresh_token);
  });

  it("a 401 that arrives after a sign-out and another user's sign-in is not retried with the new user's token", async () => {
    const session = ctx.manager();
    await session.setTokens(ctx.server.issue()); // user A
    let answerLater!: () => void;
    const held = new Promise<void>((resolve) => (answerLater = resolve));
    let first = true;
    const api = session.createClient({
      prefix: 'https://api.test/v1/',
      fetch: async (input, init) => {
        if (first) {
          first = false;
          await held; // A's request is slow at the server
        }
        return globalThis.fetch(input, init);
      },
    });
    const post = api
      .post('messages', { json: { from: 'A' }, retry: 0 })
      .json()
      .then(
        () => 'sent',
        (error: unknown) => `failed: ${(error as Error).name}`,
      );
    await ctx.clock.advance(0);
    await session.signOut(); // A signs out; the server drops A's tokens
    ctx.server.expireAccessTokens();
    const b = ctx.server.issue();
    await session.setTokens(b); // B signs in on the same device
    answerLater(); // A's request is answered 401 now
    const outcome = await post;
    expect(outcome).toBe('failed: SessionExpiredError'); // not sent again as user B
  });

  it("ky's own retry (after a 503) of a request made before another user's sign-in is not sent as that user", async () => {
    const session = ctx.manager();
    await session.setTokens(ctx.server.issue()); // user A
    const { api, seen, release: answerLater } = busyOnce(session);
    const get = api
      .get('items')
      .json()
      .then(
        () => 'sent',
        (error: unknown) => `failed: ${(error as Error).name}`,
      );
    await ctx.clock.advance(0);
    await session.signOut();
    await session.setTokens(ctx.server.issue()); // user B
    answerLater(); // A's request is answered 503: ky retries it
    expect(await get).toBe('failed: SessionExpiredError');
    expect(seen).toHaveLength(1);
  });

  it('a 401 that leads to re-authentication is not re-sent as another user who signs in at the prompt', async () => {
    const session = ctx.manager({ signInPrompt: async () => CAROL }); // carol signs in at the sheet
    await session.setTokens(ALICE);
    const seen: string[] = [];
    const api = session.createClient({
      prefix: API,
      retry: 0,
      fetch: async (input, init) => {
        const auth = new Request(input, init).headers.get('authorization') ?? '';
        seen.push(auth);
        // alice's session was revoked at the server: her token gets 401, carol's goes through
        return auth === `Bearer ${ALICE.access_token}` ? new Response('{}', { status: 401 }) : Response.json({ ok: 1 });
      },
    });
    const outcome = await outcomeOf(api.post('messages', { json: { from: 'alice' } }).json());
    expect(seen).not.toContain(`Bearer ${CAROL.access_token}`); // alice's POST never goes out as carol
    expect(outcome).toBe('failed: SessionExpiredError');
  });

  it("ky's retry (after a 503) that waited through a re-authentication is not sent as the prompt's other user", async () => {
    let answerPrompt!: (r: TokenResponse) => void;
    const session = ctx.manager({ signInPrompt: () => new Promise((resolve) => (answerPrompt = resolve)) });
    await session.setTokens(ALICE);
    const { api, seen, release } = busyOnce(session);
    const get = outcomeOf(api.get('items').json()); // sent as alice
    await ctx.clock.advance(0);
    expect(seen).toEqual([`Bearer ${ALICE.access_token}`]);
    const refreshing = session.refresh().catch(() => {}); // alice's refresh token is dead: the sheet shows
    await ctx.clock.advance(0);
    expect(session.state).toBe('reauthenticating');
    release(); // alice's request is answered 503: ky retries it (the retry waits for a token)
    await ctx.clock.advance(0); // the retry waits for a token
    answerPrompt(CAROL); // carol signs in at the sheet
    await refreshing;
    const outcome = await get;
    expect(seen).not.toContain(`Bearer ${CAROL.access_token}`);
    expect(outcome).toBe('failed: SessionExpiredError');
  });

  it('opaque tokens: a 401 answered just after a Face ID re-authentication of the same user is retried', async () => {
    const session = ctx.manager({
      biometric: { isAvailable: async () => true, getAssertion: async () => 'good-assertion' },
    });
    await session.setTokens(ctx.server.issue());
    await ctx.clock.advance(60_000); // a minute later
    ctx.server.revokeAll(); // the server ended the session (an admin, a password change)
    ctx.server.expireAccessTokens();
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    let n = 0;
    const api = session.createClient({
      prefix: API,
      retry: 0,
      fetch: async (input, init) => {
        if (++n === 1) await held; // this response is a little slower than the other one
        return globalThis.fetch(input, init);
      },
    });
    const slow = outcomeOf(api.get('items').json());
    await ctx.clock.advance(0);
    await api.get('me').json(); // 401 -> refresh -> invalid_grant -> Face ID -> retried: fine
    expect(ctx.server.assertionCalls).toBe(1);
    release(); // the first request's 401 arrives now
    expect(await slow).toBe('sent'); // the same user, the same device key: retried like its sibling
  });

  it('opaque tokens: after a sign-out, another user restored from the store (persistAccessToken false) does not get the retry of the old 401', async () => {
    const a = ctx.manager({ persistAccessToken: false, broadcast: false }); // this tab
    const b = ctx.manager({ persistAccessToken: false, broadcast: false }); // another tab
    const userA = ctx.server.issue();
    await a.setTokens(userA);
    const { api, seen, release } = heldClient(a);
    const post = outcomeOf(api.post('messages', { json: { from: 'A' } }).json());
    await ctx.clock.advance(0); // A's POST is at the server
    await a.signOut(); // A signs out
    ctx.server.expireAccessTokens();
    const userB = ctx.server.issue();
    await b.setTokens(userB); // B signs in (another tab); its stored set has no access token: A's tab ignores the notice
    await ctx.clock.advance(0);
    expect(await a.restore()).toBe('active'); // this tab regains focus: restore() (README: call it on resume)
    release(); // A's POST is answered 401
    const outcome = await post;
    expect(seen.slice(1)).toEqual([]); // never sent again (as B)
    expect(outcome).toBe('failed: SessionExpiredError');
  });

  it('a request made as one user that waits through a re-authentication is not sent as the user who signed in at the prompt', async () => {
    let answerPrompt!: (r: TokenResponse) => void;
    const session = ctx.manager({ signInPrompt: () => new Promise((resolve) => (answerPrompt = resolve)) });
    await session.setTokens(ALICE);
    ctx.clock.set(ctx.clock.now() + 2 * 60 * MINUTE); // alice's access token expired while the app slept
    const { api, seen } = answeringClient(session);
    const post = outcomeOf(api.post('messages', { json: { from: 'alice' } }).json()); // alice's POST waits for a token
    await ctx.clock.advance(0); // refresh -> invalid_grant -> the sheet shows
    expect(session.state).toBe('reauthenticating');
    answerPrompt(CAROL); // carol signs in at the sheet
    const outcome = await post;
    expect(seen).not.toContain(`Bearer ${CAROL.access_token}`);
    expect(outcome).toBe('failed: SessionExpiredError');
  });

  it('the same POST sent once with the expired token (a 401) is refused too', async () => {
    const { expires_in: _unknown, ...aliceWithoutExpiry } = ALICE; // no expiry known
    let answerPrompt!: (r: TokenResponse) => void;
    const session = ctx.manager({ signInPrompt: () => new Promise((resolve) => (answerPrompt = resolve)) });
    await session.setTokens(aliceWithoutExpiry);
    const api = session.createClient({
      prefix: API,
      retry: 0,
      fetch: async (input, init) =>
        new Request(input, init).headers.get('authorization') === `Bearer ${aliceWithoutExpiry.access_token}`
          ? new Response('{}', { status: 401 })
          : Response.json({ ok: 1 }),
    });
    const post = outcomeOf(api.post('messages', { json: { from: 'alice' } }).json());
    await ctx.clock.advance(0);
    answerPrompt(CAROL);
    expect(await post).toBe('failed: SessionExpiredError'); // after a 401, as when it waited
  });

  it('a request made as one user that waits for a refresh is not sent as the user of an account switch (setTokens)', async () => {
    const bob: TokenResponse = { access_token: unsignedJwt({ sub: 'bob' }), expires_in: 3600, refresh_token: 'rt-bob' };
    const session = ctx.manager();
    await session.setTokens(ALICE);
    ctx.clock.set(ctx.clock.now() + 2 * 60 * MINUTE);
    ctx.server.faults = [{ defer: new Promise<void>(() => {}) }]; // alice's refresh is slow
    const { api, seen } = answeringClient(session);
    const post = outcomeOf(api.post('messages', { json: { from: 'alice' } }).json());
    await ctx.clock.advance(0);
    expect(session.state).toBe('refreshing');
    await session.setTokens(bob); // the app switches to bob
    const outcome = await post;
    expect(seen).not.toContain(`Bearer ${bob.access_token}`);
    expect(outcome).toBe('failed: SessionExpiredError');
  });
});
