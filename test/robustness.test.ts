/**
 * Failures around the edges of a session: a store that fails once, a manager disposed while
 * it waits, a server's Retry-After, a proxy garbling the device-key answer, tabs that sign
 * out while another shows its prompt. Each test failed before its fix.
 */
import { describe, expect, it, vi } from 'vitest';
import { MemoryTokenStore } from '../src/ports/token-store.ts';
import type { SessionManager } from '../src/index.ts';
import type { StoredSession, TokenResponse } from '../src/types.ts';
import { API, TOKEN_URL } from './helpers/fake-auth-server.ts';
import { recordEvents, useFakeAuth } from './helpers/setup.ts';

const ctx = useFakeAuth();
const MINUTE = 60_000;

/** An unsigned JWT with `claims` (the SDK decodes, never verifies). */
const jwt = (claims: object) =>
  `${Buffer.from('{"alg":"ES256"}').toString('base64url')}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.sig`;
/** Two users' sign-ins (JWTs say whose they are); the server knows neither refresh token. */
const ALICE: TokenResponse = { access_token: jwt({ sub: 'alice' }), expires_in: 3600, refresh_token: 'rt-alice-unknown' };
const CAROL: TokenResponse = { access_token: jwt({ sub: 'carol' }), expires_in: 3600, refresh_token: 'rt-carol' };
/** 'sent', or 'failed: <error name>'. */
const outcomeOf = (request: Promise<unknown>) =>
  request.then(
    () => 'sent',
    (error: unknown) => `failed: ${(error as Error).name}`,
  );

/**
 * A MemoryTokenStore with switches: the next save throws, or loads wait for `release()`;
 * `notify()` is a change notice without a change (a `storage` event can be one).
 */
function flakyStore() {
  const inner = new MemoryTokenStore();
  const listeners = new Set<() => void>();
  const state = {
    failNextSave: false,
    failAllSaves: false,
    slowLoads: false,
    release: () => {},
    notify: () => listeners.forEach((listener) => listener()),
  };
  const store = {
    load: () =>
      state.slowLoads
        ? new Promise<unknown>((resolve) => (state.release = () => resolve(inner.load())))
        : inner.load(),
    save: (session: StoredSession) => {
      if (state.failNextSave || state.failAllSaves) {
        state.failNextSave = false;
        throw new Error('keychain locked');
      }
      inner.save(session);
    },
    clear: () => inner.clear(),
    subscribe: (listener: () => void) => {
      listeners.add(listener);
      const off = inner.subscribe(listener);
      return () => {
        listeners.delete(listener);
        off();
      };
    },
  };
  return { state, store, inner };
}

