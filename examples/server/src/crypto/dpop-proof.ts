import { constants, createHash, createPublicKey, timingSafeEqual, verify, type KeyObject } from 'node:crypto';
import { hasControlCharacter } from '../http/body.ts';

/**
 * DPoP proof validation (RFC 9449 section 4.3), synchronous and pure: the caller supplies the
 * clock, the request and, when nonces are required, the nonce check; the `jti` replay check
 * needs storage and is the caller's too (src/http/dpop.ts).
 *
 * Signatures are checked with `node:crypto` on the calling thread (a few tens of microseconds
 * for ES256), never through WebCrypto, whose jobs queue on libuv's thread pool behind the
 * password hashes of a sign-in flood: the same reason access tokens are signed that way
 * (crypto/access-token.ts). The tests check every verdict against proofs made with jose.
 */

/** Every algorithm this server can check (asymmetric only: `none` and HMAC never). */
export const DPOP_ALGORITHMS = ['ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519', 'PS256', 'RS256'] as const;

/** One of {@link DPOP_ALGORITHMS}. */
export type DpopAlgorithm = (typeof DPOP_ALGORITHMS)[number];

/** Longer proofs are refused before any decoding (an ES256 proof is about 600 characters, RS256 with a 4096-bit key about 2,100). */
export const MAX_PROOF_LENGTH = 4096;

/** Longest accepted `jti` (the SDK sends 22 characters). */
export const MAX_JTI_LENGTH = 256;

/** Longest accepted `htu`. */
const MAX_HTU_LENGTH = 2048;

/** RSA keys outside these bounds are refused: smaller is weak, larger costs CPU per proof. */
const RSA_MIN_BITS = 2048;
const RSA_MAX_BITS = 4096;

/** Why a proof was refused: the RFC 9449 error code and a fixed reason (never input). */
export class DpopProofError extends Error {
  override readonly name = 'DpopProofError';
  readonly code: 'invalid_dpop_proof' | 'use_dpop_nonce';

  constructor(code: DpopProofError['code'], reason: string) {
    super(reason);
    this.code = code;
  }
}

/** What a proof must match. */
export type ProofExpectations = {
  /** The request's method (`htm`). */
  method: string;
  /** The request's URL as the client addressed it (`htu`), on the server's public base (its issuer). */
  url: string;
  /** The server's clock, epoch ms. */
  now: number;
  /** How far `iat` may be from `now`, either way, in seconds. */
  windowSeconds: number;
  /** The accepted `alg` values. */
  algorithms: ReadonlySet<string>;
  /** On a resource request: the access token, which `ath` must hash. */
  accessToken?: string | undefined;
  /** When nonces are required: whether a nonce is one the server issued and still accepts. */
  nonce?: ((value: string) => boolean) | undefined;
};

/** A proof that passed every check. */
export type VerifiedProof = {
  /** RFC 7638 SHA-256 thumbprint of the proof's key: what tokens are bound to (`cnf.jkt`). */
  jkt: string;
  jti: string;
  /** Seconds (a NumericDate). */
  iat: number;
  nonce?: string;
};

type Verifier = {
  kty: 'EC' | 'OKP' | 'RSA';
  crv?: string;
  size?: number;
  check(key: KeyObject, data: Buffer, signature: Buffer): boolean;
};

const ec = (crv: string, hash: string, size: number): Verifier => ({
  kty: 'EC',
  crv,
  size,
  check: (key, data, signature) =>
    signature.length === size * 2 && verify(hash, data, { key, dsaEncoding: 'ieee-p1363' }, signature),
});
const ed25519: Verifier = {
  kty: 'OKP',
  crv: 'Ed25519',
  size: 32,
  check: (key, data, signature) => signature.length === 64 && verify(null, data, key, signature),
};
const rsa = (pss: boolean): Verifier => ({
  kty: 'RSA',
  check: (key, data, signature) =>
    verify(
      'sha256',
      data,
      pss
        ? { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 }
        : { key, padding: constants.RSA_PKCS1_PADDING },
      signature,
    ),
});

const VERIFIERS: Record<DpopAlgorithm, Verifier> = {
  ES256: ec('P-256', 'sha256', 32),
  ES384: ec('P-384', 'sha384', 48),
  ES512: ec('P-521', 'sha512', 66),
  EdDSA: ed25519,
  Ed25519: ed25519,
  PS256: rsa(true),
  RS256: rsa(false),
};

