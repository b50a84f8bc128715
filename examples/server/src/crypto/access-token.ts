import { randomUUID, sign } from 'node:crypto';
import { createLocalJWKSet, jwtVerify, type JWTPayload } from 'jose';
import type { SigningKey } from './signing-key.ts';

/** The claims of our access tokens (RFC 9068 style). */
export type AccessTokenClaims = JWTPayload & {
  sub: string;
  client_id: string;
  /** The refresh token family (session) the access token was issued in. */
  sid: string;
  /** RFC 9449 section 6.1: the thumbprint of the DPoP key a DPoP-bound token is bound to. */
  cnf?: { jkt: string };
};

/** Signs and verifies ES256 JWT access tokens with the server's key and clock. */
export class AccessTokens {
  readonly #key: SigningKey;
  readonly #jwks: ReturnType<typeof createLocalJWKSet>;
  readonly #issuer: string;
  readonly #audience: string;
  readonly #ttlSeconds: number;
  readonly #now: () => number;
  /** The JWS protected header, the same for every token: encoded once. */
  readonly #header: string;

  constructor(options: { key: SigningKey; issuer: string; audience: string; ttlSeconds: number; now: () => number }) {
    this.#key = options.key;
    this.#jwks = createLocalJWKSet({ keys: [options.key.publicJwk] });
    this.#issuer = options.issuer;
    this.#audience = options.audience;
    this.#ttlSeconds = options.ttlSeconds;
    this.#now = options.now;
    this.#header = Buffer.from(JSON.stringify({ alg: 'ES256', typ: 'at+jwt', kid: options.key.kid })).toString(
      'base64url',
    );
  }

  get ttlSeconds(): number {
    return this.#ttlSeconds;
  }

  /**
   * Signs an access token for the user in the given session, issued at `now` (ms); with
   * `jkt`, bound to that DPoP key (`cnf.jkt`, RFC 9449 section 6.1).
   * Synchronous on purpose: `crypto.sign` takes tens of microseconds on the calling thread,
   * and nothing waits on the thread pool (see {@link SigningKey.privateKey}).
   */
  sign(subject: { userId: string; clientId: string; familyId: string; jkt?: string | undefined }, now: number): string {
    const iat = Math.floor(now / 1000);
    const claims: Record<string, unknown> = {
      client_id: subject.clientId,
      sid: subject.familyId,
      iss: this.#issuer,
      sub: subject.userId,
      aud: this.#audience,
      iat,
      exp: iat + this.#ttlSeconds,
      jti: randomUUID(),
    };
    if (subject.jkt !== undefined) claims.cnf = { jkt: subject.jkt };
    const input = `${this.#header}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}`;
    // JWS ES256 wants the raw r||s form (RFC 7518 section 3.4), not DER.
    const signature = sign('sha256', Buffer.from(input), { key: this.#key.privateKey, dsaEncoding: 'ieee-p1363' });
    return `${input}.${signature.toString('base64url')}`;
  }

  /**
   * Verifies an access token: ES256 only (so `none` and HMAC are refused), our issuer and
   * audience, and `exp` against the injected clock with no tolerance. Throws a jose error
   * when the token is not acceptable.
   */
  async verify(token: string): Promise<AccessTokenClaims> {
    const { payload } = await jwtVerify(token, this.#jwks, {
      algorithms: ['ES256'],
      issuer: this.#issuer,
      audience: this.#audience,
      typ: 'at+jwt',
      currentDate: new Date(this.#now()),
      clockTolerance: 0,
      requiredClaims: ['exp', 'iat', 'sub', 'jti', 'client_id', 'sid'],
    });
    if (typeof payload.client_id !== 'string' || typeof payload.sid !== 'string' || typeof payload.sub !== 'string') {
      throw new Error('malformed claims');
    }
    const cnf = payload.cnf as { jkt?: unknown } | undefined;
    if (cnf !== undefined && (typeof cnf !== 'object' || cnf === null || typeof cnf.jkt !== 'string')) {
      throw new Error('malformed claims');
    }
    return payload as AccessTokenClaims;
  }
}
