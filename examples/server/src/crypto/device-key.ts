import { calculateJwkThumbprint, importJWK, type JWK } from 'jose';

/** Why a device public key was refused (safe to show to the client). */
export class DeviceKeyError extends Error {
  override readonly name = 'DeviceKeyError';
}

/**
 * Validates a device public key for enrollment: an EC P-256 public JWK, without private
 * members, whose point imports (is on the curve). Returns the canonical public JWK and its
 * RFC 7638 thumbprint, which the device later uses as the `kid` of its assertions.
 */
export async function parseDevicePublicJwk(input: unknown): Promise<{ jwk: JWK; thumbprint: string }> {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw new DeviceKeyError('device_public_jwk must be a JWK object');
  }
  const candidate = input as Record<string, unknown>;
  for (const privateMember of ['d', 'p', 'q', 'dp', 'dq', 'qi', 'k', 'oth']) {
    if (privateMember in candidate) throw new DeviceKeyError('device_public_jwk must not contain private key members');
  }
  if (candidate.kty !== 'EC' || candidate.crv !== 'P-256') {
    throw new DeviceKeyError('device_public_jwk must be an EC P-256 key');
  }
  if (typeof candidate.x !== 'string' || typeof candidate.y !== 'string') {
    throw new DeviceKeyError('device_public_jwk must have string x and y');
  }
  if (candidate.alg !== undefined && candidate.alg !== 'ES256') {
    throw new DeviceKeyError('device_public_jwk alg must be ES256');
  }
  const jwk: JWK = { kty: 'EC', crv: 'P-256', x: candidate.x, y: candidate.y };
  try {
    await importJWK(jwk, 'ES256');
  } catch {
    throw new DeviceKeyError('device_public_jwk is not a valid P-256 public key');
  }
  return { jwk, thumbprint: await calculateJwkThumbprint(jwk) };
}
