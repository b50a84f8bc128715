import { InvalidTokenResponseError, RefreshRejectedError, TransientRefreshError } from '../errors.ts';
import type { ResolvedOptions } from '../options.ts';
import { parseTokenResponse } from '../token-set.ts';
import type { SessionTokens } from '../types.ts';
import { whenAborted } from '../utils/listeners.ts';

/** What a request to the authorization server needs (the resolved options have it all). */
export type HttpContext = Pick<
  ResolvedOptions,
  'fetch' | 'clock' | 'refreshTimeout' | 'tokenEndpoint' | 'clientId' | 'dpop'
>;

/**
 * Runs `task` with a signal that aborts after `refreshTimeout` on the clock (or when `parent`
 * aborts). A task still running at the deadline is abandoned with a transient error: a refresh
 * that never settles must not freeze every request behind it.
 */
export async function withDeadline<T>(
  { clock, refreshTimeout }: Pick<HttpContext, 'clock' | 'refreshTimeout'>,
  task: (signal: AbortSignal) => Promise<T>,
  parent?: AbortSignal,
): Promise<T> {
  const controller = new AbortController();
  const { signal } = controller;
  const stopFollowingParent = whenAborted(parent, () => controller.abort(parent?.reason));
  const timer = clock.setTimeout(
    () => controller.abort(new TransientRefreshError(`No answer within ${refreshTimeout} ms`)),
    refreshTimeout,
  );
  const aborted = new Promise<never>((_, reject) => whenAborted(signal, () => reject(signal.reason)));
  try {
    return await Promise.race([task(signal), aborted]);
  } finally {
    clock.clearTimeout(timer);
    stopFollowingParent();
  }
}

/**
 * RFC 6749 section 5.2 errors after which retrying the same grant cannot succeed. Anything
 * else (5xx, 429, an HTML page from a proxy, no answer at all) is transient.
 */
const TERMINAL_ERRORS = new Set([
  'invalid_grant',
  'invalid_client',
  'unauthorized_client',
  'unsupported_grant_type',
  'invalid_request',
  'invalid_scope',
  // A proof refused twice in a row (see requestTokens): typically a key the refresh token is not bound to.
  'invalid_dpop_proof',
]);

/**
 * DPoP answers worth one immediate retry with a fresh proof: the server wants its nonce
 * (which its answer carried), or refused the proof, perhaps for an `iat` from a wrong device
 * clock that its answer's `Date` has now corrected. Neither counts as a failed attempt.
 */
const DPOP_RETRIED = new Set(['use_dpop_nonce', 'invalid_dpop_proof']);

/**
 * POSTs a form, with a DPoP proof when DPoP is on (`ifKeyExists`: only when there is a key
 * already). A failure to get any answer becomes a transient error.
 */
export async function postForm(
  { fetch, dpop }: Pick<HttpContext, 'fetch' | 'dpop'>,
  url: string,
  params: Record<string, string>,
  signal: AbortSignal,
  { ifKeyExists = false } = {},
): Promise<Response> {
  const headers: Record<string, string> = {
    'content-type': 'application/x-www-form-urlencoded',
    accept: 'application/json',
  };
  const proof = await dpop?.proof('POST', url, { ifKeyExists });
  if (proof !== undefined) headers.dpop = proof;
  try {
    const response = await fetch(url, {
      method: 'POST',
      headers,
      body: new URLSearchParams(params).toString(),
      signal,
      cache: 'no-store',
    });
    dpop?.observe(url, response);
    return response;
  } catch (error) {
    if (signal.aborted) throw signal.reason;
    throw new TransientRefreshError(`Could not reach ${url}`, { cause: error });
  }
}

/** `Retry-After` (seconds or an HTTP date) in milliseconds. */
export function parseRetryAfter(header: string | null, now: number): number | undefined {
  if (header === null) return undefined;
  const trimmed = header.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  const date = Date.parse(trimmed);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

/**
 * Sends a grant, with the client id, to the token endpoint and returns the JSON body of a
 * successful answer (validated by the caller). Throws {@link RefreshRejectedError} for a
 * terminal OAuth error, {@link TransientRefreshError} for everything that may pass, and a
 * transient {@link InvalidTokenResponseError} for a 2xx body that is not JSON.
 */
export async function requestTokens(
  http: HttpContext,
  params: Record<string, string>,
  signal: AbortSignal,
): Promise<unknown> {
  for (let attempt = 1; ; attempt++) {
    const response = await postForm(http, http.tokenEndpoint, { ...params, client_id: http.clientId }, signal);
    const { ok, status, headers } = response;
    let body: unknown;
    try {
      body = await response.json();
    } catch {
      if (ok) throw new InvalidTokenResponseError('Token endpoint answer is not JSON', { transient: true });
    }
    if (ok) return body;
    const oauthError = (body as { error?: unknown } | undefined)?.error;
    const rejected = (status === 400 || status === 401) && typeof oauthError === 'string';
    if (rejected && http.dpop && attempt === 1 && DPOP_RETRIED.has(oauthError)) continue;
    if (rejected && TERMINAL_ERRORS.has(oauthError)) throw new RefreshRejectedError(oauthError, status);
    throw new TransientRefreshError(`Token endpoint answered HTTP ${status}`, {
      status,
      retryAfterMs: parseRetryAfter(headers.get('retry-after'), http.clock.now()),
    });
  }
}

/**
 * A grant's successful answer as the session's tokens. A garbled one is transient: it is
 * retried and never stored (a proxy or a captive portal can garble an answer).
 */
export function tokensFromGrant(body: unknown, now: number, previous?: SessionTokens, dpop = false): SessionTokens {
  try {
    return parseTokenResponse(body, now, previous, dpop);
  } catch (error) {
    // parseTokenResponse throws only InvalidTokenResponseError, whose message is safe to repeat.
    throw new InvalidTokenResponseError((error as Error).message, { cause: error, transient: true });
  }
}

/**
 * Revokes a refresh token at the RFC 7009 endpoint, when one is configured. Never throws: the
 * session has already ended locally, and a failure (network down) is only logged.
 */
export async function revokeRefreshToken(options: ResolvedOptions, token: string): Promise<void> {
  const { revocationEndpoint, clientId, logger } = options;
  if (!revocationEndpoint) return;
  try {
    await withDeadline(options, (signal) =>
      postForm(options, revocationEndpoint, { token, token_type_hint: 'refresh_token', client_id: clientId }, signal, {
        ifKeyExists: true,
      }),
    );
  } catch (error) {
    logger.warn('revocation failed; signed out locally', { error });
  }
}
