import { isTransientError, RefreshRejectedError, TransientRefreshError } from '../errors.ts';
import type { ResolvedOptions } from '../options.ts';
import { sleep } from '../ports/clock.ts';
import {
  decideChangeDuringGrant,
  decideGrant,
  decideUnderLock,
  REAUTH_HANDOFF_MS,
  type LockedDecision,
} from '../session/decisions.ts';
import type { Loaded, SessionStorage } from '../session/storage.ts';
import type { ReauthReason, SessionTokens } from '../types.ts';
import { combineCleanups, whenAborted } from '../utils/listeners.ts';
import { requestTokens, revokeRefreshToken, tokensFromGrant, withDeadline } from './grant.ts';
import { retryUntilSettled, type Attempt } from './retry.ts';

/** How a refresh ended, for the session manager to act on. */
export type RefreshOutcome =
  /** New tokens: from our own refresh, or adopted from another context that refreshed first. */
  | { kind: 'refreshed'; tokens: SessionTokens; source: 'refresh' | 'otherContext' }
  | { kind: 'signedOutElsewhere' }
  /** The refresh token cannot be used (dead, missing, past its end): re-authenticate. */
  | { kind: 'reauth'; reason: ReauthReason }
  /** Another context found the refresh token dead and is re-authenticating: wait for it. */
  | { kind: 'reauthElsewhere' };

/**
 * The abort reason of a disposed manager's session. A grant already at the server is let
 * land and saved (the server may have rotated: the next manager reads the store); any other
 * end of the session abandons it.
 */
export const DISPOSED = new Error('Session manager disposed');

/** How long a context that waited for the lock gives another context's store write to arrive. */
export const STORE_HANDOFF_MS = 250;

/** What the refresher needs to know of the session while it runs. */
export interface RefreshContext {
  options: ResolvedOptions;
  storage: SessionStorage;
  /** The access token the server rejected, if any: an adopted set must not carry it. */
  rejectedAccessToken: string | undefined;
  signal: AbortSignal;
}

/** Resolves on the store's next change notice, or after `timeoutMs` (at once for a store without notices). */
async function storeChanged({ store, clock }: ResolvedOptions, timeoutMs: number): Promise<void> {
  if (store.subscribe) await sleep(clock, timeoutMs, { wake: (wakeUp) => store.subscribe!(wakeUp) });
}

/** Reads the store under the lock and decides, giving another context's write a moment when needed. */
async function readUnderLock(
  { options, storage, rejectedAccessToken }: RefreshContext,
  current: SessionTokens,
  waited: boolean,
): Promise<Exclude<LockedDecision, { kind: 'waitForStore' }>> {
  const decide = (stored: Loaded, reread: boolean) =>
    decideUnderLock({
      stored,
      current,
      storedIsRetired: stored.kind === 'ok' && storage.isRetired(stored.tokens),
      storedIsStale: storage.isStale(stored),
      waited,
      reread,
      holdsOurs: storage.holdsOurs,
      now: options.clock.now(),
      rejectedAccessToken,
    });
  try {
    const first = decide(await storage.load(), false);
    if (first.kind !== 'waitForStore') return first;
    // Before spending a refresh token, give the store's change notice a moment, then read
    // again (the notice may also have come before we listened).
    await storeChanged(options, STORE_HANDOFF_MS);
    const second = decide(await storage.load(), true);
    return second.kind === 'waitForStore' ? { kind: 'refresh', base: current, catchUp: false } : second;
  } catch (error) {
    options.logger.warn('store re-read failed; refreshing from memory', { error });
    return { kind: 'refresh', base: current, catchUp: false };
  }
}

/**
 * One refresh attempt, under the cross-context lock. Inside the lock the store is read again:
 * when another context already rotated, its tokens are adopted instead of refreshing (a second
 * refresh with the retired token would be reuse to the server).
 * @throws a transient error (to be retried)
 */
