import { DatabaseSync, type SQLInputValue, type StatementSync } from 'node:sqlite';
import { DEAD_FAMILY_RETENTION_MS, migrations } from './migrations.ts';
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
  type RefreshTokenRecord,
  type Repository,
  type SigningKeyRecord,
  type UserRecord,
} from './repository.ts';

type Row = Record<string, SQLInputValue>;

/**
 * How a commit reaches the disk (SQLite's `synchronous` in WAL mode):
 *
 * - `normal` (the default): commits are written to the WAL without fsync, which happens at
 *   checkpoints: a grant answered survives a crash of the process (the OS has the write),
 *   but a power loss or kernel crash may lose the last commits (never corrupt the
 *   database). SQLite documents this as the usual trade for WAL.
 * - `full`: every commit syncs the WAL (fsync) before it returns: a grant answered has
 *   survived a power loss too (if the disk honours fsync). `node:sqlite` is synchronous, so
 *   the fsync holds the event loop: a slow disk stalls every request, not only the batch.
 */
export type SqliteSynchronous = 'full' | 'normal';

/** Most grants one transaction (one commit) carries. */
const MAX_BATCH = 256;

/** How long a process waits on another's lock (`busy_timeout`), in ms. */
const BUSY_TIMEOUT_MS = 5000;

/** SQLite's result code for a lock another connection holds. */
const SQLITE_BUSY = 5;

/**
 * Switches a database file to WAL. The switch takes SQLite's exclusive lock from a read lock,
 * and while another process is in a write transaction (its migrations, the first time several
 * processes start on a new file) SQLite answers "database is locked" at once instead of waiting
 * on `busy_timeout`, to avoid a deadlock. So the switch is retried until the lock is free, for
 * at most {@link BUSY_TIMEOUT_MS}.
 */
function switchToWal(db: DatabaseSync): void {
  const deadline = Date.now() + BUSY_TIMEOUT_MS;
  const pause = new Int32Array(new SharedArrayBuffer(4));
  for (;;) {
    try {
      db.exec('PRAGMA journal_mode = WAL');
      return;
    } catch (error) {
      if ((error as { errcode?: number }).errcode !== SQLITE_BUSY || Date.now() >= deadline) throw error;
      Atomics.wait(pause, 0, 0, 10); // the constructor is synchronous, as node:sqlite is
    }
  }
}

/** One write of a batch: a redemption or a used identifier, answered after the batch's commit. */
type PendingWrite = { run(): unknown; resolve(result: never): void; reject(error: unknown): void };

/**
 * SQLite repository on the built-in `node:sqlite`. Every method runs synchronously, so a
 * grant's read-decide-write happens inside one `BEGIN IMMEDIATE` transaction that nothing
 * else in this process can interleave with; other processes on the same file wait on
 * SQLite's write lock (`busy_timeout`).
 *
 * Refresh grants and used identifiers (assertion and DPoP proof `jti`s) are group-committed:
 * those that arrive while the event loop is busy are decided and written in one transaction
 * on the next turn of the loop, and each caller is answered only after that transaction's
 * commit. One commit (one fsync) then carries many grants, which is what makes a durable
 * commit affordable per grant (a DPoP refresh writes twice: its proof's `jti`, then the
 * rotation).
 */
export class SqliteRepository implements Repository {
  readonly kind = 'sqlite';
  readonly #db: DatabaseSync;
  readonly #statements = new Map<string, StatementSync>();
  readonly #pending: PendingWrite[] = [];
  #flushScheduled = false;

  /** @param location a file path, or `:memory:` */
  constructor(location: string, options: { synchronous?: SqliteSynchronous } = {}) {
    this.#db = new DatabaseSync(location);
    this.#db.exec(`PRAGMA busy_timeout = ${BUSY_TIMEOUT_MS}`);
    if (location !== ':memory:') switchToWal(this.#db);
    this.#db.exec(`PRAGMA synchronous = ${options.synchronous === 'full' ? 'FULL' : 'NORMAL'}`);
    this.#db.exec('PRAGMA foreign_keys = ON');
    // Rows of retired tokens are overwritten in place, never left in free pages.
    this.#db.exec('PRAGMA secure_delete = ON');
  }

  #transaction<T>(work: () => T): T {
    this.#db.exec('BEGIN IMMEDIATE');
    try {
      const result = work();
      this.#db.exec('COMMIT');
      return result;
    } catch (error) {
      this.#db.exec('ROLLBACK');
      throw error;
    }
  }