describe('a store that failed to save', () => {
  it('the next refresh presents the rotated refresh token in memory, not the retired one still stored', async () => {
    const { state, store, inner } = flakyStore();
    const session = ctx.manager({ store });
    const events = recordEvents(session);
    await session.setTokens(ctx.server.issue());
    state.failNextSave = true; // the iOS keychain is locked during a background refresh
    await ctx.clock.advance(56 * MINUTE); // rotation rt-1 -> rt-2; saving it fails
    expect(ctx.server.refreshCalls).toBe(1);
    expect(session.state).toBe('active');
    await ctx.clock.advance(56 * MINUTE); // must present rt-2
    expect(ctx.server.refreshCalls).toBe(2);
    expect(events.types()).not.toContain('reauthRequired');
    expect(session.state).toBe('active');
    // The store caught up: a relaunch gets the live refresh token.
    const relaunched = ctx.manager({ store: { ...store, load: () => inner.load() } });
    expect(await relaunched.restore()).toBe('active');
  });

  it('a store notice does not make the manager adopt the older set the store still holds', async () => {
    const { state, store } = flakyStore();
    const a = ctx.manager({ store, broadcast: false });
    await a.setTokens(ctx.server.issue());
    await ctx.clock.advance(10 * MINUTE);
    state.failNextSave = true;
    await a.refresh(); // rotated in memory, the store keeps the previous set
    const current = await a.getAccessToken();
    state.notify(); // A reads the store: the set there is older than its own
    await ctx.clock.advance(0);
    expect(await a.getAccessToken()).toBe(current);
  });

  it('a device clock set back does not make a tab discard, or overwrite, the rotation another tab made', async () => {
    const signInPrompt = vi.fn(async () => null);
    const a = ctx.manager({ signInPrompt, broadcast: false });
    const b = ctx.manager({ signInPrompt, broadcast: false });
    await a.setTokens(ctx.server.issue());
    await ctx.clock.advance(0);
    expect(await b.restore()).toBe('active');
    await ctx.clock.advance(10 * MINUTE);
    await a.refresh(); // rt-1 -> rt-2 at T+10 min; B follows
    await ctx.clock.advance(0);
    expect(await b.getAccessToken()).toBe(await a.getAccessToken());
    ctx.clock.set(ctx.clock.now() - 30 * MINUTE); // NTP / the user corrects a fast clock
    await b.refresh(); // rt-2 -> rt-3, receivedAt now reads "older" than A's set
    await ctx.clock.advance(0);
    const events = recordEvents(a);
    await a.refresh().catch(() => {}); // A should adopt rt-3 from the store
    await ctx.clock.advance(0);
    expect(events.types()).not.toContain('reauthRequired');
    expect(signInPrompt).not.toHaveBeenCalled();
    expect([a.state, b.state]).toEqual(['active', 'active']);
    expect(await a.getAccessToken()).toBe(await b.getAccessToken());
  });

  it('a store that keeps failing to save never has the set it holds presented, however many rotations later', async () => {
    const { state, store } = flakyStore();
    const session = ctx.manager({ store, broadcast: false });
    const events = recordEvents(session);
    await session.setTokens(ctx.server.issue()); // rt-1 saved
    state.failAllSaves = true; // localStorage full (quota) from now on
    for (let i = 0; i < 12; i++) {
      await ctx.clock.advance(10 * MINUTE);
      await session.refresh().catch(() => {});
    }
    expect(events.types()).not.toContain('reauthRequired');
    expect(session.state).toBe('active');
    expect(ctx.server.refreshCalls).toBe(12);
  });

  it('restore() again (on resume) after a failed save keeps the live set in memory and catches the store up', async () => {
    const { state, store } = flakyStore();
    const session = ctx.manager({ store, broadcast: false });
    const events = recordEvents(session);
    await session.setTokens(ctx.server.issue()); // rt-1
    await ctx.clock.advance(10 * MINUTE);
    state.failNextSave = true;
    await session.refresh(); // rt-1 -> rt-2 in memory; the store keeps rt-1
    await session.restore(); // the app calls restore() again on resume
    await ctx.clock.advance(10 * MINUTE);
    await session.refresh().catch(() => {});
    expect(events.types()).not.toContain('reauthRequired');
    expect(session.state).toBe('active');
  });

  it("persistAccessToken false: a token refreshed from another tab's stored set is never presented again after a failed save", async () => {
    const { state, store } = flakyStore();
    const a = ctx.manager({ store, persistAccessToken: false, broadcast: false });
    const b = ctx.manager({ store, persistAccessToken: false, broadcast: false });
    await a.setTokens(ctx.server.issue()); // rt-1 (stored without its access token)
    await ctx.clock.advance(0);
    expect(await b.restore()).toBe('active'); // B has no access token: refreshes rt-1 -> rt-2, saved
    await ctx.clock.advance(0);
    const events = recordEvents(a);
    await ctx.clock.advance(10 * MINUTE);
    state.failNextSave = true;
    await a.refresh(); // A refreshes from the store's rt-2 -> rt-3; saving rt-3 fails, the store keeps rt-2
    expect(ctx.server.refreshCalls).toBe(2);
    await ctx.clock.advance(10 * MINUTE);
    await a.refresh().catch(() => {}); // must present rt-3 (memory), not rt-2 (spent by A itself)
    await ctx.clock.advance(0);
    expect(events.types()).not.toContain('reauthRequired');
    expect(a.state).toBe('active');
  });
});

