/**
 * One refresh (`refreshOnce`) reads the store again under the lock: another context's rotation
 * is adopted, a sign-out elsewhere is followed, a store behind is caught up, and after a wait
 * for the lock another context's write gets a moment to arrive.
 */
import { describe, expect, it } from 'vitest';
import type { LockPort } from '../../src/ports/lock.ts';
import { MemoryTokenStore, type TokenStore } from '../../src/ports/token-store.ts';
import { refreshOnce, STORE_HANDOFF_MS } from '../../src/refresh/refresher.ts';
import { NOW } from './builders.ts';
import {
  clock,
  log,
  grants,
  whileGranting,
  options,
  tokens,
  context,
  otherContext,
  presented,
  stored,
  useTokenEndpoint,
} from './token-endpoint.ts';

useTokenEndpoint();

describe('refreshOnce: the store read under the lock', () => {
  it('adopts the usable tokens another context rotated to, without a grant', async () => {
    const resolved = options();
    const theirs = tokens('rt-theirs');
    await otherContext(resolved).save(theirs);
    const outcome = await refreshOnce(context(resolved), tokens('rt-1'));
    expect(outcome).toEqual({
      kind: 'refreshed',
      source: 'otherContext',
      tokens: expect.objectContaining({ refreshToken: 'rt-theirs' }),
    });
    expect(grants).toHaveLength(0);
  });

  it('refreshes from the newer set another context saved when its access token is no longer usable', async () => {
    const resolved = options();
    await otherContext(resolved).save(tokens('rt-theirs', { accessTokenExpiresAt: NOW - 1 }));
    const outcome = await refreshOnce(context(resolved), tokens('rt-1'));
    expect(presented()).toEqual(['rt-theirs']);
    expect(outcome).toMatchObject({ kind: 'refreshed', source: 'refresh' });
  });

  it('does not adopt a newer set that carries the access token the server rejected', async () => {
    const resolved = options();
    const theirs = tokens('rt-theirs');
    await otherContext(resolved).save(theirs);
    await refreshOnce(context(resolved, { rejectedAccessToken: theirs.accessToken }), tokens('rt-1'));
    expect(presented()).toEqual(['rt-theirs']);
  });

  it('another context cleared the store that held this session: signed out elsewhere, no grant', async () => {
    const resolved = options();
    const ctx = context(resolved);
    const current = tokens('rt-1');
    await ctx.storage.save(current);
    await otherContext(resolved).clear();
    expect(await refreshOnce(ctx, current)).toEqual({ kind: 'signedOutElsewhere' });
    expect(grants).toHaveLength(0);
  });

  it('a store that never held this session: refreshes from memory', async () => {
    const outcome = await refreshOnce(context(), tokens('rt-1'));
    expect(presented()).toEqual(['rt-1']);
    expect(outcome).toMatchObject({ kind: 'refreshed', source: 'refresh' });
  });

  it('a store still holding a set this manager moved on from (a failed save): caught up first, then refreshed from memory', async () => {
    const resolved = options();
    const ctx = context(resolved);
    const old = tokens('rt-0');
    await ctx.storage.save(old);
    ctx.storage.retire('rt-0');
    const current = tokens('rt-1');
    let storedDuringGrant: unknown;
    whileGranting(async () => void (storedDuringGrant = await stored(otherContext(resolved))));
    const outcome = await refreshOnce(ctx, current);
    expect(storedDuringGrant).toMatchObject({ refreshToken: 'rt-1' });
    expect(presented()).toEqual(['rt-1']);
    expect(outcome).toMatchObject({ kind: 'refreshed', source: 'refresh', tokens: { refreshToken: 'rt-2' } });
    expect(log.messages('warn')).toEqual(['store holds an older session; refreshing from memory']);
  });

  it('a store that fails to load: refreshes from memory, logged', async () => {
    const failing: TokenStore = {
      load: () => {
        throw new Error('keychain locked');
      },
      save: () => {},
      clear: () => {},
    };
    const outcome = await refreshOnce(context(options({ store: failing })), tokens('rt-1'));
    expect(presented()).toEqual(['rt-1']);
    expect(outcome).toMatchObject({ kind: 'refreshed', source: 'refresh' });
    expect(log.lines.filter(([level]) => level === 'warn')).toEqual([
      ['warn', 'store re-read failed; refreshing from memory', { error: 'StoreError: Token store failed to load' }],
    ]);
  });

  describe('after waiting for the lock, with the store still holding the same set', () => {
    const waitedLock: LockPort = { run: (_name, task) => task({ waited: true }) };

    it("gives another context's write a moment before refreshing", async () => {
      expect(STORE_HANDOFF_MS).toBe(250);
      const resolved = options({ lock: waitedLock });
      const ctx = context(resolved);
      const current = tokens('rt-1');
      await ctx.storage.save(current);
      const pending = refreshOnce(ctx, current);
      await clock.advance(249);
      expect(grants).toHaveLength(0);
      await clock.advance(1);
      await expect(pending).resolves.toMatchObject({ kind: 'refreshed', source: 'refresh' });
      expect(presented()).toEqual(['rt-1']);
    });

    it('adopts the write that arrives meanwhile, without a grant', async () => {
      const resolved = options({ lock: waitedLock });
      const ctx = context(resolved);
      const current = tokens('rt-1');
      await ctx.storage.save(current);
      const pending = refreshOnce(ctx, current);
      await clock.advance(100);
      await otherContext(resolved).save(tokens('rt-theirs'));
      await clock.advance(0);
      await expect(pending).resolves.toMatchObject({ kind: 'refreshed', source: 'otherContext' });
      expect(grants).toHaveLength(0);
      expect(clock.now()).toBe(NOW + 100);
    });

    it('does not wait with a store that sends no change notices', async () => {
      const inner = new MemoryTokenStore();
      const quiet: TokenStore = { load: () => inner.load(), save: (s) => inner.save(s), clear: () => inner.clear() };
      const resolved = options({ lock: waitedLock, store: quiet });
      const ctx = context(resolved);
      const current = tokens('rt-1');
      await ctx.storage.save(current);
      await expect(refreshOnce(ctx, current)).resolves.toMatchObject({ kind: 'refreshed', source: 'refresh' });
      expect(clock.now()).toBe(NOW);
      expect(clock.pendingTimers).toBe(0);
      expect(log.messages('warn')).toEqual([]);
    });

    it('a lock that says nothing about waiting: refreshes at once', async () => {
      const resolved = options({ lock: { run: (_name, task) => task() } });
      const ctx = context(resolved);
      const current = tokens('rt-1');
      await ctx.storage.save(current);
      await expect(refreshOnce(ctx, current)).resolves.toMatchObject({ kind: 'refreshed', source: 'refresh' });
      expect(clock.now()).toBe(NOW);
    });
  });
});
