/**
 * One refresh (`refreshOnce`): the refresh_token grant, what is saved and retired, the grant's
 * deadline, and the answers that are transient (a 503 saying invalid_grant among them).
 */
import { getEventListeners } from 'node:events';
import { HttpResponse } from 'msw';
import { describe, expect, it, vi } from 'vitest';
import { InvalidTokenResponseError, TransientRefreshError } from '../../src/errors.ts';
import type { LockPort } from '../../src/ports/lock.ts';
import { DISPOSED, refreshOnce } from '../../src/refresh/refresher.ts';
import { NOW } from './builders.ts';
import {
  clock,
  log,
  grants,
  answer,
  access,
  rotated,
  unavailable,
  options,
  withDpop,
  tokens,
  context,
  form,
  stored,
  rejection,
  useTokenEndpoint,
} from './token-endpoint.ts';

useTokenEndpoint();

describe('DISPOSED', () => {
  it('is the abort reason of a disposed manager, and says so', () => {
    expect(DISPOSED).toBeInstanceOf(Error);
    expect(DISPOSED.message).toBe('Session manager disposed');
  });
});

describe('refreshOnce: the grant', () => {
  it('sends the refresh_token grant, saves the rotated tokens and retires the spent refresh token', async () => {
    const ctx = context();
    const current = tokens('rt-1');
    const outcome = await refreshOnce(ctx, current);
    expect(form(grants[0]!)).toEqual({ grant_type: 'refresh_token', refresh_token: 'rt-1', client_id: 'app' });
    expect(outcome).toMatchObject({ kind: 'refreshed', source: 'refresh', tokens: { refreshToken: 'rt-2' } });
    expect(await stored(ctx.storage)).toMatchObject({ refreshToken: 'rt-2', accessToken: access('rt-2') });
    expect(ctx.storage.isRetired(current)).toBe(true);
    expect(ctx.storage.holdsOurs).toBe(true);
    // The expiry is readable in the log line (a field named after the token would be redacted).
    expect(log.lines).toEqual([['debug', 'refreshed', { expiresAt: NOW + 3600_000 }]]);
  });

  it('keeps the refresh token, unretired, when the server does not rotate it', async () => {
    answer(() => HttpResponse.json({ access_token: access('same'), expires_in: 600 }));
    const ctx = context();
    const current = tokens('rt-1');
    const outcome = await refreshOnce(ctx, current);
    expect(outcome).toMatchObject({ kind: 'refreshed', tokens: { refreshToken: 'rt-1', accessToken: access('same') } });
    expect(ctx.storage.isRetired(current)).toBe(false);
  });

  it('keeps what the new answer leaves out from the set it refreshed', async () => {
    answer(() => HttpResponse.json({ access_token: access('new'), expires_in: 600, refresh_token: 'rt-2' }));
    await clock.advance(1000);
    const outcome = await refreshOnce(context(), tokens('rt-1', { sessionStartedAt: NOW - 5000, scope: 'read' }));
    expect(outcome).toMatchObject({
      tokens: { sessionStartedAt: NOW - 5000, scope: 'read', receivedAt: NOW + 1000 },
    });
  });

  it('runs under the lock named lockName', async () => {
    const names: string[] = [];
    const lock: LockPort = {
      run: (name, task) => {
        names.push(name);
        return task();
      },
    };
    await refreshOnce(context(options({ lock })), tokens('rt-1'));
    expect(names).toEqual(['the-session']);
  });

  it('uses the refreshTokens option instead of the standard grant, with the deadline signal', async () => {
    const signals: AbortSignal[] = [];
    const refreshTokens = vi.fn(async (_token: string, signal: AbortSignal) => {
      signals.push(signal);
      return { access_token: access('custom'), expires_in: 600, refresh_token: 'rt-custom' };
    });
    const outcome = await refreshOnce(context(options({ refreshTokens })), tokens('rt-1'));
    expect(refreshTokens).toHaveBeenCalledWith('rt-1', expect.any(AbortSignal));
    expect(outcome).toMatchObject({ kind: 'refreshed', tokens: { refreshToken: 'rt-custom' } });
    expect(grants).toHaveLength(0);
    expect(signals[0]!.aborted).toBe(false);
  });

  it('abandons a grant without an answer at refreshTimeout, as transient', async () => {
    answer(() => new Promise<Response>(() => {}));
    const ctx = context();
    const pending = rejection(refreshOnce(ctx, tokens('rt-1')));
    await clock.advance(4999);
    expect(grants).toHaveLength(1);
    await clock.advance(1);
    const error = await pending;
    expect(error).toBeInstanceOf(TransientRefreshError);
    expect((error as Error).message).toBe('No answer within 5000 ms');
    expect(await stored(ctx.storage)).toBe('empty');
  });

  it('passes on a 503 whose body says invalid_grant as transient: the refresh token is not taken for dead', async () => {
    answer(() => unavailable({}, { error: 'invalid_grant' }));
    const ctx = context();
    const error = await rejection(refreshOnce(ctx, tokens('rt-1')));
    expect(error).toBeInstanceOf(TransientRefreshError);
    expect((error as TransientRefreshError).status).toBe(503);
    expect(await stored(ctx.storage)).toBe('empty');
  });

  it('passes on a two-digit Retry-After with the transient error', async () => {
    answer(() => unavailable({ 'retry-after': '30' }));
    const error = await rejection(refreshOnce(context(), tokens('rt-1')));
    expect((error as TransientRefreshError).retryAfterMs).toBe(30_000);
  });

  it('refuses a garbled answer as transient, saving nothing', async () => {
    answer(() => HttpResponse.json({ token_type: 'Bearer', expires_in: 600 }));
    const ctx = context();
    const error = await rejection(refreshOnce(ctx, tokens('rt-1')));
    expect(error).toBeInstanceOf(InvalidTokenResponseError);
    expect((error as InvalidTokenResponseError).transient).toBe(true);
    expect(await stored(ctx.storage)).toBe('empty');
  });

  it('with DPoP on, takes a DPoP-bound answer and refuses a Bearer one', async () => {
    const dpopOn = withDpop();
    answer(
      () => rotated('rt-2', { token_type: 'DPoP' }),
      () => rotated('rt-3'),
    );
    await expect(refreshOnce(context(dpopOn), tokens('rt-1'))).resolves.toMatchObject({
      tokens: { tokenType: 'DPoP' },
    });
    await expect(refreshOnce(context(dpopOn), tokens('rt-2'))).rejects.toBeInstanceOf(InvalidTokenResponseError);
  });

  it('without DPoP, refuses a DPoP-bound answer', async () => {
    answer(() => rotated('rt-2', { token_type: 'DPoP' }));
    await expect(refreshOnce(context(), tokens('rt-1'))).rejects.toBeInstanceOf(InvalidTokenResponseError);
  });

  it("leaves no listener on the session's signal", async () => {
    const ctx = context();
    await refreshOnce(ctx, tokens('rt-1'));
    answer(() => unavailable());
    await refreshOnce(ctx, tokens('rt-2')).catch(() => {});
    expect(getEventListeners(ctx.signal, 'abort')).toHaveLength(0);
  });
});
