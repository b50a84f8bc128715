import { RefreshRejectedError, TransientRefreshError } from '../errors.ts';
import type { ResolvedOptions } from '../options.ts';
import { sleep } from '../ports/clock.ts';
import type { Loaded, SessionStorage } from '../session/storage.ts';
import type { ReauthReason, SessionTokens } from '../types.ts';
import { requestTokens, revokeRefreshToken, tokensFromGrant, withDeadline } from './grant.ts';
import { whenAborted } from '../utils/listeners.ts';

/** How one refresh attempt ended. */
export type RefreshOutcome =
  /** New tokens: from our own refresh, or adopted from another context that refreshed first. */
  | { kind: 'refreshed'; tokens: SessionTokens; source: 'refresh' | 'otherContext' }
  | { kind: 'signedOutElsewhere' }
  /** The refresh token cannot be used (dead, missing, past its end): re-authenticate. */
  | { kind: 'reauth'; reason: ReauthReason }
  /** Another context found the refresh token dead and is re-authenticating: wait for it. */
  | { kind: 'reauthElsewhere' };

/**
 * How long the other contexts wait for the one re-authenticating (the user may be typing a
 * password) before they run their own chain; a change of the store ends the wait at once.
 */
export const REAUTH_HANDOFF_MS = 120_000;

// A token this close to expiry is treated as expired: it could expire in transit.
export const EXPIRY_LEEWAY_MS = 1000;

/** Whether `tokens` has an access token worth sending now. */
export function hasUsableAccessToken(tokens: SessionTokens, now: number, rejected?: string): boolean {
  return (
    tokens.accessToken !== '' &&
    tokens.accessToken !== rejected &&
    (tokens.accessTokenExpiresAt === null || tokens.accessTokenExpiresAt - now > EXPIRY_LEEWAY_MS)
  );
}

/**
 * The abort reason of a disposed manager's session. A grant already at the server is let
 * land and saved (the server may have rotated: the next manager reads the store); any other
 * end of the session abandons it.
 */
export const DISPOSED = new Error('Session manager disposed');

/** How long a context that waited for the lock gives another context's store write to arrive. */
export const STORE_HANDOFF_MS = 250;

/** Resolves on the store's next change notice, or after `timeoutMs` (at once for a store without notices). */
async function storeChanged({ store, clock }: ResolvedOptions, timeoutMs: number): Promise<void> {
  if (store.subscribe) await sleep(clock, timeoutMs, { wake: (wakeUp) => store.subscribe!(wakeUp) });
}

/**
 * One refresh attempt, under the cross-context lock. Inside the lock the store is read again:
 * when another context already rotated, its tokens are adopted instead of refreshing (a second
 * refresh with the retired token would be reuse to the server).
 */
export async function refreshOnce(
  options: ResolvedOptions,
  storage: SessionStorage,
  current: SessionTokens,
  rejectedAccessToken: string | undefined,
  signal: AbortSignal,
): Promise<RefreshOutcome> {
  const { clock, logger } = options;
  return options.lock.run(options.lockName, async (lockContext) => {
    const usable = (tokens?: SessionTokens) =>
      tokens !== undefined && hasUsableAccessToken(tokens, clock.now(), rejectedAccessToken);
    let base = current;
    try {
      let stored = await storage.load();
      /** Another context's newer set in the store, when there is one. */
      const newer = (loaded: Loaded) =>
        loaded.kind === 'ok' &&
        loaded.tokens.refreshToken !== current.refreshToken &&
        !storage.isRetired(loaded.tokens)
          ? loaded.tokens
          : undefined;
      if (storage.isStale(stored) || (lockContext?.waited && stored.kind === 'ok' && !usable(newer(stored)))) {
        // Another context wrote (it said so), or the one we waited for may have: its write can
        // still be on the way. Before spending a refresh token, give the store's change notice
        // a moment, then read again (the notice may also have come before we listened).
        await storeChanged(options, STORE_HANDOFF_MS);
        stored = await storage.load();
      }
      const theirs = newer(stored);
      if (theirs) {
        if (usable(theirs)) return { kind: 'refreshed', tokens: theirs, source: 'otherContext' };
        base = theirs;
      } else if (stored.kind === 'ok' && stored.tokens.refreshToken === current.refreshToken) {
        base = { ...current, refreshRejectedAt: stored.tokens.refreshRejectedAt };
      } else if (stored.kind === 'ok') {
        // The store is behind: saving our last rotation failed, and it holds a retired refresh
        // token. Refresh from memory, and catch the store up first (a relaunch reads it).
        logger.warn('store holds an older session; refreshing from memory');
        await storage.save(current);
      } else if (storage.saved) {
        return { kind: 'signedOutElsewhere' };
      }
    } catch (error) {
      logger.warn('store re-read failed; refreshing from memory', { error });
    }
    const now = clock.now();
    const { refreshToken, refreshRejectedAt, sessionExpiresAt = Infinity, refreshTokenExpiresAt = Infinity } = base;
    if (refreshRejectedAt !== undefined) {
      if (now - refreshRejectedAt < REAUTH_HANDOFF_MS) return { kind: 'reauthElsewhere' };
      return { kind: 'reauth', reason: 'refreshRejected' };
    }
    if (refreshToken === undefined) return { kind: 'reauth', reason: 'noRefreshToken' };
    if (now >= sessionExpiresAt) return { kind: 'reauth', reason: 'sessionEnded' };
    if (now >= refreshTokenExpiresAt) return { kind: 'reauth', reason: 'refreshTokenExpired' };
    /**
     * Whatever was saved while the grant was in flight wins over its answer: a sign-out in
     * another context (a lock that timed out lets that happen), a sign-in (perhaps another
     * user's, after this manager was disposed), another context's refresh.
     */
    const changedMeanwhile = async (): Promise<RefreshOutcome | undefined> => {
      if (!storage.saved) return undefined;
      const after = await storage.load().catch(() => undefined);
      if (after?.kind === 'empty') return { kind: 'signedOutElsewhere' };
      if (after?.kind !== 'ok' || after.tokens.refreshToken === base.refreshToken || storage.isRetired(after.tokens)) {
        return undefined;
      }
      logger.warn('the store changed during the refresh; keeping what it holds');
      if (usable(after.tokens)) return { kind: 'refreshed', tokens: after.tokens, source: 'otherContext' };
      throw new TransientRefreshError('The stored session changed during the refresh');
    };
    const { refreshTokens } = options;
    let body: unknown;
    const grant = new AbortController();
    const unfollow = whenAborted(signal, () => signal.reason !== DISPOSED && grant.abort(signal.reason));
    try {
      body = await withDeadline(
        options,
        (deadlineSignal) =>
          refreshTokens
            ? refreshTokens(refreshToken, deadlineSignal)
            : requestTokens(options, { grant_type: 'refresh_token', refresh_token: refreshToken }, deadlineSignal),
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
    const tokens = tokensFromGrant(body, clock.now(), base);
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
    logger.debug('refreshed', { accessTokenExpiresAt: tokens.accessTokenExpiresAt });
    return { kind: 'refreshed', tokens, source: 'refresh' };
  });
}
