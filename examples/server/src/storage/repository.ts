/**
 * The one storage seam of the reference server. Two real implementations sit behind it:
 * SQLite (`node:sqlite`, embedded) and PostgreSQL (`pg`, for several processes sharing one
 * database). Everything that must be atomic is one method here, so each backend can use its
 * own concurrency primitive (BEGIN IMMEDIATE vs. row locks) while the policy stays in
 * {@link decideRedemption}, shared by both.
 *
 * All times are epoch milliseconds from the server's injected clock.
 */

/** A user account; `passwordHash` is an scrypt hash string (see crypto/password.ts). */
export type UserRecord = {
  id: string;
  username: string;
  passwordHash: string;
  /**
   * Incremented by {@link Repository.revokeUserSessions}. A sign-in reads it with the
   * credential it checks and {@link Repository.createSession} refuses to start the session
   * if it has changed since, so a sign-in in flight cannot outlive a revocation.
   */
  sessionGeneration: number;
};

/** Input of {@link Repository.upsertUser}. */
export type NewUser = Omit<UserRecord, 'sessionGeneration'>;

/** A refresh token family: one sign-in (or one device-key re-auth) and all its rotations. */
export type FamilyRecord = {
  id: string;
  userId: string;
  clientId: string;
  /** How the family began: `login` or `jwt-bearer`. */
  origin: 'login' | 'jwt-bearer';
  createdAt: number;
  /** Absolute session end (`createdAt + SESSION_MAX_SECONDS`). */
  expiresAt: number;
  revokedAt: number | null;
  /**
   * The RFC 7638 thumbprint of the DPoP key the family is bound to (RFC 9449 section 5), when
   * it began with a DPoP proof; null for a bearer family. Every token of a bound family is
   * redeemed only with a proof of that key.
   */
  dpopJkt: string | null;
};

/** A refresh token as stored: only the SHA-256 hash of the token, never the token. */
export type RefreshTokenRecord = {
  tokenHash: string;
  familyId: string;
  issuedAt: number;
  /** Idle expiry: `issuedAt + REFRESH_TOKEN_TTL_SECONDS`, capped at the family's end. */
  expiresAt: number;
  rotatedAt: number | null;
  /**
   * The child this token was rotated into, sealed with a pad only this token derives
   * (`sealChild` in crypto/refresh-token.ts); kept for the grace window.
   */
  replay: Uint8Array | null;
  replayUntil: number | null;
  /** The stored hash of the child (the next link of the family), once rotated. */
  childHash: string | null;
};

/** An enrolled device public key (EC P-256), keyed by its RFC 7638 thumbprint. */
export type DeviceKeyRecord = {
  thumbprint: string;
  userId: string;
  clientId: string;
  /** The public JWK as JSON text (`kty`, `crv`, `x`, `y` only). */
  publicJwk: string;
  createdAt: number;
};

/** A device key as looked up for an assertion, with its user's session generation read in the same statement. */
export type EnrolledDeviceKey = DeviceKeyRecord & { sessionGeneration: number };

/** The ES256 signing key, shared by every process on one database. */
export type SigningKeyRecord = {
  kid: string;
  /** The private JWK as JSON text. Production keeps this in a KMS instead. */
  privateJwk: string;
};

/** A new refresh token to insert. */
export type NewRefreshToken = {
  tokenHash: string;
  issuedAt: number;
  expiresAt: number;
};

/** A child token made ready for a rotation: its hash, and itself sealed under the parent. */
export type PreparedChild = { tokenHash: string; sealed: Uint8Array };

/** Input of {@link Repository.redeemRefreshToken}. */
export type RedeemInput = {
  tokenHash: string;
  clientId: string;
  now: number;
  graceMs: number;
  /** The child's idle lifetime; the repository caps it at the family's end. */
  refreshTtlMs: number;
  /** The thumbprint of the request's DPoP proof key, when it had a valid proof. */
  dpopJkt: string | undefined;
  /**
   * Makes the child. SQLite calls it only when the call wins the rotation, inside the
   * transaction; PostgreSQL calls it before its one round trip (a loser discards a random
   * token and one hash, never a signature: access tokens are signed after the decision).
   */
  prepareChild(): PreparedChild;
};

/**
 * One link of a family's chain, from a presented retired token to the live one: the
 * presented token first, the live token (`rotatedAt === null`) last.
 */
export type ChainLink = {
  tokenHash: string;
  rotatedAt: number | null;
  replay: Uint8Array | null;
  childHash: string | null;
  issuedAt: number;
  expiresAt: number;
};

/** Longest chain a replay follows (rotations of one family inside one grace window). */
export const MAX_CHAIN_LENGTH = 1000;

/** What happened to a presented refresh token. */
export type RedeemResult =
  | { outcome: 'rotated'; family: FamilyRecord; child: NewRefreshToken }
  /** `chain` is empty when the family changed under the replay (revoked meanwhile): refuse. */
  | { outcome: 'replayed'; family: FamilyRecord; chain: ChainLink[] }
  | { outcome: 'reuse-detected'; family: FamilyRecord }
  | { outcome: 'revoked' | 'expired' | 'invalid'; family?: FamilyRecord; reason: string };

/** The decision for one presented token, made under the backend's lock. */
export type RedemptionDecision =
  | { kind: 'rotate' }
  | { kind: 'replay' }
  | { kind: 'reuse' }
  | { kind: 'reject'; outcome: 'revoked' | 'expired' | 'invalid'; reason: string };

