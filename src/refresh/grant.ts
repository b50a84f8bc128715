import { InvalidTokenResponseError, RefreshRejectedError, TransientRefreshError } from '../errors.ts';
import type { ResolvedOptions } from '../options.ts';
import { parseTokenResponse } from '../token-set.ts';
import type { SessionTokens } from '../types.ts';
import { whenAborted } from '../utils/listeners.ts';

/** What a request to the authorization server needs (the resolved options have it all). */
export type HttpContext = Pick<ResolvedOptions, 'fetch' | 'clock' | 'refreshTimeout' | 'tokenEndpoint' | 'clientId'>;

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
]);

/** POSTs a form. A failure to get any answer becomes a transient error. */
export async function postForm(
  { fetch }: Pick<HttpContext, 'fetch'>,
  url: string,
  params: Record<string, string>,
  signal: AbortSignal,
): Promise<Response> {
  try {
    return await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
      body: new URLSearchParams(params).toString(),
      signal,
      cache: 'no-store',
    });
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
  if ((status === 400 || status === 401) && typeof oauthError === 'string' && TERMINAL_ERRORS.has(oauthError)) {
    throw new RefreshRejectedError(oauthError, status);
  }
  throw new TransientRefreshError(`Token endpoint answered HTTP ${status}`, {
    status,
    retryAfterMs: parseRetryAfter(headers.get('retry-after'), http.clock.now()),
  });
}

/**
 * A grant's successful answer as the session's tokens. A garbled one is transient: it is
 * retried and never stored (a proxy or a captive portal can garble an answer).
 */
export function tokensFromGrant(body: unknown, now: number, previous?: SessionTokens): SessionTokens {
  try {
    return parseTokenResponse(body, now, previous);
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
      postForm(options, revocationEndpoint, { token, token_type_hint: 'refresh_token', client_id: clientId }, signal),
    );
  } catch (error) {
    logger.warn('revocation failed; signed out locally', { error });
  }
}
