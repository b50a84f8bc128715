import { decodeJwt } from 'jose';
import { InvalidTokenResponseError } from './errors.ts';
import type { SessionTokens, StoredSession, TokenResponse } from './types.ts';

/** `undefined` for an absent field; a finite non-negative number of seconds otherwise. */
function seconds(response: Record<string, unknown>, field: string): number | undefined {
  const value = response[field];
  if (value === undefined || value === null) return undefined;
  const parsed = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
  if (typeof parsed !== 'number' || !Number.isFinite(parsed) || parsed < 0) {
    throw new InvalidTokenResponseError(`Token response field "${field}" is not a number of seconds`);
  }
  return parsed;
}

function optionalString(response: Record<string, unknown>, field: string): string | undefined {
  const value = response[field];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string' || value === '') {
    throw new InvalidTokenResponseError(`Token response field "${field}" is not a non-empty string`);
  }
  return value;
}

/**
 * When the access token expires. `expires_in` is counted from receipt on our own clock, so a
 * device clock that is hours off changes nothing. Without it, the JWT's `exp` is the fallback
 * (decoded, never trusted for security); with `iat` beside it the lifetime `exp - iat` is used,
 * which cancels the offset between the server's clock and ours.
 */
function accessTokenExpiry(accessToken: string, expiresIn: number | undefined, now: number): number | null {
  if (expiresIn !== undefined) return now + expiresIn * 1000;
  let claims: { exp?: unknown; iat?: unknown };
  try {
    claims = decodeJwt(accessToken);
  } catch {
    return null; // opaque token: we learn of its expiry from a 401
  }
  if (typeof claims.exp !== 'number') return null;
  if (typeof claims.iat === 'number' && claims.exp >= claims.iat) return now + (claims.exp - claims.iat) * 1000;
  return claims.exp * 1000;
}

/**
 * Validates a token response and turns it into the session's token set.
 * @param previous - the current set on a refresh: its refresh token stays when the server
 *   sends none, and the session's start is kept.
 * @throws InvalidTokenResponseError - nothing is half-applied: the caller keeps what it had.
 */
export function parseTokenResponse(input: unknown, now: number, previous?: SessionTokens): SessionTokens {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw new InvalidTokenResponseError('Token response is not a JSON object');
  }
  const response = input as TokenResponse & Record<string, unknown>;
  const accessToken = optionalString(response, 'access_token');
  if (accessToken === undefined) throw new InvalidTokenResponseError('Token response has no "access_token"');
  const tokenType = optionalString(response, 'token_type') ?? 'Bearer';
  if (tokenType.toLowerCase() !== 'bearer') {
    throw new InvalidTokenResponseError(`Unsupported token_type "${tokenType.slice(0, 32)}"`);
  }
  const expiresIn = seconds(response, 'expires_in');
  const refreshIn = seconds(response, 'refresh_token_expires_in') ?? seconds(response, 'refresh_expires_in');
  const sessionIn = seconds(response, 'session_expires_in');
  const refreshToken = optionalString(response, 'refresh_token') ?? previous?.refreshToken;
  return {
    accessToken,
    refreshToken,
    tokenType: 'Bearer',
    accessTokenExpiresAt: accessTokenExpiry(accessToken, expiresIn, now),
    // A refresh token kept from before keeps its old expiry.
    refreshTokenExpiresAt:
      refreshIn !== undefined && refreshIn > 0 ? now + refreshIn * 1000 : previous?.refreshTokenExpiresAt,
    sessionExpiresAt: sessionIn !== undefined ? now + sessionIn * 1000 : previous?.sessionExpiresAt,
    sessionStartedAt: previous?.sessionStartedAt ?? now,
    receivedAt: now,
    scope: optionalString(response, 'scope') ?? previous?.scope,
  };
}

/** The persisted form; the access token is left out when it lives in memory only. */
export function toStoredSession(tokens: SessionTokens, persistAccessToken: boolean): StoredSession {
  const stored: StoredSession = {
    version: 1,
    refreshToken: tokens.refreshToken,
    tokenType: tokens.tokenType,
    accessTokenExpiresAt: tokens.accessTokenExpiresAt,
    refreshTokenExpiresAt: tokens.refreshTokenExpiresAt,
    sessionExpiresAt: tokens.sessionExpiresAt,
    sessionStartedAt: tokens.sessionStartedAt,
    receivedAt: tokens.receivedAt,
    scope: tokens.scope,
  };
  if (persistAccessToken) stored.accessToken = tokens.accessToken;
  if (tokens.refreshRejectedAt !== undefined) stored.refreshRejectedAt = tokens.refreshRejectedAt;
  return stored;
}

const isInstant = (value: unknown): value is number => typeof value === 'number' && Number.isFinite(value);
const isOptional = <T>(value: unknown, check: (v: unknown) => v is T): boolean => value === undefined || check(value);
const isToken = (value: unknown): value is string => typeof value === 'string' && value !== '';

/**
 * Reads what a store returned. `null` for a value that is not a session this version wrote
 * (garbled, truncated, from another app): the caller clears it instead of crashing.
 * The access token is `''` when it was not persisted, which reads as expired.
 */
export function fromStoredSession(value: unknown): SessionTokens | null {
  if (typeof value !== 'object' || value === null) return null;
  const s = value as Record<string, unknown>;
  const valid =
    s.version === 1 &&
    isOptional(s.refreshToken, isToken) &&
    isOptional(s.accessToken, isToken) &&
    (s.refreshToken !== undefined || s.accessToken !== undefined) &&
    (s.accessTokenExpiresAt === null || isInstant(s.accessTokenExpiresAt)) &&
    isOptional(s.refreshTokenExpiresAt, isInstant) &&
    isOptional(s.sessionExpiresAt, isInstant) &&
    isInstant(s.sessionStartedAt) &&
    isInstant(s.receivedAt) &&
    isOptional(s.scope, (v): v is string => typeof v === 'string') &&
    isOptional(s.refreshRejectedAt, isInstant);
  if (!valid) return null;
  return {
    accessToken: (s.accessToken as string | undefined) ?? '',
    refreshToken: s.refreshToken as string | undefined,
    tokenType: 'Bearer',
    // Without the access token there is nothing to use until a refresh.
    accessTokenExpiresAt: s.accessToken === undefined ? 0 : (s.accessTokenExpiresAt as number | null),
    refreshTokenExpiresAt: s.refreshTokenExpiresAt as number | undefined,
    sessionExpiresAt: s.sessionExpiresAt as number | undefined,
    sessionStartedAt: s.sessionStartedAt as number,
    receivedAt: s.receivedAt as number,
    scope: s.scope as string | undefined,
    refreshRejectedAt: s.refreshRejectedAt as number | undefined,
  };
}
