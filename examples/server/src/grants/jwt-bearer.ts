import { decodeProtectedHeader, importJWK, jwtVerify, type JWK } from 'jose';
import { hasControlCharacter } from '../http/body.ts';
import { invalidRequest, OAuthError } from '../http/errors.ts';
import { SessionsRevokedError } from '../storage/repository.ts';
import type { GrantContext } from './context.ts';
import { startSession } from './token-response.ts';

/** Longest accepted assertion lifetime (exp minus iat, and exp minus now). */
const MAX_ASSERTION_LIFETIME_SECONDS = 300;

function refused(): OAuthError {
  return new OAuthError(400, 'invalid_grant', 'The assertion is invalid, expired or already used.');
}

/**
 * The RFC 7523 JWT bearer grant, for device-key re-authentication. The assertion is an
 * ES256 JWT signed by a device key enrolled at sign-in:
 *
 * - header `kid` = the key's RFC 7638 thumbprint (the `device_key_id` of the login response);
 * - `iss` = the `client_id`, `sub` = the user id (the access tokens' `sub`);
 * - `aud` = the token endpoint URL (the issuer is accepted too);
 * - `exp` required, at most 5 minutes ahead; `jti` required (a non-empty string) and
 *   single-use.
 *
 * `kid` and `jti` with control characters are refused before any lookup. Success starts a
 * new token family, unless the user's sessions were revoked after the device key was
 * looked up (`revokeUserSessions` removes the key: an assertion in flight must not outlive it).
 * With `dpopJkt` (the request's DPoP proof key, checked by the caller) the new family is
 * bound to that key.
 */
export async function jwtBearerGrant(
  context: GrantContext,
  params: Map<string, string>,
  clientId: string,
  dpopJkt?: string,
): Promise<string> {
  const assertion = params.get('assertion');
  if (assertion === undefined) throw invalidRequest('The assertion parameter is required.');
  // The client_id is named only once an enrolled device key vouches for it.
  const reject = (reason: string, details: { userId?: string; clientId?: string } = {}): never => {
    context.record('jwt-bearer', 'invalid', { reason, ...details });
    throw refused();
  };

  let kid: unknown;
  try {
    kid = decodeProtectedHeader(assertion).kid;
  } catch {
    return reject('malformed assertion');
  }
  if (typeof kid !== 'string' || kid.length === 0 || kid.length > 128) return reject('missing kid');
  if (hasControlCharacter(kid)) return reject('malformed kid');
  const deviceKey = await context.repository.findDeviceKey(kid);
  if (!deviceKey) return reject('unknown device key');
  const enrolled = { userId: deviceKey.userId, clientId: deviceKey.clientId };
  if (deviceKey.clientId !== clientId) return reject('client mismatch', enrolled);

  const now = context.now();
  let payload;
  try {
    const key = await importJWK(JSON.parse(deviceKey.publicJwk) as JWK, 'ES256');
    ({ payload } = await jwtVerify(assertion, key, {
      algorithms: ['ES256'],
      issuer: clientId,
      subject: deviceKey.userId,
      audience: [context.settings.tokenEndpoint, context.settings.issuer],
      currentDate: new Date(now),
      clockTolerance: 0,
      requiredClaims: ['exp', 'jti'],
    }));
  } catch {
    return reject('assertion verification failed', enrolled);
  }
  const nowSeconds = Math.floor(now / 1000);
  const exp = payload.exp!;
  if (exp - nowSeconds > MAX_ASSERTION_LIFETIME_SECONDS) return reject('assertion lifetime too long', enrolled);
  if (
    payload.iat !== undefined &&
    (exp - payload.iat > MAX_ASSERTION_LIFETIME_SECONDS || payload.iat > nowSeconds + 60)
  ) {
    return reject('assertion lifetime too long', enrolled);
  }
  const jti: unknown = payload.jti;
  if (typeof jti !== 'string' || jti.length === 0) return reject('malformed jti', enrolled);
  if (jti.length > 256) return reject('jti too long', enrolled);
  if (hasControlCharacter(jti)) return reject('malformed jti', enrolled);
  // Kept until the assertion's own expiry: after that it is refused as expired anyway.
  if (!(await context.repository.consumeJti(`${deviceKey.thumbprint}:${jti}`, exp * 1000))) {
    return reject('jti replayed', enrolled);
  }

  let started;
  try {
    started = await startSession(context, {
      userId: deviceKey.userId,
      clientId,
      origin: 'jwt-bearer',
      sessionGeneration: deviceKey.sessionGeneration,
      dpopJkt,
    });
  } catch (error) {
    if (error instanceof SessionsRevokedError) return reject('sessions revoked during the grant', enrolled);
    throw error;
  }
  const { family, body } = started;
  context.record('jwt-bearer', 'issued', { familyId: family.id, clientId, userId: deviceKey.userId });
  return body;
}
