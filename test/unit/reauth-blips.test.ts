/**
 * Blips of the device-key exchange are transient, never a reason to prompt: a 503 whose body
 * says invalid_grant, no network, no answer within refreshTimeout, or an unusable answer
 * (flagged, for the caller to count).
 */
import { HttpResponse } from 'msw';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { InvalidTokenResponseError, TransientRefreshError } from '../../src/errors.ts';
import type { ReauthResult } from '../../src/refresh/reauth.ts';
import {
  clock,
  answer,
  options,
  GRANTED,
  granted,
  biometric,
  reauthAlice,
  useTokenEndpoint,
} from './token-endpoint.ts';

useTokenEndpoint();
beforeEach(() => answer(granted));

describe('reauthenticate: a blip of the device-key exchange', () => {
  it('a 503 whose body says invalid_grant is a blip, not a dead assertion: no prompt', async () => {
    answer(() => HttpResponse.json({ error: 'invalid_grant' }, { status: 503 }));
    const signInPrompt = vi.fn(async () => GRANTED);
    const result = await reauthAlice(options({ biometric: biometric(), signInPrompt }));
    expect(result.kind).toBe('transient');
    const { error } = result as Extract<ReauthResult, { kind: 'transient' }>;
    expect(error).toBeInstanceOf(TransientRefreshError);
    expect((error as TransientRefreshError).status).toBe(503);
    expect(result).not.toHaveProperty('unusable');
    expect(signInPrompt).not.toHaveBeenCalled();
  });

  it('no network is a blip: no prompt', async () => {
    answer(() => HttpResponse.error());
    const signInPrompt = vi.fn(async () => GRANTED);
    const result = await reauthAlice(options({ biometric: biometric(), signInPrompt }));
    expect(result).toMatchObject({ kind: 'transient', error: expect.any(TransientRefreshError) });
    expect(signInPrompt).not.toHaveBeenCalled();
  });

  it('an exchange without an answer is abandoned at refreshTimeout, as a blip', async () => {
    answer(() => new Promise<Response>(() => {}));
    const pending = reauthAlice(options({ biometric: biometric() }));
    await clock.advance(5000);
    const result = await pending;
    expect(result.kind).toBe('transient');
    expect((result as Extract<ReauthResult, { kind: 'transient' }>).error.message).toBe('No answer within 5000 ms');
  });

  it('an unusable token response is transient and flagged unusable (the user did pass Face ID)', async () => {
    answer(() => HttpResponse.json({ token_type: 'Bearer', expires_in: 3600 }));
    const signInPrompt = vi.fn(async () => GRANTED);
    const result = await reauthAlice(options({ biometric: biometric(), signInPrompt }));
    expect(result).toMatchObject({ kind: 'transient', unusable: true, error: expect.any(InvalidTokenResponseError) });
    expect(signInPrompt).not.toHaveBeenCalled();
  });
});
