import { calculateJwkThumbprint, exportJWK, generateKeyPair, type JWK } from 'jose';

/** The proof algorithm: P-256 with SHA-256, the one every DPoP server supports. */
export const DPOP_ALG = 'ES256';

/** A key pair with what every proof repeats: the public JWK and its thumbprint. */
export interface DpopKey {
  keys: CryptoKeyPair;
  /** The public key only (`kty`, `crv`, `x`, `y`). */
  jwk: JWK;
  /** RFC 7638 SHA-256 thumbprint of `jwk`: what the server binds tokens to (`cnf.jkt`). */
  thumbprint: string;
}

/** A new P-256 key pair whose private key cannot be exported (script can sign with it, never read it). */
export async function generateDpopKeys(): Promise<CryptoKeyPair> {
  const { publicKey, privateKey } = await generateKeyPair(DPOP_ALG, { extractable: false });
  return { publicKey, privateKey };
}

/** The public JWK and thumbprint of `keys`. */
export async function describeKey(keys: CryptoKeyPair): Promise<DpopKey> {
  const { kty, crv, x, y } = await exportJWK(keys.publicKey);
  const jwk = { kty, crv, x, y } as JWK;
  return { keys, jwk, thumbprint: await calculateJwkThumbprint(jwk) };
}

/** Whether a key store gave back something usable as a key pair. */
export function isKeyPair(value: unknown): value is CryptoKeyPair {
  const pair = value as Partial<CryptoKeyPair> | null | undefined;
  return (
    typeof pair === 'object' &&
    pair !== null &&
    typeof pair.privateKey === 'object' &&
    pair.privateKey !== null &&
    typeof pair.publicKey === 'object' &&
    pair.publicKey !== null
  );
}
