import pg from 'pg';
import { DEAD_FAMILY_RETENTION_MS, migrations } from './migrations.ts';
import {
  decideRedemption,
  MAX_CHAIN_LENGTH,
  type ChainLink,
  DeviceKeyConflictError,
  SessionsRevokedError,
  type EnrolledDeviceKey,
  type FamilyRecord,
  type NewSession,
  type NewUser,
  type RedeemInput,
  type RedeemResult,
  type Repository,
  type SigningKeyRecord,
  type UserRecord,
} from './repository.ts';
import {
  TOKEN_WITH_FAMILY,
  toChainLink,
  toFamily,
  toToken,
  toUser,
  DEVICE_KEY_BY_THUMBPRINT,
  toDeviceKey,
  USER_COLUMNS,
} from './rows.ts';

/** Arbitrary but fixed: every process of this server takes this advisory lock to migrate. */
const MIGRATION_LOCK_KEY = 0x5e55_10e;

/**
 * The rotation as one statement. `$1` token hash, `$2` client_id, `$3` now, `$4` grace ms,
 * `$5` child idle lifetime ms, `$6` child hash, `$7` sealed child, `$8` the DPoP proof's key
 * thumbprint (null without a proof). The conditions of the
 * UPDATE are exactly the 'rotate' case of `decideRedemption`, which the caller applies to
 * the returned row (the state the statement saw) for every other case; `child_expires_at`
 * is not null only when this statement rotated.
 *
 * It takes one row lock, the presented token's (the child's foreign key takes a key-share
 * lock on the family, which conflicts with no other lock taken here), so it cannot join a
 * lock cycle with the family-first transactions below. A revocation committed meanwhile is
 * seen at the next use: every token is checked against its family's `revoked_at`.
 */
const ROTATE = `
  WITH current AS (
    ${TOKEN_WITH_FAMILY} WHERE t.token_hash = $1
  ), rotated AS (
    UPDATE refresh_tokens r
       SET rotated_at = $3, replay = $7, replay_until = $3::bigint + $4::bigint, child_hash = $6
      FROM current c
     WHERE r.token_hash = $1 AND r.rotated_at IS NULL AND $3 < r.expires_at
       AND c.client_id = $2 AND c.revoked_at IS NULL AND $3 < c.family_expires_at
       AND (c.dpop_jkt IS NULL OR c.dpop_jkt = $8::text)
    RETURNING r.family_id, LEAST($3::bigint + $5::bigint, c.family_expires_at) AS child_expires_at
  ), child AS (
    INSERT INTO refresh_tokens (token_hash, family_id, issued_at, expires_at)
    SELECT $6, family_id, $3, child_expires_at FROM rotated
    RETURNING expires_at
  )
  SELECT current.*, (SELECT expires_at FROM child) AS child_expires_at FROM current`;

/** SQLSTATE `deadlock_detected`. */
const DEADLOCK_DETECTED = '40P01';
/** Attempts of a transaction that PostgreSQL aborted as a deadlock victim (a backstop, see #transaction). */
const DEADLOCK_ATTEMPTS = 3;

type Client = pg.PoolClient;

/**
 * PostgreSQL repository on a `pg` Pool: several server processes may share one database.
 * Rotation locks the family row of the presented token (`SELECT ... FOR NO KEY UPDATE`), so
 * concurrent redemptions of one token (or of any token of its family), in any process,
 * queue on that row; the first rotates with a conditional
 * `UPDATE ... WHERE rotated_at IS NULL`, the others then see it rotated and read the stored
 * replay.
 *
 * Lock order, the same in every transaction so that none can wait on another in a cycle:
 * the user row, then the user's device keys, then family rows (several: by id), then token
 * rows. Every write to a family's tokens happens under that family's row lock.
 */
export class PostgresRepository implements Repository {
  readonly kind = 'postgres';
  readonly #pool: pg.Pool;

  constructor(connectionString: string, poolSize = 10) {
    this.#pool = new pg.Pool({ connectionString, max: poolSize });
    // An idle client that loses its connection must not crash the process.
    this.#pool.on('error', () => {});
  }

