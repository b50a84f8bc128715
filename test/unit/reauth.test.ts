/**
 * The re-authentication chain: biometric (the device-key exchange, RFC 7523) -> the app's
 * sign-in prompt -> failed (the caller signs out). A blip of the exchange is retried, never a
 * reason to prompt or sign out; an exchange that keeps answering unusable tokens falls through
 * to the prompt. msw plays the token endpoint; the clock is manual.
 */
import { http, HttpResponse } from 'msw';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { InvalidTokenResponseError, TransientRefreshError } from '../../src/errors.ts';
import { resolveOptions, type ResolvedOptions, type SessionManagerOptions } from '../../src/options.ts';
import type { BiometricProvider } from '../../src/ports/biometric.ts';
import type { DpopPort } from '../../src/dpop/types.ts';
import { inProcessLock } from '../../src/ports/lock.ts';
import {
  JWT_BEARER_GRANT,
  reauthenticate,
  reauthenticateUntilSettled,
  type ReauthResult,
} from '../../src/refresh/reauth.ts';
import { ManualClock, ManualNetwork } from '../../src/testing.ts';
import type { TokenResponse } from '../../src/types.ts';
import { NOW, recordingLogger, unsignedJwt } from './builders.ts';
import { seen, useMsw, type SeenRequest } from './msw.ts';

const TOKEN_URL = 'https://auth.test/oauth/token';
const MINUTE = 60_000;

const server = useMsw();
let clock: ManualClock;
let network: ManualNetwork;
let log: ReturnType<typeof recordingLogger>;
let requests: SeenRequest[];
/** What the token endpoint answers, in turn; the last one again once the list runs out. */
let answers: (() => Response | Promise<Response>)[];

const ACCESS = unsignedJwt({ sub: 'alice' });
const GRANTED: TokenResponse = { access_token: ACCESS, token_type: 'Bearer', expires_in: 3600, refresh_token: 'rt-2' };
const granted = () => HttpResponse.json(GRANTED);
const unavailable = (headers: Record<string, string> = {}) =>
  HttpResponse.json({ error: 'temporarily_unavailable' }, { status: 503, headers });

beforeEach(() => {
  clock = new ManualClock(NOW);
  network = new ManualNetwork();
  log = recordingLogger();
  requests = [];
  answers = [granted];
  server.use(
    http.post(TOKEN_URL, async ({ request }) => {
      requests.push(await seen(request));
      const answer = answers.length > 1 ? answers.shift()! : answers[0]!;
      return answer();
    }),
  );
});

function options(overrides: Partial<SessionManagerOptions> = {}): ResolvedOptions {
  return resolveOptions({
    tokenEndpoint: TOKEN_URL,
    clientId: 'app',
    clock,
    network,
    logger: log.logger,
    lock: inProcessLock(),
    broadcast: false,
    random: () => 0,
    refreshTimeout: 5000,
    ...overrides,
  });
}

/** A biometric provider that is available and passes the assertion `assertion` (null: the user cancels). */
function biometric(assertion: string | null = 'device-assertion'): BiometricProvider & {
  isAvailable: ReturnType<typeof vi.fn>;
  getAssertion: ReturnType<typeof vi.fn>;
} {
  return { isAvailable: vi.fn(async () => true), getAssertion: vi.fn(async () => assertion) };
}

const form = (request: SeenRequest) => Object.fromEntries(new URLSearchParams(request.body));
const signal = () => new AbortController().signal;

/** A DPoP port that signs nothing for real: the token endpoint here checks no proof. */
const fakeDpop: DpopPort = {
  proof: async () => 'dpop-proof',
  observe: () => {},
  isNonceChallenge: () => false,
  send: async () => new Response(),
  forgetKey: async () => {},
};
const withDpop = (overrides: Partial<SessionManagerOptions> = {}) =>
  options({ dpop: { bind: () => fakeDpop } as unknown as SessionManagerOptions['dpop'], ...overrides });

