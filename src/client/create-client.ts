import ky, { type KyInstance, type Options } from 'ky';

/** What the ky client needs from the session. */
export interface TokenSource {
  /** A usable access token, waiting for a refresh when needed. */
  getAccessToken(options?: { signal?: AbortSignal }): Promise<string>;
  /** The server rejected `usedToken`: refresh unless that already happened; the token to retry with. */
  handleUnauthorized(usedToken: string | undefined, options?: { signal?: AbortSignal }): Promise<string>;
}

/** `https://api.example.com/v1/` -> a test that a request URL is on that origin. */
function originFilter(base: Options['prefix']): (url: string) => boolean {
  if (base === undefined) return () => true;
  let origin: string | undefined;
  try {
    origin = new URL(String(base)).origin;
  } catch {
    // A relative prefix (a browser app calling its own origin) resolves against the page.
    origin = (globalThis as { location?: Location }).location?.origin;
  }
  return origin ? (url) => url.startsWith(`${origin}/`) : () => true;
}

/**
 * A ky instance whose requests carry the session's access token. On a 401 it refreshes once
 * (shared by every concurrent request) and retries the request once with the new token: a
 * second 401 is the caller's. Requests sent while a refresh runs wait for it. With `prefix` or
 * `baseUrl`, the token goes only to that origin, so an absolute URL elsewhere never gets it.
 *
 * The 401 is handled in a wrapper around ky's `fetch` (yours, if you pass one), not in an
 * `afterResponse` hook: ky clones every response when such a hook exists, which would cost
 * every request; your own hooks see the final response. Replacing `fetch` with `extend`
 * removes the retry.
 */
export function createSessionClient(session: TokenSource, options: Options = {}): KyInstance {
  const trusted = originFilter(options.prefix ?? options.baseUrl);
  const baseFetch = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
  const hooks = options.hooks ?? {};

  const attachToken = async ({ request }: { request: Request }): Promise<void> => {
    if (!trusted(request.url)) return;
    const token = await session.getAccessToken({ signal: request.signal });
    request.headers.set('authorization', `Bearer ${token}`);
  };

  const fetchWithOneRetry: typeof globalThis.fetch = async (input, init) => {
    const request = input instanceof Request ? input : new Request(input, init);
    const used = request.headers.get('authorization');
    if (!used?.startsWith('Bearer ') || !trusted(request.url)) return baseFetch(input, init);
    // Keep the body for the retry (a bodiless request can simply be sent again).
    const spare = request.body === null ? request : request.clone();
    const response = await baseFetch(request, init);
    if (response.status !== 401) return response;
    const token = await session.handleUnauthorized(used.slice(7), { signal: request.signal });
    await response.body?.cancel();
    const headers = new Headers(spare.headers);
    headers.set('authorization', `Bearer ${token}`);
    return baseFetch(new Request(spare, { headers }), init);
  };

  return ky.create({
    ...options,
    fetch: fetchWithOneRetry,
    hooks: {
      ...hooks,
      beforeRequest: [attachToken, ...(hooks.beforeRequest ?? [])],
      // Whatever made ky retry (a 503, a network error), go out with the current token.
      beforeRetry: [attachToken, ...(hooks.beforeRetry ?? [])],
    },
  });
}
