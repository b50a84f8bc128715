import { createPrivateKey, type KeyObject } from 'node:crypto';
import { calculateJwkThumbprint, exportJWK, generateKeyPair, type JWK } from 'jose';
import type { Repository } from '../storage/repository.ts';

/** The server's ES256 signing key: private for signing, public for the JWKS. */
export type SigningKey = {
  kid: string;
  /**
   * A Node key object: `crypto.sign` with it is synchronous (tens of microseconds on the
   * main thread), where WebCrypto would queue every signature on libuv's thread pool,
   * behind the password hashes of a login flood.
   */
  privateKey: KeyObject;
  /** The public JWK as published at `/.well-known/jwks.json`. */
  publicJwk: JWK;
};

/**
 * Loads the signing key: from `privateJwkJson` (the `JWT_PRIVATE_JWK` environment variable)
 * when given, otherwise from the database, where the first process to start stores a new
 * one and every other process sharing the database loads it, so that all of them verify
 * each other's tokens. The `kid` is the key's RFC 7638 thumbprint.
 *
 * A production server keeps this key in a KMS or HSM and never in its database.
 */
export async function loadSigningKey(repository: Repository, privateJwkJson?: string): Promise<SigningKey> {
  if (privateJwkJson !== undefined) return fromPrivateJwk(parsePrivateJwk(privateJwkJson));
  const { privateKey } = await generateKeyPair('ES256', { extractable: true });
  const candidateJwk = await exportJWK(privateKey);
  const candidateKid = await calculateJwkThumbprint(publicPart(candidateJwk));
  const stored = await repository.loadOrCreateSigningKey({
    kid: candidateKid,
    privateJwk: JSON.stringify(candidateJwk),
  });
  return fromPrivateJwk(parsePrivateJwk(stored.privateJwk));
}

function parsePrivateJwk(json: string): JWK {
  let jwk: unknown;
  try {
    jwk = JSON.parse(json);
  } catch {
    throw new Error('JWT_PRIVATE_JWK is not valid JSON');
  }
  if (
    typeof jwk !== 'object' ||
    jwk === null ||
    (jwk as JWK).kty !== 'EC' ||
    (jwk as JWK).crv !== 'P-256' ||
    typeof (jwk as JWK).d !== 'string'
  ) {
    throw new Error('the signing key must be an EC P-256 private JWK (kty EC, crv P-256, with d)');
  }
  return jwk as JWK;
}

function publicPart(jwk: JWK): JWK {
  return { kty: 'EC', crv: 'P-256', x: jwk.x!, y: jwk.y! };
}

async function fromPrivateJwk(jwk: JWK): Promise<SigningKey> {
  const kid = await calculateJwkThumbprint(publicPart(jwk));
  const privateKey = createPrivateKey({
    key: { kty: 'EC', crv: 'P-256', x: jwk.x!, y: jwk.y!, d: jwk.d! },
    format: 'jwk',
  });
  return { kid, privateKey, publicJwk: { ...publicPart(jwk), kid, alg: 'ES256', use: 'sig' } };
}
