import { randomUUID } from 'node:crypto';
import { generateRefreshToken, hashRefreshToken } from '../crypto/refresh-token.ts';
import type { DeviceKeyRecord, FamilyRecord } from '../storage/repository.ts';
import type { GrantContext } from './context.ts';

/**
 * The RFC 6749 section 5.1 token response, with two extensions the SDK uses to monitor
 * the session: `refresh_token_expires_in` (this refresh token's idle expiry, capped at the
 * session end) and `session_expires_in` (the absolute session end), both in seconds from
 * now. `device_key_id` (the enrolled key's RFC 7638 thumbprint) only after an enrollment.
 * `token_type` is `DPoP` when the access token is bound to the request's DPoP key (RFC 9449
 * section 5), else `Bearer`.
 */
export type TokenResponse = {
  access_token: string;
  token_type: 'Bearer' | 'DPoP';
  expires_in: number;
  refresh_token: string;
  refresh_token_expires_in: number;
  session_expires_in: number;
  device_key_id?: string;
};

/**
 * The response body for `refreshToken` of `family` at `now`, with a freshly signed access
 * token, bound to the DPoP key `dpopJkt` when the request had a proof. Every lifetime is
 * counted from `now`, so a replay states what remains.
 */
export function tokenResponse(
  context: GrantContext,
  family: FamilyRecord,
  now: number,
  refreshToken: { token: string; expiresAt: number },
  extras: { dpopJkt?: string | undefined; deviceKeyId?: string | undefined } = {},
): string {
  const { dpopJkt, deviceKeyId } = extras;
  const response: TokenResponse = {
    access_token: context.accessTokens.sign(
      { userId: family.userId, clientId: family.clientId, familyId: family.id, jkt: dpopJkt },
      now,
    ),
    token_type: dpopJkt === undefined ? 'Bearer' : 'DPoP',
    expires_in: context.accessTokens.ttlSeconds,
    refresh_token: refreshToken.token,
    refresh_token_expires_in: Math.max(0, Math.floor((refreshToken.expiresAt - now) / 1000)),
    session_expires_in: Math.max(0, Math.floor((family.expiresAt - now) / 1000)),
  };
  if (deviceKeyId !== undefined) response.device_key_id = deviceKeyId;
  return JSON.stringify(response);
}

/**
 * Starts a new session (token family) for a user, optionally enrolling a device key and
 * binding the family to a DPoP key (the request's proof), and returns the response body. Used by the login endpoint and the jwt-bearer grant.
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
    /** The thumbprint of the request's DPoP proof key: the family is bound to it. */
    dpopJkt?: string | undefined;
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
    dpopJkt: start.dpopJkt ?? null,
  };
  const refreshToken = generateRefreshToken();
  const expiresAt = Math.min(now + context.settings.refreshTokenTtlSeconds * 1000, family.expiresAt);
  const token = { tokenHash: hashRefreshToken(refreshToken), issuedAt: now, expiresAt };
  const session = { family, token, sessionGeneration: start.sessionGeneration };
  await context.repository.createSession(start.deviceKey ? { ...session, deviceKey: start.deviceKey } : session);
  // Signed once the session exists: a refused sign-in signs nothing.
  return {
    family,
    body: tokenResponse(
      context,
      family,
      now,
      { token: refreshToken, expiresAt },
      { dpopJkt: start.dpopJkt, deviceKeyId: start.deviceKey?.thumbprint },
    ),
  };
}
