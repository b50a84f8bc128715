import type { KyInstance, Options as KyOptions } from 'ky';
import mitt, { type Emitter } from 'mitt';
import { createSessionClient } from './client/create-client.ts';
import { TokenGate } from './client/token-gate.ts';
import { SessionExpiredError, StoreError } from './errors.ts';
import { resolveOptions, type ResolvedOptions, type SessionManagerOptions } from './options.ts';
import { revokeRefreshToken, type HttpContext } from './refresh/grant.ts';
import { reauthenticate } from './refresh/reauth.ts';
import { hasUsableAccessToken } from './refresh/refresher.ts';
import { refreshUntilSettled } from './refresh/refresh-loop.ts';
import { SessionScheduler, refreshDueAt } from './session/scheduler.ts';
import { SessionStorage } from './session/storage.ts';
import { parseTokenResponse } from './token-set.ts';
import type {
  GetAccessTokenOptions,
  ReauthReason,
  SessionInfo,
  SessionEvents,
  SessionState,
  SessionTokens,
  SignOutReason,
  TokenResponse,
  TokenSource,
} from './types.ts';

/**
 * Keeps a user signed in: holds the token set, refreshes it once for any number of concurrent
 * callers (across contexts too, through the lock port), retries transient failures, and when
 * the refresh token is dead runs the re-authentication chain before it ever signs out.
 *
 * @example
 * const session = new SessionManager({ tokenEndpoint, clientId: 'my-app', signInPrompt });
 * await session.restore();
 * const api = session.createClient({ prefix: 'https://api.example.com/v1' });
 * const me = await api.get('me').json();
 */
export class SessionManager {
  readonly #options: ResolvedOptions;
  readonly #http: HttpContext;
  readonly #storage: SessionStorage;
  readonly #events: Emitter<SessionEvents> = mitt<SessionEvents>();
  readonly #gate: TokenGate;
  readonly #scheduler: SessionScheduler;
  readonly #unsubscribe: (() => void)[];
  #state: SessionState = 'signedOut';
  #tokens: SessionTokens | null = null;
  /** An access token the server answered 401 to: not used again, whatever its `exp` says. */
  #rejectedAccessToken: string | undefined;
  /** The refresh (or re-authentication) in flight: one at a time. Never rejects. */
  #inflight: Promise<void> | null = null;
  /** Aborted when the session ends or is replaced, which stops the loops of the old one. */
  #lifetime = new AbortController();
  #disposed = false;

