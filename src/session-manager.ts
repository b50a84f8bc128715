import type { KyInstance, Options as KyOptions } from 'ky';
import { createSessionClient, type SessionClientOptions } from './client/create-client.ts';
import { createTokenGate, type TokenGate } from './client/token-gate.ts';
import { SessionExpiredError, StoreError } from './errors.ts';
import { resolveOptions, type ResolvedOptions, type SessionManagerOptions } from './options.ts';
import { revokeRefreshToken } from './refresh/grant.ts';
import { reauthenticateUntilSettled } from './refresh/reauth.ts';
import { DISPOSED, refreshUntilSettled } from './refresh/refresher.ts';
import { decideFollow, decideRestore, decideStart, decideTokenUse, isBusyWithStore } from './session/decisions.ts';
import { createEmitter, type SessionEmitter } from './session/events.ts';
import { Ownership } from './session/ownership.ts';
import { createPersistence, type Persistence } from './session/persistence.ts';
import { createScheduler, type SessionScheduler } from './session/scheduler.ts';
import { SessionScope } from './session/scope.ts';
import { INITIAL, isEnded, isGateOpen, publicState, reduce, servableToken } from './session/state.ts';
import type { SessionAction, SessionRecord } from './session/state.ts';
import { createSessionStorage, type SessionStorage } from './session/storage.ts';
import { isRefreshDue } from './session/tokens.ts';
import { parseTokenResponse } from './token-set.ts';
import { combineCleanups, whenAborted } from './utils/listeners.ts';
import type { GetAccessTokenOptions, ReauthReason, SessionEvents, SessionInfo, SessionState } from './types.ts';
import type { SessionTokens, SignOutReason, TokenChangeCause, TokenResponse } from './types.ts';

/**
 * Keeps a user signed in: holds the token set, refreshes it once for any number of concurrent
 * callers (across contexts too, through the lock port), retries transient failures, and when
 * the refresh token is dead runs the re-authentication chain before it ever signs out.
 * The session's state is one record changed by one reducer (docs/ARCHITECTURE.md).
 *
 * @example
 * const session = new SessionManager({ tokenEndpoint, clientId: 'my-app', signInPrompt });
 * await session.restore();
 * const api = session.createClient({ prefix: 'https://api.example.com/v1' });
 * const me = await api.get('me').json();
 */
export class SessionManager {
  readonly #options: ResolvedOptions;
  readonly #storage: SessionStorage;
  readonly #persistence: Persistence;
  readonly #events: SessionEmitter;
  readonly #gate: TokenGate;
  readonly #scheduler: SessionScheduler;
  readonly #scope = new SessionScope();
  readonly #ownership = new Ownership();
  readonly #unsubscribe: () => void;
  #record: SessionRecord = INITIAL;
  #restoring: Promise<SessionState> | undefined;

  constructor(options: SessionManagerOptions) {
    this.#options = resolveOptions(options);
    const { clock, lifecycle, network, logger } = this.#options;
    this.#events = createEmitter(logger);
    this.#storage = createSessionStorage(this.#options);
    this.#persistence = createPersistence(this.#options, this.#storage);
    this.#gate = createTokenGate(clock, () => this.#tokenForWaiter(), () => this.#record.phase !== 'reauthenticating');
    this.#scheduler = createScheduler(
      this.#options,
      () => this.#refreshIfDue('timer'),
      (sessionExpiresAt) =>
        this.#events.emit('sessionExpiring', { sessionExpiresAt, remainingMs: sessionExpiresAt - clock.now() }),
    );
    this.#unsubscribe = combineCleanups(
      lifecycle.subscribe(() => this.#refreshIfDue('foreground')),
      network.subscribe(() => this.#refreshIfDue('online')),
      this.#storage.subscribe(() => void this.#followStore()),
    );
  }

