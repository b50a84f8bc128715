/**
 * One refresh (`refreshOnce`) when the refresh token cannot be used: rejected by the server
 * (marked dead in the store for the other contexts), absent, past the session's end, or found
 * dead by another context (wait for its re-authentication, or re-authenticate here).
 */
import { HttpResponse } from 'msw';
import { describe, expect, it } from 'vitest';
import { refreshOnce } from '../../src/refresh/refresher.ts';
import { REAUTH_HANDOFF_MS } from '../../src/session/decisions.ts';
import type { SessionTokens } from '../../src/types.ts';
import { NOW } from './builders.ts';
import {
  MINUTE,
  clock,
  grants,
  answer,
  whileGranting,
  options,
  tokens,
  context,
  otherContext,
  stored,
  useTokenEndpoint,
} from './token-endpoint.ts';

useTokenEndpoint();

describe('refreshOnce: when the refresh token cannot be used', () => {
  it('a refresh token the server rejects: re-authenticate, and mark it dead in the store for the other contexts', async () => {
    answer(() => HttpResponse.json({ error: 'invalid_grant' }, { status: 400 }));
    await clock.advance(1234);
    const ctx = context();
    const outcome = await refreshOnce(ctx, tokens('rt-1'));
    expect(outcome).toEqual({ kind: 'reauth', reason: 'refreshRejected' });
    const saved = await stored(ctx.storage);
    expect(saved).toMatchObject({ refreshToken: 'rt-1' });
    expect((saved as SessionTokens).refreshRejectedAt).toBe(NOW + 1234);
  });

  it('no refresh token: re-authenticate without asking the server', async () => {
    const outcome = await refreshOnce(context(), tokens(undefined));
    expect(outcome).toEqual({ kind: 'reauth', reason: 'noRefreshToken' });
    expect(grants).toHaveLength(0);
  });

  it('the session past its end: re-authenticate without asking the server', async () => {
    const outcome = await refreshOnce(context(), tokens('rt-1', { sessionExpiresAt: NOW }));
    expect(outcome).toEqual({ kind: 'reauth', reason: 'sessionEnded' });
    expect(grants).toHaveLength(0);
  });

  it('another context found it dead moments ago: wait for its re-authentication', async () => {
    const resolved = options();
    const current = tokens('rt-1');
    await otherContext(resolved).save({ ...current, refreshRejectedAt: NOW });
    await clock.advance(MINUTE);
    const ctx = context(resolved);
    ctx.storage.followed();
    expect(await refreshOnce(ctx, current)).toEqual({ kind: 'reauthElsewhere' });
    expect(grants).toHaveLength(0);
  });

  it('another context found it dead long ago: re-authenticate here', async () => {
    const resolved = options();
    const current = tokens('rt-1');
    await otherContext(resolved).save({ ...current, refreshRejectedAt: NOW });
    await clock.advance(REAUTH_HANDOFF_MS);
    const ctx = context(resolved);
    ctx.storage.followed();
    expect(await refreshOnce(ctx, current)).toEqual({ kind: 'reauth', reason: 'refreshRejected' });
  });

  it('rejected, but another context saved a usable rotation meanwhile: that one is adopted, nothing marked dead', async () => {
    answer(() => HttpResponse.json({ error: 'invalid_grant' }, { status: 400 }));
    const resolved = options();
    const ctx = context(resolved);
    const current = tokens('rt-1');
    await ctx.storage.save(current);
    const theirs = tokens('rt-theirs');
    whileGranting(() => otherContext(resolved).save(theirs));
    const outcome = await refreshOnce(ctx, current);
    expect(outcome).toMatchObject({ kind: 'refreshed', source: 'otherContext', tokens: { refreshToken: 'rt-theirs' } });
    expect(await stored(ctx.storage)).toMatchObject({ refreshToken: 'rt-theirs', refreshRejectedAt: undefined });
  });

  it('rejected, and another context signed out meanwhile: signed out, nothing saved', async () => {
    answer(() => HttpResponse.json({ error: 'invalid_grant' }, { status: 400 }));
    const resolved = options();
    const ctx = context(resolved);
    const current = tokens('rt-1');
    await ctx.storage.save(current);
    whileGranting(() => otherContext(resolved).clear());
    expect(await refreshOnce(ctx, current)).toEqual({ kind: 'signedOutElsewhere' });
    expect(await stored(ctx.storage)).toBe('empty');
  });
});