describe('reauthenticate: the biometric step', () => {
  it('exchanges the device-key assertion for tokens with the JWT-bearer grant', async () => {
    const provider = biometric();
    const signInPrompt = vi.fn(async () => GRANTED);
    const result = await reauthenticate(
      options({ biometric: provider, signInPrompt }),
      'refreshRejected',
      'alice',
      signal(),
    );
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
    expect(requests).toHaveLength(1);
    expect(form(requests[0]!)).toEqual({
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
    const result = await reauthenticate(
      options({ biometric: provider, signInPrompt }),
      'refreshRejected',
      'alice',
      signal(),
    );
    expect(result).toMatchObject({ kind: 'done', method: 'signInPrompt' });
    expect(provider.getAssertion).not.toHaveBeenCalled();
    expect(requests).toHaveLength(0);
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
    const result = await reauthenticate(
      options({ biometric: biometric(null), signInPrompt }),
      'refreshRejected',
      'alice',
      signal(),
    );
    expect(result).toMatchObject({ kind: 'done', method: 'signInPrompt' });
    expect(requests).toHaveLength(0);
    expect(log.lines).toEqual([['info', 'biometric cancelled', undefined]]);
  });

  it('a provider that throws falls through to the sign-in prompt, logged', async () => {
    const provider = biometric();
    provider.getAssertion.mockRejectedValue(new Error('Secure Enclave unavailable'));
    const signInPrompt = vi.fn(async () => GRANTED);
    const result = await reauthenticate(
      options({ biometric: provider, signInPrompt }),
      'refreshRejected',
      'alice',
      signal(),
    );
    expect(result).toMatchObject({ kind: 'done', method: 'signInPrompt' });
    expect(log.lines).toEqual([['warn', 'biometric failed', { error: 'Error: Secure Enclave unavailable' }]]);
  });

  it('a provider whose isAvailable throws falls through to the sign-in prompt', async () => {
    const provider = biometric();
    provider.isAvailable.mockRejectedValue(new Error('no LAContext'));
    const signInPrompt = vi.fn(async () => GRANTED);
    const result = await reauthenticate(
      options({ biometric: provider, signInPrompt }),
      'refreshRejected',
      'alice',
      signal(),
    );
    expect(result).toMatchObject({ kind: 'done', method: 'signInPrompt' });
    expect(log.messages('warn')).toEqual(['biometric failed']);
  });

  it('a rejected assertion (invalid_grant) falls through to the sign-in prompt', async () => {
    answers = [() => HttpResponse.json({ error: 'invalid_grant' }, { status: 400 })];
    const signInPrompt = vi.fn(async () => GRANTED);
    const result = await reauthenticate(
      options({ biometric: biometric(), signInPrompt }),
      'refreshRejected',
      'alice',
      signal(),
    );
    expect(result).toMatchObject({ kind: 'done', method: 'signInPrompt' });
    expect(signInPrompt).toHaveBeenCalledTimes(1);
    expect(log.lines).toEqual([
      ['warn', 'biometric failed', { error: 'RefreshRejectedError: Grant rejected: invalid_grant (HTTP 400)' }],
    ]);
  });

  it('a 503 whose body says invalid_grant is a blip, not a dead assertion: no prompt', async () => {
    answers = [() => HttpResponse.json({ error: 'invalid_grant' }, { status: 503 })];
    const signInPrompt = vi.fn(async () => GRANTED);
    const result = await reauthenticate(
      options({ biometric: biometric(), signInPrompt }),
      'refreshRejected',
      'alice',
      signal(),
    );
    expect(result.kind).toBe('transient');
    const { error } = result as Extract<ReauthResult, { kind: 'transient' }>;
    expect(error).toBeInstanceOf(TransientRefreshError);
    expect((error as TransientRefreshError).status).toBe(503);
    expect(result).not.toHaveProperty('unusable');
    expect(signInPrompt).not.toHaveBeenCalled();
  });

  it('no network is a blip: no prompt', async () => {
    answers = [() => HttpResponse.error()];
    const signInPrompt = vi.fn(async () => GRANTED);
    const result = await reauthenticate(
      options({ biometric: biometric(), signInPrompt }),
      'refreshRejected',
      'alice',
      signal(),
    );
    expect(result).toMatchObject({ kind: 'transient', error: expect.any(TransientRefreshError) });
    expect(signInPrompt).not.toHaveBeenCalled();
  });

  it('an exchange without an answer is abandoned at refreshTimeout, as a blip', async () => {
    answers = [() => new Promise<Response>(() => {})];
    const pending = reauthenticate(options({ biometric: biometric() }), 'refreshRejected', 'alice', signal());
    await clock.advance(5000);
    const result = await pending;
    expect(result.kind).toBe('transient');
    expect((result as Extract<ReauthResult, { kind: 'transient' }>).error.message).toBe('No answer within 5000 ms');
  });

  it('an unusable token response is transient and flagged unusable (the user did pass Face ID)', async () => {
    answers = [() => HttpResponse.json({ token_type: 'Bearer', expires_in: 3600 })];
    const signInPrompt = vi.fn(async () => GRANTED);
    const result = await reauthenticate(
      options({ biometric: biometric(), signInPrompt }),
      'refreshRejected',
      'alice',
      signal(),
    );
    expect(result).toMatchObject({ kind: 'transient', unusable: true, error: expect.any(InvalidTokenResponseError) });
    expect(signInPrompt).not.toHaveBeenCalled();
  });

  it('an assertion that arrives after the session ended is not exchanged, and nothing else is tried', async () => {
    const controller = new AbortController();
    const provider = biometric();
    provider.getAssertion.mockImplementation(async () => {
      controller.abort(new Error('signed out'));
      return 'device-assertion';
    });
    const signInPrompt = vi.fn(async () => GRANTED);
    const result = await reauthenticate(
      options({ biometric: provider, signInPrompt }),
      'refreshRejected',
      'alice',
      controller.signal,
    );
    expect(result).toEqual({ kind: 'failed' });
    expect(requests).toHaveLength(0);
    expect(signInPrompt).not.toHaveBeenCalled();
  });

  it('without a provider, nothing about biometrics is tried or logged', async () => {
    const result = await reauthenticate(options(), 'refreshRejected', 'alice', signal());
    expect(result).toEqual({ kind: 'failed' });
    expect(log.lines).toEqual([]);
  });
});

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
    expect(requests).toHaveLength(0);
  });

  it('dismissed, the chain fails (the caller signs out)', async () => {
    const result = await reauthenticate(
      options({ signInPrompt: async () => null }),
      'refreshRejected',
      'alice',
      signal(),
    );
    expect(result).toEqual({ kind: 'failed' });
    expect(log.lines).toEqual([['info', 'sign-in prompt dismissed', undefined]]);
  });

  it('throwing, the chain fails, logged', async () => {
    const signInPrompt = async () => {
      throw new Error('dialog crashed');
    };
    const result = await reauthenticate(options({ signInPrompt }), 'refreshRejected', 'alice', signal());
    expect(result).toEqual({ kind: 'failed' });
    expect(log.lines).toEqual([['warn', 'sign-in prompt failed', { error: 'Error: dialog crashed' }]]);
  });

  it('answering an invalid token response, the chain fails', async () => {
    const signInPrompt = async () => ({ token_type: 'Bearer' }) as unknown as TokenResponse;
    const result = await reauthenticate(options({ signInPrompt }), 'refreshRejected', 'alice', signal());
    expect(result).toEqual({ kind: 'failed' });
    expect(log.lines).toEqual([
      ['warn', 'sign-in prompt failed', { error: 'InvalidTokenResponseError: Token response: no "access_token"' }],
    ]);
  });

  it('is not shown once the session ended', async () => {
    const signInPrompt = vi.fn(async () => GRANTED);
    const result = await reauthenticate(options({ signInPrompt }), 'refreshRejected', 'alice', AbortSignal.abort());
    expect(result).toEqual({ kind: 'failed' });
    expect(signInPrompt).not.toHaveBeenCalled();
  });
});

