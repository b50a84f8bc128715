/**
 * The grant request: the deadline around it, the form POST and its DPoP proof, the token
 * endpoint's answers (terminal, transient, Retry-After, DPoP retries) and the revocation call.
 * msw plays the server; the clock is manual.
 */
import { http, HttpResponse } from 'msw';
import { beforeEach, describe, expect, it } from 'vitest';
import { InvalidTokenResponseError, RefreshRejectedError, TransientRefreshError } from '../../src/errors.ts';
import type { DpopPort } from '../../src/dpop/types.ts';
import type { ResolvedOptions } from '../../src/options.ts';
import {
  parseRetryAfter,
  postForm,
  requestTokens,
  revokeRefreshToken,
  tokensFromGrant,
  withDeadline,
  type HttpContext,
} from '../../src/refresh/grant.ts';
import { parseTokenResponse } from '../../src/token-set.ts';
import { ManualClock } from '../../src/testing.ts';
import { NOW } from './builders.ts';
import { seen, useMsw, type SeenRequest } from './msw.ts';

const TOKEN_URL = 'https://auth.test/oauth/token';
const REVOKE_URL = 'https://auth.test/oauth/revoke';

const server = useMsw();
let clock: ManualClock;
let context: HttpContext;

beforeEach(() => {
  clock = new ManualClock(NOW);
  context = {
    dpop: undefined,
    fetch: (input, init) => globalThis.fetch(input, init),
    clock,
    refreshTimeout: 1000,
    tokenEndpoint: TOKEN_URL,
    clientId: 'app',
  };
});

/**
 * A DPoP port with a key store of one: a proof creates the key unless `ifKeyExists` is set
 * and there is no key yet (then it resolves `undefined`, as the port's contract says).
 */
function keyStoreDpop(hasKey = false) {
  const port = {
    hasKey,
    proofs: 0,
    async proof(_method: string, _url: string, { ifKeyExists = false } = {}) {
      if (ifKeyExists && !port.hasKey) return undefined;
      port.hasKey = true;
      return `proof-${++port.proofs}`;
    },
    observe: () => {},
    isNonceChallenge: () => false,
    send: async () => new Response(),
    forgetKey: async () => {},
  };
  return port satisfies DpopPort;
}

/** The token endpoint answers `response` and records what it was sent. */
function tokenEndpointAnswers(response: () => Response) {
  const requests: SeenRequest[] = [];
  server.use(
    http.post(TOKEN_URL, async ({ request }) => {
      requests.push(await seen(request));
      return response();
    }),
  );
  return requests;
}

const rejection = (promise: Promise<unknown>) =>
  promise.then(
    () => {
      throw new Error('expected a rejection');
    },
    (error: unknown) => error,
  );

