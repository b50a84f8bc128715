/** Row mapping shared by the SQLite and PostgreSQL repositories. */
import type { ChainLink, EnrolledDeviceKey, FamilyRecord, RefreshTokenRecord, UserRecord } from './repository.ts';

/** Selects a refresh token joined with its family; the mappers below read its rows. */
export const TOKEN_WITH_FAMILY = `SELECT t.token_hash, t.family_id, t.issued_at, t.expires_at, t.rotated_at, t.replay, t.replay_until, t.child_hash,
  f.user_id, f.client_id, f.origin, f.created_at AS family_created_at, f.expires_at AS family_expires_at, f.revoked_at, f.dpop_jkt
  FROM refresh_tokens t JOIN token_families f ON f.id = t.family_id`;

function nullableNumber(value: unknown): number | null {
  return value === null || value === undefined ? null : Number(value);
}

/** Maps a `users` row. */
export function toUser(row: Record<string, unknown>): UserRecord {
  return {
    id: String(row.id),
    username: String(row.username),
    passwordHash: String(row.password_hash),
    sessionGeneration: Number(row.session_generation),
  };
}

/** The columns {@link toUser} reads. */
export const USER_COLUMNS = 'id, username, password_hash, session_generation';

/** Maps a row of {@link TOKEN_WITH_FAMILY}. */
export function toToken(row: Record<string, unknown>): RefreshTokenRecord {
  const replay = row.replay;
  return {
    tokenHash: String(row.token_hash),
    familyId: String(row.family_id),
    issuedAt: Number(row.issued_at),
    expiresAt: Number(row.expires_at),
    rotatedAt: nullableNumber(row.rotated_at),
    replay: replay instanceof Uint8Array ? replay : null,
    replayUntil: nullableNumber(row.replay_until),
    childHash: row.child_hash === null || row.child_hash === undefined ? null : String(row.child_hash),
  };
}

/** Maps a row of a chain query (see `ChainLink`). */
export function toChainLink(row: Record<string, unknown>): ChainLink {
  const token = toToken(row);
  return {
    tokenHash: token.tokenHash,
    rotatedAt: token.rotatedAt,
    replay: token.replay,
    childHash: token.childHash,
    issuedAt: token.issuedAt,
    expiresAt: token.expiresAt,
  };
}

/** Maps a row of {@link TOKEN_WITH_FAMILY}. */
export function toFamily(row: Record<string, unknown>): FamilyRecord {
  return {
    id: String(row.family_id),
    userId: String(row.user_id),
    clientId: String(row.client_id),
    origin: row.origin === 'jwt-bearer' ? 'jwt-bearer' : 'login',
    createdAt: Number(row.family_created_at),
    expiresAt: Number(row.family_expires_at),
    revokedAt: nullableNumber(row.revoked_at),
    dpopJkt: row.dpop_jkt === null || row.dpop_jkt === undefined ? null : String(row.dpop_jkt),
  };
}

/**
 * Selects a device key by its thumbprint (placeholder `$1` or `?` appended by the caller),
 * with its user's session generation read in the same statement (one snapshot: either the
 * key and the generation before a revocation, or no key).
 */
export const DEVICE_KEY_BY_THUMBPRINT = `SELECT d.thumbprint, d.user_id, d.client_id, d.public_jwk, d.created_at, u.session_generation
  FROM device_keys d JOIN users u ON u.id = d.user_id WHERE d.thumbprint = `;

/** Maps a row of {@link DEVICE_KEY_BY_THUMBPRINT}. */
export function toDeviceKey(row: Record<string, unknown>): EnrolledDeviceKey {
  return {
    thumbprint: String(row.thumbprint),
    userId: String(row.user_id),
    clientId: String(row.client_id),
    publicJwk: String(row.public_jwk),
    createdAt: Number(row.created_at),
    sessionGeneration: Number(row.session_generation),
  };
}
