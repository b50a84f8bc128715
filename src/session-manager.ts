import mitt, { type Emitter } from 'mitt';
import { createSessionBindings, type SessionBindings } from './bindings.ts';
import { bindSessionFetch } from './client/session-fetch.ts';
import { createTokenGate, type TokenGate } from './client/token-gate.ts';
import { SessionExpiredError, StoreError } from './errors.ts';
import { resolveOptions, type ResolvedOptions, type SessionManagerOptions } from './options.ts';
import { revokeRefreshToken } from './refresh/grant.ts';
import { reauthenticateUntilSettled } from './refresh/reauth.ts';
import { DISPOSED, hasUsableAccessToken } from './refresh/refresher.ts';
import { refreshUntilSettled } from './refresh/refresh-loop.ts';
import { createScheduler, refreshDueAt, type SessionScheduler } from './session/scheduler.ts';
import { createSessionStorage, type SessionStorage } from './session/storage.ts';
import { parseTokenResponse } from './token-set.ts';
import { combineCleanups, whenAborted } from './utils/listeners.ts';
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

/** The message of a request refused because another user signed in meanwhile. */
const ENDED = 'The session this request was made for has ended';

/**
 * Keeps a user signed in: holds the token set, refreshes it once for any number of concurrent
 * callers (across contexts too, through the lock port), retries transient failures, and when
 * the refresh token is dead runs the re-authentication chain before it ever signs out.
 *
 * This is the class of `session-keeper/fetch`, without ky; the main entry's `SessionManager`
 * extends it with `createClient` (src/ky-session-manager.ts).
 *
 * @example
 * const session = new SessionManager({ tokenEndpoint, clientId: 'my-app', signInPrompt, trustedOrigins: ['https://api.example.com'] });
 * await session.restore();
 * const me = await (await session.fetch('https://api.example.com/v1/me')).json();
 */
export class SessionManager {
  readonly #options: ResolvedOptions;
  readonly #storage: SessionStorage;
  readonly #events: Emitter<SessionEvents> = mitt<SessionEvents>();
  readonly #gate: TokenGate;
  readonly #scheduler: SessionScheduler;
  /** Removes the listeners set up by the constructor. */
  readonly #unsubscribe: () => void;
  #state: SessionState = 'signedOut';
  #tokens: SessionTokens | null = null;
  /** An access token the server answered 401 to: not used again, whatever its `exp` says. */
  #rejectedAccessToken: string | undefined;
  /** The refresh (or re-authentication) in flight: one at a time. Never rejects. */
  #inflight: Promise<void> | null = null;
  /** Aborted when the session ends or is replaced, which stops the loops of the old one. */
  #lifetime = new AbortController();
  #disposed = false;
  /** Set while this context clears the store: the writes it waits for are not to be adopted. */
  #clearing = false;
  /** The refresh in flight has failed at least once (transiently). */
  #refreshFailing = false;
  /** The store's save of a sign-in in progress: store notices meanwhile are not followed. */
  #signingIn: Promise<void> | undefined;
  /** Recent access tokens and whose session they were: a user, or a sign-in's number. */
  readonly #owners = new Map<string, string>();
  /** Whose session the current tokens are. */
  #owner: string | undefined;
  #signIns = 0;
  /** Set while this manager holds the re-authentication lock (it is the one prompting). */
  #reauthHeld: Promise<unknown> | undefined;

  // ---- the fetch path and UI bindings: adapters over the public API (src/client/session-fetch.ts, src/bindings.ts)
  /**
   * `fetch` with this session's guarantees, already bound (`new HttpLink({ fetch: session.fetch })`
   * works): the token goes to `trustedOrigins` only; see {@link createSessionFetch}.
   */
  readonly fetch: typeof globalThis.fetch;
  /** For UI bindings, bound: `useSyncExternalStore(session.subscribe, session.getSnapshot)`. */
  readonly subscribe: SessionBindings['subscribe'];
  /** For UI bindings, bound: the same snapshot object until the state or the token set changes. */
  readonly getSnapshot: SessionBindings['getSnapshot'];
  // ----

