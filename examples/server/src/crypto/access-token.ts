import { randomUUID } from 'node:crypto';
import { createLocalJWKSet, jwtVerify, SignJWT, type JWTPayload } from 'jose';
import type { SigningKey } from './signing-key.ts';

/** The claims of our access tokens (RFC 9068 style). */
export type AccessTokenClaims = JWTPayload & {
  sub: string;
  client_id: string;
  /** The refresh token family (session) the access token was issued in. */
  sid: string;
};

/** Signs and verifies ES256 JWT access tokens with the server's key and clock. */
export class AccessTokens {
  readonly #key: SigningKey;
  readonly #jwks: ReturnType<typeof createLocalJWKSet>;
  readonly #issuer: string;
  readonly #audience: string;
  readonly #ttlSeconds: number;
  readonly #now: () => number;

  constructor(options: { key: SigningKey; issuer: string; audience: string; ttlSeconds: number; now: () => number }) {
    this.#key = options.key;
    this.#jwks = createLocalJWKSet({ keys: [options.key.publicJwk] });
    this.#issuer = options.issuer;
    this.#audience = options.audience;
    this.#ttlSeconds = options.ttlSeconds;
    this.#now = options.now;
  }

  get ttlSeconds(): number {
    return this.#ttlSeconds;
  }

  /** Signs an access token for the user in the given session, issued at `now` (ms). */
  async sign(subject: { userId: string; clientId: string; familyId: string }, now: number): Promise<string> {
    const iat = Math.floor(now / 1000);
    return new SignJWT({ client_id: subject.clientId, sid: subject.familyId })
      .setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', kid: this.#key.kid })
      .setIssuer(this.#issuer)
      .setSubject(subject.userId)
      .setAudience(this.#audience)
      .setIssuedAt(iat)
      .setExpirationTime(iat + this.#ttlSeconds)
      .setJti(randomUUID())
      .sign(this.#key.privateKey);
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
    return payload as AccessTokenClaims;
  }
}