  /**
   * Runs `work` in a transaction. A transaction chosen as a deadlock victim is run again
   * (everything it would write is prepared before it starts, so a retry is safe): the lock
   * order above prevents deadlocks between grants, and this only covers housekeeping
   * statements (the purge) that lock token rows in an order of their own.
   */
  async #transaction<T>(work: (client: Client) => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt += 1) {
      try {
        return await this.#transactionOnce(work);
      } catch (error) {
        if (attempt >= DEADLOCK_ATTEMPTS || (error as { code?: unknown }).code !== DEADLOCK_DETECTED) throw error;
      }
    }
  }

  async #transactionOnce<T>(work: (client: Client) => Promise<T>): Promise<T> {
    const client = await this.#pool.connect();
    try {
      await client.query('BEGIN');
      const result = await work(client);
      await client.query('COMMIT');
      return result;
    } catch (error) {
      await client.query('ROLLBACK').catch(() => {});
      throw error;
    } finally {
      client.release();
    }
  }

  async migrate(): Promise<void> {
    const client = await this.#pool.connect();
    try {
      // Session-level advisory lock: a second process starting at the same time waits
      // here, then finds every migration applied.
      await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK_KEY]);
      try {
        await client.query(
          'CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())',
        );
        const { rows } = await client.query<{ version: number }>('SELECT version FROM schema_migrations');
        const applied = new Set(rows.map((r) => Number(r.version)));
        for (const migration of migrations) {
          if (applied.has(migration.version)) continue;
          await client.query('BEGIN');
          try {
            await client.query(migration.postgres);
            await client.query('INSERT INTO schema_migrations (version, name) VALUES ($1, $2)', [
              migration.version,
              migration.name,
            ]);
            await client.query('COMMIT');
          } catch (error) {
            await client.query('ROLLBACK');
            throw error;
          }
        }
      } finally {
        await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY]);
      }
    } finally {
      client.release();
    }
  }

  async close(): Promise<void> {
    await this.#pool.end();
  }

  async upsertUser(user: NewUser): Promise<void> {
    await this.#pool.query(
      `INSERT INTO users (id, username, password_hash) VALUES ($1, $2, $3)
       ON CONFLICT (username) DO UPDATE SET password_hash = excluded.password_hash`,
      [user.id, user.username, user.passwordHash],
    );
  }

  async findUserByUsername(username: string): Promise<UserRecord | undefined> {
    const { rows } = await this.#pool.query(`SELECT ${USER_COLUMNS} FROM users WHERE username = $1`, [username]);
    return rows[0] && toUser(rows[0]);
  }

  async findUserById(id: string): Promise<UserRecord | undefined> {
    const { rows } = await this.#pool.query(`SELECT ${USER_COLUMNS} FROM users WHERE id = $1`, [id]);
    return rows[0] && toUser(rows[0]);
  }

  async loadOrCreateSigningKey(candidate: SigningKeyRecord): Promise<SigningKeyRecord> {
    // First process inserts; the others (and every later start) load what it stored.
    await this.#pool.query(
      `INSERT INTO signing_keys (id, kid, private_jwk, created_at) VALUES ('current', $1, $2, $3)
       ON CONFLICT (id) DO NOTHING`,
      [candidate.kid, candidate.privateJwk, Date.now()],
    );
    const { rows } = await this.#pool.query("SELECT kid, private_jwk FROM signing_keys WHERE id = 'current'");
    const row = rows[0];
    if (!row) throw new Error('signing key missing after insert');
    return { kid: String(row.kid), privateJwk: String(row.private_jwk) };
  }

  async createSession(session: NewSession): Promise<void> {
    const { family, token, deviceKey } = session;
    await this.#transaction(async (client) => {
      // A share lock on the user row: a concurrent revokeUserSessions (which updates it
      // first) either committed before, and the generation differs, or waits for this
      // session to commit and then revokes it.
      const user = await client.query<{ session_generation: string }>(
        'SELECT session_generation FROM users WHERE id = $1 FOR SHARE',
        [family.userId],
      );
      const generation = user.rows[0]?.session_generation;
      if (generation === undefined || Number(generation) !== session.sessionGeneration) {
        throw new SessionsRevokedError("the user's sessions were revoked after the credential was checked");
      }
      if (deviceKey) {
        const { rows } = await client.query(
          `INSERT INTO device_keys (thumbprint, user_id, client_id, public_jwk, created_at) VALUES ($1, $2, $3, $4, $5)
           ON CONFLICT (thumbprint) DO UPDATE SET client_id = excluded.client_id, created_at = excluded.created_at
           WHERE device_keys.user_id = excluded.user_id
           RETURNING thumbprint`,
          [deviceKey.thumbprint, deviceKey.userId, deviceKey.clientId, deviceKey.publicJwk, deviceKey.createdAt],
        );
        if (rows.length === 0) throw new DeviceKeyConflictError('device key is enrolled for another user');
      }
      await client.query(
        'INSERT INTO token_families (id, user_id, client_id, origin, created_at, expires_at, dpop_jkt) VALUES ($1, $2, $3, $4, $5, $6, $7)',
        [family.id, family.userId, family.clientId, family.origin, family.createdAt, family.expiresAt, family.dpopJkt],
      );
      await client.query(
        'INSERT INTO refresh_tokens (token_hash, family_id, issued_at, expires_at) VALUES ($1, $2, $3, $4)',
        [token.tokenHash, family.id, token.issuedAt, token.expiresAt],
      );
    });
  }

  async findRefreshToken(tokenHash: string) {
    const { rows } = await this.#pool.query(`${TOKEN_WITH_FAMILY} WHERE t.token_hash = $1`, [tokenHash]);
    const row = rows[0];
    return row && { token: toToken(row), family: toFamily(row) };
  }

  /**
   * One round trip for a rotation: {@link ROTATE} reads the token with its family and, when
   * the policy says rotate, retires it and inserts the child, in one statement. Concurrent
   * redemptions of one token queue on its row lock; PostgreSQL re-checks
   * `rotated_at IS NULL` on the row the winner committed, so exactly one rotates. A loser
   * (its snapshot said "rotate", the statement did not) reads the row again and is decided
   * from what the winner left: a replay. Replays and reuse then take one more statement
   * each; both are rare.
   */
  async redeemRefreshToken(input: RedeemInput): Promise<RedeemResult> {
    const prepared = input.prepareChild();
    const { rows } = await this.#retryDeadlock(() =>
      this.#pool.query({
        name: 'sk_rotate_refresh_token',
        text: ROTATE,
        values: [
          input.tokenHash,
          input.clientId,
          input.now,
          input.graceMs,
          input.refreshTtlMs,
          prepared.tokenHash,
          Buffer.from(prepared.sealed),
          input.dpopJkt ?? null,
        ],
      }),
    );
    let row = rows[0];
    if (!row) return { outcome: 'invalid', reason: 'unknown token' };
    if (row.child_expires_at !== null) {
      const family = toFamily(row);
      const decision = decideRedemption(toToken(row), family, input.clientId, input.now, input.graceMs, input.dpopJkt);
      if (decision.kind !== 'rotate') throw new Error('the rotation statement and decideRedemption disagree');
      const child = { tokenHash: prepared.tokenHash, issuedAt: input.now, expiresAt: Number(row.child_expires_at) };
      return { outcome: 'rotated', family, child };
    }
    let decision = decideRedemption(
      toToken(row),
      toFamily(row),
      input.clientId,
      input.now,
      input.graceMs,
      input.dpopJkt,
    );
    if (decision.kind === 'rotate') {
      // Lost the race: the snapshot predates the winner's commit. Decide on the row as it is now.
      const again = await this.#pool.query(`${TOKEN_WITH_FAMILY} WHERE t.token_hash = $1`, [input.tokenHash]);
      row = again.rows[0];
      if (!row) return { outcome: 'invalid', reason: 'unknown token' };
      decision = decideRedemption(toToken(row), toFamily(row), input.clientId, input.now, input.graceMs, input.dpopJkt);
      if (decision.kind === 'rotate') throw new Error('a rotation lost its race but the token is still live');
    }
    const family = toFamily(row);
    switch (decision.kind) {
      case 'replay':
        return { outcome: 'replayed', family, chain: await this.#chain(input.tokenHash) };
      case 'reuse':
        // Reuse stays reuse (a token past its window never becomes replayable again).
        await this.#transaction((client) => revokeFamily(client, family.id, input.now, 'reuse detected'));
        return { outcome: 'reuse-detected', family };
      case 'reject':
        return { outcome: decision.outcome, family, reason: decision.reason };
    }
  }

  /** The links from `tokenHash` to the live token of its family, in one statement. */
  async #chain(tokenHash: string): Promise<ChainLink[]> {
    const { rows } = await this.#pool.query(
      `WITH RECURSIVE chain AS (
         SELECT token_hash, rotated_at, replay, replay_until, child_hash, issued_at, expires_at, 1 AS depth
         FROM refresh_tokens WHERE token_hash = $1
         UNION ALL
         SELECT t.token_hash, t.rotated_at, t.replay, t.replay_until, t.child_hash, t.issued_at, t.expires_at, c.depth + 1
         FROM chain c JOIN refresh_tokens t ON t.token_hash = c.child_hash
         WHERE c.rotated_at IS NOT NULL AND c.replay IS NOT NULL AND c.depth < $2
       ) SELECT * FROM chain ORDER BY depth`,
      [tokenHash, MAX_CHAIN_LENGTH],
    );
    return rows.map(toChainLink);
  }

  /** Runs one statement again if PostgreSQL chose it as a deadlock victim (nothing of it committed). */
  async #retryDeadlock<T>(statement: () => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt += 1) {
      try {
        return await statement();
      } catch (error) {
        if (attempt >= DEADLOCK_ATTEMPTS || (error as { code?: unknown }).code !== DEADLOCK_DETECTED) throw error;
      }
    }
  }

  async revokeFamilyOfToken(tokenHash: string, now: number, reason: string): Promise<FamilyRecord | undefined> {
    return this.#transaction(async (client) => {
      const { rows } = await client.query(`${TOKEN_WITH_FAMILY} WHERE t.token_hash = $1`, [tokenHash]);
      const row = rows[0];
      if (!row) return undefined;
      const family = toFamily(row);
      await revokeFamily(client, family.id, now, reason);
      return family;
    });
  }

  async revokeUserSessions(userId: string, now: number): Promise<number> {
    return this.#transaction(async (client) => {
      // The user row first: createSession holds a share lock on it, so a session being
      // created now either commits first (and the SELECT below, a new snapshot, revokes
      // it) or finds the generation moved on and is refused.
      await client.query('UPDATE users SET session_generation = session_generation + 1 WHERE id = $1', [userId]);
      await client.query('DELETE FROM device_keys WHERE user_id = $1', [userId]);
      // Every family row locked up front, in one order, before any token row.
      const { rows } = await client.query<{ id: string }>(
        'SELECT id FROM token_families WHERE user_id = $1 AND revoked_at IS NULL ORDER BY id FOR NO KEY UPDATE',
        [userId],
      );
      for (const family of rows) await revokeFamily(client, family.id, now, 'user sessions revoked');
      return rows.length;
    });
  }

  async findDeviceKey(thumbprint: string): Promise<EnrolledDeviceKey | undefined> {
    const { rows } = await this.#pool.query(`${DEVICE_KEY_BY_THUMBPRINT}$1`, [thumbprint]);
    const row = rows[0];
    return row && toDeviceKey(row);
  }

  async consumeJti(key: string, expiresAt: number): Promise<boolean> {
    const result = await this.#pool.query(
      'INSERT INTO used_jtis (jti_key, expires_at) VALUES ($1, $2) ON CONFLICT (jti_key) DO NOTHING',
      [key, expiresAt],
    );
    return result.rowCount === 1;
  }

  async purgeExpired(now: number): Promise<void> {
    await this.#pool.query('DELETE FROM used_jtis WHERE expires_at < $1', [now]);
    await this.#pool.query('UPDATE refresh_tokens SET replay = NULL, replay_until = NULL WHERE replay_until < $1', [
      now,
    ]);
    const horizon = now - DEAD_FAMILY_RETENTION_MS;
    await this.#pool.query(
      'DELETE FROM token_families WHERE expires_at < $1 OR (revoked_at IS NOT NULL AND revoked_at < $1)',
      [horizon],
    );
  }
}

/**
 * Revokes a family: its row lock first (explicitly: the UPDATE below matches nothing, and so
 * locks nothing, when the family is revoked already), then its token rows.
 */
async function revokeFamily(client: Client, familyId: string, now: number, reason: string): Promise<void> {
  await client.query('SELECT id FROM token_families WHERE id = $1 FOR NO KEY UPDATE', [familyId]);
  await client.query(
    'UPDATE token_families SET revoked_at = $2, revoke_reason = $3 WHERE id = $1 AND revoked_at IS NULL',
    [familyId, now, reason],
  );
  await client.query(
    'UPDATE refresh_tokens SET replay = NULL, replay_until = NULL WHERE family_id = $1 AND replay IS NOT NULL',
    [familyId],
  );
}