describe('reauthenticate with DPoP', () => {
  it('takes a DPoP-bound answer to the device-key exchange', async () => {
    answers = [() => HttpResponse.json({ ...GRANTED, token_type: 'DPoP' })];
    const result = await reauthenticate(withDpop({ biometric: biometric() }), 'refreshRejected', 'alice', signal());
    expect(result).toMatchObject({ kind: 'done', method: 'biometric', tokens: { tokenType: 'DPoP' } });
    expect(requests[0]!.headers.get('dpop')).toBe('dpop-proof');
  });

  it('refuses a Bearer answer to the device-key exchange as unusable', async () => {
    const result = await reauthenticate(withDpop({ biometric: biometric() }), 'refreshRejected', 'alice', signal());
    expect(result).toMatchObject({ kind: 'transient', unusable: true });
  });

  it('takes a DPoP-bound answer from the sign-in prompt, and refuses a Bearer one', async () => {
    const dpopAnswer = await reauthenticate(
      withDpop({ signInPrompt: async () => ({ ...GRANTED, token_type: 'DPoP' }) }),
      'refreshRejected',
      'alice',
      signal(),
    );
    expect(dpopAnswer).toMatchObject({ kind: 'done', tokens: { tokenType: 'DPoP' } });
    const bearerAnswer = await reauthenticate(
      withDpop({ signInPrompt: async () => GRANTED }),
      'refreshRejected',
      'alice',
      signal(),
    );
    expect(bearerAnswer).toEqual({ kind: 'failed' });
  });

  it('without DPoP, a DPoP answer is refused from either step', async () => {
    answers = [() => HttpResponse.json({ ...GRANTED, token_type: 'DPoP' })];
    const biometricAnswer = await reauthenticate(
      options({ biometric: biometric() }),
      'refreshRejected',
      'alice',
      signal(),
    );
    expect(biometricAnswer).toMatchObject({ kind: 'transient', unusable: true });
    const promptAnswer = await reauthenticate(
      options({ signInPrompt: async () => ({ ...GRANTED, token_type: 'DPoP' }) }),
      'refreshRejected',
      'alice',
      signal(),
    );
    expect(promptAnswer).toEqual({ kind: 'failed' });
  });
});