describe('withDeadline', () => {
  it('resolves with what the task resolves, and leaves no timer behind', async () => {
    await expect(withDeadline(context, async () => 'tokens')).resolves.toBe('tokens');
    expect(clock.pendingTimers).toBe(0);
  });

  it('rejects with what the task rejects, and leaves no timer behind', async () => {
    const failure = new Error('boom');
    await expect(withDeadline(context, async () => Promise.reject(failure))).rejects.toBe(failure);
    expect(clock.pendingTimers).toBe(0);
  });

  it('arms its timer for refreshTimeout on the clock', async () => {
    let settled = false;
    const call = withDeadline(context, () => new Promise<never>(() => {})).catch(() => (settled = true));
    await clock.advance(999);
    expect(settled).toBe(false);
    await clock.advance(1);
    await call;
    expect(settled).toBe(true);
  });

  it('abandons a task that never settles with a transient error naming the timeout', async () => {
    const call = rejection(withDeadline(context, () => new Promise<never>(() => {})));
    await clock.advance(1000);
    const error = await call;
    expect(error).toBeInstanceOf(TransientRefreshError);
    expect((error as Error).message).toBe('No answer within 1000 ms');
  });

  it('aborts the signal it gave the task at the deadline, with the same error', async () => {
    let signal: AbortSignal | undefined;
    const call = rejection(
      withDeadline(context, (s) => {
        signal = s;
        return new Promise<never>(() => {});
      }),
    );
    await clock.advance(1000);
    expect(signal?.aborted).toBe(true);
    expect(signal?.reason).toBe(await call);
  });

  it('rejects with the parent signal reason when the parent aborts', async () => {
    const parent = new AbortController();
    let signal: AbortSignal | undefined;
    const call = rejection(
      withDeadline(
        context,
        (s) => {
          signal = s;
          return new Promise<never>(() => {});
        },
        parent.signal,
      ),
    );
    const reason = new Error('session ended');
    parent.abort(reason);
    expect(await call).toBe(reason);
    expect(signal?.reason).toBe(reason);
    expect(clock.pendingTimers).toBe(0);
  });

  it('rejects at once when the parent has already aborted', async () => {
    const reason = new Error('gone');
    await expect(withDeadline(context, () => new Promise<never>(() => {}), AbortSignal.abort(reason))).rejects.toBe(
      reason,
    );
  });

  it('stops following the parent once the task settled', async () => {
    const parent = new AbortController();
    let signal: AbortSignal | undefined;
    await withDeadline(
      context,
      async (s) => {
        signal = s;
        return 'done';
      },
      parent.signal,
    );
    parent.abort(new Error('later'));
    expect(signal?.aborted).toBe(false);
  });
});

describe('postForm', () => {
  it('POSTs the parameters form-encoded, asking for JSON', async () => {
    const requests = tokenEndpointAnswers(() => HttpResponse.json({}));
    await postForm(
      context,
      TOKEN_URL,
      { grant_type: 'refresh_token', refresh_token: 'r 1&2' },
      new AbortController().signal,
    );
    expect(requests).toHaveLength(1);
    const [request] = requests;
    expect(request!.method).toBe('POST');
    expect(request!.headers.get('content-type')).toBe('application/x-www-form-urlencoded');
    expect(request!.headers.get('accept')).toBe('application/json');
    expect(request!.body).toBe('grant_type=refresh_token&refresh_token=r+1%262');
  });

  it('asks that no cache answers it, and passes the signal on', async () => {
    const inits: RequestInit[] = [];
    const signal = new AbortController().signal;
    const fetch = (async (_input: RequestInfo | URL, init?: RequestInit) => {
      inits.push(init!);
      return new Response('{}');
    }) as typeof globalThis.fetch;
    await postForm({ dpop: undefined, fetch }, TOKEN_URL, {}, signal);
    expect(inits[0]).toMatchObject({ cache: 'no-store', signal });
  });

  it('turns a request that got no answer into a transient error naming the URL, with the cause', async () => {
    server.use(http.post(TOKEN_URL, () => HttpResponse.error()));
    const error = await rejection(postForm(context, TOKEN_URL, {}, new AbortController().signal));
    expect(error).toBeInstanceOf(TransientRefreshError);
    expect((error as Error).message).toBe(`Could not reach ${TOKEN_URL}`);
    expect((error as Error).cause).toBeInstanceOf(Error);
  });

  it('sends no DPoP header at all when DPoP is off', async () => {
    const requests = tokenEndpointAnswers(() => HttpResponse.json({}));
    await postForm(context, TOKEN_URL, {}, new AbortController().signal);
    expect(requests[0]!.headers.has('dpop')).toBe(false);
  });

  it('rethrows the abort reason, not a network error, when its signal aborted', async () => {
    const controller = new AbortController();
    const reason = new Error('deadline');
    const fetch = (async () => {
      controller.abort(reason);
      throw new DOMException('aborted', 'AbortError');
    }) as typeof globalThis.fetch;
    await expect(postForm({ dpop: undefined, fetch }, TOKEN_URL, {}, controller.signal)).rejects.toBe(reason);
  });
});

