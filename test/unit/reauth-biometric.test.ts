/**
 * The biometric step of re-authentication: the device-key assertion exchanged with the
 * JWT-bearer grant (RFC 7523). A cancel, a rejected assertion or a failing provider falls
 * through to the sign-in prompt; an assertion that comes after the session ended is dropped.
 */
import { HttpResponse } from 'msw';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { JWT_BEARER_GRANT, reauthenticate, type ReauthResult } from '../../src/refresh/reauth.ts';
import { NOW } from './builders.ts';
import {
  TOKEN_URL,
  log,
  grants,
  answer,
  options,
  form,
  ACCESS,
  GRANTED,
  granted,
  biometric,
  signal,
  reauthAlice,
  useTokenEndpoint,
} from './token-endpoint.ts';

useTokenEndpoint();
beforeEach(() => answer(granted));

describe('reauthenticate: the biometric step', () => {
  it('exchanges the device-key assertion for tokens with the JWT-bearer grant', async () => {
    const provider = biometric();
    const signInPrompt = vi.fn(async () => GRANTED);
    const result = await reauthAlice(options({ biometric: provider, signInPrompt }));
    expect(result).toMatchObject({ kind: 'done', method: 'biometric' });
    expect((result as Extract<ReauthResult, { kind: 'done' }>).tokens).toMatchObject({
      accessToken: ACCESS,
      refreshToken: 'rt-2',
      tokenType: 'Bearer',
      accessTokenExpiresAt: NOW + 3600_000,
      receivedAt: NOW,
      sessionStartedAt: NOW,
      subject: 'alice',
    });
    expect(grants).toHaveLength(1);
    expect(form(grants[0]!)).toEqual({
      grant_type: 'urn:ietf:params:oauth:grant-type:jwt-bearer',
      assertion: 'device-assertion',
      client_id: 'app',
    });
    expect(signInPrompt).not.toHaveBeenCalled();
  });

  it('names the RFC 7523 grant type', () => {
    expect(JWT_BEARER_GRANT).toBe('urn:ietf:params:oauth:grant-type:jwt-bearer');
  });

  it('asks for an assertion for the token endpoint, the client, the user and the reason, with the signal', async () => {
    const provider = biometric();
    const controller = new AbortController();
    await reauthenticate(options({ biometric: provider }), 'sessionEnded', 'alice', controller.signal);
    expect(provider.getAssertion).toHaveBeenCalledTimes(1);
    expect(provider.getAssertion).toHaveBeenCalledWith({
      audience: TOKEN_URL,
      clientId: 'app',
      subject: 'alice',
      reason: 'sessionEnded',
      signal: controller.signal,
    });
  });

  it('is skipped when the device has no biometrics: straight to the prompt', async () => {
    const provider = biometric();
    provider.isAvailable.mockResolvedValue(false);
    const signInPrompt = vi.fn(async () => GRANTED);
    const result = await reauthAlice(options({ biometric: provider, signInPrompt }));
    expect(result).toMatchObject({ kind: 'done', method: 'signInPrompt' });
    expect(provider.getAssertion).not.toHaveBeenCalled();
    expect(grants).toHaveLength(0);
    expect(log.lines).toEqual([]);
  });

  it('is skipped when the steps leave it out, even when the options have a provider', async () => {
    const provider = biometric();
    const signInPrompt = vi.fn(async () => GRANTED);
    const resolved = options({ biometric: provider, signInPrompt });
    const result = await reauthenticate(resolved, 'refreshRejected', 'alice', signal(), { biometric: undefined });
    expect(result).toMatchObject({ kind: 'done', method: 'signInPrompt' });
    expect(provider.isAvailable).not.toHaveBeenCalled();
  });

  it('a cancelled prompt (no assertion) falls through to the sign-in prompt', async () => {
    const signInPrompt = vi.fn(async () => GRANTED);
    const result = await reauthAlice(options({ biometric: biometric(null), signInPrompt }));
    expect(result).toMatchObject({ kind: 'done', method: 'signInPrompt' });
    expect(grants).toHaveLength(0);
    expect(log.lines).toEqual([['info', 'biometric cancelled', undefined]]);
  });

  it('a provider that throws falls through to the sign-in prompt, logged', async () => {
    const provider = biometric();
    provider.getAssertion.mockRejectedValue(new Error('Secure Enclave unavailable'));
    const signInPrompt = vi.fn(async () => GRANTED);
    const result = await reauthAlice(options({ biometric: provider, signInPrompt }));
    expect(result).toMatchObject({ kind: 'done', method: 'signInPrompt' });
    expect(log.lines).toEqual([['warn', 'biometric failed', { error: 'Error: Secure Enclave unavailable' }]]);
  });

  it('a provider whose isAvailable throws falls through to the sign-in prompt', async () => {
    const provider = biometric();
    provider.isAvailable.mockRejectedValue(new Error('no LAContext'));
    const signInPrompt = vi.fn(async () => GRANTED);
    const result = await reauthAlice(options({ biometric: provider, signInPrompt }));
    expect(result).toMatchObject({ kind: 'done', method: 'signInPrompt' });
    expect(log.messages('warn')).toEqual(['biometric failed']);
  });

  it('a rejected assertion (invalid_grant) falls through to the sign-in prompt', async () => {
    answer(() => HttpResponse.json({ error: 'invalid_grant' }, { status: 400 }));
    const signInPrompt = vi.fn(async () => GRANTED);
    const result = await reauthAlice(options({ biometric: biometric(), signInPrompt }));
    expect(result).toMatchObject({ kind: 'done', method: 'signInPrompt' });
    expect(signInPrompt).toHaveBeenCalledTimes(1);
    expect(log.lines).toEqual([
      ['warn', 'biometric failed', { error: 'RefreshRejectedError: Grant rejected: invalid_grant (HTTP 400)' }],
    ]);
  });

  it('an assertion that arrives after the session ended is not exchanged, and nothing else is tried', async () => {
    const controller = new AbortController();
    const provider = biometric();
    provider.getAssertion.mockImplementation(async () => {
      controller.abort(new Error('signed out'));
      return 'device-assertion';
    });
    const signInPrompt = vi.fn(async () => GRANTED);
    const result = await reauthAlice(options({ biometric: provider, signInPrompt }), controller.signal);
    expect(result).toEqual({ kind: 'failed' });
    expect(grants).toHaveLength(0);
    expect(signInPrompt).not.toHaveBeenCalled();
  });

  it('without a provider, nothing about biometrics is tried or logged', async () => {
    const result = await reauthAlice(options());
    expect(result).toEqual({ kind: 'failed' });
    expect(log.lines).toEqual([]);
  });
});
