/**
 * Re-authentication retried (`reauthenticateUntilSettled`): blips of the device-key exchange
 * wait with backoff and jitter, a two-digit Retry-After is honoured and not cut short by the
 * network, unusable answers fall through to the prompt after two, and the session ending
 * settles the chain.
 */
import { HttpResponse } from 'msw';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import type { ResolvedOptions } from '../../src/options.ts';
import { reauthenticateUntilSettled } from '../../src/refresh/reauth.ts';
import {
  MINUTE,
  clock,
  network,
  log,
  grants,
  answer,
  unavailable,
  options,
  GRANTED,
  granted,
  biometric,
  signal,
  useTokenEndpoint,
} from './token-endpoint.ts';

useTokenEndpoint();
beforeEach(() => answer(granted));

describe('reauthenticateUntilSettled', () => {
  type Failure = [string, number, number];
  let failures: Failure[];
  const failed = (error: Error, attempt: number, retryInMs: number) =>
    void failures.push([error.name, attempt, retryInMs]);
  /** The chain after alice's refresh token was rejected, its failures recorded. */
  const retryAlice = (resolved: ResolvedOptions, sessionSignal = signal()) =>
    reauthenticateUntilSettled(resolved, 'refreshRejected', 'alice', failed, sessionSignal);

  beforeEach(() => {
    failures = [];
  });

  it('retries a blip of the exchange after the backoff, keeping the session, then settles', async () => {
    answer(unavailable, granted);
    const provider = biometric();
    const signInPrompt = vi.fn(async () => GRANTED);
    const chain = retryAlice(options({ biometric: provider, signInPrompt }));
    await clock.advance(0);
    expect(failures).toEqual([['TransientRefreshError', 1, 500]]);
    await clock.advance(499);
    expect(grants).toHaveLength(1);
    await clock.advance(1);
    await expect(chain).resolves.toMatchObject({ kind: 'done', method: 'biometric' });
    expect(grants).toHaveLength(2);
    expect(signInPrompt).not.toHaveBeenCalled();
  });

  it('draws the jitter from the injected random', async () => {
    answer(unavailable, unavailable, granted);
    const chain = retryAlice(options({ biometric: biometric(), random: () => 0.5 }));
    await clock.advance(MINUTE);
    await expect(chain).resolves.toMatchObject({ kind: 'done' });
    expect(failures).toEqual([
      ['TransientRefreshError', 1, 750],
      ['TransientRefreshError', 2, 1500],
    ]);
  });

  it('honours a two-digit Retry-After of the exchange', async () => {
    answer(() => unavailable({ 'retry-after': '30' }), granted);
    const chain = retryAlice(options({ biometric: biometric() }));
    await clock.advance(29_999);
    expect(failures).toEqual([['TransientRefreshError', 1, 30_000]]);
    expect(grants).toHaveLength(1);
    await clock.advance(1);
    await expect(chain).resolves.toMatchObject({ kind: 'done', method: 'biometric' });
  });

  it('tries again at once when the network comes back', async () => {
    answer(unavailable, granted);
    const chain = retryAlice(options({ biometric: biometric(), backoff: { initialDelay: MINUTE } }));
    await clock.advance(10);
    expect(grants).toHaveLength(1);
    network.goOnline();
    await clock.advance(0);
    await expect(chain).resolves.toMatchObject({ kind: 'done', method: 'biometric' });
  });

  it('holds a Retry-After of the exchange even when the network comes back', async () => {
    answer(() => unavailable({ 'retry-after': '45' }), granted);
    const chain = retryAlice(options({ biometric: biometric() }));
    await clock.advance(10);
    network.goOnline();
    await clock.advance(45_000 - 11);
    expect(grants).toHaveLength(1);
    await clock.advance(1);
    await expect(chain).resolves.toMatchObject({ kind: 'done', method: 'biometric' });
    expect(grants).toHaveLength(2);
  });

  it('keeps retrying blips with Face ID, never falling through to the prompt', async () => {
    answer(unavailable, unavailable, unavailable, granted);
    const provider = biometric();
    const signInPrompt = vi.fn(async () => GRANTED);
    const chain = retryAlice(options({ biometric: provider, signInPrompt }));
    await clock.advance(MINUTE);
    await expect(chain).resolves.toMatchObject({ kind: 'done', method: 'biometric' });
    expect(provider.getAssertion).toHaveBeenCalledTimes(4);
    expect(signInPrompt).not.toHaveBeenCalled();
  });

  it('falls through to the prompt after two unusable answers to the exchange', async () => {
    answer(() => HttpResponse.json({ token_type: 'Bearer' }));
    const provider = biometric();
    const signInPrompt = vi.fn(async () => GRANTED);
    const chain = retryAlice(options({ biometric: provider, signInPrompt }));
    await clock.advance(MINUTE);
    await expect(chain).resolves.toMatchObject({ kind: 'done', method: 'signInPrompt' });
    expect(provider.getAssertion).toHaveBeenCalledTimes(2);
    expect(failures).toEqual([['InvalidTokenResponseError', 1, 500]]);
    expect(log.lines).toContainEqual([
      'warn',
      'device-key answers unusable; falling through to the sign-in prompt',
      { error: 'InvalidTokenResponseError: Token response: no "access_token"' },
    ]);
  });

  it('without a prompt, keeps retrying unusable answers with Face ID instead of signing out', async () => {
    answer(
      () => HttpResponse.json({ token_type: 'Bearer' }),
      () => HttpResponse.json({ token_type: 'Bearer' }),
      () => HttpResponse.json({ token_type: 'Bearer' }),
      granted,
    );
    const provider = biometric();
    const chain = retryAlice(options({ biometric: provider }));
    await clock.advance(MINUTE);
    await expect(chain).resolves.toMatchObject({ kind: 'done', method: 'biometric' });
    expect(provider.getAssertion).toHaveBeenCalledTimes(4);
    expect(failures.map(([, attempt]) => attempt)).toEqual([1, 2, 3]);
  });

  it('settles failed when every step fails', async () => {
    const chain = retryAlice(options({ biometric: biometric(null), signInPrompt: async () => null }));
    await expect(chain).resolves.toEqual({ kind: 'failed' });
    expect(failures).toEqual([]);
  });

  it('settles failed when the session ends during a backoff', async () => {
    answer(unavailable);
    const controller = new AbortController();
    const chain = retryAlice(options({ biometric: biometric() }), controller.signal);
    await clock.advance(100);
    controller.abort(new Error('signed out'));
    await expect(chain).resolves.toEqual({ kind: 'failed' });
    expect(grants).toHaveLength(1);
  });
});
