/** The events a session emits to the app's handlers: until off() or dispose(), and only for what happened. */
import { describe, expect, it, vi } from 'vitest';
import { MemoryTokenStore } from '../src/ports/token-store.ts';
import { recordEvents, useFakeAuth } from './helpers/setup.ts';

const ctx = useFakeAuth();

describe('handlers', () => {
  it('off() removes a handler given to on()', async () => {
    const session = ctx.manager();
    const handler = vi.fn();
    session.on('signedIn', handler);
    await session.setTokens(ctx.server.issue());
    session.off('signedIn', handler);
    await session.setTokens(ctx.server.issue());
    expect(handler).toHaveBeenCalledOnce();
  });

  it('dispose() silences them: not even its own state change reaches them', async () => {
    const session = ctx.manager();
    await session.setTokens(ctx.server.issue());
    const events = recordEvents(session);
    session.dispose();
    expect(session.state).toBe('signedOut');
    expect(events.log).toEqual([]);
  });
});

describe('dispose()', () => {
  it('unsubscribes from the lifecycle, the network and the store', () => {
    let subscribed = 0;
    const subscribe = () => {
      subscribed++;
      return () => void subscribed--;
    };
    const memory = new MemoryTokenStore();
    const session = ctx.manager({
      lifecycle: { subscribe },
      network: { isOnline: () => true, subscribe },
      store: { load: () => memory.load(), save: (s) => memory.save(s), clear: () => memory.clear(), subscribe },
      broadcast: false,
    });
    expect(subscribed).toBe(3);
    session.dispose();
    expect(subscribed).toBe(0);
  });
});

describe('signOut()', () => {
  it("announces the user's sign-out, and revokes the refresh token once", async () => {
    const session = ctx.manager();
    const tokens = ctx.server.issue();
    await session.setTokens(tokens);
    const events = recordEvents(session);
    await session.signOut();
    expect(events.log.filter((entry) => entry.type === 'signedOut')).toEqual([
      { type: 'signedOut', event: { reason: 'user' } },
    ]);
    expect(ctx.server.revokeCalls).toEqual([tokens.refresh_token]);
  });

  it("cancels the session's timers: no refresh, no warning of its end after it", async () => {
    const session = ctx.manager();
    await session.setTokens({ ...ctx.server.issue(), session_expires_in: 3 * 3600 });
    const events = recordEvents(session);
    await session.signOut();
    expect(ctx.clock.pendingTimers).toBe(0);
    await ctx.clock.advance(3 * 3600_000);
    expect(events.types()).toEqual(['signedOut']);
    expect(ctx.server.refreshCalls).toBe(0);
  });

  it('without a session resolves, announces nothing and revokes nothing', async () => {
    const session = ctx.manager();
    const events = recordEvents(session);
    await expect(session.signOut()).resolves.toBeUndefined();
    expect(events.log).toEqual([]);
    expect(ctx.server.revokeCalls).toEqual([]);
  });

  it('of a session the store failed to save revokes its refresh token, and nothing else', async () => {
    const tokens = ctx.server.issue();
    const session = ctx.manager({
      store: { load: () => null, save: () => Promise.reject(new Error('quota exceeded')), clear: () => {} },
    });
    await session.setTokens(tokens); // in use from memory; the store holds nothing
    await session.signOut();
    expect(ctx.server.revokeCalls).toEqual([tokens.refresh_token]);
  });
});
