import { decodeJwt } from 'jose';
import { InvalidTokenResponseError } from './errors.ts';
import { EXPIRY_LEEWAY_MS } from './session/tokens.ts';
import type { SessionTokens, StoredSession, TokenResponse } from './types.ts';

/**
 * A lifetime field (seconds from receipt) as an instant on our clock; `undefined` when absent.
 * The value must be a finite non-negative number of seconds (a numeric string is accepted).
 */
function instantAfter(response: Record<string, unknown>, field: string, now: number): number | undefined {
  const value = response[field];
  if (value === undefined || value === null) return undefined;
  const parsed = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
  if (typeof parsed !== 'number' || !Number.isFinite(parsed) || parsed < 0) {
    throw new InvalidTokenResponseError(`Token response: "${field}" must be seconds >= 0`);
  }
  return now + parsed * 1000;
}

function optionalString(response: Record<string, unknown>, field: string): string | undefined {
  const value = response[field];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string' || value === '') {
    throw new InvalidTokenResponseError(`Token response: "${field}" must be a non-empty string`);
  }
  return value;
}

type JwtClaims = { exp?: unknown; iat?: unknown; sub?: unknown };

/** The access token's claims when it is a JWT (decoded, never trusted for security); else none. */
function claimsOf(accessToken: string): JwtClaims {
  try {
    return decodeJwt(accessToken);
  } catch {
    return {};
  }
}

/**
 * When the access token expires. `expires_in` is counted from receipt on our own clock, so a
 * device clock that is hours off changes nothing. Without it, the JWT's `exp` is the fallback
 * (decoded, never trusted for security); with `iat` beside it the lifetime `exp - iat` is used,
 * which cancels the offset between the server's clock and ours.
 */
function accessTokenExpiry(claims: JwtClaims, expiresAt: number | undefined, now: number): number | null {
  // `expires_in: 0` says nothing useful (some servers mean "does not expire"), and neither does
  // a lifetime shorter than the expiry leeway: taken at its word, every token would be
  // unusable on arrival and refreshed in a loop. A 401 tells when it really expires.
  if (expiresAt !== undefined && expiresAt - now > EXPIRY_LEEWAY_MS) return expiresAt;
  // An opaque token without expires_in: we learn of its expiry from a 401.
  if (typeof claims.exp !== 'number') return null;
  const lifetime =
    typeof claims.iat === 'number' && claims.exp > claims.iat
      ? (claims.exp - claims.iat) * 1000
      : claims.exp * 1000 - now;
  // An `exp` already past on our clock (which runs ahead of the server's), or too close to
  // use: learn from a 401.
  return lifetime > EXPIRY_LEEWAY_MS ? now + lifetime : null;
}

/**
 * The token type a response must have: `Bearer`, or with DPoP on, `DPoP` (RFC 9449 section 5).
 * A `Bearer` answer to a DPoP request is refused: the token is not bound to the key (a
 * downgrade, or a sign-in whose token request carried no proof), and resource requests would
 * present it with the wrong scheme.
 */
function tokenTypeOf(response: Record<string, unknown>, dpop: boolean): 'Bearer' | 'DPoP' {
  const expected = dpop ? 'DPoP' : 'Bearer';
  const tokenType = optionalString(response, 'token_type') ?? expected;
  if (tokenType.toLowerCase() === expected.toLowerCase()) return expected;
  throw new InvalidTokenResponseError(
    dpop && tokenType.toLowerCase() === 'bearer'
      ? 'DPoP is on: token_type "Bearer" means the token is not bound to the key (was its request sent with a DPoP proof?)'
      : `Unsupported token_type "${tokenType.slice(0, 32)}"`,
  );
}

/**
 * Validates a token response and turns it into the session's token set.
 * @param previous - the current set on a refresh: its refresh token stays when the server
 *   sends none, and the session's start is kept.
 * @param dpop - DPoP is on: the token type must be `DPoP` (else `Bearer`)
 * @throws InvalidTokenResponseError - nothing is half-applied: the caller keeps what it had.
 */
