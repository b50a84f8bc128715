/**
 * Versioned schema migrations, applied in order and recorded in `schema_migrations`.
 * Never edit a released migration: append a new one. Times are epoch milliseconds.
 */
export type Migration = { version: number; name: string; sqlite: string; postgres: string };

/**
 * PostgreSQL: the rotation in one statement (one round trip, one implicit transaction).
 * It locks the family row (the lock order of postgres.ts: family, then its tokens), reads
 * the presented token, and rotates it when the policy says rotate: the conditions are
 * exactly the 'rotate' case of decideRedemption, which the caller then applies to the
 * returned row (the state before this call) for every other case. Returns no row for an
 * unknown token.
 */
const ROTATE_FUNCTION = `
      CREATE FUNCTION sk_rotate_refresh_token(
        p_token_hash TEXT, p_client_id TEXT, p_now BIGINT, p_grace_ms BIGINT,
        p_refresh_ttl_ms BIGINT, p_child_hash TEXT, p_sealed_child BYTEA
      ) RETURNS TABLE (
        rotated BOOLEAN, child_expires_at BIGINT,
        token_hash TEXT, family_id TEXT, issued_at BIGINT, expires_at BIGINT, rotated_at BIGINT,
        replay BYTEA, replay_until BIGINT, child_hash TEXT,
        user_id TEXT, client_id TEXT, origin TEXT, family_created_at BIGINT, family_expires_at BIGINT, revoked_at BIGINT
      ) LANGUAGE plpgsql AS $fn$
      #variable_conflict use_column
      DECLARE
        v_family_id TEXT;
        f token_families%ROWTYPE;
        t refresh_tokens%ROWTYPE;
      BEGIN
        SELECT r.family_id INTO v_family_id FROM refresh_tokens r WHERE r.token_hash = p_token_hash;
        IF NOT FOUND THEN RETURN; END IF;
        SELECT * INTO f FROM token_families WHERE id = v_family_id FOR NO KEY UPDATE;
        SELECT * INTO t FROM refresh_tokens r WHERE r.token_hash = p_token_hash;
        rotated := f.client_id = p_client_id AND f.revoked_at IS NULL AND p_now < f.expires_at
          AND t.rotated_at IS NULL AND p_now < t.expires_at;
        child_expires_at := NULL;
        IF rotated THEN
          child_expires_at := LEAST(p_now + p_refresh_ttl_ms, f.expires_at);
          UPDATE refresh_tokens r SET rotated_at = p_now, replay = p_sealed_child,
            replay_until = p_now + p_grace_ms, child_hash = p_child_hash
            WHERE r.token_hash = p_token_hash;
          INSERT INTO refresh_tokens (token_hash, family_id, issued_at, expires_at)
            VALUES (p_child_hash, v_family_id, p_now, child_expires_at);
        END IF;
        token_hash := t.token_hash; family_id := t.family_id; issued_at := t.issued_at;
        expires_at := t.expires_at; rotated_at := t.rotated_at; replay := t.replay;
        replay_until := t.replay_until; child_hash := t.child_hash;
        user_id := f.user_id; client_id := f.client_id; origin := f.origin;
        family_created_at := f.created_at; family_expires_at := f.expires_at; revoked_at := f.revoked_at;
        RETURN NEXT;
      END
      $fn$;`;

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
    name: 'refresh_tokens.child_hash and the one-statement rotation',
    // The replay column now holds the sealed child token (the next link of the chain), and
    // child_hash names that child. Rows rotated before this migration have no child_hash:
    // their replay is refused (not treated as reuse) for the rest of its window.
    sqlite: 'ALTER TABLE refresh_tokens ADD COLUMN child_hash TEXT;',
    postgres: `
      ALTER TABLE refresh_tokens ADD COLUMN child_hash TEXT;
      ${ROTATE_FUNCTION}
    `,
  },
];

/**
 * How long a dead family (revoked or past its absolute end) is kept before purging, so
 * that a late reuse of one of its tokens is still recognised and logged as such.
 */
export const DEAD_FAMILY_RETENTION_MS = 7 * 24 * 3600 * 1000;