/**
 * A `fetch` whose first refresh grant reaches the server (which rotates) but whose answer is
 * held back until `deliver()`, or dropped when the grant is aborted meanwhile.
 */
function answerHeldBack() {
  let deliver = () => {};
  let first = true;
  const fetchFn: typeof fetch = async (input, init) => {
    if (!first || !String(init?.body ?? '').includes('grant_type=refresh_token')) return fetch(input, init);
    first = false;
    const { signal, ...rest } = init ?? {};
    const answer = await fetch(input, rest);
    return new Promise<Response>((resolve, reject) => {
      signal?.addEventListener('abort', () => reject(signal.reason), { once: true });
      deliver = () => resolve(answer);
    });
  };
  return { fetchFn, deliver: () => deliver() };
}

describe('restore() and signOut() called while the session is busy', () => {
  it('restore() called again (on resume) while a refresh grant is at the server does not lose its rotation', async () => {
    // The grant reached the server (rt-1 -> rt-2 there); its answer is still on the way back.
    const { fetchFn, deliver } = answerHeldBack();
    const signInPrompt = vi.fn(async () => null);
    const session = ctx.manager({ signInPrompt, fetch: fetchFn });
    await session.setTokens(ctx.server.issue()); // rt-1
    ctx.clock.set(ctx.clock.now() + 2 * 60 * MINUTE); // back from the background: access token expired
    const events = recordEvents(session);
    void session.getAccessToken().catch(() => {}); // the refresh's grant goes out
    await vi.waitFor(() => expect(ctx.server.refreshCalls).toBe(1)); // the server rotated rt-1 -> rt-2
    const restoring = session.restore(); // the app's resume handler calls restore() again
    await ctx.clock.advance(5000);
    await restoring;
    deliver(); // the answer (rt-2) arrives
    await ctx.clock.advance(0);
    expect(events.types()).not.toContain('reauthRequired');
    expect(signInPrompt).not.toHaveBeenCalled();
    expect(session.state).toBe('active');
  });

  it('on resume, the foreground refresh and the app calling restore() again keep the rotation', async () => {
    const { fetchFn, deliver } = answerHeldBack();
    const signInPrompt = vi.fn(async () => null);
    const session = ctx.manager({ signInPrompt, fetch: fetchFn });
    await session.setTokens(ctx.server.issue()); // rt-1, access token good for 60 min
    ctx.clock.set(ctx.clock.now() + 57 * MINUTE); // the app was in the background; refresh is due
    const events = recordEvents(session);
    ctx.lifecycle.foreground(); // the manager's foreground refresh starts
    await vi.waitFor(() => expect(ctx.server.refreshCalls).toBe(1));
    await session.restore(); // the app's own resume handler, as the README's "call it again on resume"
    deliver();
    await ctx.clock.advance(5000);
    expect(events.types()).not.toContain('reauthRequired');
    expect(signInPrompt).not.toHaveBeenCalled();
    expect(session.state).toBe('active');
  });

  it('signOut() while setTokens() is still saving: the manager ends signed out, not active on a revoked token', async () => {
    const a = ctx.manager();
    await a.setTokens(ctx.server.issue()); // rt-1
    const signingIn = a.setTokens(ctx.server.issue()); // e.g. an account switch; rt-2 is being saved
    await a.signOut(); // the user taps "sign out" meanwhile
    await signingIn;
    await ctx.clock.advance(0);
    expect(a.state).toBe('signedOut');
  });

  it('signOut() while a slow store saves a sign-in: the sign-out sticks and the store ends empty', async () => {
    const inner = new MemoryTokenStore();
    let slow = false;
    let finishWrite = () => {};
    const store = {
      load: () => inner.load(),
      save: async (session: StoredSession) => {
        if (slow) await new Promise<void>((resolve) => (finishWrite = resolve)); // a keychain write
        inner.save(session);
      },
      clear: () => inner.clear(),
      subscribe: (listener: () => void) => inner.subscribe(listener),
    };
    const a = ctx.manager({ store });
    await a.setTokens(ctx.server.issue()); // rt-1
    slow = true;
    const signingIn = a.setTokens(ctx.server.issue()); // rt-2 being written to the keychain
    const signingOut = a.signOut(); // the user taps "sign out" meanwhile
    await ctx.clock.advance(0);
    finishWrite();
    await Promise.all([signingIn, signingOut]);
    await ctx.clock.advance(0);
    expect(inner.load()).toBeNull();
    expect(a.state).toBe('signedOut');
    expect(ctx.server.revokeCalls).toHaveLength(2); // rt-1 and the rt-2 that was being saved
  });
});