  constructor(options: SessionManagerOptions) {
    this.#options = resolveOptions(options);
    this.fetch = bindSessionFetch(this, this.#options);
    ({ subscribe: this.subscribe, getSnapshot: this.getSnapshot } = createSessionBindings(this));
    const { clock, lifecycle, network } = this.#options;
    this.#storage = createSessionStorage(this.#options);
    this.#gate = createTokenGate(clock, () => this.#tokenForWaiter(), () => this.#state !== 'reauthenticating');
    this.#scheduler = createScheduler(
      this.#options,
      () => this.#refreshIfDue('timer'),
      (sessionExpiresAt) =>
        this.#emit('sessionExpiring', { sessionExpiresAt, remainingMs: sessionExpiresAt - clock.now() }),
    );
    this.#unsubscribe = combineCleanups(
      lifecycle.subscribe(() => this.#refreshIfDue('foreground')),
      network.subscribe(() => this.#refreshIfDue('online')),
      this.#storage.subscribe(() => void this.#followStore()),
    );
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
   * Starts a session from the token response of the app's own sign-in. The store is written
   * under the refresh lock: a refresh in flight (here or in another context) settles first and
   * cannot write over the new session. A `signOut()` made meanwhile wins.
   * @throws InvalidTokenResponseError - the response is malformed; the previous session is kept
   */
  async setTokens(response: TokenResponse): Promise<void> {
    const tokens = parseTokenResponse(response, this.#now());
    this.#replaceSession();
    this.#scheduler.reset();
    const session = this.#lifetime;
    // Under the lock: a refresh or a sign-out in flight (here or in another context) settles
    // first, and cannot write over this sign-in afterwards.
    const { lock, lockName } = this.#options;
    const saving = lock.run(lockName, () => this.#storage.save(tokens));
    this.#signingIn = saving;
    await saving.finally(() => this.#signingIn === saving && (this.#signingIn = undefined));
    // A sign-out (or another sign-in) made while the store saved wins.
    if (this.#lifetime === session) this.#apply(tokens, 'signIn');
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
    // Disposed while the store answered (an unmount, a hot reload): the next manager restores.
    if (this.#disposed) return this.#state;
    if (loaded.kind === 'garbled') {
      this.#options.logger.warn('stored session unreadable; cleared');
      await this.#storage.clear();
    }
    if (loaded.kind !== 'ok') return this.#state;
    const { tokens } = loaded;
    if (this.#tokens && this.#storage.isRetired(tokens)) {
      // Called again (on resume, say) after saving a rotation failed: memory holds the live set.
      await this.#storage.save(this.#tokens);
      return this.#state;
    }
    if (this.#state !== 'signedOut' && tokens.refreshToken === this.#tokens?.refreshToken) {
      // Called again on the session this manager runs (on resume, say): restarting it would
      // abandon a refresh whose grant the server may already have answered.
      return this.#state;
    }
    const dead = tokens.refreshRejectedAt !== undefined;
    // A dead refresh token: is a context (another tab) re-authenticating right now?
    const reauthElsewhere = dead && (await this.#isReauthenticatingElsewhere());
    if (this.#disposed) return this.#state;
    this.#replaceSession();
    this.#storage.saved = true;
    if (!dead && hasUsableAccessToken(tokens, this.#now())) {
      this.#apply(tokens, 'restore');
      return this.#state;
    }
    this.#recordOwner(tokens, 'restore');
    this.#tokens = tokens;
    // Found dead, and nobody is re-authenticating (the app was relaunched): prompt at once.
    // Another tab is: wait for its outcome like the contexts that were open all along.
    const run =
      dead && !reauthElsewhere
        ? this.#exclusive((signal) => this.#reauthenticate('refreshRejected', signal))
        : this.#startRefresh(undefined);
    // Resolves at the first failure (offline: the refresh goes on) or when the refresh settles.
    await new Promise<void>((resolve) => {
      const settled = () => {
        off();
        resolve();
      };
      const off = this.on('refreshFailed', settled);
      void run.finally(settled);
    });
    return this.#state;
  }

  /**
   * A usable access token, for callers outside the ky client (WebSocket, fetch, ...). While a
   * refresh or re-authentication runs, waits for its new token; a refresh that has failed
   * (transiently) no longer holds up callers whose current token is still good.
   * @throws SessionExpiredError - signed out, or every re-authentication path failed
   * @throws TokenWaitTimeoutError - no token within `tokenWaitTimeout` (network down); the session is kept
   */
  async getAccessToken(options: GetAccessTokenOptions = {}): Promise<string> {
    this.#assertSignedIn();
    const tokens = this.#tokens;
    const now = this.#now();
    if (tokens && hasUsableAccessToken(tokens, now, this.#rejectedAccessToken)) {
      if (this.#state === 'active' && !this.#isRefreshDue(tokens, now)) return tokens.accessToken;
      // A refresh that keeps failing does not hold up requests a good token can serve.
      if (this.#usableWhileFailing(tokens)) return tokens.accessToken;
    }
    // Wait for the shared refresh (started here when none runs yet, its timer perhaps late).
    if (this.#state === 'active') void this.#startRefresh(undefined);
    // The gate may have been opened early for a failing refresh: this request needs the new token.
    if (this.#state !== 'active') this.#gate.hold();
    const owner = this.#owner;
    const token = await this.#gate.wait(this.#options.tokenWaitTimeout, options.signal);
    // Made for the user signed in when it asked: not for whoever signed in while it waited.
    if (owner !== undefined && owner !== this.#owner) throw new SessionExpiredError(ENDED);
    return token;
  }

  /**
   * The server answered 401 to `usedToken`. Refreshes, unless the session already moved on to
   * a newer token, and resolves with the token to retry with. Used by the ky client; call it
   * yourself when you send requests another way.
   * @throws SessionExpiredError - `usedToken` belonged to a session that has ended since (a
   *   sign-out, and perhaps another user's sign-in): the request is not sent again with the
   *   new session's token
   */
  async handleUnauthorized(usedToken: string | undefined, options: GetAccessTokenOptions = {}): Promise<string> {
    this.#assertSignedIn();
    if (usedToken !== undefined) this.assertSameSession(usedToken);
    if (usedToken !== undefined && usedToken === this.#tokens?.accessToken) {
      this.#rejectedAccessToken = usedToken;
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
   * Used by the ky client before it retries a request.
   * @throws SessionExpiredError - the request belongs to an ended session
   */
  assertSameSession(usedToken: string): void {
    const owner = this.#owners.get(usedToken);
    if (owner !== undefined && this.#owner !== undefined && owner !== this.#owner) throw new SessionExpiredError(ENDED);
  }

  /**
   * Refreshes now (single flight: joins the refresh in progress). Transient failures are
   * retried; it resolves once a new token is in use.
   * @throws SessionExpiredError - the session ended (re-authentication failed, or signed out)
   */
  async refresh(): Promise<void> {
    this.#assertSignedIn();
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
    // The store may hold a newer one: a refresh that landed while the sign-out waited for the lock.
    const cleared = await this.#end('user');
    for (const token of new Set([refreshToken, cleared])) {
      if (token) await revokeRefreshToken(this.#options, token);
    }
  }

  /**
   * Removes every listener and timer this manager set up and stops its refresh; requests still
   * waiting reject with `SessionExpiredError`. The stored session is kept for the next manager.
   */
  dispose(): void {
    this.#unsubscribe();
    this.#scheduler.cancel();
    this.#events.all.clear();
    this.#replaceSession(DISPOSED);
    this.#disposed = true;
    this.#gate.release();
  }

  /**
   * Emits to each handler in turn; a handler that throws is logged and does not stop the
   * others, nor the sign-out or refresh that emitted.
   */
  #emit<K extends keyof SessionEvents>(type: K, event: SessionEvents[K]): void {
    for (const handler of [...(this.#events.all.get(type) ?? [])]) {
      try {
        (handler as (event: SessionEvents[K]) => void)(event);
      } catch (error) {
        this.#options.logger.error('an event handler threw', { event: type, error });
      }
    }
  }

  #assertSignedIn(): void {
    if (this.#state === 'signedOut') throw new SessionExpiredError('Not signed in');
  }

  #setState(to: SessionState): void {
    const from = this.#state;
    if (from === to) return;
    this.#state = to;
    this.#refreshFailing = false;
    if (to === 'refreshing' || to === 'reauthenticating') this.#gate.hold();
    else this.#gate.release();
    this.#emit('stateChange', { from, to });
  }

  /** The token handed to a request that waited; throws when the session ended meanwhile. */
  #tokenForWaiter(): string {
    if (this.#disposed) throw new SessionExpiredError('Session manager disposed');
    const tokens = this.#tokens;
    if (tokens && (this.#state === 'active' || this.#usableWhileFailing(tokens))) return tokens.accessToken;
    throw new SessionExpiredError();
  }

  /**
   * Whether requests may use the current token although a refresh runs: only once that refresh
   * has failed (transiently) and while the token is still good. Until then they wait for the
   * new token; after it, a flaky token endpoint does not hold up requests a good token serves.
   */
  #usableWhileFailing(tokens: SessionTokens): boolean {
    return (
      this.#state === 'refreshing' &&
      this.#refreshFailing &&
      hasUsableAccessToken(tokens, this.#now(), this.#rejectedAccessToken)
    );
  }

  #apply(tokens: SessionTokens, source: TokenSource): void {
    // A disposed manager arms nothing (an await that began before `dispose()` may land here).
    if (this.#disposed) return;
    if (this.#tokens?.refreshToken !== tokens.refreshToken) this.#storage.retire(this.#tokens?.refreshToken);
    this.#recordOwner(tokens, source);
    this.#tokens = tokens;
    this.#rejectedAccessToken = undefined;
    this.#scheduler.schedule(tokens);
    this.#setState('active');
    this.#emit('refreshed', {
      source,
      accessTokenExpiresAt: tokens.accessTokenExpiresAt,
      sessionExpiresAt: tokens.sessionExpiresAt,
    });
  }

  /**
   * Whose session `tokens` is, for {@link SessionManager.assertSameSession}: its user (the JWT
   * `sub`). Opaque tokens do not say: then the app's own sign-ins (`setTokens`, or any session
   * after a sign-out) start a new owner, while refreshes and re-authentications continue the
   * current one (the device key, or the sign-in prompt, re-authenticates the same user).
   */
  #recordOwner(tokens: SessionTokens, source: TokenSource): void {
    if (!this.#tokens || source === 'signIn') this.#signIns++;
    this.#owner = tokens.subject === undefined ? `#${this.#signIns}` : `sub:${tokens.subject}`;
    if (tokens.accessToken === '') return; // not persisted: there is no token to recognise
    this.#owners.set(tokens.accessToken, this.#owner);
    if (this.#owners.size > 16) this.#owners.delete(this.#owners.keys().next().value!);
  }

  /** Stops whatever the previous session had running (its refresh loop exits quietly). */
  #replaceSession(reason?: unknown): void {
    this.#lifetime.abort(reason);
    this.#lifetime = new AbortController();
    this.#inflight = null;
  }

  /**
   * Ends the session; the store is cleared unless another context already changed it.
   * @returns the refresh token the store held when this context cleared it
   */
  async #end(reason: SignOutReason): Promise<string | undefined> {
    const wasSignedIn = this.#state !== 'signedOut';
    let cleared: string | undefined;
    this.#replaceSession();
    this.#scheduler.reset();
    this.#tokens = null;
    this.#rejectedAccessToken = undefined;
    this.#setState('signedOut'); // waiting requests now reject with SessionExpiredError
    if (reason === 'otherContext') this.#storage.saved = false;
    else {
      // Under the lock: a refresh another context has in flight lands first, then is cleared
      // (and that context follows), instead of bringing the session back after the sign-out.
      // A new session started meanwhile (setTokens) is not cleared.
      const ended = this.#lifetime;
      this.#clearing = true;
      const { lock, lockName } = this.#options;
      await lock
        .run(lockName, async () => {
          if (this.#lifetime !== ended) return;
          const stored = await this.#storage.load().catch(() => undefined);
          if (stored?.kind === 'ok') cleared = stored.tokens.refreshToken;
          await this.#storage.clear();
        })
        .finally(() => (this.#clearing = false));
    }
    // After the store is cleared: an app that signs in again from this event keeps its session.
    if (wasSignedIn) this.#emit('signedOut', { reason });
    return cleared;
  }

  /** Whether the proactive refresh of `tokens` is due (its timer may be late). */
  #isRefreshDue(tokens: SessionTokens, now = this.#now()): boolean {
    const due = refreshDueAt(tokens, this.#options.refreshMargin);
    return due !== null && now >= due;
  }

  #now(): number {
    return this.#options.clock.now();
  }

  #refreshIfDue(trigger: 'timer' | 'foreground' | 'online'): void {
    const tokens = this.#tokens;
    if (this.#state !== 'active' || !tokens) return;
    if (this.#isRefreshDue(tokens)) {
      this.#options.logger.debug('refresh due', { trigger });
      void this.#startRefresh(undefined);
    } else if (trigger === 'foreground') {
      // Timers may have been frozen in the background: re-arm them from the clock.
      this.#scheduler.schedule(tokens);
    }
  }

  #startRefresh(rejectedAccessToken: string | undefined): Promise<void> {
    return this.#exclusive((signal) => this.#refreshLoop(rejectedAccessToken, signal));
  }

  /** Runs `task` unless a refresh or re-authentication already runs: then joins that one. */
  #exclusive(task: (signal: AbortSignal) => Promise<void>): Promise<void> {
    if (this.#inflight) return this.#inflight;
    if (this.#disposed) return Promise.resolve();
    const run = task(this.#lifetime.signal).finally(() => {
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
      this.#storage,
      rejectedAccessToken,
      {
        current: () => this.#tokens,
        failed: (error, attempt, retryInMs) => {
          this.#refreshFailing = true;
          // Requests waiting with a token that is still good go out with it now.
          if (this.#tokens && this.#usableWhileFailing(this.#tokens)) this.#gate.release();
          this.#emit('refreshFailed', { error, attempt, retryInMs });
        },
        waitingForOtherContext: () => this.#setState('reauthenticating'),
      },
      signal,
    );
    switch (outcome.kind) {
      case 'refreshed':
        return this.#apply(outcome.tokens, outcome.source);
      case 'signedOutElsewhere':
        return void (await this.#end('otherContext'));
      case 'reauth':
        return this.#reauthenticate(outcome.reason, signal);
    }
  }

  async #reauthenticate(reason: ReauthReason, signal: AbortSignal): Promise<void> {
    this.#setState('reauthenticating');
    this.#emit('reauthRequired', { reason });
    const chain = reauthenticateUntilSettled(
      this.#options,
      reason,
      this.#tokens?.subject,
      (error, attempt, retryInMs) => this.#emit('refreshFailed', { error, attempt, retryInMs }),
      signal,
    );
    // Tells a tab opened meanwhile that this one is alive and prompting (until the chain ends,
    // or this session does: a prompt that ignores its signal does not hold it forever).
    const ended = new Promise<void>((resolve) => whenAborted(signal, resolve));
    const held = Promise.race([chain, ended]);
    this.#reauthHeld = held;
    void held.then(() => this.#reauthHeld === held && (this.#reauthHeld = undefined));
    this.#options.lock.holdShared?.(this.#reauthLock, held);
    const result = await chain;
    if (signal.aborted) return;
    if (result.kind === 'failed') return void (await this.#end('reauthFailed'));
    this.#scheduler.reset();
    await this.#storage.save(result.tokens);
    if (signal.aborted) return;
    this.#apply(result.tokens, result.method);
    this.#emit('reauthenticated', { method: result.method });
  }

  get #reauthLock(): string {
    return `${this.#options.lockName}:reauth`;
  }

  /** Whether a live context runs the re-authentication chain; `false` when the lock cannot tell. */
  async #isReauthenticatingElsewhere(): Promise<boolean> {
    if (this.#reauthHeld) return false; // the holder is this manager
    try {
      return (await this.#options.lock.isHeld?.(this.#reauthLock)) ?? false;
    } catch {
      return false;
    }
  }

  /** Another context changed the store: adopt its newer tokens, or follow its sign-out. */
  async #followStore(): Promise<void> {
    // A refresh re-reads the store under the lock; a re-authentication is replaced below when
    // another context re-authenticated first.
    if (this.#state === 'refreshing' || this.#clearing || this.#signingIn) return;
    let loaded;
    try {
      loaded = await this.#storage.load();
    } catch (error) {
      if (error instanceof StoreError) this.#options.logger.warn('store read after a change failed', { error });
      return;
    }
    if (this.#disposed) return;
    const now = this.#now();
    if (loaded.kind === 'ok') {
      const { tokens } = loaded;
      if (tokens.refreshToken === this.#tokens?.refreshToken && tokens.accessToken === this.#tokens?.accessToken) return;
      // Nothing better than what we have: an unusable token, or a set we already moved on from.
      if (!hasUsableAccessToken(tokens, now) || this.#storage.isRetired(tokens)) return;
      if (this.#state === 'signedOut') this.#scheduler.reset();
      this.#replaceSession();
      this.#storage.saved = true;
      this.#apply(tokens, 'otherContext');
    } else if (this.#state !== 'signedOut' && this.#storage.saved) {
      // Signed out elsewhere; a sign-in prompt this context shows is closed (its signal aborts).
      await this.#end('otherContext');
    }
  }
}
