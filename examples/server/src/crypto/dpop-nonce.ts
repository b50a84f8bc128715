import { createHmac, hkdfSync, timingSafeEqual } from 'node:crypto';

const LABEL = 'session-keeper/dpop-nonce/v1';

/**
 * Server-provided DPoP nonces (RFC 9449 section 8), stateless: the nonce of a period is the
 * HMAC-SHA-256 of the period's number under a secret, so every process holding the secret
 * issues and accepts the same nonces without storing any. The nonce changes every
 * `rotationSeconds`; the previous period's and the next one's are accepted too (a client
 * that just got the previous one, a process whose clock runs a little ahead).
 */
export class DpopNonces {
  readonly #secret: Buffer;
  readonly #periodMs: number;
  /** The values of the last few periods (a nonce per period, computed once). */
  readonly #values = new Map<number, string>();

  constructor(secret: Uint8Array, rotationSeconds: number) {
    if (secret.length < 32) throw new TypeError('the DPoP nonce secret must have at least 32 bytes');
    this.#secret = Buffer.from(secret);
    this.#periodMs = rotationSeconds * 1000;
  }

  /** The nonce to hand out at `now` (epoch ms). */
  current(now: number): string {
    return this.#value(Math.floor(now / this.#periodMs));
  }

  /** Whether `nonce` is the current period's, the previous one's or the next one's. */
  accepts(nonce: string, now: number): boolean {
    const period = Math.floor(now / this.#periodMs);
    const given = Buffer.from(nonce);
    let found = false;
    for (const candidate of [period, period - 1, period + 1]) {
      const expected = Buffer.from(this.#value(candidate));
      // Every candidate is compared, in constant time, whatever matched before.
      if (expected.length === given.length && timingSafeEqual(expected, given)) found = true;
    }
    return found;
  }

  #value(period: number): string {
    let value = this.#values.get(period);
    if (value === undefined) {
      value = createHmac('sha256', this.#secret).update(`${LABEL}\u0000${period}`).digest('base64url');
      if (this.#values.size >= 8) this.#values.clear();
      this.#values.set(period, value);
    }
    return value;
  }
}

/**
 * The nonce secret when none is configured: derived (HKDF-SHA-256, with a label of its own)
 * from the signing key's private scalar, which every process sharing a database or a
 * `JWT_PRIVATE_JWK` already shares. A server whose signing key lives in a KMS configures
 * `dpopNonceSecret` instead.
 */
export function deriveNonceSecret(signingKeyD: string): Uint8Array {
  return new Uint8Array(hkdfSync('sha256', Buffer.from(signingKeyD, 'base64url'), Buffer.alloc(0), LABEL, 32));
}
