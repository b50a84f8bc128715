import { randomUUID } from 'node:crypto';
import { generateRefreshToken, hashRefreshToken } from '../crypto/refresh-token.ts';
import type { DeviceKeyRecord, FamilyRecord, NewRefreshToken } from '../storage/repository.ts';
import type { GrantContext } from './context.ts';

/**
 * The RFC 6749 section 5.1 token response, with two extensions the SDK uses to monitor
 * the session: `refresh_token_expires_in` (this refresh token's idle expiry, capped at the
 * session end) and `session_expires_in` (the absolute session end), both in seconds from
 * now. `device_key_id` (the enrolled key's RFC 7638 thumbprint) only after an enrollment.
 */
export type TokenResponse = {
  access_token: string;
  token_type: 'Bearer';
  expires_in: number;
  refresh_token: string;
  refresh_token_expires_in: number;
  session_expires_in: number;
  device_key_id?: string;
};

/** A freshly minted refresh token and the response that carries it, ready to store. */
export type MintedTokens = {
  refreshToken: NewRefreshToken;
  /** The serialised response body, the exact bytes sent (and replayed in the grace window). */
  body: string;
};

/** Mints an access token and a refresh token for `family` at `now` and serialises the response. */
export async function mintTokens(
  context: GrantContext,
  family: FamilyRecord,
  now: number,
  deviceKeyId?: string,
): Promise<MintedTokens> {
  const refreshToken = generateRefreshToken();
  const refreshExpiresAt = Math.min(now + context.settings.refreshTokenTtlSeconds * 1000, family.expiresAt);
  const accessToken = await context.accessTokens.sign(
    { userId: family.userId, clientId: family.clientId, familyId: family.id },
    now,
  );
  const response: TokenResponse = {
    access_token: accessToken,
    token_type: 'Bearer',
    expires_in: context.accessTokens.ttlSeconds,
    refresh_token: refreshToken,
    refresh_token_expires_in: Math.max(0, Math.floor((refreshExpiresAt - now) / 1000)),
    session_expires_in: Math.max(0, Math.floor((family.expiresAt - now) / 1000)),
  };
  if (deviceKeyId !== undefined) response.device_key_id = deviceKeyId;
  return {
    refreshToken: { tokenHash: hashRefreshToken(refreshToken), issuedAt: now, expiresAt: refreshExpiresAt },
    body: JSON.stringify(response),
  };
}

/**
 * Starts a new session (token family) for a user, optionally enrolling a device key, and
 * returns the response body. Used by the login endpoint and the jwt-bearer grant.
 * `sessionGeneration` is the user's, read with the credential that was checked: throws
 * `SessionsRevokedError` (nothing stored) when the user's sessions were revoked since.
 */
export async function startSession(
  context: GrantContext,
  start: {
    userId: string;
    clientId: string;
    origin: FamilyRecord['origin'];
    sessionGeneration: number;
    deviceKey?: DeviceKeyRecord;
  },
): Promise<{ family: FamilyRecord; body: string }> {
  const now = context.now();
  const family: FamilyRecord = {
    id: randomUUID(),
    userId: start.userId,
    clientId: start.clientId,
    origin: start.origin,
    createdAt: now,
    expiresAt: now + context.settings.sessionMaxSeconds * 1000,
    revokedAt: null,
  };
  const minted = await mintTokens(context, family, now, start.deviceKey?.thumbprint);
  const session = { family, token: minted.refreshToken, sessionGeneration: start.sessionGeneration };
  await context.repository.createSession(start.deviceKey ? { ...session, deviceKey: start.deviceKey } : session);
  return { family, body: minted.body };
}
