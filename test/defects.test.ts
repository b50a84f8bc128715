import { afterEach, describe, expect, it, onTestFinished, vi } from 'vitest';
import { SessionExpiredError, SessionKeeperError, TokenWaitTimeoutError, isTransientError } from '../src/errors.ts';
import type { SessionManagerOptions } from '../src/options.ts';
import type { Logger } from '../src/ports/logger.ts';
import { MemoryTokenStore } from '../src/ports/token-store.ts';
import { SessionManager } from '../src/index.ts';
import { flushMicrotasks } from '../src/testing.ts';
import type { SessionEvents } from '../src/types.ts';
import type { StoredSession } from '../src/types.ts';
import { API, REVOKE_URL, TOKEN_URL } from './helpers/fake-auth-server.ts';
import { captureLogs, settle, useFakeAuth } from './helpers/setup.ts';
import { ALICE, CAROL, controllableStore } from './helpers/tokens.ts';

const ctx = useFakeAuth();
const HOUR = 3_600_000;

/**
 * A manager on the fake server and the manual clock with the DEFAULT lock and broadcast
 * (the helper's `ctx.manager` passes a lock of its own).
 */
function defaultLockManager(options: Partial<SessionManagerOptions> = {}): SessionManager {
  const manager = new SessionManager({
    tokenEndpoint: TOKEN_URL,
    revocationEndpoint: REVOKE_URL,
    clientId: 'test-app',
    store: ctx.store,
    clock: ctx.clock,
    lifecycle: ctx.lifecycle,
    network: ctx.network,
    ...options,
  });
  ctx.managers.push(manager);
  return manager;
}

/** Moves the clock past the access tokens' expiry without firing any timer. */
function expireWithoutTimers(): void {
  ctx.clock.set(ctx.clock.now() + HOUR + 1000);
  ctx.server.expireAccessTokens();
}

/** Resolves once `condition` holds, giving the event loop (msw, locks) up to `turns` turns. */
async function until(condition: () => boolean, turns = 100): Promise<boolean> {
  for (let i = 0; i < turns && !condition(); i++) await flushMicrotasks();
  return condition();
}

function deferred() {
  let resolve!: () => void;
  const promise = new Promise<void>((res) => (resolve = res));
  return { promise, resolve };
}

/** Every unhandled rejection while the test runs. */
function unhandledRejections(): unknown[] {
  const seen: unknown[] = [];
  const listener = (reason: unknown) => void seen.push(reason);
  process.on('unhandledRejection', listener);
  onTestFinished(() => void process.off('unhandledRejection', listener));
  return seen;
}

/** A store whose saves wait for `release()` (a slow keychain), counting them. */
function slowSaves() {
  const inner = new MemoryTokenStore();
  const held: (() => void)[] = [];
  const store = {
    load: () => inner.load(),
    save: (session: StoredSession) => new Promise<void>((resolve) => held.push(() => (inner.save(session), resolve()))),
    clear: () => inner.clear(),
  };
  return { store, release: () => held.splice(0).forEach((save) => save()) };
}

/** The reason of the SessionExpiredError `run` throws. */
function thrownReason(run: () => void): unknown {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(SessionExpiredError);
    return (error as SessionExpiredError).reason;
  }
  return 'nothing thrown';
}

async function reasonOf(promise: Promise<unknown>): Promise<unknown> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(SessionExpiredError);
  return (error as SessionExpiredError).reason;
}

