import { InvalidTokenResponseError, RefreshRejectedError, TransientRefreshError } from '../errors.ts';
import type { Clock } from '../ports/clock.ts';
import type { ResolvedOptions } from '../options.ts';

/** What a request to the authorization server needs. */
export interface HttpContext {
  fetch: typeof globalThis.fetch;
  clock: Clock;
}

/**
 * Runs `task` with a signal that aborts after `timeoutMs` on the clock (or when `parent`
 * aborts). A task still running at the deadline is abandoned with a transient error: a refresh
 * that never settles must not freeze every request behind it.
 */
export async function withDeadline<T>(
  clock: Clock,
  timeoutMs: number,
  task: (signal: AbortSignal) => Promise<T>,
  parent?: AbortSignal,
): Promise<T> {
  const controller = new AbortController();
  const onParentAbort = () => controller.abort(parent?.reason);
  if (parent?.aborted) onParentAbort();
  parent?.addEventListener('abort', onParentAbort, { once: true });
  let timer: unknown;
  const deadline = new Promise<never>((_, reject) => {
    timer = clock.setTimeout(() => {
      const error = new TransientRefreshError(`No answer from the authorization server within ${timeoutMs} ms`);
      controller.abort(error);
      reject(error);
    }, timeoutMs);
  });
  const aborted = new Promise<never>((_, reject) => {
    if (controller.signal.aborted) reject(controller.signal.reason);
    controller.signal.addEventListener('abort', () => reject(controller.signal.reason), { once: true });
  });
  try {
    return await Promise.race([task(controller.signal), deadline, aborted]);
  } finally {
    clock.clearTimeout(timer);
    parent?.removeEventListener('abort', onParentAbort);
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
  http: HttpContext,
  url: string,
  params: Record<string, string>,
  signal: AbortSignal,
): Promise<Response> {
  try {
    return await http.fetch(url, {
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

async function readJson(response: Response): Promise<unknown> {
  try {
    return (await response.json()) as unknown;
  } catch {
    return undefined;
  }
}

/**
 * Sends a grant to the token endpoint and returns the JSON body of a successful answer
 * (validated by the caller). Throws {@link RefreshRejectedError} for a terminal OAuth error,
 * {@link TransientRefreshError} for everything that may pass, and a transient
 * {@link InvalidTokenResponseError} for a 2xx body that is not JSON.
 */
export async function requestTokens(
  http: HttpContext,
  tokenEndpoint: string,
  params: Record<string, string>,
  signal: AbortSignal,
): Promise<unknown> {
  const response = await postForm(http, tokenEndpoint, params, signal);
  if (response.ok) {
    const body = await readJson(response);
    if (body === undefined) {
      throw new InvalidTokenResponseError('The token endpoint answered with a body that is not JSON', {
        transient: true,
      });
    }
    return body;
  }
  const body = await readJson(response);
  const oauthError = (body as { error?: unknown } | undefined)?.error;
  if ((response.status === 400 || response.status === 401) && typeof oauthError === 'string') {
    if (TERMINAL_ERRORS.has(oauthError)) throw new RefreshRejectedError(oauthError, response.status);
  }
  throw new TransientRefreshError(`The token endpoint answered HTTP ${response.status}`, {
    status: response.status,
    ...optional('retryAfterMs', parseRetryAfter(response.headers.get('retry-after'), http.clock.now())),
  });
}

function optional<K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } {
  return value === undefined ? {} : ({ [key]: value } as { [P in K]: V });
}

/**
 * Revokes a refresh token at the RFC 7009 endpoint, when one is configured. Never throws: the
 * session has already ended locally, and a failure (network down) is only logged.
 */
export async function revokeRefreshToken(options: ResolvedOptions, http: HttpContext, token: string): Promise<void> {
  const { revocationEndpoint, clientId, clock, refreshTimeout, logger } = options;
  if (!revocationEndpoint) return;
  try {
    await withDeadline(clock, refreshTimeout, (signal) =>
      postForm(http, revocationEndpoint, { token, token_type_hint: 'refresh_token', client_id: clientId }, signal),
    );
  } catch (error) {
    logger.warn('revocation failed; the session was ended locally', { error });
  }
}