export function parseTokenResponse(input: unknown, now: number, previous?: SessionTokens, dpop = false): SessionTokens {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw new InvalidTokenResponseError('Token response: not an object');
  }
  const response = input as TokenResponse & Record<string, unknown>;
  const accessToken = optionalString(response, 'access_token');
  if (accessToken === undefined) throw new InvalidTokenResponseError('Token response: no "access_token"');
  const tokenType = tokenTypeOf(response, dpop);
  const expiresAt = instantAfter(response, 'expires_in', now);
  const refreshExpiresAt =
    instantAfter(response, 'refresh_token_expires_in', now) ?? instantAfter(response, 'refresh_expires_in', now);
  const sessionExpiresAt = instantAfter(response, 'session_expires_in', now);
  const rotated = optionalString(response, 'refresh_token');
  const claims = claimsOf(accessToken);
  return {
    accessToken,
    refreshToken: rotated ?? previous?.refreshToken,
    tokenType,
    accessTokenExpiresAt: accessTokenExpiry(claims, expiresAt, now),
    // Only a refresh token kept from before keeps its old expiry; a new one without a stated
    // lifetime has an unknown one (a lifetime of 0 says nothing either).
    refreshTokenExpiresAt:
      refreshExpiresAt !== undefined && refreshExpiresAt > now
        ? refreshExpiresAt
        : rotated === undefined
          ? previous?.refreshTokenExpiresAt
          : undefined,
    sessionExpiresAt: sessionExpiresAt ?? previous?.sessionExpiresAt,
    sessionStartedAt: previous?.sessionStartedAt ?? now,
    receivedAt: now,
    scope: optionalString(response, 'scope') ?? previous?.scope,
    subject: typeof claims.sub === 'string' ? claims.sub : previous?.subject,
  };
}

/** The persisted form, stamped with its `revision`; the access token is left out when it lives in memory only. */
export function toStoredSession(tokens: SessionTokens, persistAccessToken: boolean, revision: number): StoredSession {
  const { accessToken, refreshRejectedAt, ...persisted } = tokens;
  const stored: StoredSession = { version: 1, ...persisted, revision };
  // An access token this context never had (restored from a store without one) stays out too.
  if (persistAccessToken && accessToken !== '') stored.accessToken = accessToken;
  if (refreshRejectedAt !== undefined) stored.refreshRejectedAt = refreshRejectedAt;
  return stored;
}

const isInstant = (value: unknown): value is number => typeof value === 'number' && Number.isFinite(value);
const isToken = (value: unknown): boolean => typeof value === 'string' && value !== '';
const optional =
  (check: (value: unknown) => boolean) =>
  (value: unknown): boolean =>
    value === undefined || check(value);

/** Every field of a stored session and its check: what `fromStoredSession` reads, and nothing else. */
const STORED_FIELDS: Record<Exclude<keyof StoredSession, 'version'>, (value: unknown) => boolean> = {
  refreshToken: optional(isToken),
  accessToken: optional(isToken),
  tokenType: () => true, // read as 'DPoP' or 'Bearer'
  accessTokenExpiresAt: (value) => value === null || isInstant(value),
  refreshTokenExpiresAt: optional(isInstant),
  sessionExpiresAt: optional(isInstant),
  sessionStartedAt: isInstant,
  receivedAt: isInstant,
  scope: optional((value) => typeof value === 'string'),
  refreshRejectedAt: optional(isInstant),
  subject: optional((value) => typeof value === 'string'),
  revision: optional(isInstant),
};

/**
 * Reads what a store returned. `null` for a value that is not a session this version wrote
 * (garbled, truncated, from another app): the caller clears it instead of crashing.
 * The access token is `''` when it was not persisted, which reads as expired.
 */
export function fromStoredSession(value: unknown): SessionTokens | null {
  if (typeof value !== 'object' || value === null) return null;
  const stored = value as Record<string, unknown>;
  if (stored.version !== 1 || (stored.refreshToken === undefined && stored.accessToken === undefined)) return null;
  const tokens: Record<string, unknown> = {};
  for (const [field, check] of Object.entries(STORED_FIELDS)) {
    if (!check(stored[field])) return null;
    tokens[field] = stored[field];
  }
  return {
    ...(tokens as unknown as SessionTokens),
    accessToken: (stored.accessToken as string | undefined) ?? '',
    tokenType: stored.tokenType === 'DPoP' ? 'DPoP' : 'Bearer',
    // Without the access token there is nothing to use until a refresh.
    accessTokenExpiresAt: stored.accessToken === undefined ? 0 : (stored.accessTokenExpiresAt as number | null),
  };
}