const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;
const BASE64URL = /^[A-Za-z0-9_-]+$/;
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'];
const UTF8 = new TextDecoder('utf-8', { fatal: true });

function invalid(reason: string): never {
  throw new DpopProofError('invalid_dpop_proof', reason);
}

/** Decodes one base64url part of a JWS into a JSON object, or refuses the proof. */
function jsonPart(part: string, what: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(UTF8.decode(Buffer.from(part, 'base64url')));
  } catch {
    return invalid(`${what} is not base64url JSON`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) invalid(`${what} is not a JSON object`);
  return value as Record<string, unknown>;
}

/** A base64url member of a JWK, of `bytes` bytes when given (coordinates are full length: RFC 7518 section 6.2.1.2). */
function member(jwk: Record<string, unknown>, name: string, bytes?: number): string {
  const value = jwk[name];
  if (typeof value !== 'string' || value.length > 1024 || !BASE64URL.test(value)) invalid(`jwk ${name} is malformed`);
  if (bytes !== undefined && value.length !== Math.ceil((bytes * 4) / 3)) invalid(`jwk ${name} has the wrong length`);
  return value;
}

/**
 * The public key of the `jwk` header for `alg`, and its RFC 7638 thumbprint input (the
 * required members, in lexicographic order). Private members are refused, not ignored: a
 * client that sends its private key has leaked it.
 */
function publicKeyOf(jwk: unknown, alg: DpopAlgorithm): { key: KeyObject; canonical: string } {
  if (typeof jwk !== 'object' || jwk === null || Array.isArray(jwk)) invalid('jwk header is not a JSON object');
  const candidate = jwk as Record<string, unknown>;
  if (PRIVATE_MEMBERS.some((name) => name in candidate)) invalid('jwk header holds a private key');
  const verifier = VERIFIERS[alg];
  if (candidate.kty !== verifier.kty) invalid('jwk kty does not match alg');
  if (candidate.alg !== undefined && candidate.alg !== alg) invalid('jwk alg does not match alg');
  if (candidate.use !== undefined && candidate.use !== 'sig') invalid('jwk use is not sig');
  let members: Record<string, string>;
  if (verifier.kty === 'RSA') {
    members = { e: member(candidate, 'e'), kty: 'RSA', n: member(candidate, 'n') };
  } else {
    if (candidate.crv !== verifier.crv) invalid('jwk crv does not match alg');
    members =
      verifier.kty === 'EC'
        ? {
            crv: verifier.crv!,
            kty: 'EC',
            x: member(candidate, 'x', verifier.size),
            y: member(candidate, 'y', verifier.size),
          }
        : { crv: verifier.crv!, kty: 'OKP', x: member(candidate, 'x', verifier.size) };
  }
  let key: KeyObject;
  try {
    // Only the public members: an EC point off the curve, a bad modulus, are refused here.
    key = createPublicKey({ key: members, format: 'jwk' });
  } catch {
    return invalid('jwk is not a valid public key');
  }
  if (verifier.kty === 'RSA') {
    const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
    if (bits < RSA_MIN_BITS || bits > RSA_MAX_BITS) invalid('jwk RSA modulus size is not accepted');
  }
  // RFC 7638: the required members, sorted, no whitespace (the object literals above are sorted).
  return { key, canonical: JSON.stringify(members) };
}

/** RFC 7638 SHA-256 thumbprint of a canonical JWK. */
function thumbprintOf(canonical: string): string {
  return createHash('sha256').update(canonical).digest('base64url');
}

/** `ath`: base64url(SHA-256(ASCII access token)) (RFC 9449 section 4.2). */
export function athOf(accessToken: string): string {
  return createHash('sha256').update(accessToken, 'ascii').digest('base64url');
}

/** An unreserved character (RFC 3986 section 2.3): percent-encoding it means nothing. */
const UNRESERVED = /^[A-Za-z0-9\-._~]$/;

/**
 * The form in which `htu` and the request URL are compared (RFC 9449 section 4.3, point 9):
 * without query and fragment, after RFC 3986 syntax-based normalization (case of scheme and
 * host, percent-encoding case, unreserved characters decoded, dot segments) and scheme-based
 * normalization (default port, empty path). Undefined for what is not an absolute URL.
 */
