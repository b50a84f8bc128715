/**
 * The one retry both clients share (the ky client and `session.fetch`): send with the
 * session's token; on a 401, let the session refresh once (shared by every caller) and send the
 * same request again, once, with the token it hands back. A second 401 is the caller's.
 */

import type { DpopPort } from '../dpop/types.ts';
import { TokenWaitTimeoutError } from '../errors.ts';
import { systemClock } from '../ports/clock.ts';
import { whenAborted } from '../utils/listeners.ts';

/** What the clients need from the session (a `SessionManager` has it all). */
export interface TokenProvider {
  /** A usable access token, waiting for a refresh when needed. */
  getAccessToken(options?: { signal?: AbortSignal | undefined }): Promise<string>;
  /**
   * The server rejected `usedToken`: refresh unless that already happened; the token to retry
   * with. Rejects with `options.signal.reason` once the signal aborts, or at once if it already has.
   */
  handleUnauthorized(usedToken: string | undefined, options?: { signal?: AbortSignal | undefined }): Promise<string>;
  /** Optional: throws when `usedToken` belongs to a session that has ended (checked before a retry). */
  assertSameSession?(usedToken: string): void;
  /** Optional: DPoP proofs for the requests (a `SessionManager` with its `dpop` option on has them). */
  readonly dpop?: DpopPort | undefined;
}

/** A request that can go out twice: with a first token and, after a 401, with another. */
export interface Replayable {
  send(token: string): Promise<Response>;
  /** Sends the same request (same body) again; called at most once, after `send`. */
  resend(token: string): Promise<Response>;
  /** The retry will not happen: let go of whatever was kept for it (a teed body). */
  drop(): void;
}

/** Does nothing: the handler of a failure that changes nothing (a cancelled body that was never read). */
export const ignore = (): void => {};

/** Authorization for `token`. */
export const bearer = (token: string): string => `Bearer ${token}`;

/**
 * `send`, with DPoP when `dpop` is given (src/dpop): the request, which carries the session's
 * token as `Bearer`, goes out with `Authorization: DPoP` and a proof; a `use_dpop_nonce`
 * challenge is answered once with the new nonce. Only the clients' own authorized requests go
 * through it (never a request the caller sent with its own credentials).
 */
export function withDpop(dpop: DpopPort | undefined, send: typeof globalThis.fetch): typeof globalThis.fetch {
  if (!dpop) return send;
  return (input, init) => {
    if (input instanceof Request) return dpop.send(input, init, send);
    // A streamed body needs `duplex` to become a Request (Node.js, Chromium).
    const streamed = init?.body instanceof ReadableStream ? { duplex: 'half' } : {};
    return dpop.send(new Request(input, { ...init, ...streamed }), undefined, send);
  };
}

/** A `Request` made replayable: a body is cloned before the first send (a bodiless one goes out again as it is). */
export function replayableRequest(request: Request, send: (request: Request) => Promise<Response>): Replayable {
  const spare = request.body === null ? request : request.clone();
  return {
    send(token) {
      request.headers.set('authorization', bearer(token));
      return send(request);
    },
    resend(token) {
      spare.headers.set('authorization', bearer(token));
      return send(spare);
    },
    drop() {
      if (spare !== request) spare.body?.cancel().catch(ignore);
    },
  };
}

/**
 * A signal that follows `signal` and, with `until` (an instant on the system clock), also
 * aborts then with {@link TokenWaitTimeoutError}; `done()` removes the timer and the listener.
 */
function waitWithin(
  signal: AbortSignal | undefined,
  until: number | undefined,
): { signal: AbortSignal | undefined; done(): void } {
  if (until === undefined) return { signal, done: ignore };
  const ms = Math.max(0, until - systemClock.now());
  const controller = new AbortController();
  const expire = (): void => controller.abort(new TokenWaitTimeoutError(ms));
  // Already due (the 401 came back late): fail now, before the caller's own timeout can win.
  const timer = ms > 0 ? systemClock.setTimeout(expire, ms) : (expire(), undefined);
  const stopFollowing = whenAborted(signal, () => controller.abort(signal?.reason));
  return {
    signal: controller.signal,
    done() {
      if (timer !== undefined) systemClock.clearTimeout(timer);
      stopFollowing();
    },
  };
}

/**
 * Sends `request` with `token` and, after a 401, once more with the token the session hands
 * back (`handleUnauthorized`: one refresh for every caller; it throws the SDK's typed error
 * when the session itself has failed). Any other status, or a second 401, is the response.
 * @param waitUntil - when waiting for the new token gives up with {@link TokenWaitTimeoutError}
 *   (the ky client: just before ky's own timeout would end the request with its TimeoutError)
 */
export async function sendWithOneRetry(
  session: TokenProvider,
  token: string,
  request: Replayable,
  signal: AbortSignal | null | undefined,
  waitUntil?: number,
): Promise<Response> {
  let retrying = false;
  try {
    const response = await request.send(token);
    // A DPoP nonce challenge still standing after its one retry is not about the token: no refresh.
    if (response.status !== 401 || session.dpop?.isNonceChallenge(response)) return response;
    // The 401's body is never read: free its connection before waiting for the refresh.
    await response.body?.cancel().catch(ignore);
    const wait = waitWithin(signal ?? undefined, waitUntil);
    const next = await session.handleUnauthorized(token, { signal: wait.signal }).finally(wait.done);
    retrying = true;
    return await request.resend(next);
  } finally {
    if (!retrying) request.drop();
  }
}
