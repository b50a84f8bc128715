/**
 * The refresh loop (`refreshUntilSettled`): it settles with the first outcome that is not a
 * failure, and retries failures after a backoff with jitter from the injected `random`,
 * logged, from the tokens current at each attempt.
 */
import { HttpResponse } from 'msw';
import { describe, expect, it } from 'vitest';
import { refreshUntilSettled } from '../../src/refresh/refresher.ts';
import {
  MINUTE,
  clock,
  log,
  grants,
  answer,
  access,
  rotated,
  unavailable,
  options,
  tokens,
  context,
  presented,
  useLoopHooks,
  useTokenEndpoint,
} from './token-endpoint.ts';

useTokenEndpoint();

describe('refreshUntilSettled', () => {
  const loop = useLoopHooks();

  it('settles with the first outcome that is not a failure', async () => {
    await expect(refreshUntilSettled(context(), loop.hooks)).resolves.toMatchObject({
      kind: 'refreshed',
      source: 'refresh',
    });
    expect(loop.failures).toEqual([]);
  });

  it('settles undefined, without a grant, when there is nothing to refresh', async () => {
    loop.current = null;
    await expect(refreshUntilSettled(context(), loop.hooks)).resolves.toBeUndefined();
    expect(grants).toHaveLength(0);
  });

  it('settles with a re-authentication when the refresh token is dead', async () => {
    answer(() => HttpResponse.json({ error: 'invalid_grant' }, { status: 400 }));
    await expect(refreshUntilSettled(context(), loop.hooks)).resolves.toEqual({
      kind: 'reauth',
      reason: 'refreshRejected',
    });
  });

  it('retries a transient failure after the backoff with jitter from the injected random, and logs it', async () => {
    answer(
      () => unavailable(),
      () => unavailable(),
      () => rotated(),
    );
    const settled = refreshUntilSettled(context(options({ random: () => 0.5 })), loop.hooks);
    await clock.advance(749);
    expect(grants).toHaveLength(1);
    expect(loop.failures).toEqual([['TransientRefreshError', 1, 750]]);
    await clock.advance(1);
    expect(grants).toHaveLength(2);
    await clock.advance(1500);
    await expect(settled).resolves.toMatchObject({ kind: 'refreshed' });
    expect(loop.failures).toEqual([
      ['TransientRefreshError', 1, 750],
      ['TransientRefreshError', 2, 1500],
    ]);
    expect(log.lines.filter(([level]) => level !== 'debug')).toEqual([
      [
        'info',
        'refresh failed; will retry',
        { attempt: 1, retryInMs: 750, error: 'TransientRefreshError: Token endpoint answered HTTP 503' },
      ],
      [
        'info',
        'refresh failed; will retry',
        { attempt: 2, retryInMs: 1500, error: 'TransientRefreshError: Token endpoint answered HTTP 503' },
      ],
    ]);
  });

  it('retries a failure that is not transient too, logged as unexpected', async () => {
    let calls = 0;
    const refreshTokens = async () => {
      if (++calls === 1) throw new Error('bug in the backend adapter');
      return { access_token: access('custom'), expires_in: 600, refresh_token: 'rt-custom' };
    };
    const settled = refreshUntilSettled(context(options({ refreshTokens })), loop.hooks);
    await clock.advance(500);
    await expect(settled).resolves.toMatchObject({ kind: 'refreshed', tokens: { refreshToken: 'rt-custom' } });
    expect(loop.failures).toEqual([['Error', 1, 500]]);
    expect(log.lines.slice(0, 2)).toEqual([
      ['error', 'unexpected refresh failure; retrying', { error: 'Error: bug in the backend adapter' }],
      [
        'info',
        'refresh failed; will retry',
        { attempt: 1, retryInMs: 500, error: 'Error: bug in the backend adapter' },
      ],
    ]);
  });

  it('refreshes from the tokens current at each attempt', async () => {
    answer(
      () => unavailable(),
      () => rotated(),
    );
    const settled = refreshUntilSettled(context(), loop.hooks);
    await clock.advance(10);
    loop.current = tokens('rt-1b');
    await clock.advance(MINUTE);
    await settled;
    expect(presented()).toEqual(['rt-1', 'rt-1b']);
  });
});