describe('two managers of one process without Web Locks share the default lock', () => {
  afterEach(() => void vi.unstubAllGlobals());

  it('a herd of expired requests in both makes exactly one refresh, and both stay active', async () => {
    vi.stubGlobal('navigator', {}); // a runtime without navigator.locks (Node.js 22)
    const a = defaultLockManager();
    const b = defaultLockManager();
    await a.setTokens(ctx.server.issue());
    await b.restore();
    expect(b.state).toBe('active');
    expireWithoutTimers();
    const apiA = a.createClient({ prefix: API });
    const apiB = b.createClient({ prefix: API });
    const results = await settle([
      ...Array.from({ length: 25 }, (_, i) => apiA.get(`a/${i}`).json()),
      ...Array.from({ length: 25 }, (_, i) => apiB.get(`b/${i}`).json()),
    ]);
    expect(results.rejected).toEqual([]);
    expect(results.fulfilled).toBe(50);
    expect(ctx.server.refreshCalls).toBe(1); // the rotated refresh token was never presented again
    expect([a.state, b.state]).toEqual(['active', 'active']);
    expect(await a.getAccessToken()).toBe(await b.getAccessToken());
  });
});

describe('a logger that throws cannot break the session', () => {
  const throwing: Logger = {
    debug: () => {
      throw new Error('debug broke');
    },
    info: () => {
      throw new Error('info broke');
    },
    warn: () => {
      throw new Error('warn broke');
    },
    error: () => {
      throw new Error('error broke');
    },
  };

  it('a refresh completes and the session ends active, with no unhandled rejection', async () => {
    const rejections = unhandledRejections();
    const session = ctx.manager({ logger: throwing });
    await session.setTokens(ctx.server.issue());
    const before = await session.getAccessToken();
    expireWithoutTimers();
    const token = await session.getAccessToken();
    await flushMicrotasks();
    expect(token).not.toBe(before);
    expect(ctx.server.refreshCalls).toBe(1);
    expect(session.state).toBe('active');
    expect(rejections).toEqual([]);
  });

  it('a refresh its timer starts completes too', async () => {
    const rejections = unhandledRejections();
    const session = ctx.manager({ logger: throwing });
    await session.setTokens(ctx.server.issue());
    await ctx.clock.advance(HOUR); // the proactive timer refreshes
    expect(ctx.server.refreshCalls).toBe(1);
    expect(session.state).toBe('active');
    expect(rejections).toEqual([]);
  });
});

describe('a disposed manager', () => {
  it('refuses setTokens with SessionExpiredError (disposed) and leaves the store untouched', async () => {
    const session = ctx.manager();
    session.dispose();
    expect(await reasonOf(session.setTokens(ctx.server.issue()))).toBe('disposed');
    expect(ctx.store.load()).toBeNull();
  });

  it('leaves an unreadable stored session, whose load landed after dispose(), to the next manager', async () => {
    const { state, store, inner } = controllableStore();
    inner.save({ version: 99 } as unknown as StoredSession);
    state.slowLoads = true;
    const session = ctx.manager({ store });
    const restoring = session.restore();
    session.dispose();
    state.release();
    expect(await restoring).toBe('signedOut');
    expect(inner.load()).toEqual({ version: 99 });
  });

  it('does not overwrite a stored session with setTokens', async () => {
    const first = ctx.manager();
    await first.setTokens(ctx.server.issue());
    const stored = ctx.store.load();
    const session = ctx.manager();
    session.dispose();
    await expect(session.setTokens(ctx.server.issue())).rejects.toBeInstanceOf(SessionExpiredError);
    expect(ctx.store.load()).toEqual(stored);
  });
});

describe('a refresh ended by a sign-out', () => {
  it('is not reported as a failed session task', async () => {
    const { lines, logger } = captureLogs();
    const session = ctx.manager({ logger });
    await session.setTokens(ctx.server.issue());
    ctx.server.faults.push('hang');
    const refreshing = session.refresh().catch(() => {});
    await until(() => ctx.server.refreshCalls === 1);
    await session.signOut();
    await refreshing;
    expect(lines).not.toContain('session task failed');
  });
});

