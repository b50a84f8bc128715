import ky, { type KyInstance, type Options } from 'ky';
import type { DpopPort } from '../dpop/types.ts';
import { ConfigurationError, TokenWaitTimeoutError } from '../errors.ts';
import { systemClock } from '../ports/clock.ts';
import { whenAborted } from '../utils/listeners.ts';

/** What the ky client needs from the session (a `SessionManager` has it all). */
export interface TokenProvider {
  /** A usable access token, waiting for a refresh when needed. */
  getAccessToken(options?: { signal?: AbortSignal }): Promise<string>;
  /** The server rejected `usedToken`: refresh unless that already happened; the token to retry with. */
  handleUnauthorized(usedToken: string | undefined, options?: { signal?: AbortSignal }): Promise<string>;
  /** Optional: throws when `usedToken` belongs to a session that has ended (checked before a retry). */
  assertSameSession?(usedToken: string): void;
}

/** Where the access token may go, besides the origin of `prefix`/`baseUrl`. */
export interface SessionClientOptions {
  /**
   * Origins (like `https://api.example.com`) whose requests get the access token. The origin of
   * `prefix` or `baseUrl` is always included; with neither, and outside a browser page (whose
   * own origin is the default), this is required.
   */
  trustedOrigins?: string[] | undefined;
  /**
   * DPoP proofs for the requests that carry the token (`Authorization: DPoP`); a resource
   * server's `use_dpop_nonce` challenge is answered once and never starts a refresh.
   * `SessionManager.createClient` passes the session's own when its `dpop` option is on.
   */
  dpop?: DpopPort | undefined;
}

function originOf(url: string, base?: string): string | undefined {
  try {
    return new URL(url, base).origin;
  } catch {
    return undefined;
  }
}

/**
 * A test that a request URL is on a trusted origin. Never "trust everything": a token sent to
 * an origin the app did not name is a token leaked.
 */
function originFilter(base: Options['prefix'], trustedOrigins: unknown = []): (url: string) => boolean {
  if (!Array.isArray(trustedOrigins) || trustedOrigins.some((origin) => typeof origin !== 'string')) {
    throw new ConfigurationError('"trustedOrigins" must be an array of origins like ["https://api.example.com"]');
  }
  const page = (globalThis as { location?: Location }).location?.href;
  // A relative prefix (a browser app calling its own origin) resolves against the page.
  const own = base === undefined ? originOf(page ?? '') : originOf(String(base), page);
  const origins = [...(trustedOrigins as string[]).map((origin) => originOf(origin)), own].filter(
    (origin): origin is string => origin !== undefined && origin !== 'null',
  );
  if (origins.length === 0) {
    throw new ConfigurationError(
      'createClient needs a `prefix`, a `baseUrl` or `trustedOrigins`: the access token only goes to origins named there',
    );
  }
  const prefixes = origins.map((origin) => `${origin}/`);
  const [only] = prefixes;
  // Every request goes through this: keep the common single-origin case to one comparison.
  return prefixes.length === 1 ? (url) => url.startsWith(only!) : (url) => prefixes.some((p) => url.startsWith(p));
}

/** How much earlier than ky's own timeout the wait for a token after a 401 gives up. */
const TIMEOUT_GUARD_MS = 50;

/**
 * A signal that follows `signal` and also aborts with {@link TokenWaitTimeoutError} after `ms`
 * (none without `ms`); `done()` removes the timer and the listener.
 */
function waitWithin(signal: AbortSignal, ms: number | undefined): { signal: AbortSignal; done(): void } {
  if (ms === undefined) return { signal, done: () => {} };
  const controller = new AbortController();
  const timer = systemClock.setTimeout(() => controller.abort(new TokenWaitTimeoutError(ms)), ms);
  const stopFollowing = whenAborted(signal, () => controller.abort(signal.reason));
  return {
    signal: controller.signal,
    done() {
      systemClock.clearTimeout(timer);
      stopFollowing();
    },
  };
}

/**
 * A ky instance whose requests carry the session's access token. On a 401 it refreshes once
 * (shared by every concurrent request) and retries the request once with the new token: a
 * second 401 is the caller's. Requests that need a new token wait for the refresh. The token
 * goes only to the origin of `prefix`/`baseUrl` (or the page's own) and to `trustedOrigins`,
 * so an absolute URL elsewhere never gets it.
 * @throws ConfigurationError - no origin to trust could be worked out
 *
 * The 401 is handled in a wrapper around ky's `fetch` (yours, if you pass one), not in an
 * `afterResponse` hook: ky clones every response when such a hook exists, which would cost
 * every request; your own hooks see the final response. Replacing `fetch` with `extend`
 * removes the retry.
 */
export function createSessionClient(
  session: TokenProvider,
  options: Options = {},
  { trustedOrigins, dpop }: SessionClientOptions = {},
): KyInstance {
  const trusted = originFilter(options.prefix ?? options.baseUrl, trustedOrigins);
  const baseFetch = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
  const hooks = options.hooks ?? {};
  // DPoP (src/dpop): requests that carry the token go out with `Authorization: DPoP` and a proof.
  const send: typeof baseFetch = dpop ? (request, init) => dpop.send(request as Request, init, baseFetch) : baseFetch;

  const attachToken = async ({ request }: { request: Request }): Promise<void> => {
    if (!trusted(request.url)) return;
    const token = await session.getAccessToken({ signal: request.signal });
    request.headers.set('authorization', `Bearer ${token}`);
  };
  // A retry (after a 503, a network error) never goes out for another session than its first try.
  const reattachToken = async ({ request }: { request: Request }): Promise<void> => {
    const header = request.headers.get('authorization');
    const used = header?.startsWith('Bearer ') && trusted(request.url) ? header.slice(7) : undefined;
    if (used !== undefined) session.assertSameSession?.(used);
    await attachToken({ request });
    // Again after the wait for a token: someone else may have signed in at the prompt meanwhile.
    if (used !== undefined) session.assertSameSession?.(used);
  };

  const { timeout = 10_000 } = options;
  const fetchWithOneRetry: typeof globalThis.fetch = async (input, init) => {
    const started = systemClock.now();
    const request = input instanceof Request ? input : new Request(input, init);
    const used = request.headers.get('authorization');
    if (!used?.startsWith('Bearer ') || !trusted(request.url)) return baseFetch(input, init);
    // Keep the body for the retry (a bodiless request can simply be sent again).
    const spare = request.body === null ? request : request.clone();
    const response = await send(request, init);
    if (response.status !== 401 || dpop?.isNonceChallenge(response)) return response;
    // The wait for the new token runs inside ky's request timeout: end it just before ky would,
    // with the same error a request waiting before it was sent gets (transient, typed).
    const waitMs = timeout === false ? undefined : Math.max(0, timeout - (systemClock.now() - started) - TIMEOUT_GUARD_MS);
    const wait = waitWithin(request.signal, waitMs);
    const token = await session.handleUnauthorized(used.slice(7), { signal: wait.signal }).finally(wait.done);
    await response.body?.cancel();
    // `spare` was never sent, or has no body to be used up: it can go out again as it is.
    spare.headers.set('authorization', `Bearer ${token}`);
    return send(spare, init);
  };

  return ky.create({
    ...options,
    fetch: fetchWithOneRetry,
    hooks: {
      ...hooks,
      beforeRequest: [attachToken, ...(hooks.beforeRequest ?? [])],
      // Whatever made ky retry (a 503, a network error), go out with the current token.
      beforeRetry: [reattachToken, ...(hooks.beforeRetry ?? [])],
    },
  });
}
