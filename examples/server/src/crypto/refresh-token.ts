import { hash, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * Refresh tokens are opaque: 32 random bytes (256 bits) as base64url, 43 characters.
 * Only their SHA-256 is stored. A fast hash is enough because the input has 256 bits of
 * entropy: nobody can guess a preimage, so the slow, salted hashes that low-entropy
 * passwords need would add cost and no security; and a deterministic hash can be looked up
 * by index.
 */
export function generateRefreshToken(): string {
  return randomBytes(32).toString('base64url');
}

const TOKEN_SHAPE = /^[A-Za-z0-9_-]{43}$/;

/** True when the string could be one of our refresh tokens (cheap rejection of garbage). */
export function looksLikeRefreshToken(token: string): boolean {
  return TOKEN_SHAPE.test(token);
}

/** The stored form of a refresh token: SHA-256, base64url. */
export function hashRefreshToken(token: string): string {
  return hash('sha256', token, 'base64url');
}

const TOKEN_BYTES = 32;
const CHILD_PAD_LABEL = 'session-keeper/child-token-pad/v1';

/**
 * The one-time pad that seals a token's child: SHA-256 of a fixed label and the *parent*
 * token, which the database never holds. The parent is 256 random bits, so the pad is
 * pseudorandom to anyone without it (and unrelated to the stored hash, which has no label).
 * Each token is rotated at most once (the rotation is atomic), so each pad encrypts exactly
 * one value: XOR with a pseudorandom pad used once is a sound cipher, and it costs one hash
 * instead of a key derivation plus AES-GCM. Integrity comes from the stored hash of the
 * child (see {@link openChild}).
 */
function childPad(parentToken: string): Buffer {
  return hash('sha256', `${CHILD_PAD_LABEL}\u0000${parentToken}`, 'buffer');
}

/**
 * Seals the child of `parentToken` for the grace window: whoever presents the parent again
 * can recover the child, and from it the next one, up to the live token of the family
 * (a replay of any ancestor yields the live token set). A copy of the database cannot: it
 * has only hashes, and the pads come from tokens it never stored.
 */
export function sealChild(parentToken: string, childToken: string): Uint8Array {
  const child = Buffer.from(childToken, 'base64url');
  const pad = childPad(parentToken);
  for (let i = 0; i < TOKEN_BYTES; i += 1) child[i]! ^= pad[i]!;
  return child;
}

/**
 * Opens a sealed child with the parent token; undefined unless the result hashes to
 * `childHash` (the stored hash of the child), so a wrong token or a tampered row yields
 * nothing.
 */
export function openChild(parentToken: string, sealed: Uint8Array, childHash: string): string | undefined {
  if (sealed.length !== TOKEN_BYTES) return undefined;
  const child = Buffer.from(sealed);
  const pad = childPad(parentToken);
  for (let i = 0; i < TOKEN_BYTES; i += 1) child[i]! ^= pad[i]!;
  const token = child.toString('base64url');
  const expected = Buffer.from(childHash, 'utf8');
  const actual = Buffer.from(hashRefreshToken(token), 'utf8');
  return expected.length === actual.length && timingSafeEqual(expected, actual) ? token : undefined;
}