describe('reauthenticateUntilSettled', () => {
  type Failure = [string, number, number];
  let failures: Failure[];
  const failed = (error: Error, attempt: number, retryInMs: number) =>
    void failures.push([error.name, attempt, retryInMs]);

  beforeEach(() => {
    failures = [];
  });

  it('retries a blip of the exchange after the backoff, keeping the session, then settles', async () => {
    answers = [unavailable, granted];
    const provider = biometric();
    const signInPrompt = vi.fn(async () => GRANTED);
    const chain = reauthenticateUntilSettled(
      options({ biometric: provider, signInPrompt }),
      'refreshRejected',
      'alice',
      failed,
      signal(),
    );
    await clock.advance(0);
    expect(failures).toEqual([['TransientRefreshError', 1, 500]]);
    await clock.advance(499);
    expect(requests).toHaveLength(1);
    await clock.advance(1);
    await expect(chain).resolves.toMatchObject({ kind: 'done', method: 'biometric' });
    expect(requests).toHaveLength(2);
    expect(signInPrompt).not.toHaveBeenCalled();
  });

  it('draws the jitter from the injected random', async () => {
    answers = [unavailable, unavailable, granted];
    const chain = reauthenticateUntilSettled(
      options({ biometric: biometric(), random: () => 0.5 }),
      'refreshRejected',
      'alice',
      failed,
      signal(),
    );
    await clock.advance(MINUTE);
    await expect(chain).resolves.toMatchObject({ kind: 'done' });
    expect(failures).toEqual([
      ['TransientRefreshError', 1, 750],
      ['TransientRefreshError', 2, 1500],
    ]);
  });

  it('honours a two-digit Retry-After of the exchange', async () => {
    answers = [() => unavailable({ 'retry-after': '30' }), granted];
    const chain = reauthenticateUntilSettled(
      options({ biometric: biometric() }),
      'refreshRejected',
      'alice',
      failed,
      signal(),
    );
    await clock.advance(29_999);
    expect(failures).toEqual([['TransientRefreshError', 1, 30_000]]);
    expect(requests).toHaveLength(1);
    await clock.advance(1);
    await expect(chain).resolves.toMatchObject({ kind: 'done', method: 'biometric' });
  });

  it('tries again at once when the network comes back', async () => {
    answers = [unavailable, granted];
    const chain = reauthenticateUntilSettled(
      options({ biometric: biometric(), backoff: { initialDelay: MINUTE } }),
      'refreshRejected',
      'alice',
      failed,
      signal(),
    );
    await clock.advance(10);
    expect(requests).toHaveLength(1);
    network.goOnline();
    await clock.advance(0);
    await expect(chain).resolves.toMatchObject({ kind: 'done', method: 'biometric' });
  });

  it('holds a Retry-After of the exchange even when the network comes back', async () => {
    answers = [() => unavailable({ 'retry-after': '45' }), granted];
    const chain = reauthenticateUntilSettled(
      options({ biometric: biometric() }),
      'refreshRejected',
      'alice',
      failed,
      signal(),
    );
    await clock.advance(10);
    network.goOnline();
    await clock.advance(45_000 - 11);
    expect(requests).toHaveLength(1);
    await clock.advance(1);
    await expect(chain).resolves.toMatchObject({ kind: 'done', method: 'biometric' });
    expect(requests).toHaveLength(2);
  });

  it('keeps retrying blips with Face ID, never falling through to the prompt', async () => {
    answers = [unavailable, unavailable, unavailable, granted];
    const provider = biometric();
    const signInPrompt = vi.fn(async () => GRANTED);
    const chain = reauthenticateUntilSettled(
      options({ biometric: provider, signInPrompt }),
      'refreshRejected',
      'alice',
      failed,
      signal(),
    );
    await clock.advance(MINUTE);
    await expect(chain).resolves.toMatchObject({ kind: 'done', method: 'biometric' });
    expect(provider.getAssertion).toHaveBeenCalledTimes(4);
    expect(signInPrompt).not.toHaveBeenCalled();
  });

  it('falls through to the prompt after two unusable answers to the exchange', async () => {
    answers = [() => HttpResponse.json({ token_type: 'Bearer' })];
    const provider = biometric();
    const signInPrompt = vi.fn(async () => GRANTED);
    const chain = reauthenticateUntilSettled(
      options({ biometric: provider, signInPrompt }),
      'refreshRejected',
      'alice',
      failed,
      signal(),
    );
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
    answers = [
      () => HttpResponse.json({ token_type: 'Bearer' }),
      () => HttpResponse.json({ token_type: 'Bearer' }),
      () => HttpResponse.json({ token_type: 'Bearer' }),
      granted,
    ];
    const provider = biometric();
    const chain = reauthenticateUntilSettled(
      options({ biometric: provider }),
      'refreshRejected',
      'alice',
      failed,
      signal(),
    );
    await clock.advance(MINUTE);
    await expect(chain).resolves.toMatchObject({ kind: 'done', method: 'biometric' });
    expect(provider.getAssertion).toHaveBeenCalledTimes(4);
    expect(failures.map(([, attempt]) => attempt)).toEqual([1, 2, 3]);
  });

  it('settles failed when every step fails', async () => {
    const chain = reauthenticateUntilSettled(
      options({ biometric: biometric(null), signInPrompt: async () => null }),
      'refreshRejected',
      'alice',
      failed,
      signal(),
    );
    await expect(chain).resolves.toEqual({ kind: 'failed' });
    expect(failures).toEqual([]);
  });

  it('settles failed when the session ends during a backoff', async () => {
    answers = [unavailable];
    const controller = new AbortController();
    const chain = reauthenticateUntilSettled(
      options({ biometric: biometric() }),
      'refreshRejected',
      'alice',
      failed,
      controller.signal,
    );
    await clock.advance(100);
    controller.abort(new Error('signed out'));
    await expect(chain).resolves.toEqual({ kind: 'failed' });
    expect(requests).toHaveLength(1);
  });
});
