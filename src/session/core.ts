import { createTokenGate, type TokenGate } from '../client/token-gate.ts';
import { SessionExpiredError } from '../errors.ts';
import type { ResolvedOptions } from '../options.ts';
import { reauthenticateUntilSettled } from '../refresh/reauth.ts';
import { refreshUntilSettled } from '../refresh/refresher.ts';
import type { ReauthReason, SessionState, SessionTokens, SignOutReason, TokenChangeCause } from '../types.ts';
import { whenAborted } from '../utils/listeners.ts';
import { createEmitter, type SessionEmitter } from './events.ts';
import { Ownership } from './ownership.ts';
import { createPersistence, type Persistence } from './persistence.ts';
import { createScheduler, type SessionScheduler } from './scheduler.ts';
import { SessionScope } from './scope.ts';
import { INITIAL, isEnded, isGateOpen, publicState, reduce, servableToken } from './state.ts';
import type { SessionAction, SessionRecord } from './state.ts';
import { createSessionStorage, type SessionStorage } from './storage.ts';
import { isRefreshDue } from './tokens.ts';

/**
 * The session's engine: the one record and its reducer, and the flights (refresh,
 * re-authentication, sign-out) that dispatch to it. `SessionManager` is its public face;
 * `restore.ts` and `follow.ts` drive it from the store.
 */
export class SessionCore {
  readonly options: ResolvedOptions;
  readonly storage: SessionStorage;
  readonly persistence: Persistence;
  readonly events: SessionEmitter;
  readonly gate: TokenGate;
  readonly scheduler: SessionScheduler;
  readonly scope = new SessionScope();
  readonly ownership = new Ownership();
  #record: SessionRecord = INITIAL;

  constructor(options: ResolvedOptions) {
    this.options = options;
    this.events = createEmitter(options.logger);
    this.storage = createSessionStorage(options);
    this.persistence = createPersistence(options, this.storage);
    this.gate = createTokenGate(
      options.clock,
      () => this.#tokenForWaiter(),
      () => this.#record.phase !== 'reauthenticating',
    );
    this.scheduler = createScheduler(
      options,
      () => this.refreshIfDue('timer'),
      (sessionExpiresAt) =>
        this.events.emit('sessionExpiring', { sessionExpiresAt, remainingMs: sessionExpiresAt - this.now() }),
    );
  }

  get record(): SessionRecord {
    return this.#record;
  }

  /** Whether `dispose()` ended this session for good (read again after every await). */
  isDisposed(): boolean {
    return this.#record.phase === 'disposed';
  }