/**
 * The refresh-token policy, pure so both backends apply exactly the same rules
 * (RFC 6749 section 6, RFC 9700 section 4.14):
 *
 * 1. a token of another client is rejected;
 * 2. a token of a DPoP-bound family is rejected without a proof of its key (RFC 9449
 *    section 5), before anything else is looked at: it is never replayed and never counts
 *    as reuse, so whoever holds a stolen token but not the key can neither use it nor end
 *    the session of the one who holds both (that would make a stolen token a way to sign
 *    anyone out);
 * 3. a token of a revoked family, or of a family past its absolute end, is rejected;
 * 4. a token already rotated is replayed inside the grace window (the caller answers with
 *    the family's live token set, whatever generation that is by now) and is reuse after
 *    it: the caller revokes the whole family;
 * 5. a token past its idle expiry is rejected; otherwise it is rotated.
 */
export function decideRedemption(
  token: RefreshTokenRecord,
  family: FamilyRecord,
  clientId: string,
  now: number,
  graceMs: number,
  dpopJkt: string | undefined,
): RedemptionDecision {
  if (family.clientId !== clientId) return { kind: 'reject', outcome: 'invalid', reason: 'client mismatch' };
  // Thumbprints are public (every proof carries the key): a plain comparison leaks nothing.
  if (family.dpopJkt !== null && dpopJkt !== family.dpopJkt) {
    return {
      kind: 'reject',
      outcome: 'invalid',
      reason: dpopJkt === undefined ? 'dpop proof missing' : 'dpop key mismatch',
    };
  }
  if (family.revokedAt !== null) return { kind: 'reject', outcome: 'revoked', reason: 'family revoked' };
  if (now >= family.expiresAt) return { kind: 'reject', outcome: 'expired', reason: 'session ended' };
  if (token.rotatedAt !== null) {
    const inGrace = now - token.rotatedAt <= graceMs && token.replayUntil !== null && now <= token.replayUntil;
    if (inGrace && token.replay !== null) return { kind: 'replay' };
    return { kind: 'reuse' };
  }
  if (now >= token.expiresAt) return { kind: 'reject', outcome: 'expired', reason: 'idle timeout' };
  return { kind: 'rotate' };
}

/** Input of {@link Repository.createSession}: a new family, its first token, maybe a device key. */
export type NewSession = {
  family: FamilyRecord;
  token: NewRefreshToken;
  deviceKey?: DeviceKeyRecord;
  /**
   * The user's {@link UserRecord.sessionGeneration} as read with the credential (the user
   * row at login, the device key for an assertion). When it has changed, the user's
   * sessions were revoked meanwhile and the session is refused ({@link SessionsRevokedError}).
   */
  sessionGeneration: number;
};

/** Thrown by {@link Repository.createSession} when the device key belongs to another user. */
export class DeviceKeyConflictError extends Error {
  override readonly name = 'DeviceKeyConflictError';
}

/**
 * Thrown by {@link Repository.createSession} when the user's sessions were revoked after
 * the credential was checked (the session generation moved on): nothing is written.
 */
export class SessionsRevokedError extends Error {
  override readonly name = 'SessionsRevokedError';
}

/** The storage interface. Every method is safe to call concurrently. */
export interface Repository {
  readonly kind: 'sqlite' | 'postgres';
  /** Applies pending migrations in order; idempotent, safe when processes start together. */
  migrate(): Promise<void>;
  close(): Promise<void>;
  /** Inserts the user, or replaces the password hash of an existing one. */
  upsertUser(user: NewUser): Promise<void>;
  findUserByUsername(username: string): Promise<UserRecord | undefined>;
  findUserById(id: string): Promise<UserRecord | undefined>;
  /** Inserts `candidate` unless a key exists; returns the key every process must use. */
  loadOrCreateSigningKey(candidate: SigningKeyRecord): Promise<SigningKeyRecord>;
  /**
   * Creates a family with its first refresh token (and enrolls the device key) atomically,
   * unless the user's session generation is no longer `session.sessionGeneration`
   * ({@link SessionsRevokedError}) or the device key belongs to another user
   * ({@link DeviceKeyConflictError}). Atomic with {@link revokeUserSessions}: a session
   * either exists before a revocation (and is revoked by it) or is refused.
   */
  createSession(session: NewSession): Promise<void>;
  /** A non-locking read (revocation uses it to check the client first). */
  findRefreshToken(tokenHash: string): Promise<{ token: RefreshTokenRecord; family: FamilyRecord } | undefined>;
  /** Atomically applies {@link decideRedemption} and its effect to the presented token. */
  redeemRefreshToken(input: RedeemInput): Promise<RedeemResult>;
  /** Revokes the family of the token (any generation). Returns it, or undefined if unknown. */
  revokeFamilyOfToken(tokenHash: string, now: number, reason: string): Promise<FamilyRecord | undefined>;
  /**
   * Revokes every family of the user, removes the user's device keys and increments the
   * user's session generation, atomically. Returns the count of families revoked.
   */
  revokeUserSessions(userId: string, now: number): Promise<number>;
  findDeviceKey(thumbprint: string): Promise<EnrolledDeviceKey | undefined>;
  /** Records a used assertion id; false when it was already used (a replay). */
  consumeJti(key: string, expiresAt: number): Promise<boolean>;
  /** Deletes what can no longer matter: expired jtis, replays past their window, long-dead families. */
  purgeExpired(now: number): Promise<void>;
}
