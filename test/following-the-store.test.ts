/**
 * A context follows what the other contexts sharing its store do (their sign-ins, sign-outs and
 * refreshes), and writes or reads the store no more than it must.
 */
import { describe, expect, it } from 'vitest';
import { MemoryTokenStore } from '../src/ports/token-store.ts';
import { flushMicrotasks } from '../src/testing.ts';
import type { StoredSession } from '../src/types.ts';
import { captureLogs, useFakeAuth } from './helpers/setup.ts';

const ctx = useFakeAuth();

/** A memory store that counts its loads and clears, can fail its loads, and tells of changes on `notify()`. */
function countingStore() {
  const memory = new MemoryTokenStore();
  const listeners = new Set<() => void>();
  const counts = { loads: 0, clears: 0, failLoads: false };
  const store = {
    load: () => {
      counts.loads++;
      if (counts.failLoads) throw new Error('keychain locked');
      return memory.load();
    },
    save: (session: StoredSession) => memory.save(session),
    clear: () => (counts.clears++, memory.clear()),
    subscribe: (listener: () => void) => {
      listeners.add(listener);
      const off = memory.subscribe(listener);
      return () => (listeners.delete(listener), off());
    },
  };
  return { store, counts, notify: () => listeners.forEach((listener) => listener()) };
}

describe('another context signing out', () => {
  it("is followed without a write of our own to the store (it may hold that context's next sign-in)", async () => {
    const { store, counts } = countingStore();
    const a = ctx.manager({ store, broadcast: false });
    const b = ctx.manager({ store, broadcast: false });
    await a.setTokens(ctx.server.issue());
    await ctx.clock.advance(0);
    expect(b.state).toBe('active');
    await a.signOut();
    await ctx.clock.advance(0);
    expect(b.state).toBe('signedOut');
    expect(counts.clears).toBe(1);
  });
});

describe('another context signing in', () => {
  it('is followed after our own sign-out', async () => {
    const a = ctx.manager({ broadcast: false });
    const b = ctx.manager({ broadcast: false });
    await a.setTokens(ctx.server.issue());
    await a.signOut();
    await ctx.clock.advance(0);
    const signIn = ctx.server.issue();
    await b.setTokens(signIn);
    await ctx.clock.advance(0);
    expect(a.state).toBe('active');
    expect(await a.getAccessToken()).toBe(signIn.access_token);
  });

  it("opaque tokens: the session adopted after a sign-out is not the signed-out user's", async () => {
    const a = ctx.manager({ broadcast: false });
    const b = ctx.manager({ broadcast: false });
    const before = ctx.server.issue();
    await a.setTokens(before);
    await a.signOut();
    await ctx.clock.advance(0);
    await b.setTokens(ctx.server.issue()); // someone else signs in, in another tab
    await ctx.clock.advance(0);
    expect(a.state).toBe('active');
    expect(() => a.assertSameSession(before.access_token)).toThrow(
      expect.objectContaining({ reason: 'sessionReplaced' }),
    );
  });
});

describe('a change notice', () => {
  it('whose store read fails is logged, and the session goes on', async () => {
    const { lines, logger } = captureLogs();
    const { store, counts, notify } = countingStore();
    const session = ctx.manager({ store, logger, broadcast: false });
    await session.setTokens(ctx.server.issue());
    await ctx.clock.advance(0);
    counts.failLoads = true;
    notify();
    await ctx.clock.advance(0);
    const at = lines.indexOf('store read after a change failed');
    expect(lines[at + 1]).toEqual({ error: 'StoreError: Token store failed to load' });
    expect(session.state).toBe('active');
  });

  it('while this context refreshes is not read: the refresh reads the store under the lock', async () => {
    const { store, counts, notify } = countingStore();
    const session = ctx.manager({ store, broadcast: false });
    await session.setTokens(ctx.server.issue());
    await ctx.clock.advance(0);
    let answer = () => {};
    ctx.server.faults.push({ defer: new Promise<void>((resolve) => (answer = resolve)) });
    const refreshed = session.refresh();
    for (let i = 0; i < 50 && ctx.server.refreshCalls === 0; i++) await flushMicrotasks();
    expect(session.state).toBe('refreshing');
    const loads = counts.loads;
    notify();
    await flushMicrotasks();
    expect(counts.loads).toBe(loads);
    answer();
    await refreshed;
  });
});
