import type { SessionTokens } from '../types.ts';

/** A token this close to expiry is treated as expired: it could expire in transit. */
export const EXPIRY_LEEWAY_MS = 1000;

/**
 * Whether `tokens` has an access token worth sending at `now`: one this context has (a store
 * without access tokens gives `''`), that the server has not rejected, and that is not about
 * to expire. An unknown expiry counts as good: the server says otherwise with a 401.
 */
export function isUsable(tokens: SessionTokens, now: number, rejected?: string): boolean {
  return (
    tokens.accessToken !== '' &&
    tokens.accessToken !== rejected &&
    (tokens.accessTokenExpiresAt === null || tokens.accessTokenExpiresAt - now > EXPIRY_LEEWAY_MS)
  );
}

/**
 * When the access token is due for a proactive refresh: `refreshMargin` before expiry, but
 * never earlier than halfway through its lifetime (a 60-second token with a 5-minute margin
 * would otherwise be refreshed in a loop). `null` when its expiry is unknown.
 */
export function refreshDueAt(tokens: SessionTokens, refreshMargin: number): number | null {
  if (tokens.accessTokenExpiresAt === null) return null;
  const lifetime = Math.max(0, tokens.accessTokenExpiresAt - tokens.receivedAt);
  return tokens.accessTokenExpiresAt - Math.min(refreshMargin, lifetime / 2);
}

/** Whether the proactive refresh of `tokens` is due at `now` (its timer may be late). */
export function isRefreshDue(tokens: SessionTokens, now: number, refreshMargin: number): boolean {
  const due = refreshDueAt(tokens, refreshMargin);
  return due !== null && now >= due;
}
