import { createCipheriv, createDecipheriv, createHash, hkdfSync, randomBytes } from 'node:crypto';

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
  return createHash('sha256').update(token, 'utf8').digest('base64url');
}

const REPLAY_SALT = Buffer.from('session-keeper/grace-replay/v1');
const IV_LENGTH = 12;
const TAG_LENGTH = 16;

/**
 * The key that seals a rotation's response. It is derived (HKDF-SHA-256) from the refresh
 * token that was presented, which the database never holds: someone with a copy of the
 * database (or a backup) cannot decrypt the stored response and take the new tokens; only
 * the holder of the old token, inside the grace window, can get them again.
 */
function replayKey(presentedToken: string): Buffer {
  return Buffer.from(hkdfSync('sha256', Buffer.from(presentedToken, 'utf8'), REPLAY_SALT, 'aes-256-gcm key', 32));
}

/** Encrypts a response body (AES-256-GCM, bound to the token hash as associated data). */
export function sealReplay(presentedToken: string, tokenHash: string, body: string): Uint8Array {
  const iv = randomBytes(IV_LENGTH);
  const cipher = createCipheriv('aes-256-gcm', replayKey(presentedToken), iv);
  cipher.setAAD(Buffer.from(tokenHash, 'utf8'));
  const ciphertext = Buffer.concat([cipher.update(body, 'utf8'), cipher.final()]);
  return Buffer.concat([iv, ciphertext, cipher.getAuthTag()]);
}

/** Decrypts a sealed response; undefined when it does not authenticate. */
export function openReplay(presentedToken: string, tokenHash: string, sealed: Uint8Array): string | undefined {
  if (sealed.length < IV_LENGTH + TAG_LENGTH) return undefined;
  try {
    const bytes = Buffer.from(sealed);
    const decipher = createDecipheriv('aes-256-gcm', replayKey(presentedToken), bytes.subarray(0, IV_LENGTH));
    decipher.setAAD(Buffer.from(tokenHash, 'utf8'));
    decipher.setAuthTag(bytes.subarray(bytes.length - TAG_LENGTH));
    return Buffer.concat([decipher.update(bytes.subarray(IV_LENGTH, bytes.length - TAG_LENGTH)), decipher.final()]).toString(
      'utf8',
    );
  } catch {
    return undefined;
  }
}
