import { InvalidTokenResponseError, RefreshRejectedError, SessionKeeperError } from '../errors.ts';
import type { ResolvedOptions } from '../options.ts';
import type { SessionStorage } from '../session/storage.ts';
import { parseTokenResponse } from '../token-set.ts';
import type { ReauthReason, SessionTokens } from '../types.ts';
import { requestTokens, withDeadline, type HttpContext } from './grant.ts';

/** The refresh token cannot be used (dead, missing, past its end): re-authenticate. */
export class ReauthNeeded extends Error {
  readonly reason: ReauthReason;
  constructor(reason: ReauthReason, cause?: unknown) {
    super(`Re-authentication needed: ${reason}`, { cause });
    this.reason = reason;
  }
}

/** How one refresh attempt ended. */
export type RefreshOutcome =
  | { kind: 'refreshed'; tokens: SessionTokens }
  | { kind: 'adopted'; tokens: SessionTokens }
  | { kind: 'signedOutElsewhere' }
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

/** Resolves `true` on the store's next change notice, `false` after `timeoutMs` (or at once without notices). */
function storeChanged(options: ResolvedOptions, timeoutMs: number): Promise<boolean> {
  const { store, clock } = options;
  if (!store.subscribe) return Promise.resolve(false);
  return new Promise((resolve) => {
    const done = (changed: boolean) => {
      clock.clearTimeout(timer);
      unsubscribe();
      resolve(changed);
    };
    const timer = clock.setTimeout(() => done(false), timeoutMs);
    const unsubscribe = store.subscribe!(() => done(true));
  });
}

/**
 * One refresh attempt, under the cross-context lock. Inside the lock the store is read again:
 * when another context already rotated, its tokens are adopted instead of refreshing (a second
 * refresh with the retired token would be reuse to the server).
 */
export async function refreshOnce(
  options: ResolvedOptions,
  http: HttpContext,
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
      const unchanged =
        stored.kind === 'ok' &&
        stored.tokens.refreshToken === current.refreshToken &&
        stored.tokens.refreshRejectedAt === undefined;
      if (lockContext?.waited && unchanged) {
        // The context we waited for may have rotated, its write still on the way: give the
        // store's change notice a moment before spending the refresh token a second time.
        if (await storeChanged(options, STORE_HANDOFF_MS)) stored = await storage.load();
      }
      if (stored.kind === 'ok' && stored.tokens.refreshToken !== current.refreshToken) {
        if (hasUsableAccessToken(stored.tokens, clock.now(), rejectedAccessToken)) {
          return { kind: 'adopted', tokens: stored.tokens };
        }
        base = stored.tokens;
      } else if (stored.kind === 'ok') {
        base = { ...current, refreshRejectedAt: stored.tokens.refreshRejectedAt };
      } else if (storage.saved) {
        return { kind: 'signedOutElsewhere' };
      }
    } catch (error) {
      logger.warn('could not re-read the token store; refreshing with the tokens in memory', { error });
    }
    const now = clock.now();
    if (base.refreshRejectedAt !== undefined) {
      if (now - base.refreshRejectedAt < REAUTH_HANDOFF_MS) return { kind: 'reauthElsewhere' };
      throw new ReauthNeeded('refreshRejected');
    }
    if (base.refreshToken === undefined) throw new ReauthNeeded('noRefreshToken');
    if (base.sessionExpiresAt !== undefined && now >= base.sessionExpiresAt) throw new ReauthNeeded('sessionEnded');
    if (base.refreshTokenExpiresAt !== undefined && now >= base.refreshTokenExpiresAt) {
      throw new ReauthNeeded('refreshTokenExpired');
    }
    const refreshToken = base.refreshToken;
    let body: unknown;
    try {
      body = await withDeadline(
        clock,
        options.refreshTimeout,
        (deadlineSignal) =>
          options.refreshTokens
            ? options.refreshTokens(refreshToken, deadlineSignal)
            : requestTokens(
                http,
                options.tokenEndpoint,
                { grant_type: 'refresh_token', refresh_token: refreshToken, client_id: options.clientId },
                deadlineSignal,
              ),
        signal,
      );
    } catch (error) {
      if (!(error instanceof RefreshRejectedError)) throw error;
      // Tell the contexts sharing the store, before the lock is released: one prompt, not one per tab.
      await storage.save({ ...base, refreshRejectedAt: clock.now() });
      throw new ReauthNeeded('refreshRejected', error);
    }
    let tokens: SessionTokens;
    try {
      tokens = parseTokenResponse(body, clock.now(), base);
    } catch (error) {
      // Never store a half-valid answer; retry later (a proxy or captive portal can garble one).
      const message = error instanceof SessionKeeperError ? error.message : 'Malformed token response';
      throw new InvalidTokenResponseError(message, { cause: error, transient: true });
    }
    await storage.save(tokens);
    logger.debug('refreshed', { accessTokenExpiresAt: tokens.accessTokenExpiresAt });
    return { kind: 'refreshed', tokens };
  });
}