  get state(): SessionState {
    return publicState(this.#record);
  }

  now(): number {
    return this.options.clock.now();
  }

  /** The one way the record changes; the gate and `stateChange` follow from the transition. */
  dispatch(action: SessionAction): void {
    const before = this.#record;
    this.#record = reduce(before, action);
    this.syncGate();
    const from = publicState(before);
    const to = publicState(this.#record);
    if (from !== to) this.events.emit('stateChange', { from, to });
  }

  /** Opens the gate when a waiting request can read an outcome now, else holds it. */
  syncGate(): void {
    if (isGateOpen(this.#record, this.now())) this.gate.release();
    else this.gate.hold();
  }

  /** The token handed to a request that waited; throws when the session ended meanwhile. */
  #tokenForWaiter(): string | undefined {
    const token = servableToken(this.#record, this.now());
    if (token === undefined && isEnded(this.#record)) throw new SessionExpiredError(this.#record.endReason);
    return token;
  }

  /** Puts `tokens` in use. A disposed manager arms nothing (an await begun before `dispose()` may land here). */
  apply(tokens: SessionTokens, cause: TokenChangeCause): void {
    if (this.isDisposed()) return;
    const previous = this.#record.tokens;
    if (previous?.refreshToken !== tokens.refreshToken) this.storage.retire(previous?.refreshToken);
    this.ownership.record(tokens, cause, previous !== null);
    this.scheduler.schedule(tokens);
    this.dispatch({ type: 'tokensApplied', tokens, cause });
    this.events.tokensChanged(tokens, cause);
  }

  /**
   * Ends the session; the store is cleared unless another context already changed it.
   * @returns the refresh token the store held when this context cleared it
   */
  async end(reason: SignOutReason): Promise<string | undefined> {
    const wasSignedIn = this.state !== 'signedOut';
    this.scope.replace();
    this.scheduler.reset();
    this.dispatch({ type: 'signOutStarted', reason }); // waiting requests now reject
    let cleared: string | undefined;
    if (reason === 'otherContext') this.storage.forget();
    else {
      const { signal } = this.scope;
      cleared = await this.persistence.clearSignOut(() => this.scope.isCurrent(signal));
    }
    this.dispatch({ type: 'signOutFinished' });
    // After the store is cleared: an app that signs in again from this event keeps its session.
    if (wasSignedIn) this.events.emit('signedOut', { reason });
    return cleared;
  }

  refreshIfDue(trigger: 'timer' | 'foreground' | 'online'): void {
    const { phase, tokens } = this.#record;
    if (phase !== 'active' || !tokens) return;
    if (isRefreshDue(tokens, this.now(), this.options.refreshMargin)) {
      this.options.logger.debug('refresh due', { trigger });
      void this.startRefresh();
    } else if (trigger === 'foreground') {
      // Timers may have been frozen in the background: re-arm them from the clock.
      this.scheduler.schedule(tokens);
    }
  }

  /** Starts the refresh (or joins the one in flight). Only an active or restoring session refreshes. */
  startRefresh(rejectedAccessToken = this.#record.rejectedAccessToken): Promise<void> {
    const { phase } = this.#record;
    if (!this.scope.inflight && phase !== 'active' && phase !== 'refreshing') return Promise.resolve();
    return this.exclusive((signal) => this.#refreshLoop(rejectedAccessToken, signal));
  }

  /** Runs `task` as the session's one flight (or joins the one running). */
  exclusive(task: (signal: AbortSignal) => Promise<void>): Promise<void> {
    return this.scope.exclusive(task, (error) => this.options.logger.error('session task failed', { error }));
  }

  async #refreshLoop(rejectedAccessToken: string | undefined, signal: AbortSignal): Promise<void> {
    this.dispatch({ type: 'refreshStarted' });
    const outcome = await refreshUntilSettled(
      { options: this.options, storage: this.storage, rejectedAccessToken, signal },
      {
        current: () => this.#record.tokens,
        failed: (error, attempt, retryInMs) => {
          this.dispatch({ type: 'refreshFailed' }); // requests a still-good token serves go out now
          this.events.emit('refreshFailed', { error, attempt, retryInMs });
        },
        waitingForOtherContext: () => this.dispatch({ type: 'reauthStarted', by: 'elsewhere' }),
      },
    );
    if (outcome?.kind === 'refreshed') this.apply(outcome.tokens, outcome.source);
    else if (outcome?.kind === 'signedOutElsewhere') await this.end('otherContext');
    else if (outcome?.kind === 'reauth') await this.reauthenticate(outcome.reason, signal);
  }

  /** The re-authentication chain: biometric, then the sign-in prompt, then a sign-out. */
  async reauthenticate(reason: ReauthReason, signal: AbortSignal): Promise<void> {
    this.dispatch({ type: 'reauthStarted', by: 'own' });
    this.events.emit('reauthRequired', { reason });
    const chain = reauthenticateUntilSettled(
      this.options,
      reason,
      this.#record.tokens?.subject,
      (error, attempt, retryInMs) => this.events.emit('refreshFailed', { error, attempt, retryInMs }),
      signal,
    );
    // Tells a context opened meanwhile that this one is alive and prompting (until the chain
    // ends, or this session does: a prompt that ignores its signal does not hold it forever).
    const ended = new Promise<void>((resolve) => whenAborted(signal, resolve));
    this.options.lock.holdShared?.(this.reauthLock, Promise.race([chain, ended]));
    const result = await chain;
    if (signal.aborted) return;
    if (result.kind === 'failed') return void (await this.end('reauthFailed'));
    this.scheduler.reset();
    await this.storage.save(result.tokens);
    if (!signal.aborted) this.apply(result.tokens, result.method);
  }

  /** The lock a context holds (shared) while it prompts: how a context opened meanwhile knows. */
  get reauthLock(): string {
    return `${this.options.lockName}:reauth`;
  }

  /** Whether a live context runs the re-authentication chain; `false` when the lock cannot tell. */
  async isReauthenticatingElsewhere(): Promise<boolean> {
    if (this.#record.reauth === 'own') return false; // the holder is this manager
    try {
      return (await this.options.lock.isHeld?.(this.reauthLock)) ?? false;
    } catch {
      return false;
    }
  }
}
