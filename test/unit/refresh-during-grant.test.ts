/**
 * One refresh (`refreshOnce`) while its grant is in flight: what another context saved
 * meanwhile wins over the answer, and a session that ended meanwhile keeps nothing (the new
 * refresh token is revoked), except after a dispose, which lets the grant land.
 */
import { describe, expect, it } from 'vitest';
import { TransientRefreshError } from '../../src/errors.ts';
import { MemoryTokenStore, type TokenStore } from '../../src/ports/token-store.ts';
import { DISPOSED, refreshOnce } from '../../src/refresh/refresher.ts';
import { NOW } from './builders.ts';
import {
  clock,
  log,
  revocations,
  controller,
  answer,
  whileGranting,
  options,
  tokens,
  context,
  otherContext,
  form,
  stored,
  rejection,
  useTokenEndpoint,
} from './token-endpoint.ts';

useTokenEndpoint();

describe('refreshOnce: what was saved while the grant was in flight wins', () => {
  it("another context's usable rotation is adopted; the grant's answer is not saved", async () => {
    const resolved = options();
    const ctx = context(resolved);
    const current = tokens('rt-1');
    await ctx.storage.save(current);
    whileGranting(() => otherContext(resolved).save(tokens('rt-theirs')));
    const outcome = await refreshOnce(ctx, current);
    expect(outcome).toMatchObject({ kind: 'refreshed', source: 'otherContext', tokens: { refreshToken: 'rt-theirs' } });
    expect(await stored(ctx.storage)).toMatchObject({ refreshToken: 'rt-theirs' });
    expect(ctx.storage.isRetired(current)).toBe(true);
    expect(revocations).toHaveLength(0);
    expect(log.messages('warn')).toEqual(['the store changed during the refresh; keeping what it holds']);
  });

  it('a sign-out elsewhere: the tokens just issued are revoked and not saved', async () => {
    const resolved = options();
    const ctx = context(resolved);
    const current = tokens('rt-1');
    await ctx.storage.save(current);
    whileGranting(() => otherContext(resolved).clear());
    expect(await refreshOnce(ctx, current)).toEqual({ kind: 'signedOutElsewhere' });
    expect(await stored(ctx.storage)).toBe('empty');
    expect(revocations.map((request) => form(request))).toEqual([
      { token: 'rt-2', token_type_hint: 'refresh_token', client_id: 'app' },
    ]);
  });

  it('an unusable set saved by another context: neither is kept, the refresh is retried', async () => {
    const resolved = options();
    const ctx = context(resolved);
    const current = tokens('rt-1');
    await ctx.storage.save(current);
    whileGranting(() => otherContext(resolved).save(tokens('rt-theirs', { accessTokenExpiresAt: NOW - 1 })));
    const error = await rejection(refreshOnce(ctx, current));
    expect(error).toBeInstanceOf(TransientRefreshError);
    expect((error as Error).message).toBe('The stored session changed during the refresh');
    expect(await stored(ctx.storage)).toMatchObject({ refreshToken: 'rt-theirs' });
  });

  it('a store that cannot be read after the grant: the answer is saved', async () => {
    const inner = new MemoryTokenStore();
    let loads = 0;
    const flaky: TokenStore = {
      load: () => {
        if (++loads > 1) throw new Error('keychain locked');
        return inner.load();
      },
      save: (session) => inner.save(session),
      clear: () => inner.clear(),
    };
    const resolved = options({ store: flaky });
    const ctx = context(resolved);
    const current = tokens('rt-1');
    await ctx.storage.save(current);
    const outcome = await refreshOnce(ctx, current);
    expect(outcome).toMatchObject({ kind: 'refreshed', source: 'refresh' });
    expect(inner.load()).toMatchObject({ refreshToken: 'rt-2' });
  });

  it('a store that never held this session is not consulted after the grant', async () => {
    const resolved = options();
    const ctx = context(resolved);
    whileGranting(() => otherContext(resolved).save(tokens('rt-theirs')));
    const outcome = await refreshOnce(ctx, tokens('rt-1'));
    expect(outcome).toMatchObject({ kind: 'refreshed', source: 'refresh', tokens: { refreshToken: 'rt-2' } });
    expect(await stored(ctx.storage)).toMatchObject({ refreshToken: 'rt-2' });
  });

  it('the same set still stored: the answer is saved', async () => {
    const resolved = options();
    const ctx = context(resolved);
    const current = tokens('rt-1');
    await ctx.storage.save(current);
    const outcome = await refreshOnce(ctx, current);
    expect(outcome).toMatchObject({ kind: 'refreshed', source: 'refresh' });
    expect(await stored(ctx.storage)).toMatchObject({ refreshToken: 'rt-2' });
    expect(log.messages('warn')).toEqual([]);
  });
});

describe('refreshOnce: the session ending during the grant', () => {
  it('a sign-out aborts the grant in flight: nothing is saved', async () => {
    answer(() => new Promise<Response>(() => {}));
    const ctx = context();
    const pending = rejection(refreshOnce(ctx, tokens('rt-1')));
    await clock.advance(10);
    const reason = new Error('signed out');
    controller.abort(reason);
    expect(await pending).toBe(reason);
    expect(await stored(ctx.storage)).toBe('empty');
  });

  it('a dispose lets the grant in flight land and saves it (the server may have rotated)', async () => {
    const resolved = options();
    const ctx = context(resolved);
    whileGranting(() => controller.abort(DISPOSED));
    const outcome = await refreshOnce(ctx, tokens('rt-1'));
    expect(outcome).toMatchObject({ kind: 'refreshed', source: 'refresh', tokens: { refreshToken: 'rt-2' } });
    expect(await stored(ctx.storage)).toMatchObject({ refreshToken: 'rt-2' });
    expect(revocations).toHaveLength(0);
  });

  /** A store whose read after the grant comes as the session ends with `reason`. */
  function endingStore(reason: unknown): TokenStore {
    const inner = new MemoryTokenStore();
    let loads = 0;
    return {
      load: () => {
        if (++loads === 2) controller.abort(reason);
        return inner.load();
      },
      save: (session) => inner.save(session),
      clear: () => inner.clear(),
    };
  }

  it('a session that ended once the answer arrived: the new refresh token is revoked, nothing saved', async () => {
    const resolved = options({ store: endingStore(new Error('signed out')) });
    const ctx = context(resolved);
    const current = tokens('rt-1');
    await ctx.storage.save(current);
    expect(await refreshOnce(ctx, current)).toEqual({ kind: 'signedOutElsewhere' });
    expect(await stored(ctx.storage)).toMatchObject({ refreshToken: 'rt-1' });
    expect(revocations.map((request) => form(request).token)).toEqual(['rt-2']);
  });

  it('a dispose once the answer arrived: saved, not revoked', async () => {
    const resolved = options({ store: endingStore(DISPOSED) });
    const ctx = context(resolved);
    const current = tokens('rt-1');
    await ctx.storage.save(current);
    expect(await refreshOnce(ctx, current)).toMatchObject({ kind: 'refreshed', source: 'refresh' });
    expect(await stored(ctx.storage)).toMatchObject({ refreshToken: 'rt-2' });
    expect(revocations).toHaveLength(0);
  });
});