describe('refresh() while setTokens() saves another session', () => {
  it('resolves at once, without a refresh of the session being replaced', async () => {
    const { store, release } = slowSaves();
    const session = ctx.manager({ store });
    const first = session.setTokens(ctx.server.issue());
    await flushMicrotasks();
    release();
    await first;
    const signIn = session.setTokens(ctx.server.issue()); // an account switch: its save is slow
    await flushMicrotasks();
    let refreshed = false;
    void session.refresh().then(() => (refreshed = true));
    await flushMicrotasks();
    expect(refreshed).toBe(true);
    release();
    await signIn;
    expect(ctx.server.refreshCalls).toBe(0);
  });
});

describe('requests waiting for a token', () => {
  it('are counted by waitingRequests until the refresh lands', async () => {
    const session = ctx.manager();
    await session.setTokens(ctx.server.issue());
    const held = deferred();
    ctx.server.faults.push({ defer: held.promise });
    expireWithoutTimers();
    expect(session.waitingRequests).toBe(0);
    const requests = Promise.all([session.getAccessToken(), session.getAccessToken(), session.getAccessToken()]);
    await until(() => ctx.server.refreshCalls === 1);
    expect(session.waitingRequests).toBe(3);
    held.resolve();
    await requests;
    expect(session.waitingRequests).toBe(0);
  });

  it('do not include a request a good token serves: it sets no timer either', async () => {
    const session = ctx.manager();
    await session.setTokens(ctx.server.issue());
    const timers = ctx.clock.pendingTimers;
    const token = session.getAccessToken();
    expect(ctx.clock.pendingTimers).toBe(timers);
    expect(session.waitingRequests).toBe(0);
    await expect(token).resolves.toEqual(expect.any(String));
  });
});

describe('an unreadable stored session', () => {
  it('is cleared by restore(), with a warning that says so', async () => {
    const { lines, logger } = captureLogs();
    ctx.store.save({ version: 99 } as unknown as StoredSession);
    const session = ctx.manager({ logger });
    expect(await session.restore()).toBe('signedOut');
    expect(ctx.store.load()).toBeNull();
    expect(lines).toContain('stored session unreadable; cleared');
  });
});

describe('restore() called twice at once (React StrictMode)', () => {
  it('both calls resolve the same state, with one refresh', async () => {
    const first = ctx.manager();
    await first.setTokens(ctx.server.issue());
    first.dispose();
    expireWithoutTimers();
    const session = ctx.manager();
    const states = await Promise.all([session.restore(), session.restore()]);
    expect(states).toEqual(['active', 'active']);
    expect(ctx.server.refreshCalls).toBe(1);
  });

  it('a restore() after the first one settled reads the store again', async () => {
    const { store } = controllableStore();
    const notices = { load: store.load, save: store.save, clear: store.clear }; // nobody tells the first manager of the sign-in
    const session = ctx.manager({ store: notices, broadcast: false });
    expect(await session.restore()).toBe('signedOut');
    await ctx.manager({ store: notices, broadcast: false }).setTokens(ctx.server.issue());
    expect(await session.restore()).toBe('active');
  });

  it('restore() again on the running session writes nothing to the store', async () => {
    const memory = new MemoryTokenStore();
    let saves = 0;
    const store = {
      load: () => memory.load(),
      save: (s: StoredSession) => (saves++, memory.save(s)),
      clear: () => memory.clear(),
    };
    const session = ctx.manager({ store });
    await session.setTokens(ctx.server.issue());
    expect(saves).toBe(1);
    expect(await session.restore()).toBe('active');
    const fresh = ctx.manager({ store });
    expect(await fresh.restore()).toBe('active');
    expect(saves).toBe(1);
  });

  it('both calls resolve the same state when the stored token is still good', async () => {
    const first = ctx.manager();
    await first.setTokens(ctx.server.issue());
    first.dispose();
    const session = ctx.manager();
    expect(await Promise.all([session.restore(), session.restore()])).toEqual(['active', 'active']);
    expect(ctx.server.refreshCalls).toBe(0);
  });
});

