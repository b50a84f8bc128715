import ky, { type KyInstance, type Options } from 'ky';
import { ConfigurationError } from '../errors.ts';
import { systemClock } from '../ports/clock.ts';
import { globalFetch } from '../utils/global-fetch.ts';
import { replayableRequest, sendWithOneRetry, withDpop, type TokenProvider } from './one-retry.ts';
import { originTest, trustedOriginList } from './origins.ts';

export type { TokenProvider } from './one-retry.ts';

/** How much earlier than ky's own timeout the wait for a token after a 401 gives up. */
const TIMEOUT_GUARD_MS = 50;

/** Where the access token may go, besides the origin of `prefix`/`baseUrl`. */
export interface SessionClientOptions {
  /**
   * Origins (like `https://api.example.com`) whose requests get the access token. The origin of
   * `prefix` or `baseUrl` is always included; with neither, and outside a browser page (whose
   * own origin is the default), this is required.
   */
  trustedOrigins?: readonly string[] | undefined;
}

function originFilter(
  base: Options['prefix'],
  trustedOrigins: readonly string[] | undefined,
): (url: string) => boolean {
  const origins = trustedOriginList(trustedOrigins, base === undefined ? undefined : String(base));
  if (origins.length === 0) {
    throw new ConfigurationError(
      'createClient needs a `prefix`, a `baseUrl` or `trustedOrigins`: the access token only goes to origins named there',
    );
  }
  return originTest(origins);
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
  { trustedOrigins }: SessionClientOptions = {},
): KyInstance {
  const trusted = originFilter(options.prefix ?? options.baseUrl, trustedOrigins);
  const baseFetch = options.fetch ?? globalFetch;
  const hooks = options.hooks ?? {};
  // DPoP (src/dpop): with the session's `dpop` on, `Authorization: DPoP` and a proof.
  const send = withDpop(session.dpop, baseFetch);

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
    // The wait for a new token after a 401 runs inside ky's request timeout: it ends just
    // before ky would, with the error a request waiting before it was sent gets (transient).
    const waitUntil = timeout === false ? undefined : systemClock.now() + timeout - TIMEOUT_GUARD_MS;
    const request = input instanceof Request ? input : new Request(input, init);
    const used = request.headers.get('authorization');
    if (!used?.startsWith('Bearer ') || !trusted(request.url)) return baseFetch(input, init);
    const replayable = replayableRequest(request, (r) => send(r, init));
    return sendWithOneRetry(session, used.slice(7), replayable, request.signal, waitUntil);
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
