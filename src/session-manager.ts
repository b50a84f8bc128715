import { createSessionBindings, type SessionBindings } from './bindings.ts';
import { bindSessionFetch } from './client/session-fetch.ts';
import type { DpopPort } from './dpop/types.ts';
import { SessionExpiredError } from './errors.ts';
import { resolveOptions, type SessionManagerOptions } from './options.ts';
import { revokeRefreshToken } from './refresh/grant.ts';
import { DISPOSED } from './refresh/refresher.ts';
import { SessionCore } from './session/core.ts';
import { decideTokenUse } from './session/decisions.ts';
import { followStore } from './session/follow.ts';
import { restoreSession } from './session/restore.ts';
import { isEnded } from './session/state.ts';
import { parseTokenResponse } from './token-set.ts';
import { combineCleanups } from './utils/listeners.ts';
import type { GetAccessTokenOptions, SessionEvents, SessionInfo, SessionState, TokenResponse } from './types.ts';

/**
 * Keeps a user signed in: holds the token set, refreshes it once for any number of concurrent
 * callers (across contexts too, through the lock port), retries transient failures, and when
 * the refresh token is dead runs the re-authentication chain before it ever signs out.
 * The session's state is one record changed by one reducer (docs/ARCHITECTURE.md).
 *
 * This is the class of `session-keeper/fetch`, without ky; the main entry's `SessionManager`
 * adds `createClient`, the ky client.
 *
 * @example
 * const session = new SessionManager({ tokenEndpoint, clientId: 'my-app', signInPrompt, trustedOrigins: ['https://api.example.com'] });
 * await session.restore();
 * const me = await (await session.fetch('https://api.example.com/v1/me')).json();
 */
export class SessionManager {
  readonly #core: SessionCore;
  readonly #unsubscribe: () => void;
  #restoring: Promise<SessionState> | undefined;

  /**
   * `fetch` with this session's guarantees, already bound (`new HttpLink({ fetch: session.fetch })`
   * works): the token goes to `trustedOrigins` only; see {@link createSessionFetch}.
   */
  readonly fetch: typeof globalThis.fetch;
  /** For UI bindings, bound: `useSyncExternalStore(session.subscribe, session.getSnapshot)`. */
  readonly subscribe: SessionBindings['subscribe'];
  /** For UI bindings, bound: the same snapshot object until the state or the token set changes. */
  readonly getSnapshot: SessionBindings['getSnapshot'];

  constructor(options: SessionManagerOptions) {
    const core = (this.#core = new SessionCore(resolveOptions(options)));
    this.fetch = bindSessionFetch(this, core.options);
    ({ subscribe: this.subscribe, getSnapshot: this.getSnapshot } = createSessionBindings(this));
    const { lifecycle, network } = core.options;
    this.#unsubscribe = combineCleanups(
      lifecycle.subscribe(() => core.refreshIfDue('foreground')),
      network.subscribe(() => core.refreshIfDue('online')),
      core.storage.subscribe(() => void followStore(core)),
    );
  }

  /**
   * DPoP hook: the session's DPoP proofs when its `dpop` option is on (the clients sign their
   * requests with it); sign the app's own sign-in token request with the same key:
   * `headers: { DPoP: await session.dpop.proof('POST', tokenEndpoint) }`.
   */
  get dpop(): DpopPort | undefined {
    return this.#core.options.dpop;
  }

  /** The current state: `signedOut`, `active`, `refreshing` or `reauthenticating`. */
  get state(): SessionState {
    return this.#core.state;
  }

  /** Session age, expiries and state; `null` when signed out. Contains no token. */
  get info(): SessionInfo | null {
    const { tokens } = this.#core.record;
    if (!tokens) return null;
    return {
      state: this.state,
      startedAt: tokens.sessionStartedAt,
      ageMs: this.#core.now() - tokens.sessionStartedAt,
      accessTokenExpiresAt: tokens.accessTokenExpiresAt,
      refreshTokenExpiresAt: tokens.refreshTokenExpiresAt,
      sessionExpiresAt: tokens.sessionExpiresAt,
    };
  }

  /** How many requests are waiting for a token right now. */
  get waitingRequests(): number {
    return this.#core.gate.size;
  }

  /** Subscribes to an event (a typed mitt map; see {@link SessionEvents}); returns the unsubscribe. */
  on<K extends keyof SessionEvents>(type: K, handler: (event: SessionEvents[K]) => void): () => void {
    return this.#core.events.on(type, handler);
  }

  /** Unsubscribes a handler given to {@link SessionManager.on}. */
  off<K extends keyof SessionEvents>(type: K, handler: (event: SessionEvents[K]) => void): void {
    this.#core.events.off(type, handler);
  }

  /**
   * Starts a session from the token response of the app's own sign-in. The store is written
   * under the refresh lock: a refresh in flight (here or in another context) settles first and
   * cannot write over the new session. A `signOut()` made meanwhile wins.
   * @throws InvalidTokenResponseError - the response is malformed; the previous session is kept
   * @throws SessionExpiredError - the manager was disposed (reason `disposed`); nothing is saved
   */
  async setTokens(response: TokenResponse): Promise<void> {
    const core = this.#core;
    if (core.isDisposed()) throw new SessionExpiredError('disposed');
    // DPoP hook: with `dpop` on, the sign-in's token_type must be DPoP (src/token-set.ts).
    const tokens = parseTokenResponse(response, core.now(), undefined, core.options.dpop !== undefined);
    core.scope.replace();
    core.scheduler.reset();
    core.dispatch({ type: 'signInStarted' });
    const { signal } = core.scope;
    await core.persistence.saveSignIn(tokens);
    if (core.scope.isCurrent(signal)) core.apply(tokens, 'signIn');
  }