describe('parseRetryAfter', () => {
  it('is undefined without the header', () => {
    expect(parseRetryAfter(null, NOW)).toBeUndefined();
  });

  it.each([
    ['0', 0],
    ['7', 7000],
    ['30', 30_000],
    ['120', 120_000],
    [' 45 ', 45_000],
  ])('reads %j seconds', (header, ms) => {
    expect(parseRetryAfter(header, NOW)).toBe(ms);
  });

  it('reads an HTTP date as the time from now until then', () => {
    expect(parseRetryAfter(new Date(NOW + 90_000).toUTCString(), NOW)).toBe(90_000);
  });

  it('reads an HTTP date already past as no wait', () => {
    expect(parseRetryAfter(new Date(NOW - 90_000).toUTCString(), NOW)).toBe(0);
  });

  it.each(['soon', '30s', 'in 30'])('ignores %j, which is neither seconds nor a date', (header) => {
    expect(parseRetryAfter(header, NOW)).toBeUndefined();
  });
});

describe('requestTokens', () => {
  it('sends the grant with the client id and returns the JSON body', async () => {
    const requests = tokenEndpointAnswers(() => HttpResponse.json({ access_token: 'a', expires_in: 60 }));
    const body = await requestTokens(
      context,
      { grant_type: 'refresh_token', refresh_token: 'r1' },
      new AbortController().signal,
    );
    expect(body).toEqual({ access_token: 'a', expires_in: 60 });
    expect(Object.fromEntries(new URLSearchParams(requests[0]!.body))).toEqual({
      grant_type: 'refresh_token',
      refresh_token: 'r1',
      client_id: 'app',
    });
  });

  it('with DPoP on and no key yet, creates a key and sends its proof in the DPoP header', async () => {
    const dpop = keyStoreDpop();
    const requests = tokenEndpointAnswers(() => HttpResponse.json({ access_token: 'a' }));
    await requestTokens({ ...context, dpop }, { grant_type: 'refresh_token' }, new AbortController().signal);
    expect(dpop.hasKey).toBe(true);
    expect(requests.map((r) => r.headers.get('dpop'))).toEqual(['proof-1']);
  });

  it('with DPoP off, a 400 use_dpop_nonce is POSTed once, not retried, and fails', async () => {
    const requests = tokenEndpointAnswers(() => HttpResponse.json({ error: 'use_dpop_nonce' }, { status: 400 }));
    const error = await rejection(requestTokens(context, {}, new AbortController().signal));
    expect(error).toBeInstanceOf(TransientRefreshError);
    expect(requests).toHaveLength(1);
  });

  it('with DPoP on, a 500 carrying use_dpop_nonce is POSTed once, not retried', async () => {
    const requests = tokenEndpointAnswers(() => HttpResponse.json({ error: 'use_dpop_nonce' }, { status: 500 }));
    const error = await rejection(
      requestTokens({ ...context, dpop: keyStoreDpop() }, {}, new AbortController().signal),
    );
    expect(error).toMatchObject({ status: 500 });
    expect(error).toBeInstanceOf(TransientRefreshError);
    expect(requests).toHaveLength(1);
  });

  it('with DPoP off, a 400 invalid_dpop_proof is terminal: RefreshRejectedError', async () => {
    const requests = tokenEndpointAnswers(() => HttpResponse.json({ error: 'invalid_dpop_proof' }, { status: 400 }));
    const error = await rejection(requestTokens(context, {}, new AbortController().signal));
    expect(error).toBeInstanceOf(RefreshRejectedError);
    expect(error).toMatchObject({ oauthError: 'invalid_dpop_proof', status: 400, transient: false });
    expect(requests).toHaveLength(1);
  });

  it('a 2xx answer that is not JSON is a transient InvalidTokenResponseError', async () => {
    tokenEndpointAnswers(() => new HttpResponse('<html>captive portal</html>', { status: 200 }));
    const error = await rejection(requestTokens(context, {}, new AbortController().signal));
    expect(error).toBeInstanceOf(InvalidTokenResponseError);
    expect(error).toMatchObject({ transient: true, message: 'Token endpoint answer is not JSON' });
  });

  it('returns a 2xx JSON null as it is (the caller validates it)', async () => {
    tokenEndpointAnswers(() => HttpResponse.json(null));
    await expect(requestTokens(context, {}, new AbortController().signal)).resolves.toBeNull();
  });

  it.each([
    [400, 'invalid_grant'],
    [400, 'invalid_client'],
    [401, 'invalid_client'],
    [400, 'unauthorized_client'],
    [400, 'unsupported_grant_type'],
    [400, 'invalid_request'],
    [400, 'invalid_scope'],
    [401, 'invalid_grant'],
  ])('HTTP %i %s is terminal: RefreshRejectedError', async (status, oauthError) => {
    tokenEndpointAnswers(() => HttpResponse.json({ error: oauthError }, { status }));
    const error = await rejection(requestTokens(context, {}, new AbortController().signal));
    expect(error).toBeInstanceOf(RefreshRejectedError);
    expect(error).toMatchObject({ oauthError, status, transient: false });
  });

  it.each([403, 500, 502, 503])(
    'HTTP %i with an invalid_grant body is transient (a proxy, not the server, said it)',
    async (status) => {
      tokenEndpointAnswers(() => HttpResponse.json({ error: 'invalid_grant' }, { status }));
      const error = await rejection(requestTokens(context, {}, new AbortController().signal));
      expect(error).toBeInstanceOf(TransientRefreshError);
      expect(error).toMatchObject({ status, message: `Token endpoint answered HTTP ${status}` });
    },
  );

  it.each([
    ['an error that may pass', { error: 'temporarily_unavailable' }],
    ['an error that is not a string', { error: ['invalid_grant'] }],
    ['no error field', { message: 'bad' }],
  ])('HTTP 400 with %s is transient', async (_, body) => {
    tokenEndpointAnswers(() => HttpResponse.json(body, { status: 400 }));
    await expect(requestTokens(context, {}, new AbortController().signal)).rejects.toBeInstanceOf(
      TransientRefreshError,
    );
  });

  it('HTTP 400 with a JSON null body is transient', async () => {
    tokenEndpointAnswers(() => HttpResponse.json(null, { status: 400 }));
    await expect(requestTokens(context, {}, new AbortController().signal)).rejects.toBeInstanceOf(
      TransientRefreshError,
    );
  });

  it('an error page that is not JSON is transient, with its status', async () => {
    tokenEndpointAnswers(() => new HttpResponse('Bad Gateway', { status: 502 }));
    const error = await rejection(requestTokens(context, {}, new AbortController().signal));
    expect(error).toBeInstanceOf(TransientRefreshError);
    expect(error).toMatchObject({ status: 502, retryAfterMs: undefined });
  });

  it('a 429 carries its two-digit Retry-After in ms', async () => {
    tokenEndpointAnswers(() =>
      HttpResponse.json({ error: 'slow_down' }, { status: 429, headers: { 'retry-after': '30' } }),
    );
    const error = await rejection(requestTokens(context, {}, new AbortController().signal));
    expect(error).toMatchObject({ status: 429, retryAfterMs: 30_000 });
  });

  it('a 503 carries a Retry-After date as ms from now on the clock', async () => {
    const at = new Date(NOW + 120_000).toUTCString();
    tokenEndpointAnswers(() => new HttpResponse(null, { status: 503, headers: { 'retry-after': at } }));
    const error = await rejection(requestTokens(context, {}, new AbortController().signal));
    expect(error).toMatchObject({ status: 503, retryAfterMs: 120_000 });
  });
});

