import ky, { type KyInstance, type Options } from 'ky';

/** What the ky hooks need from the session. */
export interface TokenSource {
  /** A usable access token, waiting for a refresh when needed. */
  getAccessToken(options?: { signal?: AbortSignal }): Promise<string>;
  /** The server rejected `usedToken`: refresh unless that already happened; the token to retry with. */
  handleUnauthorized(usedToken: string | undefined, options?: { signal?: AbortSignal }): Promise<string>;
}

const AUTH_STATE = 'sessionKeeper';
interface AuthState {
  retriedAfter401: boolean;
}

function bearer(request: Request): string | undefined {
  const header = request.headers.get('authorization');
  return header?.toLowerCase().startsWith('bearer ') ? header.slice(7) : undefined;
}

function sameOrigin(request: Request, origin: string | undefined): boolean {
  return origin === undefined || new URL(request.url).origin === origin;
}

function retryWithAtLeastOne(retry: Options['retry']): Options['retry'] {
  // The retry after a 401 is ky's forced retry, which counts against `retry.limit`. A limit of
  // 0 would forbid it: keep one attempt, usable by forced retries only.
  const limit = typeof retry === 'number' ? retry : retry?.limit;
  if (limit !== 0) return retry;
  return { ...(typeof retry === 'object' ? retry : {}), limit: 1, methods: [], statusCodes: [] };
}

/**
 * A ky instance whose requests carry the session's access token. On a 401 it refreshes once
 * (shared by every concurrent request) and retries the request once with the new token.
 * Requests sent while a refresh runs wait for it. The token is only attached to requests to
 * the origin of `prefix`/`baseUrl` when one is set, so an absolute URL elsewhere never gets it.
 */
export function createSessionClient(session: TokenSource, options: Options = {}): KyInstance {
  const base = options.prefix ?? options.baseUrl;
  const origin = base === undefined ? undefined : new URL(String(base), 'http://invalid').origin;
  const trusted = origin === 'http://invalid' ? undefined : origin;
  const hooks = options.hooks ?? {};
  const attachToken = async ({ request }: { request: Request }): Promise<void> => {
    if (!sameOrigin(request, trusted)) return;
    const token = await session.getAccessToken({ signal: request.signal });
    request.headers.set('authorization', `Bearer ${token}`);
  };
  const retry = retryWithAtLeastOne(options.retry);
  return ky.create({
    ...options,
    ...(retry === undefined ? {} : { retry }),
    hooks: {
      ...hooks,
      init: [
        (init) => {
          init.context = { ...init.context, [AUTH_STATE]: { retriedAfter401: false } satisfies AuthState };
        },
        ...(hooks.init ?? []),
      ],
      beforeRequest: [attachToken, ...(hooks.beforeRequest ?? [])],
      // Whatever made ky retry, go out with the current token, not the one of the first attempt.
      beforeRetry: [attachToken, ...(hooks.beforeRetry ?? [])],
      afterResponse: [
        async ({ request, options: requestOptions, response }) => {
          if (response.status !== 401 || !sameOrigin(request, trusted)) return;
          const state = requestOptions.context[AUTH_STATE] as AuthState | undefined;
          if (!state || state.retriedAfter401) return; // at most one retry after a 401: no loops
          state.retriedAfter401 = true;
          await session.handleUnauthorized(bearer(request), { signal: request.signal });
          return ky.retry({ delay: 0, code: 'TOKEN_REFRESHED' });
        },
        ...(hooks.afterResponse ?? []),
      ],
    },
  });
}
