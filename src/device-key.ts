import { SignJWT } from 'jose';
import type { AssertionRequest } from './ports/biometric.ts';

/**
 * Signs an RFC 7523 JWT assertion with a device key (ES256), for a `BiometricProvider`
 * to return after the biometric prompt unlocked the key. The assertion lives 60 seconds and
 * carries a fresh `jti`, so the server can refuse a replay.
 * @param privateKey - a non-extractable WebCrypto ECDSA P-256 key (or a key from the platform keystore)
 * @param keyId - the `kid` the server knows the key by (the JWK thumbprint, RFC 7638)
 * @example
 * getAssertion: async (request) => (await promptBiometric()) ? createDeviceKeyAssertion(key, kid, request) : null
 */
export async function createDeviceKeyAssertion(
  privateKey: CryptoKey,
  keyId: string,
  request: Pick<AssertionRequest, 'audience' | 'clientId' | 'subject'>,
  options: { now?: number; lifetimeSeconds?: number } = {},
): Promise<string> {
  const issuedAt = Math.floor((options.now ?? Date.now()) / 1000);
  const jwt = new SignJWT({})
    .setProtectedHeader({ alg: 'ES256', kid: keyId, typ: 'JWT' })
    .setIssuer(request.clientId)
    .setAudience(request.audience)
    .setIssuedAt(issuedAt)
    .setExpirationTime(issuedAt + (options.lifetimeSeconds ?? 60))
    .setJti(globalThis.crypto.randomUUID());
  if (request.subject !== undefined) jwt.setSubject(request.subject);
  return jwt.sign(privateKey);
}
