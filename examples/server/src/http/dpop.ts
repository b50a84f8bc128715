import type { DpopNonces } from '../crypto/dpop-nonce.ts';
import { DpopProofError, verifyDpopProof, type DpopAlgorithm } from '../crypto/dpop-proof.ts';
import type { Repository } from '../storage/repository.ts';
import { OAuthError } from './errors.ts';

/** A proof that passed every check, its `jti` now spent. */
export type AcceptedProof = {
  /** The thumbprint of the proof's key (RFC 7638): what tokens are bound to. */
  jkt: string;
  /** A fresher nonce to send back in `DPoP-Nonce`, when nonces are on and the proof's is not the current one. */
  nextNonce?: string;
};

/** A refused proof: the error code, a fixed reason, and the nonce to send back (nonces on). */
export class DpopRejection extends Error {
  override readonly name = 'DpopRejection';
  readonly code: 'invalid_dpop_proof' | 'use_dpop_nonce';
  readonly nonce: string | undefined;

  constructor(code: DpopRejection['code'], reason: string, nonce: string | undefined) {
    super(reason);
    this.code = code;
    this.nonce = nonce;
  }

  /** The description of the error body: fixed text, never input. */
  get description(): string {
    return this.code === 'use_dpop_nonce'
      ? 'Sign the DPoP proof again with the nonce of the DPoP-Nonce header.'
      : `The DPoP proof is invalid: ${this.message}.`;
  }

  /** As the token endpoint (and the sign-in) answers it: 400 (RFC 9449 sections 5 and 8). */
  atTokenEndpoint(): OAuthError {
    return new OAuthError(400, this.code, this.description, this.#nonceHeader());
  }

  /** As a protected resource answers it: 401 with a DPoP challenge (RFC 9449 sections 7.1 and 9). */
  atResource(algorithms: readonly string[]): OAuthError {
    return new OAuthError(401, this.code, this.description, {
      'WWW-Authenticate': dpopChallenge(algorithms, this.code, this.description),
      ...this.#nonceHeader(),
    });
  }

  #nonceHeader(): Record<string, string> {
    return this.nonce === undefined ? {} : { 'DPoP-Nonce': this.nonce };
  }
}

/** A `WWW-Authenticate: DPoP` challenge (RFC 9449 section 7.1); the description is always our own fixed text. */
export function dpopChallenge(algorithms: readonly string[], error?: string, description?: string): string {
  const params = [];
  if (error !== undefined) params.push(`error="${error}"`);
  if (description !== undefined) params.push(`error_description="${description}"`);
  params.push(`algs="${algorithms.join(' ')}"`);
  return `DPoP ${params.join(', ')}`;
}

/** Settings of {@link DpopVerifier}. */
export type DpopSettings = {
  /** Accepted and advertised proof algorithms. */
  algorithms: readonly DpopAlgorithm[];
  /** How far a proof's `iat` may be from the server's clock, either way, in seconds. */
  windowSeconds: number;
  /** Set when nonces are required. */
  nonces: DpopNonces | undefined;
};

/**
 * Checks the DPoP proofs of requests: one `DPoP` header, {@link verifyDpopProof} against
 * the URL on the server's public base (the issuer, so a proxy in front changes nothing), the
 * server's nonce when nonces are required, and the `jti` spent once in the repository's
 * used-identifier table (a unique key, so it holds across processes sharing PostgreSQL).
 */
export class DpopVerifier {
  readonly algorithms: readonly DpopAlgorithm[];
  readonly #algorithms: ReadonlySet<string>;
  readonly #settings: DpopSettings;
  readonly #issuer: string;
  readonly #repository: Repository;
  readonly #now: () => number;

  constructor(options: { settings: DpopSettings; issuer: string; repository: Repository; now: () => number }) {
    this.#settings = options.settings;
    this.algorithms = options.settings.algorithms;
    this.#algorithms = new Set(options.settings.algorithms);
    this.#issuer = options.issuer;
    this.#repository = options.repository;
    this.#now = options.now;
  }

  /** Whether proofs must carry a server nonce. */
  get noncesRequired(): boolean {
    return this.#settings.nonces !== undefined;
  }

  /**
   * The request's proof, checked and spent; undefined when the request has no `DPoP` header.
   * `path` is the route's path on this server (the issuer is prepended: that is the URL the
   * client used); `accessToken` is the token of a resource request (checked against `ath`).
   * Throws {@link DpopRejection}.
   */
  async check(request: {
    header: string | undefined;
    method: string;
    path: string;
    accessToken?: string;
  }): Promise<AcceptedProof | undefined> {
    const { header } = request;
    if (header === undefined) return undefined;
    const now = this.#now();
    const nonces = this.#settings.nonces;
    const current = nonces?.current(now);
    // Repeated headers arrive joined by a comma, which no compact JWS contains (RFC 9449 section 4.3: exactly one).
    if (header.includes(',')) throw new DpopRejection('invalid_dpop_proof', 'more than one DPoP header', current);
    let proof;
    try {
      proof = verifyDpopProof(header.trim(), {
        method: request.method,
        url: `${this.#issuer}${request.path}`,
        now,
        windowSeconds: this.#settings.windowSeconds,
        algorithms: this.#algorithms,
        accessToken: request.accessToken,
        nonce: nonces && ((value) => nonces.accepts(value, now)),
      });
    } catch (error) {
      if (error instanceof DpopProofError) throw new DpopRejection(error.code, error.message, current);
      throw error;
    }
    // Kept while the proof's iat is acceptable; after that it is refused by its age anyway.
    const keepUntil = Math.ceil(proof.iat + this.#settings.windowSeconds + 1) * 1000;
    if (!(await this.#repository.consumeJti(`dpop:${proof.jkt}:${proof.jti}`, keepUntil))) {
      throw new DpopRejection('invalid_dpop_proof', 'jti already used', current);
    }
    const accepted: AcceptedProof = { jkt: proof.jkt };
    if (current !== undefined && proof.nonce !== current) accepted.nextNonce = current;
    return accepted;
  }
}
