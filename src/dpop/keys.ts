import { calculateJwkThumbprint, exportJWK, generateKeyPair, type JWK } from 'jose';
import { ConfigurationError } from '../errors.ts';
import type { DpopSigner } from './types.ts';

/** The proof algorithm: P-256 with SHA-256, the one every DPoP server supports. */
export const DPOP_ALG = 'ES256';

/** The key of the proofs, whatever holds it: its public JWK, its thumbprint, and a way to sign. */
export interface DpopKey {
  /** The public key only (`kty`, `crv`, `x`, `y`). */
  jwk: JWK;
  /** RFC 7638 SHA-256 thumbprint of `jwk`: what the server binds tokens to (`cnf.jkt`). */
  thumbprint: string;
  /** ES256 over `data`: the 64-byte `r || s` signature. */
  sign(data: Uint8Array<ArrayBuffer>): Promise<Uint8Array>;
}

/** A new P-256 key pair whose private key cannot be exported (script can sign with it, never read it). */
export async function generateDpopKeys(): Promise<CryptoKeyPair> {
  const { publicKey, privateKey } = await generateKeyPair(DPOP_ALG, { extractable: false });
  return { publicKey, privateKey };
}

async function withThumbprint({ kty, crv, x, y }: JWK, sign: DpopKey['sign']): Promise<DpopKey> {
  const jwk = { kty, crv, x, y } as JWK;
  return { jwk, thumbprint: await calculateJwkThumbprint(jwk), sign };
}

/** A WebCrypto key pair as the proofs use it. */
export async function describeKey(keys: CryptoKeyPair): Promise<DpopKey> {
  return withThumbprint(
    await exportJWK(keys.publicKey),
    async (data) => new Uint8Array(await crypto.subtle.sign({ name: 'ECDSA', hash: 'SHA-256' }, keys.privateKey, data)),
  );
}

/** A P-256 coordinate: 32 bytes, base64url without padding. */
const COORDINATE = /^[\w-]{43}$/;

/**
 * A signer from a native keystore as the proofs use it, checked: a public key that is not
 * P-256, or a signature that is not 64 bytes (a DER one, say), is a {@link ConfigurationError}
 * that names the fault rather than a proof every server refuses.
 */
export async function describeSigner(signer: DpopSigner | null | undefined): Promise<DpopKey> {
  const jwk = signer?.publicJwk;
  if (typeof signer?.sign !== 'function' || jwk?.kty !== 'EC' || jwk.crv !== 'P-256')
    throw new ConfigurationError('"dpop.signer" must give { publicJwk: a P-256 JWK, sign(data) }');
  if (!COORDINATE.test(jwk.x) || !COORDINATE.test(jwk.y))
    throw new ConfigurationError('"dpop.signer" gave a public JWK whose x or y is not a P-256 coordinate');
  return withThumbprint(jwk, async (data) => {
    const signature = await signer.sign(data);
    if (signature instanceof Uint8Array && signature.length === 64) return signature;
    const got = signature instanceof Uint8Array ? `${signature.length} bytes` : typeof signature;
    throw new ConfigurationError(`"dpop.signer" sign() gave ${got}; ES256 takes the 64-byte r || s (not DER)`);
  });
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