describe('independent sessions in one process', () => {
  it("one session's refresh held back by the server does not hold up another session's refresh", async () => {
    // Two users of one backend: same clientId, a store each, the default lock.
    const alice = defaultLockManager({ store: new MemoryTokenStore() });
    const bob = defaultLockManager({ store: new MemoryTokenStore() });
    await alice.setTokens(ctx.server.issue());
    await bob.setTokens(ctx.server.issue());
    const held = deferred();
    ctx.server.faults.push({ defer: held.promise });
    expireWithoutTimers();
    let aliceToken: string | undefined;
    void alice.getAccessToken().then((token) => (aliceToken = token));
    expect(await until(() => ctx.server.refreshCalls === 1)).toBe(true); // alice's grant is at the server
    let bobToken: string | undefined;
    void bob.getAccessToken().then((token) => (bobToken = token));
    expect(await until(() => bobToken !== undefined)).toBe(true);
    expect(aliceToken).toBeUndefined();
    expect(bob.state).toBe('active');
    held.resolve();
    expect(await until(() => aliceToken !== undefined)).toBe(true);
    expect(alice.state).toBe('active');
    expect(ctx.server.refreshCalls).toBe(2);
  });
});

describe('SessionExpiredError says why there is no session', () => {
  it('a request before any sign-in: notSignedIn', async () => {
    expect(await reasonOf(ctx.manager().getAccessToken())).toBe('notSignedIn');
  });

  it('a request waiting when the app signs out: signedOut', async () => {
    const session = ctx.manager();
    await session.setTokens(ctx.server.issue());
    ctx.server.faults.push('hang');
    expireWithoutTimers();
    const waiting = reasonOf(session.getAccessToken()); // handled from the start
    await until(() => ctx.server.refreshCalls === 1);
    await session.signOut();
    expect(await waiting).toBe('signedOut');
  });

  it('a request waiting when the app signs out and at once signs in again: signedOut', async () => {
    const session = ctx.manager();
    await session.setTokens(ctx.server.issue());
    ctx.server.faults.push('hang');
    expireWithoutTimers();
    const waiting = reasonOf(session.getAccessToken()); // handled from the start
    await until(() => ctx.server.refreshCalls === 1);
    const signOut = session.signOut();
    const signIn = session.setTokens(ctx.server.issue()); // before the sign-out has cleared the store
    await Promise.all([signOut, signIn]);
    expect(await waiting).toBe('signedOut');
    expect(session.state).toBe('active');
  });

  it('a request while the first sign-in is still being saved: notSignedIn', async () => {
    const { store, release } = slowSaves();
    const session = ctx.manager({ store });
    const signIn = session.setTokens(ctx.server.issue());
    await flushMicrotasks(); // the save has started
    const asking = reasonOf(session.getAccessToken());
    release();
    await signIn;
    expect(await asking).toBe('notSignedIn');
    expect(session.state).toBe('active');
  });

  it('refresh() while the first sign-in is still being saved: notSignedIn', async () => {
    const { store, release } = slowSaves();
    const session = ctx.manager({ store });
    const signIn = session.setTokens(ctx.server.issue());
    await flushMicrotasks();
    const refreshing = reasonOf(session.refresh());
    release();
    await signIn;
    expect(await refreshing).toBe('notSignedIn');
    expect(ctx.server.refreshCalls).toBe(0);
  });

  it("a 401 to the previous user's token after another user signed in: sessionReplaced", async () => {
    const session = ctx.manager();
    await session.setTokens(ALICE);
    await session.setTokens(CAROL);
    expect(thrownReason(() => session.assertSameSession(ALICE.access_token))).toBe('sessionReplaced');
    expect(await reasonOf(session.handleUnauthorized(ALICE.access_token))).toBe('sessionReplaced');
    expect(thrownReason(() => session.assertSameSession(CAROL.access_token))).toBe('nothing thrown');
  });

  it('a request waiting when re-authentication fails (the prompt returns null): reauthFailed', async () => {
    const session = ctx.manager({ signInPrompt: async () => null });
    await session.setTokens(ctx.server.issue());
    ctx.server.revokeAll();
    expireWithoutTimers();
    expect(await reasonOf(session.getAccessToken())).toBe('reauthFailed');
  });

  it('a request waiting when the manager is disposed: disposed', async () => {
    const session = ctx.manager();
    await session.setTokens(ctx.server.issue());
    ctx.server.faults.push('hang');
    expireWithoutTimers();
    const waiting = reasonOf(session.getAccessToken()); // handled from the start
    await until(() => ctx.server.refreshCalls === 1);
    session.dispose();
    expect(await waiting).toBe('disposed');
  });

  it('a request waiting when another user signs in: sessionReplaced', async () => {
    const session = ctx.manager();
    await session.setTokens(ctx.server.issue());
    const held = deferred();
    ctx.server.faults.push({ defer: held.promise });
    expireWithoutTimers();
    const waiting = reasonOf(session.getAccessToken()); // handled from the start
    await until(() => ctx.server.refreshCalls === 1);
    const signIn = session.setTokens(ctx.server.issue()); // someone else signs in on this device
    held.resolve();
    await signIn;
    expect(await waiting).toBe('sessionReplaced');
    expect(session.state).toBe('active');
  });
});