  constructor(options: SessionManagerOptions) {
    this.#options = resolveOptions(options);
    const { clock, fetch, store, persistAccessToken, logger, broadcast } = this.#options;
    this.#http = { fetch, clock };
    this.#storage = new SessionStorage(store, persistAccessToken, logger, () => broadcast?.post());
    this.#gate = new TokenGate(clock, () => this.#tokenForWaiter(), () => this.#state !== 'reauthenticating');
    this.#scheduler = new SessionScheduler(
      clock,
      () => this.#refreshIfDue('timer'),
      (sessionExpiresAt) =>
        this.#events.emit('sessionExpiring', { sessionExpiresAt, remainingMs: sessionExpiresAt - clock.now() }),
    );
    this.#unsubscribe = [
      this.#options.lifecycle.subscribe(() => this.#refreshIfDue('foreground')),
      this.#options.network.subscribe(() => this.#refreshIfDue('online')),
      this.#onOtherContext(() => void this.#followStore()),
    ];
  }

  /** The current state: `signedOut`, `active`, `refreshing` or `reauthenticating`. */
  get state(): SessionState {
    return this.#state;
  }

  /** Session age, expiries and state; `null` when signed out. Contains no token. */
  get session(): SessionInfo | null {
    const tokens = this.#tokens;
    if (!tokens) return null;
    return {
      state: this.#state,
      startedAt: tokens.sessionStartedAt,
      ageMs: this.#options.clock.now() - tokens.sessionStartedAt,
      accessTokenExpiresAt: tokens.accessTokenExpiresAt,
      refreshTokenExpiresAt: tokens.refreshTokenExpiresAt,
      sessionExpiresAt: tokens.sessionExpiresAt,
    };
  }

  /** How many requests are waiting for a token right now. */
  get waitingRequests(): number {
    return this.#gate.size;
  }

  /** Subscribes to an event (a typed mitt map; see {@link SessionEvents}). */
  on<K extends keyof SessionEvents>(type: K, handler: (event: SessionEvents[K]) => void): () => void {
    this.#events.on(type, handler);
    return () => this.#events.off(type, handler);
  }

  /** Unsubscribes a handler given to {@link SessionManager.on}. */
  off<K extends keyof SessionEvents>(type: K, handler: (event: SessionEvents[K]) => void): void {
    this.#events.off(type, handler);
  }

  /**
   * Starts a session from the token response of the app's own sign-in.
   * @throws InvalidTokenResponseError - the response is malformed; the previous session is kept
   */
  async setTokens(response: TokenResponse): Promise<void> {
    const tokens = parseTokenResponse(response, this.#options.clock.now());
    this.#replaceSession();
    this.#scheduler.reset();
    await this.#storage.save(tokens);
    this.#apply(tokens, 'signIn');
  }

  /**
   * At app launch: loads the stored session. A valid access token makes the session active
   * without a network call; an expired one is refreshed once; a dead refresh token starts the
   * re-authentication chain; nothing stored, or something unreadable (which is cleared), leaves
   * the session signed out. Resolves with the resulting state once the first attempt settled
   * (offline, it resolves `refreshing` and keeps retrying in the background).
   * @throws StoreError - the store itself failed; it was left untouched
   */
  async restore(): Promise<SessionState> {
    const loaded = await this.#storage.load();
    if (loaded.kind === 'garbled') {
      this.#options.logger.warn('stored session unreadable; cleared');
      await this.#storage.clear();
    }
    if (loaded.kind !== 'ok') return this.#state;
    this.#replaceSession();
    this.#storage.saved = true;
    const { tokens } = loaded;
    if (hasUsableAccessToken(tokens, this.#options.clock.now())) {
      this.#apply(tokens, 'restore');
      return this.#state;
    }
    this.#tokens = tokens;
    const firstFailure = new Promise<void>((resolve) => {
      const off = this.on('refreshFailed', () => {
        off();
        resolve();
      });
      void this.#startRefresh(undefined).finally(() => {
        off();
        resolve();
      });
    });
    await firstFailure;
    return this.#state;
  }

  /**
   * A usable access token, for callers outside the ky client (WebSocket, fetch, ...). Waits
   * while a refresh or re-authentication runs.
   * @throws SessionExpiredError - signed out, or every re-authentication path failed
   * @throws TokenWaitTimeoutError - no token within `tokenWaitTimeout` (network down); the session is kept
   */
  async getAccessToken(options: GetAccessTokenOptions = {}): Promise<string> {
    if (this.#state === 'signedOut') throw new SessionExpiredError('Not signed in');
    const now = this.#options.clock.now();
    const tokens = this.#tokens;
    if (this.#state === 'active' && tokens && hasUsableAccessToken(tokens, now, this.#rejectedAccessToken)) {
      const due = refreshDueAt(tokens, this.#options.refreshMargin);
      if (due === null || now < due) return tokens.accessToken;
    }
    // No usable token (or one due for refresh, its timer late): wait for the shared refresh.
    if (this.#state === 'active') void this.#startRefresh(undefined);
    return this.#gate.wait(this.#options.tokenWaitTimeout, options.signal);
  }

  /**
   * The server answered 401 to `usedToken`. Refreshes, unless the session already moved on to
   * a newer token, and resolves with the token to retry with. Used by the ky client; call it
   * yourself when you send requests another way.
   */
  async handleUnauthorized(usedToken: string | undefined, options: GetAccessTokenOptions = {}): Promise<string> {
    if (this.#state === 'signedOut') throw new SessionExpiredError('Not signed in');
    if (usedToken !== undefined && usedToken === this.#tokens?.accessToken) {
      this.#rejectedAccessToken = usedToken;
      void this.#startRefresh(usedToken);
    }
    return this.getAccessToken(options);
  }

  /**
   * Refreshes now (single flight: joins the refresh in progress). Transient failures are
   * retried; it resolves once a new token is in use.
   * @throws SessionExpiredError - the session ended (re-authentication failed, or signed out)
   */
  async refresh(): Promise<void> {
    if (this.#state === 'signedOut') throw new SessionExpiredError('Not signed in');
    await this.#startRefresh(this.#tokens?.accessToken);
    if ((this.#state as SessionState) === 'signedOut') throw new SessionExpiredError();
  }

  /**
   * Ends the session: clears the store, cancels timers, rejects waiting requests with
   * `SessionExpiredError`, and revokes the refresh token (RFC 7009) when a revocation endpoint is
   * configured. Never throws: a failed revocation (network down) is logged.
   */
  async signOut(): Promise<void> {
    const refreshToken = this.#tokens?.refreshToken;
    await this.#end('user', { clearStore: true });
    if (refreshToken) await revokeRefreshToken(this.#options, this.#http, refreshToken);
  }

  /**
   * A ky instance that authenticates its requests with this session. See
   * {@link createSessionClient}.
   * @example const api = session.createClient({ prefix: 'https://api.example.com/v1' });
   */
  createClient(options: KyOptions = {}): KyInstance {
    return createSessionClient(this, options);
  }

  /**
   * Removes every listener and timer this manager set up and stops its refresh; requests still
   * waiting reject with `SessionExpiredError`. The stored session is kept for the next manager.
   */
  dispose(): void {
    for (const unsubscribe of this.#unsubscribe) unsubscribe();
    this.#scheduler.cancel();
    this.#events.all.clear();
    this.#replaceSession();
    this.#disposed = true;
    this.#gate.release();
  }

  #setState(to: SessionState): void {
    const from = this.#state;
    if (from === to) return;
    this.#state = to;
    if (to === 'refreshing' || to === 'reauthenticating') this.#gate.hold();
    else this.#gate.release();
    this.#events.emit('stateChange', { from, to });
  }

  /** The token handed to a request that waited; throws when the session ended meanwhile. */
  #tokenForWaiter(): string {
    if (this.#disposed) throw new SessionExpiredError('The session manager was disposed');
    if (this.#state !== 'active' || !this.#tokens) throw new SessionExpiredError();
    return this.#tokens.accessToken;
  }

  #apply(tokens: SessionTokens, source: TokenSource): void {
    this.#tokens = tokens;
    this.#rejectedAccessToken = undefined;
    const { refreshMargin, sessionWarning } = this.#options;
    this.#scheduler.schedule(tokens, refreshMargin, sessionWarning);
    this.#setState('active');
    this.#events.emit('refreshed', {
      source,
      accessTokenExpiresAt: tokens.accessTokenExpiresAt,
      sessionExpiresAt: tokens.sessionExpiresAt,
    });
  }

  /** Stops whatever the previous session had running (its refresh loop exits quietly). */
  #replaceSession(): AbortSignal {
    this.#lifetime.abort();
    this.#lifetime = new AbortController();
    this.#inflight = null;
    return this.#lifetime.signal;
  }

  async #end(reason: SignOutReason, { clearStore }: { clearStore: boolean }): Promise<void> {
    const wasSignedIn = this.#state !== 'signedOut';
    this.#replaceSession();
    this.#scheduler.reset();
    this.#tokens = null;
    this.#rejectedAccessToken = undefined;
    this.#setState('signedOut'); // waiting requests now reject with SessionExpiredError
    if (clearStore) await this.#storage.clear();
    else this.#storage.saved = false;
    if (wasSignedIn) this.#events.emit('signedOut', { reason });
  }

  #refreshIfDue(trigger: 'timer' | 'foreground' | 'online'): void {
    const tokens = this.#tokens;
    if (this.#state !== 'active' || !tokens) return;
    const due = refreshDueAt(tokens, this.#options.refreshMargin);
    if (due !== null && this.#options.clock.now() >= due) {
      this.#options.logger.debug('refresh due', { trigger });
      void this.#startRefresh(undefined);
    } else if (trigger === 'foreground') {
      // Timers may have been frozen in the background: re-arm them from the clock.
      this.#scheduler.schedule(tokens, this.#options.refreshMargin, this.#options.sessionWarning);
    }
  }

  #startRefresh(rejectedAccessToken: string | undefined): Promise<void> {
    if (this.#inflight) return this.#inflight;
    const signal = this.#lifetime.signal;
    const run = this.#refreshLoop(rejectedAccessToken, signal).finally(() => {
      if (this.#inflight === run) this.#inflight = null;
    });
    this.#inflight = run;
    return run;
  }

  /** Runs one refresh to its end and acts on the outcome. */
  async #refreshLoop(rejectedAccessToken: string | undefined, signal: AbortSignal): Promise<void> {
    this.#setState('refreshing');
    const outcome = await refreshUntilSettled(
      this.#options,
      this.#http,
      this.#storage,
      rejectedAccessToken,
      {
        current: () => this.#tokens,
        failed: (error, attempt, retryInMs) => this.#events.emit('refreshFailed', { error, attempt, retryInMs }),
        waitingForOtherContext: () => this.#setState('reauthenticating'),
        onOtherContext: (listener) => this.#onOtherContext(listener),
      },
      signal,
    );
    switch (outcome.kind) {
      case 'refreshed':
      case 'adopted':
        return this.#apply(outcome.tokens, outcome.kind === 'adopted' ? 'otherContext' : 'refresh');
      case 'signedOutElsewhere':
        return this.#end('otherContext', { clearStore: false });
      case 'reauth':
        return this.#reauthenticate(outcome.reason, signal);
    }
  }

  /** Calls `listener` when another context may have changed the store; returns the cleanup. */
  #onOtherContext(listener: () => void): () => void {
    const offStore = this.#storage.subscribe(listener);
    const offBroadcast = this.#options.broadcast?.subscribe(listener);
    return () => {
      offStore();
      offBroadcast?.();
    };
  }

  async #reauthenticate(reason: ReauthReason, signal: AbortSignal): Promise<void> {
    this.#setState('reauthenticating');
    this.#events.emit('reauthRequired', { reason });
    const lastAccessToken = this.#tokens?.accessToken;
    const result = await reauthenticate(this.#options, this.#http, reason, lastAccessToken, signal);
    if (signal.aborted) return;
    if (!result) return this.#end('reauthFailed', { clearStore: true });
    this.#scheduler.reset();
    await this.#storage.save(result.tokens);
    if (signal.aborted) return;
    this.#apply(result.tokens, result.method);
    this.#events.emit('reauthenticated', { method: result.method });
  }

  /** Another context changed the store: adopt its newer tokens, or follow its sign-out. */
  async #followStore(): Promise<void> {
    // A refresh re-reads the store under the lock; a re-authentication is replaced below when
    // another context re-authenticated first.
    if (this.#state === 'refreshing') return;
    let loaded;
    try {
      loaded = await this.#storage.load();
    } catch (error) {
      if (error instanceof StoreError) this.#options.logger.warn('could not read the store after a change', { error });
      return;
    }
    const now = this.#options.clock.now();
    if (loaded.kind === 'ok') {
      const { tokens } = loaded;
      if (tokens.refreshToken === this.#tokens?.refreshToken && tokens.accessToken === this.#tokens?.accessToken) return;
      if (!hasUsableAccessToken(tokens, now)) return; // nothing better than what we have
      if (this.#state === 'signedOut') this.#scheduler.reset();
      this.#replaceSession();
      this.#storage.saved = true;
      this.#apply(tokens, 'otherContext');
    } else if (this.#state === 'active' && this.#storage.saved) {
      await this.#end('otherContext', { clearStore: false });
    }
  }
}