  /** The current state: `signedOut`, `active`, `refreshing` or `reauthenticating`. */
  get state(): SessionState {
    return publicState(this.#record);
  }

  /** Session age, expiries and state; `null` when signed out. Contains no token. */
  get info(): SessionInfo | null {
    const { tokens } = this.#record;
    if (!tokens) return null;
    return {
      state: this.state,
      startedAt: tokens.sessionStartedAt,
      ageMs: this.#now() - tokens.sessionStartedAt,
      accessTokenExpiresAt: tokens.accessTokenExpiresAt,
      refreshTokenExpiresAt: tokens.refreshTokenExpiresAt,
      sessionExpiresAt: tokens.sessionExpiresAt,
    };
  }

  /** How many requests are waiting for a token right now. */
  get waitingRequests(): number {
    return this.#gate.size;
  }

  /** Subscribes to an event (a typed mitt map; see {@link SessionEvents}); returns the unsubscribe. */
  on<K extends keyof SessionEvents>(type: K, handler: (event: SessionEvents[K]) => void): () => void {
    return this.#events.on(type, handler);
  }

  /** Unsubscribes a handler given to {@link SessionManager.on}. */
  off<K extends keyof SessionEvents>(type: K, handler: (event: SessionEvents[K]) => void): void {
    this.#events.off(type, handler);
  }

  /**
   * Starts a session from the token response of the app's own sign-in. The store is written
   * under the refresh lock: a refresh in flight (here or in another context) settles first and
   * cannot write over the new session. A `signOut()` made meanwhile wins.
   * @throws InvalidTokenResponseError - the response is malformed; the previous session is kept
   * @throws SessionExpiredError - the manager was disposed (reason `disposed`); nothing is saved
   */
  async setTokens(response: TokenResponse): Promise<void> {
    if (this.#record.phase === 'disposed') throw new SessionExpiredError('disposed');
    const tokens = parseTokenResponse(response, this.#now());
    this.#scope.replace();
    this.#scheduler.reset();
    this.#dispatch({ type: 'signInStarted' });
    const { signal } = this.#scope;
    await this.#persistence.saveSignIn(tokens);
    if (this.#scope.isCurrent(signal)) this.#apply(tokens, 'signIn');
  }

  /**
   * At app launch: loads the stored session. A valid access token makes the session active
   * without a network call; an expired one is refreshed once; a dead refresh token starts the
   * re-authentication chain; nothing stored, or something unreadable (which is cleared), leaves
   * the session signed out. Resolves with the resulting state once the first attempt settled
   * (offline, it resolves `refreshing` and keeps retrying in the background). Calls made while
   * one runs join it.
   * @throws StoreError - the store itself failed; it was left untouched
   */
  restore(): Promise<SessionState> {
    return (this.#restoring ??= this.#restore().finally(() => (this.#restoring = undefined)));
  }

  /**
   * A usable access token, for callers outside the ky client (WebSocket, fetch, ...). While a
   * refresh or re-authentication runs, waits for its new token; a refresh that has failed
   * (transiently) no longer holds up callers whose current token is still good.
   * @throws SessionExpiredError - no session (see its `reason`), or it ended while this waited
   * @throws TokenWaitTimeoutError - no token within `tokenWaitTimeout` (network down); the session is kept
   */
  async getAccessToken(options: GetAccessTokenOptions = {}): Promise<string> {
    for (;;) {
      const use = decideTokenUse(this.#record, this.#now(), this.#options.refreshMargin);
      if (use.kind === 'refuse') throw new SessionExpiredError(use.reason);
      if (use.kind === 'serve') return use.token;
      if (use.kind === 'refresh') void this.#startRefresh();
      this.#syncGate();
      const owner = this.#ownership.current;
      const token = await this.#gate.wait(this.#options.tokenWaitTimeout, options.signal);
      // Made for the user signed in when it asked: not for whoever signed in while it waited.
      if (owner !== undefined && owner !== this.#ownership.current) throw new SessionExpiredError('sessionReplaced');
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
    this.#assertSignedIn();
    if (usedToken !== undefined) this.assertSameSession(usedToken);
    if (usedToken !== undefined && usedToken === this.#record.tokens?.accessToken) {
      this.#dispatch({ type: 'accessTokenRejected', accessToken: usedToken });
      void this.#startRefresh(usedToken);
    }
    const token = await this.getAccessToken(options);
    // Again after the wait: someone else may have signed in at the prompt meanwhile.
    if (usedToken !== undefined) this.assertSameSession(usedToken);
    return token;
  }

  /**
   * Throws when `usedToken` is an access token of a session that has ended since: another
   * user may be signed in now, and a request made for the previous one must not be sent again
   * with their token. A token of the same user (or one this manager never handed out) passes.
   * @throws SessionExpiredError - the request belongs to an ended session (reason `sessionReplaced`)
   */
  assertSameSession(usedToken: string): void {
    if (!this.#ownership.isCurrent(usedToken)) throw new SessionExpiredError('sessionReplaced');
  }

  /**
   * Refreshes now (single flight: joins the refresh in progress). Transient failures are
   * retried; it resolves once a new token is in use.
   * @throws SessionExpiredError - the session ended (re-authentication failed, or signed out)
   */
  async refresh(): Promise<void> {
    this.#assertSignedIn();
    await this.#startRefresh(this.#record.tokens?.accessToken);
    if (isEnded(this.#record)) throw new SessionExpiredError(this.#record.endReason);
  }

  /**
   * Ends the session: clears the store, cancels timers, rejects waiting requests with
   * `SessionExpiredError`, and revokes the refresh token (RFC 7009) when a revocation endpoint is
   * configured. Never throws: a failed revocation (network down) is logged.
   */
  async signOut(): Promise<void> {
    const refreshToken = this.#record.tokens?.refreshToken;
    // The store may hold a newer one: a refresh that landed while the sign-out waited for the lock.
    const cleared = await this.#end('user');
    for (const token of new Set([refreshToken, cleared])) {
      if (token) await revokeRefreshToken(this.#options, token);
    }
  }

  /**
   * A ky instance that authenticates its requests with this session. See
   * {@link createSessionClient}.
   * @example const api = session.createClient({ prefix: 'https://api.example.com/v1' });
   */
  createClient(options: KyOptions = {}, auth: SessionClientOptions = {}): KyInstance {
    return createSessionClient(this, options, auth);
  }

  /**
   * Removes every listener and timer this manager set up and stops its refresh; requests still
   * waiting reject with `SessionExpiredError` (reason `disposed`). The stored session is kept
   * for the next manager.
   */
  dispose(): void {
    this.#unsubscribe();
    this.#scheduler.cancel();
    this.#events.clear();
    this.#scope.close(DISPOSED);
    this.#dispatch({ type: 'disposed' });
  }

  /** The one way the record changes; the gate and `stateChange` follow from the transition. */
  #dispatch(action: SessionAction): void {
    const before = this.#record;
    this.#record = reduce(before, action);
    if (this.#record === before) return;
    this.#syncGate();
    const from = publicState(before);
    const to = publicState(this.#record);
    if (from !== to) this.#events.emit('stateChange', { from, to });
  }

  #syncGate(): void {
    if (isGateOpen(this.#record, this.#now())) this.#gate.release();
    else this.#gate.hold();
  }

  /** The token handed to a request that waited; throws when the session ended meanwhile. */
  #tokenForWaiter(): string | undefined {
    const token = servableToken(this.#record, this.#now());
    if (token === undefined && isEnded(this.#record)) throw new SessionExpiredError(this.#record.endReason);
    return token;
  }

  #assertSignedIn(): void {
    if (this.state === 'signedOut') throw new SessionExpiredError(isEnded(this.#record) ? this.#record.endReason : 'notSignedIn');
  }

  #now(): number {
    return this.#options.clock.now();
  }

  /** Puts `tokens` in use. A disposed manager arms nothing (an await begun before `dispose()` may land here). */
  #apply(tokens: SessionTokens, cause: TokenChangeCause): void {
    if (this.#record.phase === 'disposed') return;
    const previous = this.#record.tokens;
    if (previous?.refreshToken !== tokens.refreshToken) this.#storage.retire(previous?.refreshToken);
    this.#ownership.record(tokens, cause, previous !== null);
    this.#scheduler.schedule(tokens);
    this.#dispatch({ type: 'tokensApplied', tokens, cause });
    this.#events.tokensChanged(tokens, cause);
  }

  /**
   * Ends the session; the store is cleared unless another context already changed it.
   * @returns the refresh token the store held when this context cleared it
   */
  async #end(reason: SignOutReason): Promise<string | undefined> {
    const wasSignedIn = this.state !== 'signedOut';
    this.#scope.replace();
    this.#scheduler.reset();
    this.#dispatch({ type: 'signOutStarted', reason }); // waiting requests now reject
    let cleared: string | undefined;
    if (reason === 'otherContext') this.#storage.forget();
    else {
      const { signal } = this.#scope;
      cleared = await this.#persistence.clearSignOut(() => this.#scope.isCurrent(signal));
    }
    this.#dispatch({ type: 'signOutFinished' });
    // After the store is cleared: an app that signs in again from this event keeps its session.
    if (wasSignedIn) this.#events.emit('signedOut', { reason });
    return cleared;
  }

  async #restore(): Promise<SessionState> {
    const loaded = await this.#storage.load();
    // Disposed while the store answered (an unmount, a hot reload): the next manager restores.
    if (this.#record.phase === 'disposed') return this.state;
    if (loaded.kind === 'garbled') {
      this.#options.logger.warn('stored session unreadable; cleared');
      await this.#storage.clear();
    }
    if (loaded.kind !== 'ok') return this.state;
    const { tokens } = loaded;
    const decision = decideRestore(this.#record, tokens, this.#storage.isRetired(tokens));
    if (decision === 'catchUpStore') await this.#storage.save(this.#record.tokens!);
    if (decision !== 'start') return this.state;
    const reauthElsewhere = tokens.refreshRejectedAt !== undefined && (await this.#isReauthenticatingElsewhere());
    if ((this.#record as SessionRecord).phase === 'disposed') return this.state;
    this.#scope.replace();
    this.#storage.followed();
    const start = decideStart(tokens, this.#now(), reauthElsewhere);
    if (start === 'use') {
      this.#apply(tokens, 'restore');
      return this.state;
    }
    this.#ownership.record(tokens, 'restore', this.#record.tokens !== null);
    this.#dispatch({ type: 'tokensLoaded', tokens });
    const run =
      start === 'reauthenticate'
        ? this.#exclusive((signal) => this.#reauthenticate('refreshRejected', signal))
        : this.#startRefresh();
    // Resolves at the first failure (offline: the refresh goes on) or when the refresh settles.
    await new Promise<void>((resolve) => {
      const off = this.on('refreshFailed', () => resolve());
      void run.finally(resolve).finally(off);
    });
    return this.state;
  }

  #refreshIfDue(trigger: 'timer' | 'foreground' | 'online'): void {
    const { phase, tokens } = this.#record;
    if (phase !== 'active' || !tokens) return;
    if (isRefreshDue(tokens, this.#now(), this.#options.refreshMargin)) {
      this.#options.logger.debug('refresh due', { trigger });
      void this.#startRefresh();
    } else if (trigger === 'foreground') {
      // Timers may have been frozen in the background: re-arm them from the clock.
      this.#scheduler.schedule(tokens);
    }
  }

  /** Starts the refresh (or joins the one in flight). Only an active or restoring session refreshes. */
  #startRefresh(rejectedAccessToken = this.#record.rejectedAccessToken): Promise<void> {
    const { phase } = this.#record;
    if (!this.#scope.inflight && phase !== 'active' && phase !== 'refreshing') return Promise.resolve();
    return this.#exclusive((signal) => this.#refreshLoop(rejectedAccessToken, signal));
  }

  #exclusive(task: (signal: AbortSignal) => Promise<void>): Promise<void> {
    return this.#scope.exclusive(task, (error) => this.#options.logger.error('session task failed', { error }));
  }

  async #refreshLoop(rejectedAccessToken: string | undefined, signal: AbortSignal): Promise<void> {
    this.#dispatch({ type: 'refreshStarted' });
    const outcome = await refreshUntilSettled(
      { options: this.#options, storage: this.#storage, rejectedAccessToken, signal },
      {
        current: () => this.#record.tokens,
        failed: (error, attempt, retryInMs) => {
          this.#dispatch({ type: 'refreshFailed' }); // requests a still-good token serves go out now
          this.#events.emit('refreshFailed', { error, attempt, retryInMs });
        },
        waitingForOtherContext: () => this.#dispatch({ type: 'reauthStarted', by: 'elsewhere' }),
      },
    );
    if (outcome?.kind === 'refreshed') this.#apply(outcome.tokens, outcome.source);
    else if (outcome?.kind === 'signedOutElsewhere') await this.#end('otherContext');
    else if (outcome?.kind === 'reauth') await this.#reauthenticate(outcome.reason, signal);
  }

  async #reauthenticate(reason: ReauthReason, signal: AbortSignal): Promise<void> {
    this.#dispatch({ type: 'reauthStarted', by: 'own' });
    this.#events.emit('reauthRequired', { reason });
    const chain = reauthenticateUntilSettled(
      this.#options,
      reason,
      this.#record.tokens?.subject,
      (error, attempt, retryInMs) => this.#events.emit('refreshFailed', { error, attempt, retryInMs }),
      signal,
    );
    // Tells a context opened meanwhile that this one is alive and prompting (until the chain
    // ends, or this session does: a prompt that ignores its signal does not hold it forever).
    const ended = new Promise<void>((resolve) => whenAborted(signal, resolve));
    this.#options.lock.holdShared?.(this.#reauthLock, Promise.race([chain, ended]));
    const result = await chain;
    if (signal.aborted) return;
    if (result.kind === 'failed') return void (await this.#end('reauthFailed'));
    this.#scheduler.reset();
    await this.#storage.save(result.tokens);
    if (!signal.aborted) this.#apply(result.tokens, result.method);
  }

  get #reauthLock(): string {
    return `${this.#options.lockName}:reauth`;
  }

  /** Whether a live context runs the re-authentication chain; `false` when the lock cannot tell. */
  async #isReauthenticatingElsewhere(): Promise<boolean> {
    if (this.#record.reauth === 'own') return false; // the holder is this manager
    try {
      return (await this.#options.lock.isHeld?.(this.#reauthLock)) ?? false;
    } catch {
      return false;
    }
  }

  /** Another context changed the store: adopt its newer tokens, or follow its sign-out. */
  async #followStore(): Promise<void> {
    if (isBusyWithStore(this.#record)) return;
    let loaded;
    try {
      loaded = await this.#storage.load();
    } catch (error) {
      if (error instanceof StoreError) this.#options.logger.warn('store read after a change failed', { error });
      return;
    }
    const retired = loaded.kind === 'ok' && this.#storage.isRetired(loaded.tokens);
    const decision = decideFollow(this.#record, loaded, retired, this.#storage.holdsOurs, this.#now());
    if (decision === 'adopt' && loaded.kind === 'ok') {
      if (this.state === 'signedOut') this.#scheduler.reset();
      this.#scope.replace();
      this.#storage.followed();
      this.#apply(loaded.tokens, 'otherContext');
    } else if (decision === 'signOut') {
      // Signed out elsewhere; a sign-in prompt this context shows is closed (its signal aborts).
      await this.#end('otherContext');
    }
  }
}