describe('tokensFromGrant', () => {
  it('builds the token set on top of the previous one', () => {
    const previous = parseTokenResponse({ access_token: 'a1', refresh_token: 'r1' }, NOW - 1000);
    expect(tokensFromGrant({ access_token: 'a2', expires_in: 60 }, NOW, previous)).toMatchObject({
      accessToken: 'a2',
      refreshToken: 'r1',
      accessTokenExpiresAt: NOW + 60_000,
      sessionStartedAt: NOW - 1000,
    });
  });

  it('a garbled answer is a transient InvalidTokenResponseError with the same message and the cause', () => {
    let error: unknown;
    try {
      tokensFromGrant({ access_token: '' }, NOW);
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(InvalidTokenResponseError);
    expect(error).toMatchObject({
      transient: true,
      message: 'Token response: "access_token" must be a non-empty string',
    });
    expect((error as Error).cause).toBeInstanceOf(InvalidTokenResponseError);
    expect(((error as Error).cause as InvalidTokenResponseError).transient).toBe(false);
  });
});

describe('revokeRefreshToken', () => {
  const warnings: unknown[][] = [];
  const options = (revocationEndpoint: string | undefined) =>
    ({
      ...context,
      revocationEndpoint,
      logger: {
        debug: () => {},
        info: () => {},
        error: () => {},
        warn: (...line: unknown[]) => void warnings.push(line),
      },
    }) as unknown as ResolvedOptions;

  beforeEach(() => {
    warnings.length = 0;
  });

  it('posts the refresh token with its type hint and the client id to the revocation endpoint', async () => {
    const requests: SeenRequest[] = [];
    server.use(
      http.post(REVOKE_URL, async ({ request }) => {
        requests.push(await seen(request));
        return new HttpResponse(null, { status: 200 });
      }),
    );
    await revokeRefreshToken(options(REVOKE_URL), 'r1');
    expect(requests.map((r) => Object.fromEntries(new URLSearchParams(r.body)))).toEqual([
      { token: 'r1', token_type_hint: 'refresh_token', client_id: 'app' },
    ]);
    expect(warnings).toEqual([]);
  });

  /** Revokes `r1` with `dpop` as the session's DPoP port; what the endpoint was sent. */
  async function revokeWithDpop(dpop: ReturnType<typeof keyStoreDpop>): Promise<SeenRequest[]> {
    const requests: SeenRequest[] = [];
    server.use(
      http.post(REVOKE_URL, async ({ request }) => {
        requests.push(await seen(request));
        return new HttpResponse(null, { status: 200 });
      }),
    );
    await revokeRefreshToken({ ...options(REVOKE_URL), dpop } as ResolvedOptions, 'r1');
    return requests;
  }

  it('with DPoP on and no key in the store, sends no proof and creates no key', async () => {
    const dpop = keyStoreDpop();
    const requests = await revokeWithDpop(dpop);
    expect(requests).toHaveLength(1);
    expect(requests[0]!.headers.has('dpop')).toBe(false);
    expect(dpop.hasKey).toBe(false);
    expect(warnings).toEqual([]);
  });

  it('with DPoP on and a key in the store, sends its proof', async () => {
    const dpop = keyStoreDpop(true);
    const requests = await revokeWithDpop(dpop);
    expect(requests.map((r) => r.headers.get('dpop'))).toEqual(['proof-1']);
  });

  it('does nothing without a revocation endpoint', async () => {
    let calls = 0;
    const noEndpoint = { ...options(undefined), fetch: async () => (calls++, new Response()) } as ResolvedOptions;
    await revokeRefreshToken(noEndpoint, 'r1');
    expect(calls).toBe(0);
  });

  it('resolves when the endpoint cannot be reached, and logs a warning', async () => {
    server.use(http.post(REVOKE_URL, () => HttpResponse.error()));
    await expect(revokeRefreshToken(options(REVOKE_URL), 'r1')).resolves.toBeUndefined();
    expect(warnings).toHaveLength(1);
    expect(warnings[0]![0]).toBe('revocation failed; signed out locally');
    expect((warnings[0]![1] as { error: unknown }).error).toBeInstanceOf(TransientRefreshError);
  });

  it('gives up on an endpoint that never answers after refreshTimeout', async () => {
    const hanging = { ...options(REVOKE_URL), fetch: () => new Promise<never>(() => {}) } as ResolvedOptions;
    let done = false;
    const call = revokeRefreshToken(hanging, 'r1').then(() => (done = true));
    await clock.advance(1000);
    await call;
    expect(done).toBe(true);
    expect((warnings[0]![1] as { error: Error }).error.message).toBe('No answer within 1000 ms');
  });
});