describe('access token lifetimes a server should not send', () => {
  it('expires_in: 0 does not make the manager refresh in a loop', async () => {
    ctx.server.accessTtlSeconds = 0;
    const session = ctx.manager();
    await session.setTokens(ctx.server.issue());
    await ctx.clock.advance(10 * MINUTE); // nothing asks for a token
    expect(ctx.server.refreshCalls).toBe(0);
    expect(session.session?.accessTokenExpiresAt).toBeNull(); // unknown: a 401 will tell
  });
});

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
    const post = api.post('messages', { json: { from: 'A' }, retry: 0 }).json().then(
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
    const get = api.get('items').json().then(
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
    const bob: TokenResponse = { access_token: jwt({ sub: 'bob' }), expires_in: 3600, refresh_token: 'rt-bob' };
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

describe('a server that does not rotate refresh tokens', () => {
  it('tabs keep one refresh token through refreshes, a failed save and store notices', async () => {
    ctx.server.rotate = false;
    const { state, store } = flakyStore();
    const a = ctx.manager({ store, broadcast: false });
    const b = ctx.manager({ store, broadcast: false });
    const events = [recordEvents(a), recordEvents(b)];
    await a.setTokens(ctx.server.issue());
    await b.restore();
    for (let i = 0; i < 4; i++) {
      await ctx.clock.advance(30 * MINUTE);
      state.failNextSave = i === 1;
      await (i % 2 ? b : a).refresh();
      await ctx.clock.advance(0);
    }
    expect(events.flatMap((recorded) => recorded.types())).not.toContain('reauthRequired');
    expect([a.state, b.state]).toEqual(['active', 'active']);
    await ctx.clock.advance(0);
    // B refreshed last: A follows its new access token instead of refreshing for itself.
    expect(await a.getAccessToken()).toBe(await b.getAccessToken());
  });
});

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

/**
 * A signed-in manager, its access token expired, disposed (an unmount, a hot reload, an
 * account switch) while its refresh grant is at the server; `answer()` lets the server reply.
 */
async function disposedDuringGrant() {
  const first = ctx.manager();
  await first.setTokens(ctx.server.issue()); // rt-1
  ctx.clock.set(ctx.clock.now() + 2 * 60 * MINUTE);
  let answer = () => {};
  ctx.server.faults = [{ defer: new Promise<void>((resolve) => (answer = resolve)) }];
  const waiting = first.getAccessToken().catch((error: unknown) => error);
  await ctx.clock.advance(0);
  expect(ctx.server.refreshCalls).toBe(1); // the grant is at the server
  first.dispose();
  return { answer: () => answer(), waiting };
}

describe('dispose() while the manager waits', () => {
  it('a restore whose load lands after dispose arms no timer and makes no refresh', async () => {
    const first = ctx.manager();
    await first.setTokens(ctx.server.issue());
    first.dispose();
    const { state, store, inner } = flakyStore();
    inner.save(ctx.store.load() as StoredSession);
    state.slowLoads = true;
    const session = ctx.manager({ store });
    const restoring = session.restore();
    session.dispose(); // unmounted (React StrictMode, a hot reload) before the keychain answered
    state.slowLoads = false;
    state.release();
    await restoring;
    expect(session.state).toBe('signedOut');
    expect(ctx.clock.pendingTimers).toBe(0);
    await ctx.clock.advance(2 * 60 * MINUTE);
    expect(ctx.server.refreshCalls).toBe(0);
  });

  it('a disposed manager does not show the sign-in prompt', async () => {
    const first = ctx.manager();
    await first.setTokens(ctx.server.issue());
    ctx.server.revokeAll();
    ctx.clock.set(ctx.clock.now() + 2 * 60 * MINUTE);
    first.dispose();
    const signInPrompt = vi.fn(() => new Promise<null>(() => {}));
    const { state, store, inner } = flakyStore();
    inner.save(ctx.store.load() as StoredSession);
    state.slowLoads = true;
    const session = ctx.manager({ store, signInPrompt });
    void session.restore();
    session.dispose();
    state.slowLoads = false;
    state.release();
    await ctx.clock.advance(1000);
    expect(signInPrompt).not.toHaveBeenCalled();
    expect(ctx.server.refreshCalls).toBe(0);
  });

  it('a grant at the server when dispose() runs lands and is saved for the next manager', async () => {
    const { answer, waiting } = await disposedDuringGrant();
    expect(await waiting).toMatchObject({ name: 'SessionExpiredError' });
    answer(); // the server rotated rt-1 -> rt-2
    await ctx.clock.advance(0);
    const signInPrompt = vi.fn(async () => null);
    const second = ctx.manager({ signInPrompt });
    const events = recordEvents(second);
    expect(await second.restore()).toBe('active');
    await second.refresh(); // presents rt-2: no reuse
    expect(events.types()).not.toContain('reauthRequired');
    expect(signInPrompt).not.toHaveBeenCalled();
    expect(ctx.server.refreshCalls).toBe(2);
  });

  it("a disposed manager's late grant does not overwrite a sign-in made by the next manager", async () => {
    const { answer } = await disposedDuringGrant();
    const second = ctx.manager();
    const signIn = ctx.server.issue(); // user B signs in: its save waits for the lock
    const signingIn = second.setTokens(signIn);
    answer(); // A's rotation lands, then B's sign-in is written
    await signingIn;
    await ctx.clock.advance(0);
    expect((ctx.store.load() as StoredSession).refreshToken).toBe(signIn.refresh_token);
    expect(await second.getAccessToken()).toBe(signIn.access_token);
  });

  it("a disposed manager's late invalid_grant does not mark the sign-in made by the next manager dead", async () => {
    const { answer } = await disposedDuringGrant();
    ctx.server.revokeAll(); // A's session is revoked at the server (A logged out there)
    const second = ctx.manager({ signInPrompt: async () => null });
    const signIn = ctx.server.issue(); // user B signs in: its save waits for the lock
    const signingIn = second.setTokens(signIn);
    answer(); // A's grant is answered: invalid_grant
    await signingIn;
    await ctx.clock.advance(0);
    const stored = ctx.store.load() as StoredSession;
    expect(stored.refreshToken).toBe(signIn.refresh_token);
    expect(stored.refreshRejectedAt).toBeUndefined();
    // B's manager refreshes B's own session later: no prompt, no sign-out
    ctx.clock.set(ctx.clock.now() + 56 * MINUTE);
    await ctx.clock.advance(3 * MINUTE);
    expect(second.state).toBe('active');
  });

  it("a sign-out while a disposed manager's grant lands revokes the refresh token that grant saved", async () => {
    const saved: string[] = [];
    const save = ctx.store.save.bind(ctx.store);
    ctx.store.save = (session: StoredSession) => (saved.push(session.refreshToken ?? ''), save(session));
    const { answer } = await disposedDuringGrant();
    const second = ctx.manager();
    void second.restore(); // picks up rt-1; its refresh waits for the lock
    await ctx.clock.advance(0);
    const out = second.signOut(); // the user signs out
    await ctx.clock.advance(0);
    answer(); // rt-1 -> rt-2 at the server; the disposed manager saves rt-2, then the sign-out clears
    await ctx.clock.advance(0);
    await out;
    await ctx.clock.advance(0);
    expect(ctx.store.load()).toBeNull();
    const live = saved.at(-1)!;
    expect(live).not.toBe(saved[0]); // rt-2 was saved by the disposed manager
    expect(ctx.server.revokeCalls).toContain(live);
    const stillGood = await fetch(TOKEN_URL, {
      method: 'POST',
      body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: live, client_id: 'test-app' }),
    });
    expect(stillGood.status).toBe(400); // no refresh token outlives the sign-out
  });

  it('a store notice being followed when dispose() runs arms nothing', async () => {
    const { state, store } = flakyStore();
    const a = ctx.manager({ store, broadcast: false });
    const b = ctx.manager({ store, broadcast: false });
    state.slowLoads = true;
    await a.setTokens(ctx.server.issue()); // B hears it and starts reading the store
    await ctx.clock.advance(0);
    a.dispose();
    b.dispose();
    state.slowLoads = false;
    state.release();
    await ctx.clock.advance(0);
    expect(b.state).toBe('signedOut');
    expect(ctx.clock.pendingTimers).toBe(0);
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

describe('re-authentication', () => {
  it('a garbled answer to the device-key exchange is retried, not a password prompt or a sign-out', async () => {
    const signInPrompt = vi.fn(async () => null);
    const session = ctx.manager({
      biometric: { isAvailable: async () => true, getAssertion: async () => 'good-assertion' },
      signInPrompt,
    });
    await session.setTokens(ctx.server.issue());
    ctx.server.revokeAll();
    ctx.server.faults = ['invalid_grant', 'malformed']; // a proxy garbles the jwt-bearer answer once
    const events = recordEvents(session);
    const refreshed = session.refresh().catch((error: unknown) => error);
    await ctx.clock.advance(5000);
    await refreshed;
    expect(events.types()).not.toContain('signedOut');
    expect(signInPrompt).not.toHaveBeenCalled();
    expect(session.state).toBe('active');
  });

  it('a device-key exchange that keeps answering an unusable 2xx falls through to the sign-in prompt', async () => {
    const getAssertion = vi.fn(async () => 'good-assertion');
    const signInPrompt = vi.fn(async () => ctx.server.issue());
    const session = ctx.manager({ biometric: { isAvailable: async () => true, getAssertion }, signInPrompt });
    await session.setTokens(ctx.server.issue());
    ctx.server.revokeAll();
    // e.g. the server answers the jwt-bearer grant with token_type "DPoP" / a bad expires_in: every time
    ctx.server.faults = ['invalid_grant', ...Array.from({ length: 100 }, () => 'malformed' as const)];
    void session.refresh().catch(() => {});
    await ctx.clock.advance(10 * MINUTE);
    expect(getAssertion.mock.calls.length).toBeLessThanOrEqual(3); // Face ID shown again and again
    expect(signInPrompt).toHaveBeenCalled();
  });

  it('restore() on a manager that is itself prompting does not wait for the lock of its own prompt', async () => {
    const signals: AbortSignal[] = [];
    const session = ctx.manager({
      signInPrompt: (_reason, { signal }) => {
        signals.push(signal);
        return new Promise(() => {});
      },
    });
    await session.setTokens(ctx.server.issue());
    ctx.server.revokeAll();
    void session.refresh().catch(() => {});
    await ctx.clock.advance(0);
    expect(signals).toHaveLength(1);
    void session.restore(); // e.g. the app calls restore() again on resume
    await ctx.clock.advance(1000);
    expect(signals.filter((s) => !s.aborted)).toHaveLength(1); // a prompt is open
  });

  it('a captive portal answering the device-key exchange twice does not sign a biometric-only app out', async () => {
    let portal = 2;
    const fetchFn: typeof fetch = async (input, init) => {
      if (String(init?.body ?? '').includes('jwt-bearer') && portal-- > 0) {
        return new Response('<html>Hotel Wi-Fi: accept the terms</html>', {
          status: 200,
          headers: { 'content-type': 'text/html' },
        });
      }
      return fetch(input, init);
    };
    const session = ctx.manager({
      biometric: { isAvailable: async () => true, getAssertion: async () => 'good-assertion' },
      fetch: fetchFn,
    });
    const events = recordEvents(session);
    await session.setTokens(ctx.server.issue());
    ctx.server.revokeAll();
    void session.refresh().catch(() => {});
    await ctx.clock.advance(5 * MINUTE);
    expect(events.types()).not.toContain('signedOut');
    expect(session.state).toBe('active');
  });

  it('with a sign-in prompt, the same captive portal does not make it ask for the password', async () => {
    let portal = 2;
    const fetchFn: typeof fetch = async (input, init) => {
      if (String(init?.body ?? '').includes('jwt-bearer') && portal-- > 0) {
        return new Response('<html>Hotel Wi-Fi</html>', { status: 200, headers: { 'content-type': 'text/html' } });
      }
      return fetch(input, init);
    };
    const signInPrompt = vi.fn(async () => null);
    const session = ctx.manager({
      biometric: { isAvailable: async () => true, getAssertion: async () => 'good-assertion' },
      signInPrompt,
      fetch: fetchFn,
    });
    await session.setTokens(ctx.server.issue());
    ctx.server.revokeAll();
    void session.refresh().catch(() => {});
    await ctx.clock.advance(5 * MINUTE);
    expect(signInPrompt).not.toHaveBeenCalled();
  });

  it('a tab opened while another shows its prompt waits for that prompt instead of showing a second', async () => {
    const prompts: string[] = [];
    let answerA: (response: TokenResponse | null) => void = () => {};
    const a = ctx.manager({
      signInPrompt: () => {
        prompts.push('a');
        return new Promise((resolve) => (answerA = resolve));
      },
    });
    await a.setTokens(ctx.server.issue());
    ctx.server.revokeAll();
    void a.refresh().catch(() => {});
    await ctx.clock.advance(0); // A: invalid_grant, marked dead in the store, prompt open
    const b = ctx.manager({ signInPrompt: async () => (prompts.push('b'), ctx.server.issue()) });
    const restoring = b.restore(); // the user opens a second tab; A is alive and prompting
    await ctx.clock.advance(1000);
    expect(prompts).toEqual(['a']);
    expect(b.state).toBe('reauthenticating');
    answerA(ctx.server.issue());
    await ctx.clock.advance(0);
    expect(await restoring).toBe('active');
    expect(prompts).toEqual(['a']);
    expect(await b.getAccessToken()).toBe(await a.getAccessToken());
  });

  it('a tab showing its own prompt follows a sign-out in another tab and closes the prompt', async () => {
    const signals: AbortSignal[] = [];
    const prompt = (_reason: unknown, { signal }: { signal: AbortSignal }) => {
      signals.push(signal);
      return new Promise<TokenResponse | null>(() => {});
    };
    const a = ctx.manager({ signInPrompt: prompt });
    const b = ctx.manager({ signInPrompt: prompt });
    await a.setTokens(ctx.server.issue());
    await b.restore();
    ctx.server.revokeAll();
    ctx.server.expireAccessTokens();
    void a.createClient({ prefix: API }).get('items').catch(() => {});
    await ctx.clock.advance(0); // A: invalid_grant, prompt open
    const waiting = b.createClient({ prefix: API }).get('items').catch((error: unknown) => error);
    await ctx.clock.advance(2 * MINUTE + 1); // B stops waiting for A and opens its own prompt
    expect(signals).toHaveLength(2);
    await a.signOut(); // the user chose "sign out" in A
    await ctx.clock.advance(0);
    expect([a.state, b.state]).toEqual(['signedOut', 'signedOut']);
    expect(signals[1]?.aborted).toBe(true);
    expect(await waiting).toMatchObject({ name: 'SessionExpiredError' });
  });
});
