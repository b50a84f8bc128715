import { InvalidTokenResponseError, RefreshRejectedError } from '../errors.ts';
import type { ResolvedOptions } from '../options.ts';
import { sleep } from '../ports/clock.ts';
import type { SessionStorage } from '../session/storage.ts';
import { parseTokenResponse } from '../token-set.ts';
import type { ReauthReason, SessionTokens } from '../types.ts';
import { requestTokens, revokeRefreshToken, withDeadline } from './grant.ts';

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
    let base = current;
    try {
      let stored = await storage.load();
      const adoptable =
        stored.kind === 'ok' &&
        stored.tokens.refreshToken !== current.refreshToken &&
        hasUsableAccessToken(stored.tokens, clock.now(), rejectedAccessToken);
      if (storage.isStale(stored) || (lockContext?.waited && !adoptable && stored.kind === 'ok')) {
        // Another context wrote (it said so), or the one we waited for may have: its write can
        // still be on the way. Before spending a refresh token, give the store's change notice
        // a moment, then read again (the notice may also have come before we listened).
        await storeChanged(options, STORE_HANDOFF_MS);
        stored = await storage.load();
      }
      if (stored.kind === 'ok' && stored.tokens.refreshToken !== current.refreshToken) {
        if (hasUsableAccessToken(stored.tokens, clock.now(), rejectedAccessToken)) {
          return { kind: 'refreshed', tokens: stored.tokens, source: 'otherContext' };
        }
        base = stored.tokens;
      } else if (stored.kind === 'ok') {
        base = { ...current, refreshRejectedAt: stored.tokens.refreshRejectedAt };
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
    const { refreshTokens } = options;
    let body: unknown;
    try {
      body = await withDeadline(
        options,
        (deadlineSignal) =>
          refreshTokens
            ? refreshTokens(refreshToken, deadlineSignal)
            : requestTokens(options, { grant_type: 'refresh_token', refresh_token: refreshToken }, deadlineSignal),
        signal,
      );
    } catch (error) {
      if (!(error instanceof RefreshRejectedError)) throw error;
      // Tell the contexts sharing the store, before the lock is released: one prompt, not one per tab.
      await storage.save({ ...base, refreshRejectedAt: clock.now() });
      return { kind: 'reauth', reason: 'refreshRejected' };
    }
    let tokens: SessionTokens;
    try {
      tokens = parseTokenResponse(body, clock.now(), base);
    } catch (error) {
      // Never store a half-valid answer; retry later (a proxy or captive portal can garble one).
      // parseTokenResponse throws only InvalidTokenResponseError, whose message is safe to repeat.
      throw new InvalidTokenResponseError((error as Error).message, { cause: error, transient: true });
    }
    if (storage.saved && (await storage.load().catch(() => undefined))?.kind === 'empty') {
      // The user signed out in another context while the grant was in flight (a lock that
      // timed out lets that happen): do not bring the session back.
      if (tokens.refreshToken) await revokeRefreshToken(options, tokens.refreshToken);
      return { kind: 'signedOutElsewhere' };
    }
    await storage.save(tokens);
    logger.debug('refreshed', { accessTokenExpiresAt: tokens.accessTokenExpiresAt });
    return { kind: 'refreshed', tokens, source: 'refresh' };
  });
}