describe('the refreshed event counts refreshes only', () => {
  function listen(session: SessionManager) {
    const refreshed: unknown[] = [];
    const causes: SessionEvents['tokensChanged']['cause'][] = [];
    session.on('refreshed', (event) => void refreshed.push(event));
    session.on('tokensChanged', (event) => void causes.push(event.cause));
    return { refreshed, causes };
  }

  it('a refresh emits refreshed and tokensChanged (refresh)', async () => {
    const session = ctx.manager();
    const events = listen(session);
    await session.setTokens(ctx.server.issue());
    await session.refresh();
    expect(events.refreshed).toHaveLength(1);
    expect(events.causes).toEqual(['signIn', 'refresh']);
  });

  it('a sign-in emits tokensChanged (signIn), not refreshed', async () => {
    const session = ctx.manager();
    const events = listen(session);
    await session.setTokens(ctx.server.issue());
    expect(events.causes).toEqual(['signIn']);
    expect(events.refreshed).toEqual([]);
  });

  it('a restore with a valid token emits tokensChanged (restore), not refreshed', async () => {
    await ctx.manager().setTokens(ctx.server.issue());
    const session = ctx.manager();
    const events = listen(session);
    expect(await session.restore()).toBe('active');
    expect(events.causes).toEqual(['restore']);
    expect(events.refreshed).toEqual([]);
  });

  it('adopting the tokens of another manager sharing the store emits tokensChanged (otherContext), not refreshed', async () => {
    const a = ctx.manager();
    await a.setTokens(ctx.server.issue());
    const b = ctx.manager();
    await b.restore();
    const events = listen(b);
    await a.refresh();
    expect(await until(() => events.causes.length > 0)).toBe(true);
    expect(events.causes).toEqual(['otherContext']);
    expect(events.refreshed).toEqual([]);
    expect(await b.getAccessToken()).toBe(await a.getAccessToken());
  });

  it('a re-authentication emits tokensChanged (signInPrompt), not refreshed', async () => {
    const session = ctx.manager({ signInPrompt: async () => ctx.server.issue() });
    await session.setTokens(ctx.server.issue());
    const events = listen(session);
    ctx.server.revokeAll();
    await session.refresh();
    expect(session.state).toBe('active');
    expect(events.causes).toEqual(['signInPrompt']);
    expect(events.refreshed).toEqual([]);
  });
});