  /**
   * At app launch: loads the stored session. A valid access token makes the session active
   * without a network call; an expired one is refreshed once; a dead refresh token starts the
   * re-authentication chain; nothing stored, or something unreadable (which is cleared), leaves
   * the session signed out. Resolves with the resulting state once the first attempt settled
   * (offline, it resolves `refreshing` and keeps retrying in the background). Calls made while
   * one runs join it (React StrictMode runs effects twice).
   * @throws StoreError - the store itself failed; it was left untouched
   */
  restore(): Promise<SessionState> {
    return (this.#restoring ??= restoreSession(this.#core).finally(() => (this.#restoring = undefined)));
  }

  /**
   * A usable access token, for callers outside the ky client (WebSocket, fetch, ...). While a
   * refresh or re-authentication runs, waits for its new token; a refresh that has failed
   * (transiently) no longer holds up callers whose current token is still good.
   * @throws SessionExpiredError - no session (see its `reason`), or it ended while this waited
   * @throws TokenWaitTimeoutError - no token within `tokenWaitTimeout` (network down); the session is kept
   */
  async getAccessToken(options: GetAccessTokenOptions = {}): Promise<string> {
    const core = this.#core;
    for (;;) {
      const use = decideTokenUse(core.record, core.now(), core.options.refreshMargin);
      if (use.kind === 'refuse') throw new SessionExpiredError(use.reason);
      if (use.kind === 'serve') return use.token;
      if (use.kind === 'refresh') void core.startRefresh();
      core.syncGate();
      const owner = core.ownership.current;
      const token = await core.gate.wait(core.options.tokenWaitTimeout, options.signal);
      // Made for the user signed in when it asked: not for whoever signed in while it waited.
      if (owner !== core.ownership.current) throw new SessionExpiredError('sessionReplaced');
      if (token !== undefined) return token;
    }
  }

  /**
   * The server answered 401 to `usedToken`. Refreshes, unless the session already moved on to
   * a newer token, and resolves with the token to retry with. Used by the ky client; call it
   * yourself when you send requests another way.
   * @throws SessionExpiredError - `usedToken` belonged to a session that has ended since
   *   (reason `sessionReplaced`): the request is not sent again with the new session's token
   */
  async handleUnauthorized(usedToken: string | undefined, options: GetAccessTokenOptions = {}): Promise<string> {
    const core = this.#core;
    this.#assertSignedIn();
    if (usedToken !== undefined) this.assertSameSession(usedToken);
    if (usedToken !== undefined && usedToken === core.record.tokens?.accessToken) {
      core.dispatch({ type: 'accessTokenRejected', accessToken: usedToken });
      void core.startRefresh(usedToken);
    }
    // Someone else may sign in at the prompt meanwhile: getAccessToken() refuses a token of
    // another owner than the one current now, which is usedToken's (checked above).
    return this.getAccessToken(options);
  }

  /**
   * Throws when `usedToken` is an access token of a session that has ended since: another
   * user may be signed in now, and a request made for the previous one must not be sent again
   * with their token. A token of the same user (or one this manager never handed out) passes.
   * @throws SessionExpiredError - the request belongs to an ended session (reason `sessionReplaced`)
   */
  assertSameSession(usedToken: string): void {
    if (!this.#core.ownership.isCurrent(usedToken)) throw new SessionExpiredError('sessionReplaced');
  }

  /**
   * Refreshes now (single flight: joins the refresh in progress). Transient failures are
   * retried; it resolves once a new token is in use.
   * @throws SessionExpiredError - the session ended (re-authentication failed, or signed out)
   */
  async refresh(): Promise<void> {
    const core = this.#core;
    this.#assertSignedIn();
    await core.startRefresh(core.record.tokens?.accessToken);
    if (isEnded(core.record)) throw new SessionExpiredError(core.record.endReason);
  }

  /**
   * Ends the session: clears the store, cancels timers, rejects waiting requests with
   * `SessionExpiredError`, and revokes the refresh token (RFC 7009) when a revocation endpoint is
   * configured. Never throws: a failed revocation (network down) is logged.
   */
  async signOut(): Promise<void> {
    const refreshToken = this.#core.record.tokens?.refreshToken;
    // The store may hold a newer one: a refresh that landed while the sign-out waited for the lock.
    const cleared = await this.#core.end('user');
    for (const token of new Set([refreshToken, cleared])) {
      if (token) await revokeRefreshToken(this.#core.options, token);
    }
    // DPoP hook: the key goes with the session (after the revocation, whose proof it signs).
    await this.#core.options.dpop?.forgetKey();
  }

  /**
   * Removes every listener and timer this manager set up and stops its refresh; requests still
   * waiting reject with `SessionExpiredError` (reason `disposed`). The stored session is kept
   * for the next manager, and a disposed manager does nothing more (`signOut()` on it neither
   * clears the store nor revokes).
   */
  dispose(): void {
    const core = this.#core;
    this.#unsubscribe();
    core.scheduler.cancel();
    core.events.clear();
    core.scope.close(DISPOSED);
    core.dispatch({ type: 'disposed' });
  }

  #assertSignedIn(): void {
    const { record } = this.#core;
    if (this.state === 'signedOut') throw new SessionExpiredError(isEnded(record) ? record.endReason : 'notSignedIn');
  }
}