export function normalizeHtu(url: string): string | undefined {
  const parsed = URL.parse(url);
  if (parsed === null) return undefined;
  parsed.search = '';
  parsed.hash = '';
  parsed.pathname = parsed.pathname.replace(/%([0-9A-Fa-f]{2})/g, (_, hex: string) => {
    const character = String.fromCharCode(Number.parseInt(hex, 16));
    return UNRESERVED.test(character) ? character : `%${hex.toUpperCase()}`;
  });
  return parsed.href;
}

function sameString(a: string, b: string): boolean {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.length === right.length && timingSafeEqual(left, right);
}

/**
 * Checks a DPoP proof against its request, in this order: shape and size; header (`typ:
 * dpop+jwt`, an accepted `alg`, no `crit`, a public `jwk` of that algorithm's type);
 * signature; claims (`jti`, `htm`, `htu`, `iat` within the window, `ath` when an access
 * token is given); and last the nonce, so that a `use_dpop_nonce` answer goes only to a
 * proof that is otherwise good. Throws {@link DpopProofError}.
 */
export function verifyDpopProof(proof: string, expected: ProofExpectations): VerifiedProof {
  if (proof.length > MAX_PROOF_LENGTH) invalid('proof too long');
  if (!COMPACT_JWS.test(proof)) invalid('proof is not a compact JWS');
  const [encodedHeader, encodedPayload, encodedSignature] = proof.split('.') as [string, string, string];

  const header = jsonPart(encodedHeader, 'header');
  // RFC 7515 section 4.1.9: a media type, case-insensitive, `application/` implied.
  if (typeof header.typ !== 'string' || header.typ.toLowerCase().replace(/^application\//, '') !== 'dpop+jwt') {
    invalid('typ is not dpop+jwt');
  }
  const alg = header.alg;
  if (typeof alg !== 'string' || !expected.algorithms.has(alg) || !Object.hasOwn(VERIFIERS, alg)) {
    invalid('alg is not accepted');
  }
  if (header.crit !== undefined) invalid('crit is not supported');
  const { key, canonical } = publicKeyOf(header.jwk, alg as DpopAlgorithm);

  const signature = Buffer.from(encodedSignature, 'base64url');
  let signed: boolean;
  try {
    signed = VERIFIERS[alg as DpopAlgorithm].check(key, Buffer.from(`${encodedHeader}.${encodedPayload}`), signature);
  } catch {
    signed = false;
  }
  if (!signed) invalid('signature does not verify');

  const payload = jsonPart(encodedPayload, 'payload');
  const { jti, htm, htu, iat } = payload;
  if (typeof jti !== 'string' || jti.length === 0) invalid('jti missing');
  if (jti.length > MAX_JTI_LENGTH || hasControlCharacter(jti)) invalid('jti malformed');
  if (typeof htm !== 'string' || htm !== expected.method) invalid('htm does not match the method');
  if (typeof htu !== 'string' || htu.length > MAX_HTU_LENGTH) invalid('htu missing');
  const target = normalizeHtu(expected.url);
  if (target === undefined || normalizeHtu(htu) !== target) invalid('htu does not match the URL');
  if (typeof iat !== 'number' || !Number.isFinite(iat)) invalid('iat missing');
  if (Math.abs(expected.now / 1000 - iat) > expected.windowSeconds) invalid('iat outside the accepted window');
  if (expected.accessToken !== undefined) {
    if (typeof payload.ath !== 'string' || !sameString(payload.ath, athOf(expected.accessToken))) {
      invalid('ath does not match the access token');
    }
  }
  const nonce = payload.nonce;
  if (nonce !== undefined && typeof nonce !== 'string') invalid('nonce malformed');
  if (expected.nonce !== undefined) {
    if (nonce === undefined) throw new DpopProofError('use_dpop_nonce', 'nonce missing');
    if (!expected.nonce(nonce)) throw new DpopProofError('use_dpop_nonce', 'nonce stale or unknown');
  }
  const result: VerifiedProof = { jkt: thumbprintOf(canonical), jti, iat };
  if (nonce !== undefined) result.nonce = nonce;
  return result;
}
