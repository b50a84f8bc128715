/**
 * The sign-in prompt step of re-authentication (after biometrics): its answer becomes the
 * session, a dismissal or a failure ends the chain (the caller signs out); with DPoP on, only
 * DPoP-bound answers count, from either step.
 */
import { HttpResponse } from 'msw';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { reauthenticate } from '../../src/refresh/reauth.ts';
import type { TokenResponse } from '../../src/types.ts';
import { NOW } from './builders.ts';
import {
  clock,
  log,
  grants,
  answer,
  options,
  withDpop,
  ACCESS,
  GRANTED,
  granted,
  biometric,
  reauthAlice,
  useTokenEndpoint,
} from './token-endpoint.ts';

useTokenEndpoint();
beforeEach(() => answer(granted));

describe('reauthenticate: the sign-in prompt', () => {
  it('is called with the reason and the signal, and its answer becomes the tokens', async () => {
    const controller = new AbortController();
    const signInPrompt = vi.fn(async () => GRANTED);
    await clock.advance(1000);
    const result = await reauthenticate(options({ signInPrompt }), 'noRefreshToken', undefined, controller.signal);
    expect(signInPrompt).toHaveBeenCalledWith('noRefreshToken', { signal: controller.signal });
    expect(result).toMatchObject({
      kind: 'done',
      method: 'signInPrompt',
      tokens: { accessToken: ACCESS, refreshToken: 'rt-2', receivedAt: NOW + 1000, sessionStartedAt: NOW + 1000 },
    });
    expect(grants).toHaveLength(0);
  });

  it('dismissed, the chain fails (the caller signs out)', async () => {
    const result = await reauthAlice(options({ signInPrompt: async () => null }));
    expect(result).toEqual({ kind: 'failed' });
    expect(log.lines).toEqual([['info', 'sign-in prompt dismissed', undefined]]);
  });

  it('throwing, the chain fails, logged', async () => {
    const signInPrompt = async () => {
      throw new Error('dialog crashed');
    };
    const result = await reauthAlice(options({ signInPrompt }));
    expect(result).toEqual({ kind: 'failed' });
    expect(log.lines).toEqual([['warn', 'sign-in prompt failed', { error: 'Error: dialog crashed' }]]);
  });

  it('answering an invalid token response, the chain fails', async () => {
    const signInPrompt = async () => ({ token_type: 'Bearer' }) as unknown as TokenResponse;
    const result = await reauthAlice(options({ signInPrompt }));
    expect(result).toEqual({ kind: 'failed' });
    expect(log.lines).toEqual([
      ['warn', 'sign-in prompt failed', { error: 'InvalidTokenResponseError: Token response: no "access_token"' }],
    ]);
  });

  it('is not shown once the session ended', async () => {
    const signInPrompt = vi.fn(async () => GRANTED);
    const result = await reauthAlice(options({ signInPrompt }), AbortSignal.abort());
    expect(result).toEqual({ kind: 'failed' });
    expect(signInPrompt).not.toHaveBeenCalled();
  });
});

describe('reauthenticate with DPoP', () => {
  it('takes a DPoP-bound answer to the device-key exchange', async () => {
    answer(() => HttpResponse.json({ ...GRANTED, token_type: 'DPoP' }));
    const result = await reauthAlice(withDpop({ biometric: biometric() }));
    expect(result).toMatchObject({ kind: 'done', method: 'biometric', tokens: { tokenType: 'DPoP' } });
    expect(grants[0]!.headers.get('dpop')).toBe('dpop-proof');
  });

  it('refuses a Bearer answer to the device-key exchange as unusable', async () => {
    const result = await reauthAlice(withDpop({ biometric: biometric() }));
    expect(result).toMatchObject({ kind: 'transient', unusable: true });
  });

  it('takes a DPoP-bound answer from the sign-in prompt, and refuses a Bearer one', async () => {
    const dpopAnswer = await reauthAlice(withDpop({ signInPrompt: async () => ({ ...GRANTED, token_type: 'DPoP' }) }));
    expect(dpopAnswer).toMatchObject({ kind: 'done', tokens: { tokenType: 'DPoP' } });
    const bearerAnswer = await reauthAlice(withDpop({ signInPrompt: async () => GRANTED }));
    expect(bearerAnswer).toEqual({ kind: 'failed' });
  });

  it('without DPoP, a DPoP answer is refused from either step', async () => {
    answer(() => HttpResponse.json({ ...GRANTED, token_type: 'DPoP' }));
    const biometricAnswer = await reauthAlice(options({ biometric: biometric() }));
    expect(biometricAnswer).toMatchObject({ kind: 'transient', unusable: true });
    const promptAnswer = await reauthAlice(options({ signInPrompt: async () => ({ ...GRANTED, token_type: 'DPoP' }) }));
    expect(promptAnswer).toEqual({ kind: 'failed' });
  });
});
