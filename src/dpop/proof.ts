import { base64url } from 'jose';
import { DPOP_ALG, type DpopKey } from './keys.ts';

/** What a proof says about its request. */
export interface ProofClaims {
  method: string;
  url: string;
  /** The server's time, in ms (the device clock corrected by the estimated offset). */
  now: number;
  /** The server's latest nonce for this origin, when it sent one. */
  nonce?: string | undefined;
  /** On a resource request: the access token's hash (see {@link athOf}). */
  ath?: string | undefined;
}

/** `htu`: the URL without query and fragment (RFC 9449 section 4.2). */
export function htuOf(url: string): string {
  const parsed = new URL(url);
  parsed.search = '';
  parsed.hash = '';
  return parsed.href;
}

/** `ath`: base64url(SHA-256(ASCII access token)). */
export async function athOf(accessToken: string): Promise<string> {
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(accessToken));
  return base64url.encode(new Uint8Array(digest));
}

/** A unique `jti`: 128 random bits. */
function newJti(): string {
  return base64url.encode(crypto.getRandomValues(new Uint8Array(16)));
}

const encoder = new TextEncoder();
const segment = (value: object) => base64url.encode(JSON.stringify(value));
/** The encoded protected header of each key: the same for every proof the key signs. */
const headers = new WeakMap<DpopKey, string>();

/**
 * A DPoP proof JWT (RFC 9449 section 4.2) signed with `key`. The compact JWS is put together
 * here rather than by jose's `SignJWT`, which signs only with a key it holds: a native
 * keystore's key signs through `key.sign`.
 */
export async function createProof(key: DpopKey, claims: ProofClaims): Promise<string> {
  const payload: Record<string, string | number> = {
    htm: claims.method.toUpperCase(),
    htu: htuOf(claims.url),
    jti: newJti(),
    iat: Math.floor(claims.now / 1000),
  };
  if (claims.ath !== undefined) payload.ath = claims.ath;
  if (claims.nonce !== undefined) payload.nonce = claims.nonce;
  let header = headers.get(key);
  if (header === undefined) headers.set(key, (header = segment({ alg: DPOP_ALG, typ: 'dpop+jwt', jwk: key.jwk })));
  const input = `${header}.${segment(payload)}`;
  return `${input}.${base64url.encode(await key.sign(encoder.encode(input)))}`;
}
