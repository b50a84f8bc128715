import { ConfigurationError } from '../errors.ts';
import { globalFetch } from '../utils/global-fetch.ts';
import {
  bearer,
  ignore,
  replayableRequest,
  sendWithOneRetry,
  withDpop,
  type Replayable,
  type TokenProvider,
} from './one-retry.ts';
import { originTest, pageHref, trustedOriginList } from './origins.ts';

/** Options of {@link createSessionFetch}. */
export interface SessionFetchOptions {
  /**
   * Origins (like `https://api.example.com`) whose requests get the access token; in a browser
   * page its own origin is included. Requests anywhere else go out untouched.
   */
  trustedOrigins?: readonly string[] | undefined;
  /** The `fetch` that sends the requests. Default: `globalThis.fetch` at call time. */
  fetch?: typeof globalThis.fetch | undefined;
}

type Fetch = typeof globalThis.fetch;

const NO_ORIGINS = 'session.fetch needs `trustedOrigins`: the access token only goes to origins named there';

/** Whether a string or URL request goes to a trusted origin (a relative URL is resolved against the page). */
function isTrusted(input: string | URL, trusted: (url: string) => boolean): boolean {
  const raw = typeof input === 'string' ? input : input.href;
  if (trusted(raw)) return true;
  try {
    // Written another way (`HTTPS://API.example.com:443/`), or relative to the page.
    return trusted(new URL(raw, pageHref()).href);
  } catch {
    return false; // a relative URL in Node: `fetch` rejects it as it would without the session
  }
}

/**
 * The caller's headers as a plain record the token can be added to without changing the
 * caller's object: a plain object as it is (no `Headers` to build for the common call), anything
 * else (a `Headers`, a list of pairs) read into a new one; `null` when they carry the caller's
 * own `Authorization` (in any case).
 */
function headersFor(headers: HeadersInit = {}): Record<string, string> | null {
  const record =
    (headers as object | null)?.constructor === Object
      ? (headers as Record<string, string>)
      : Object.fromEntries(new Headers(headers));
  return Object.keys(record).some((name) => name.toLowerCase() === 'authorization') ? null : record;
}

/**
 * A string or URL request made replayable: the body of `init` is reused as it is (a string,
 * `FormData`, `URLSearchParams`, `Blob`, a buffer: `fetch` reads each afresh), except a stream,
 * which can be read once: it is teed, one branch for each send.
 */
function replayableInit(
  input: string | URL,
  init: RequestInit | undefined,
  headers: Record<string, string>,
  send: Fetch,
): Replayable {
  const body = init?.body ?? null;
  const [first, second] = body instanceof ReadableStream ? body.tee() : [body, body];
  const sendWith = (token: string, body: BodyInit | null) =>
    send(input, { ...init, headers: { ...headers, authorization: bearer(token) }, body });
  return {
    send: (token) => sendWith(token, first),
    resend: (token) => sendWith(token, second),
    drop() {
      if (second instanceof ReadableStream) second.cancel().catch(ignore);
    },
  };
}

/** `fetch` over `session`; `trusted` tells the URLs whose requests get the token. */
function sessionFetch(session: TokenProvider, trusted: (url: string) => boolean, send: Fetch): Fetch {
  return async (input, init) => {
    if (input instanceof Request) {
      if (!trusted(input.url)) return send(input, init);
      // A copy: the caller's Request (perhaps reused by its client) is never changed.
      const request = new Request(input, init);
      if (request.headers.has('authorization')) return send(request);
      request.signal.throwIfAborted();
      const token = await session.getAccessToken({ signal: request.signal });
      return sendWithOneRetry(session, token, replayableRequest(request, withDpop(session.dpop, send)), request.signal);
    }
    const headers = isTrusted(input, trusted) ? headersFor(init?.headers) : null;
    // Elsewhere, or the caller chose its own credentials for this request: sent as it is.
    if (headers === null) return send(input, init);
    const signal = init?.signal;
    signal?.throwIfAborted();
    const token = await session.getAccessToken({ signal: signal ?? undefined });
    // DPoP (src/dpop): with the session's `dpop` on, `Authorization: DPoP` and a proof.
    return sendWithOneRetry(session, token, replayableInit(input, init, headers, withDpop(session.dpop, send)), signal);
  };
}

/**
 * `fetch` with the session's guarantees, for any client that takes a `fetch` (openapi-fetch,
 * Apollo's `HttpLink`, graphql-request, urql, TanStack Query fetchers): the exact `fetch`
 * signature, and like `fetch` it never rejects for an HTTP status (a 4xx or 5xx is a
 * `Response`). Requests to `trustedOrigins` get `Authorization: Bearer <token>`, wait while
 * a refresh or re-authentication runs, and after a 401 go out once more, with the same body,
 * after one refresh shared by every caller (the ky client's too). Requests elsewhere, and
 * requests that carry their own `Authorization` header, go out untouched.
 *
 * It rejects where `fetch` would (a network error, `signal` aborted: with its reason) and with
 * the SDK's typed errors where the session itself fails: `SessionExpiredError` (signed out, or
 * every re-authentication path failed), `TokenWaitTimeoutError` (no token within
 * `tokenWaitTimeout`; the session is kept).
 * @throws ConfigurationError - no origin to trust (outside a browser page, `trustedOrigins` is required)
 * @example
 * const apiFetch = createSessionFetch(session, { trustedOrigins: ['https://api.example.com'] });
 * const response = await apiFetch('https://api.example.com/me');
 */
export function createSessionFetch(session: TokenProvider, options: SessionFetchOptions = {}): Fetch {
  const fetchFn = bindSessionFetch(session, options);
  if (fetchFn === failing) throw new ConfigurationError(NO_ORIGINS);
  return fetchFn;
}

/** `session.fetch` with no origin to trust. */
const failing: Fetch = () => Promise.reject(new ConfigurationError(NO_ORIGINS));

/**
 * `session.fetch`: as {@link createSessionFetch}, except that with no origin to trust it is
 * the calls that fail (with `ConfigurationError`), not the manager's construction: an app that
 * never uses `session.fetch` need not configure it.
 */
export function bindSessionFetch(session: TokenProvider, options: SessionFetchOptions): Fetch {
  const origins = trustedOriginList(options.trustedOrigins, undefined);
  return origins.length === 0 ? failing : sessionFetch(session, originTest(origins), options.fetch ?? globalFetch);
}