export async function refreshOnce(context: RefreshContext, current: SessionTokens): Promise<RefreshOutcome> {
  const { options, storage, rejectedAccessToken, signal } = context;
  const { clock, logger } = options;
  return options.lock.run(options.lockName, async (lockContext) => {
    const read = await readUnderLock(context, current, lockContext?.waited ?? false);
    if (read.kind === 'adopt') return { kind: 'refreshed', tokens: read.tokens, source: 'otherContext' };
    if (read.kind === 'signedOutElsewhere') return read;
    const { base } = read;
    if (read.catchUp) {
      // The store is behind (it holds a retired refresh token): catch it up first, a relaunch reads it.
      logger.warn('store holds an older session; refreshing from memory');
      await storage.save(current);
    }
    const decision = decideGrant(base, clock.now());
    if (decision.kind !== 'grant') return decision;
    const { refreshToken } = decision;

    /** Whatever was saved while the grant was in flight wins over its answer. */
    const changedMeanwhile = async (): Promise<RefreshOutcome | undefined> => {
      if (!storage.holdsOurs) return undefined;
      const after = await storage.load().catch(() => undefined);
      const retired = after?.kind === 'ok' && storage.isRetired(after.tokens);
      const change = decideChangeDuringGrant(after, base, retired, clock.now(), rejectedAccessToken);
      if (change.kind === 'none') return undefined;
      if (change.kind === 'signedOutElsewhere') return change;
      logger.warn('the store changed during the refresh; keeping what it holds');
      if (change.kind === 'adopt') return { kind: 'refreshed', tokens: change.tokens, source: 'otherContext' };
      throw new TransientRefreshError('The stored session changed during the refresh');
    };

    let body: unknown;
    const grant = new AbortController();
    const unfollow = whenAborted(signal, () => signal.reason !== DISPOSED && grant.abort(signal.reason));
    try {
      body = await withDeadline(
        options,
        (deadline) =>
          options.refreshTokens
            ? options.refreshTokens(refreshToken, deadline)
            : requestTokens(options, { grant_type: 'refresh_token', refresh_token: refreshToken }, deadline),
        grant.signal,
      );
    } catch (error) {
      if (!(error instanceof RefreshRejectedError)) throw error;
      const changed = await changedMeanwhile();
      if (changed) return changed;
      // Tell the contexts sharing the store, before the lock is released: one prompt, not one per tab.
      await storage.save({ ...base, refreshRejectedAt: clock.now() });
      return { kind: 'reauth', reason: 'refreshRejected' };
    } finally {
      unfollow();
    }
    const tokens = tokensFromGrant(body, clock.now(), base, options.dpop !== undefined);
    // Rotated: spent now (it may be another context's, taken from the store), never presented again.
    if (tokens.refreshToken !== refreshToken) storage.retire(refreshToken);
    const changed = await changedMeanwhile();
    // This session ended meanwhile (a sign-out, or a sign-in, in this manager): not saved.
    const ended = signal.aborted && signal.reason !== DISPOSED;
    if (changed || ended) {
      // Signed out meanwhile: the tokens just issued must not outlive the session.
      if ((ended || changed?.kind === 'signedOutElsewhere') && tokens.refreshToken) {
        await revokeRefreshToken(options, tokens.refreshToken);
      }
      return changed ?? { kind: 'signedOutElsewhere' };
    }
    await storage.save(tokens);
    // Not `accessTokenExpiresAt`: the logger redacts every field whose name mentions a token.
    logger.debug('refreshed', { expiresAt: tokens.accessTokenExpiresAt });
    return { kind: 'refreshed', tokens, source: 'refresh' };
  });
}

/** What the refresh loop reports while it runs. */
export interface RefreshHooks {
  /** The tokens to refresh from now (they may change while the loop waits). */
  current(): SessionTokens | null;
  /** A transient failure; the next attempt comes after `retryInMs`. */
  failed(error: Error, attempt: number, retryInMs: number): void;
  /** Another context is re-authenticating the user; the loop waits for its outcome. */
  waitingForOtherContext(): void;
}

/**
 * Refreshes until it succeeds, the refresh token proves dead, another context ends the
 * session, or the signal aborts (`undefined`). Transient failures wait with backoff and jitter;
 * coming back online, or another context changing the store, ends a wait early, since the next
 * attempt re-reads the store under the lock.
 */
export async function refreshUntilSettled(
  context: RefreshContext,
  hooks: RefreshHooks,
): Promise<Exclude<RefreshOutcome, { kind: 'reauthElsewhere' }> | undefined> {
  const { options, storage, signal } = context;
  const attempt = async (): Promise<Attempt<Exclude<RefreshOutcome, { kind: 'reauthElsewhere' }> | undefined>> => {
    const current = hooks.current();
    if (!current) return { kind: 'settled', value: undefined };
    try {
      const outcome = await refreshOnce(context, current);
      if (outcome.kind !== 'reauthElsewhere') return { kind: 'settled', value: outcome };
      hooks.waitingForOtherContext();
      return { kind: 'later', ms: REAUTH_HANDOFF_MS };
    } catch (error) {
      if (signal.aborted) return { kind: 'settled', value: undefined };
      return { kind: 'failed', error: error as Error };
    }
  };
  return retryUntilSettled(
    options,
    attempt,
    {
      wake: (wakeUp) => combineCleanups(storage.subscribe(wakeUp), options.network.subscribe(wakeUp)),
      wakeAlways: (wakeUp) => storage.subscribe(wakeUp),
    },
    (error, number, retryInMs) => {
      if (!isTransientError(error)) options.logger.error('unexpected refresh failure; retrying', { error });
      hooks.failed(error, number, retryInMs);
      options.logger.info('refresh failed; will retry', { attempt: number, retryInMs, error });
    },
    signal,
  );
}