describe('a request that cannot get a token while the token endpoint is unreachable', () => {
  it.each([
    { name: 'after a 401', spoil: () => ctx.server.expireAccessTokens() },
    { name: 'with an expired token', spoil: () => ctx.clock.set(ctx.clock.now() + HOUR + 1000) },
  ])('$name fails with the transient TokenWaitTimeoutError at tokenWaitTimeout', async ({ spoil }) => {
    const session = ctx.manager();
    await session.setTokens(ctx.server.issue());
    const api = session.createClient({ prefix: API });
    ctx.server.faults.push(...Array.from({ length: 100 }, () => 'network' as const));
    spoil();
    const request = api
      .get('items')
      .json()
      .then(
        () => undefined,
        (error: unknown) => error,
      );
    for (let second = 0; second < 31; second++) await ctx.clock.advance(1000);
    const error = await request;
    expect(error).toBeInstanceOf(TokenWaitTimeoutError);
    expect(isTransientError(error)).toBe(true);
    expect(session.state).toBe('refreshing'); // the session is kept
  });
});

describe('a request made after the session ended says why it ended', () => {
  it('after the app signed out: signedOut, as refresh() says', async () => {
    const session = ctx.manager();
    await session.setTokens(ctx.server.issue());
    await session.signOut();
    expect(await reasonOf(session.refresh())).toBe('signedOut');
    expect(await reasonOf(session.getAccessToken())).toBe('signedOut');
  });

  it('after another context signed out: signedOut', async () => {
    const a = ctx.manager();
    await a.setTokens(ctx.server.issue());
    const b = ctx.manager();
    await b.restore();
    await a.signOut();
    expect(await until(() => b.state === 'signedOut')).toBe(true);
    expect(await reasonOf(b.getAccessToken())).toBe('signedOut');
  });

  it('after re-authentication failed: reauthFailed', async () => {
    const session = ctx.manager({ signInPrompt: async () => null });
    await session.setTokens(ctx.server.issue());
    ctx.server.revokeAll();
    expireWithoutTimers();
    await session.getAccessToken().catch(() => {});
    expect(session.state).toBe('signedOut');
    expect(await reasonOf(session.getAccessToken())).toBe('reauthFailed');
  });

  it('a 401 after the app signed out: signedOut, also to a token of the user before the last', async () => {
    const session = ctx.manager();
    await session.setTokens(ALICE);
    await session.signOut();
    await session.setTokens(CAROL);
    await session.signOut();
    expect(await reasonOf(session.handleUnauthorized(ALICE.access_token))).toBe('signedOut');
  });

  it('through the ky client after the app signed out: signedOut', async () => {
    const session = ctx.manager();
    await session.setTokens(ctx.server.issue());
    const api = session.createClient({ prefix: API });
    await session.signOut();
    expect(await reasonOf(api.get('items').json())).toBe('signedOut');
  });
});

describe("a request waiting for a token is not cut short by ky's own timeout", () => {
  // ky's `timeout` runs on real timers (50 ms here); the session's waits run on the manual clock,
  // which is advanced until the request settles.
  it.each([
    { name: 'after a 401', spoil: () => ctx.server.expireAccessTokens() },
    { name: 'with an expired token', spoil: () => ctx.clock.set(ctx.clock.now() + HOUR + 1000) },
  ])('$name, with the token endpoint down, it fails transiently', async ({ spoil }) => {
    const session = ctx.manager();
    await session.setTokens(ctx.server.issue());
    const api = session.createClient({ prefix: API, timeout: 50 });
    ctx.server.faults.push(...Array.from({ length: 100 }, () => 'network' as const));
    spoil();
    let outcome: { error: unknown } | undefined;
    void api
      .get('items')
      .json()
      .then(
        () => (outcome = { error: undefined }),
        (error: unknown) => (outcome = { error }),
      );
    for (let second = 0; second < 40 && outcome === undefined; second++) await ctx.clock.advance(1000);
    expect(outcome).toBeDefined();
    expect(outcome!.error).toBeInstanceOf(SessionKeeperError); // not ky's TimeoutError
    expect(isTransientError(outcome!.error)).toBe(true);
  });
});