  /** Prepared once per SQL text: the hot path runs the same few statements. */
  #prepare(sql: string): StatementSync {
    let statement = this.#statements.get(sql);
    if (!statement) {
      statement = this.#db.prepare(sql);
      this.#statements.set(sql, statement);
    }
    return statement;
  }

  #get(sql: string, ...params: SQLInputValue[]): Row | undefined {
    return this.#prepare(sql).get(...params) as Row | undefined;
  }

  #all(sql: string, ...params: SQLInputValue[]): Row[] {
    return this.#prepare(sql).all(...params) as Row[];
  }

  #run(sql: string, ...params: SQLInputValue[]): number {
    return Number(this.#prepare(sql).run(...params).changes);
  }

  async migrate(): Promise<void> {
    this.#transaction(() => {
      this.#db.exec(
        'CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)',
      );
      const applied = new Set(this.#all('SELECT version FROM schema_migrations').map((r) => Number(r.version)));
      for (const migration of migrations) {
        if (applied.has(migration.version)) continue;
        this.#db.exec(migration.sqlite);
        this.#run(
          'INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)',
          migration.version,
          migration.name,
          new Date().toISOString(),
        );
      }
    });
  }

  async close(): Promise<void> {
    while (this.#pending.length > 0) this.#flush();
    this.#statements.clear();
    if (this.#db.isOpen) this.#db.close();
  }

  async upsertUser(user: NewUser): Promise<void> {
    this.#run(
      `INSERT INTO users (id, username, password_hash) VALUES (?, ?, ?)
       ON CONFLICT (username) DO UPDATE SET password_hash = excluded.password_hash`,
      user.id,
      user.username,
      user.passwordHash,
    );
  }

  async findUserByUsername(username: string): Promise<UserRecord | undefined> {
    const row = this.#get(`SELECT ${USER_COLUMNS} FROM users WHERE username = ?`, username);
    return row && toUser(row);
  }

  async findUserById(id: string): Promise<UserRecord | undefined> {
    const row = this.#get(`SELECT ${USER_COLUMNS} FROM users WHERE id = ?`, id);
    return row && toUser(row);
  }

  async loadOrCreateSigningKey(candidate: SigningKeyRecord): Promise<SigningKeyRecord> {
    return this.#transaction(() => {
      this.#run(
        `INSERT INTO signing_keys (id, kid, private_jwk, created_at) VALUES ('current', ?, ?, ?)
         ON CONFLICT (id) DO NOTHING`,
        candidate.kid,
        candidate.privateJwk,
        Date.now(),
      );
      const row = this.#get("SELECT kid, private_jwk FROM signing_keys WHERE id = 'current'");
      if (!row) throw new Error('signing key missing after insert');
      return { kid: String(row.kid), privateJwk: String(row.private_jwk) };
    });
  }

  async createSession(session: NewSession): Promise<void> {
    this.#transaction(() => {
      const { family, token, deviceKey } = session;
      const user = this.#get('SELECT session_generation FROM users WHERE id = ?', family.userId);
      if (!user || Number(user.session_generation) !== session.sessionGeneration) {
        throw new SessionsRevokedError("the user's sessions were revoked after the credential was checked");
      }
      if (deviceKey) {
        const existing = this.#get('SELECT user_id FROM device_keys WHERE thumbprint = ?', deviceKey.thumbprint);
        if (existing && existing.user_id !== deviceKey.userId) {
          throw new DeviceKeyConflictError('device key is enrolled for another user');
        }
        this.#run(
          `INSERT INTO device_keys (thumbprint, user_id, client_id, public_jwk, created_at) VALUES (?, ?, ?, ?, ?)
           ON CONFLICT (thumbprint) DO UPDATE SET client_id = excluded.client_id, created_at = excluded.created_at`,
          deviceKey.thumbprint,
          deviceKey.userId,
          deviceKey.clientId,
          deviceKey.publicJwk,
          deviceKey.createdAt,
        );
      }
      this.#run(
        `INSERT INTO token_families (id, user_id, client_id, origin, created_at, expires_at, dpop_jkt) VALUES (?, ?, ?, ?, ?, ?, ?)`,
        family.id,
        family.userId,
        family.clientId,
        family.origin,
        family.createdAt,
        family.expiresAt,
        family.dpopJkt,
      );
      this.#run(
        'INSERT INTO refresh_tokens (token_hash, family_id, issued_at, expires_at) VALUES (?, ?, ?, ?)',
        token.tokenHash,
        family.id,
        token.issuedAt,
        token.expiresAt,
      );
    });
  }

  #findToken(tokenHash: string): { token: RefreshTokenRecord; family: FamilyRecord } | undefined {
    const row = this.#get(`${TOKEN_WITH_FAMILY} WHERE t.token_hash = ?`, tokenHash);
    return row && { token: toToken(row), family: toFamily(row) };
  }

  async findRefreshToken(tokenHash: string) {
    return this.#findToken(tokenHash);
  }

  redeemRefreshToken(input: RedeemInput): Promise<RedeemResult> {
    return this.#enqueue(() => this.#redeem(input));
  }

  /** Queues a write for the next batch; resolves with its result after the batch's commit. */
  #enqueue<T>(run: () => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.#pending.push({ run, resolve: resolve as (result: never) => void, reject });
      if (!this.#flushScheduled) {
        this.#flushScheduled = true;
        // After the I/O callbacks of this turn of the loop: every grant parsed meanwhile joins.
        setImmediate(() => {
          this.#flushScheduled = false;
          while (this.#pending.length > 0) this.#flush();
        });
      }
    });
  }

  /** Runs up to {@link MAX_BATCH} pending writes in one transaction, in order, then answers them. */
  #flush(): void {
    const batch = this.#pending.splice(0, MAX_BATCH);
    let results: unknown[];
    try {
      if (!this.#db.isOpen) throw new Error('the database is closed');
      results = this.#transaction(() => batch.map((pending) => pending.run()));
    } catch {
      // Something failed and the whole batch rolled back: run each write alone, so that
      // only the one that fails is answered with its error.
      for (const pending of batch) {
        try {
          if (!this.#db.isOpen) throw new Error('the database is closed');
          pending.resolve(this.#transaction(() => pending.run()) as never);
        } catch (error) {
          pending.reject(error);
        }
      }
      return;
    }
    batch.forEach((pending, i) => pending.resolve(results[i] as never));
  }

  /** One grant inside the batch's transaction (it sees the writes of the grants before it). */
  #redeem(input: RedeemInput): RedeemResult {
    const found = this.#findToken(input.tokenHash);
    if (!found) return { outcome: 'invalid', reason: 'unknown token' };
    const { token, family } = found;
    const decision = decideRedemption(token, family, input.clientId, input.now, input.graceMs, input.dpopJkt);
    switch (decision.kind) {
      case 'rotate': {
        const prepared = input.prepareChild();
        const child = {
          tokenHash: prepared.tokenHash,
          issuedAt: input.now,
          expiresAt: Math.min(input.now + input.refreshTtlMs, family.expiresAt),
        };
        const changed = this.#run(
          `UPDATE refresh_tokens SET rotated_at = ?, replay = ?, replay_until = ?, child_hash = ?
           WHERE token_hash = ? AND rotated_at IS NULL`,
          input.now,
          prepared.sealed,
          input.now + input.graceMs,
          child.tokenHash,
          input.tokenHash,
        );
        if (changed !== 1) throw new Error('rotation lost its row inside the transaction');
        this.#run(
          'INSERT INTO refresh_tokens (token_hash, family_id, issued_at, expires_at) VALUES (?, ?, ?, ?)',
          child.tokenHash,
          family.id,
          child.issuedAt,
          child.expiresAt,
        );
        return { outcome: 'rotated', family, child };
      }
      case 'replay':
        return { outcome: 'replayed', family, chain: this.#chain(input.tokenHash) };
      case 'reuse':
        this.#revokeFamily(family.id, input.now, 'reuse detected');
        return { outcome: 'reuse-detected', family };
      case 'reject':
        return { outcome: decision.outcome, family, reason: decision.reason };
    }
  }

  /** The links from `tokenHash` to the live token of its family (see {@link ChainLink}). */
  #chain(tokenHash: string): ChainLink[] {
    const chain: ChainLink[] = [];
    let hash: string | null = tokenHash;
    while (hash !== null && chain.length < MAX_CHAIN_LENGTH) {
      const row = this.#get(
        'SELECT token_hash, rotated_at, replay, replay_until, child_hash, issued_at, expires_at FROM refresh_tokens WHERE token_hash = ?',
        hash,
      );
      if (!row) break;
      const link = toChainLink(row);
      chain.push(link);
      hash = link.rotatedAt === null || link.replay === null ? null : link.childHash;
    }
    return chain;
  }

  #revokeFamily(familyId: string, now: number, reason: string): void {
    this.#run(
      'UPDATE token_families SET revoked_at = ?, revoke_reason = ? WHERE id = ? AND revoked_at IS NULL',
      now,
      reason,
      familyId,
    );
    // The replays of a dead family can never be served again: erase them now.
    this.#run(
      'UPDATE refresh_tokens SET replay = NULL, replay_until = NULL WHERE family_id = ? AND replay IS NOT NULL',
      familyId,
    );
  }

  async revokeFamilyOfToken(tokenHash: string, now: number, reason: string): Promise<FamilyRecord | undefined> {
    return this.#transaction(() => {
      const found = this.#findToken(tokenHash);
      if (!found) return undefined;
      this.#revokeFamily(found.family.id, now, reason);
      return found.family;
    });
  }

  async revokeUserSessions(userId: string, now: number): Promise<number> {
    return this.#transaction(() => {
      // Sign-ins in flight for this user (credential checked, session not yet created) now fail.
      this.#run('UPDATE users SET session_generation = session_generation + 1 WHERE id = ?', userId);
      const families = this.#all('SELECT id FROM token_families WHERE user_id = ? AND revoked_at IS NULL', userId);
      for (const family of families) this.#revokeFamily(String(family.id), now, 'user sessions revoked');
      this.#run('DELETE FROM device_keys WHERE user_id = ?', userId);
      return families.length;
    });
  }

  async findDeviceKey(thumbprint: string): Promise<EnrolledDeviceKey | undefined> {
    const row = this.#get(`${DEVICE_KEY_BY_THUMBPRINT}?`, thumbprint);
    return row && toDeviceKey(row);
  }

  consumeJti(key: string, expiresAt: number): Promise<boolean> {
    // Group-committed like the rotations: a DPoP refresh or API call writes one per request.
    return this.#enqueue(
      () =>
        this.#run(
          'INSERT INTO used_jtis (jti_key, expires_at) VALUES (?, ?) ON CONFLICT (jti_key) DO NOTHING',
          key,
          expiresAt,
        ) === 1,
    );
  }

  async purgeExpired(now: number): Promise<void> {
    this.#transaction(() => {
      this.#run('DELETE FROM used_jtis WHERE expires_at < ?', now);
      this.#run('UPDATE refresh_tokens SET replay = NULL, replay_until = NULL WHERE replay_until < ?', now);
      const horizon = now - DEAD_FAMILY_RETENTION_MS;
      this.#run(
        'DELETE FROM token_families WHERE expires_at < ? OR (revoked_at IS NOT NULL AND revoked_at < ?)',
        horizon,
        horizon,
      );
    });
  }
}
