/**
 * Sign-ins, sign-outs, restores and disposal while the session is busy: whatever the app did last wins, and nothing comes back to life.
 */
import { describe, expect, it, vi } from 'vitest';
import { MemoryTokenStore } from '../src/ports/token-store.ts';
import type { StoredSession } from '../src/types.ts';
import { TOKEN_URL } from './helpers/fake-auth-server.ts';
import { recordEvents, useFakeAuth } from './helpers/setup.ts';
import { controllableStore } from './helpers/tokens.ts';

const ctx = useFakeAuth();
const MINUTE = 60_000;

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
describe('dispose() while the manager waits', () => {
  it('a restore whose load lands after dispose arms no timer and makes no refresh', async () => {
    const first = ctx.manager();
    await first.setTokens(ctx.server.issue());
    first.dispose();
    const { state, store, inner } = controllableStore();
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
    const { state, store, inner } = controllableStore();
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
    const { state, store } = controllableStore();
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
