/**
 * The latest `DPoP-Nonce` of each origin (RFC 9449 section 8 and 9). Every response that
 * carries one replaces it: an authorization server and a resource server on one origin share it.
 */
export class NonceCache {
  readonly #nonces = new Map<string, string>();

  /** The nonce to put in the next proof for `url`, when its origin sent one. */
  get(url: string): string | undefined {
    return this.#nonces.get(new URL(url).origin);
  }

  /** Keeps the response's nonce, if it has one. */
  update(url: string, response: Response): void {
    const nonce = response.headers.get('dpop-nonce')?.trim();
    if (nonce) this.#nonces.set(new URL(url).origin, nonce);
  }
}
