/**
 * Versioned schema migrations, applied in order and recorded in `schema_migrations`.
 * Never edit a released migration: append a new one. Times are epoch milliseconds.
 */
export type Migration = { version: number; name: string; sqlite: string; postgres: string };

/** One schema for both databases: only the column types of numbers and bytes differ. */
function dialects(schema: (types: { int: string; bytes: string }) => string): Pick<Migration, 'sqlite' | 'postgres'> {
  return { sqlite: schema({ int: 'INTEGER', bytes: 'BLOB' }), postgres: schema({ int: 'BIGINT', bytes: 'BYTEA' }) };
}

export const migrations: readonly Migration[] = [
  {
    version: 1,
    name: 'initial schema',
    ...dialects(
      ({ int, bytes }) => `
      CREATE TABLE users (
        id TEXT PRIMARY KEY,
        username TEXT NOT NULL UNIQUE,
        password_hash TEXT NOT NULL
      );
      CREATE TABLE signing_keys (
        id TEXT PRIMARY KEY,
        kid TEXT NOT NULL,
        private_jwk TEXT NOT NULL,
        created_at ${int} NOT NULL
      );
      CREATE TABLE token_families (
        id TEXT PRIMARY KEY,
        user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        client_id TEXT NOT NULL,
        origin TEXT NOT NULL,
        created_at ${int} NOT NULL,
        expires_at ${int} NOT NULL,
        revoked_at ${int},
        revoke_reason TEXT
      );
      CREATE INDEX token_families_user_id ON token_families(user_id);
      CREATE INDEX token_families_expires_at ON token_families(expires_at);
      CREATE TABLE refresh_tokens (
        token_hash TEXT PRIMARY KEY,
        family_id TEXT NOT NULL REFERENCES token_families(id) ON DELETE CASCADE,
        issued_at ${int} NOT NULL,
        expires_at ${int} NOT NULL,
        rotated_at ${int},
        replay ${bytes},
        replay_until ${int}
      );
      CREATE INDEX refresh_tokens_family_id ON refresh_tokens(family_id);
      CREATE INDEX refresh_tokens_replay_until ON refresh_tokens(replay_until);
      CREATE TABLE device_keys (
        thumbprint TEXT PRIMARY KEY,
        user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        client_id TEXT NOT NULL,
        public_jwk TEXT NOT NULL,
        created_at ${int} NOT NULL
      );
      CREATE INDEX device_keys_user_id ON device_keys(user_id);
      CREATE TABLE used_jtis (
        jti_key TEXT PRIMARY KEY,
        expires_at ${int} NOT NULL
      );
      CREATE INDEX used_jtis_expires_at ON used_jtis(expires_at);
    `,
    ),
  },
  {
    version: 2,
    name: 'users.session_generation',
    // Incremented by revokeUserSessions; createSession checks it (see NewSession).
    ...dialects(({ int }) => `ALTER TABLE users ADD COLUMN session_generation ${int} NOT NULL DEFAULT 0;`),
  },
  {
    version: 3,
    name: 'refresh_tokens.child_hash',
    // The replay column now holds the sealed child token (the next link of the chain), and
    // child_hash names that child. Rows rotated before this migration have no child_hash:
    // their replay is refused (not treated as reuse) for the rest of its window.
    ...dialects(() => 'ALTER TABLE refresh_tokens ADD COLUMN child_hash TEXT;'),
  },
  {
    version: 4,
    name: 'token_families.dpop_jkt',
    // The DPoP key a family is bound to (RFC 9449 section 5); null for bearer families,
    // which is every family created before this migration.
    ...dialects(() => 'ALTER TABLE token_families ADD COLUMN dpop_jkt TEXT;'),
  },
];

/**
 * How long a dead family (revoked or past its absolute end) is kept before purging, so
 * that a late reuse of one of its tokens is still recognised and logged as such.
 */
export const DEAD_FAMILY_RETENTION_MS = 7 * 24 * 3600 * 1000;
