/** Which grant (or endpoint) a log entry is about. */
export type GrantKind = 'login' | 'refresh_token' | 'jwt-bearer' | 'revoke' | 'unsupported';

/** What came of it. */
export type GrantOutcome =
  /** A new family began (login or jwt-bearer). */
  | 'issued'
  /** A refresh token was rotated: the one new child of its generation. */
  | 'rotated'
  /** A retired token came again inside the grace window: the family's live token set was returned. */
  | 'replayed'
  /** A rotated token came after the grace window: the whole family was revoked. */
  | 'reuse-detected'
  /** A family was revoked (RFC 7009), or a token of a revoked family was presented. */
  | 'revoked'
  /** Unknown token, wrong password, bad assertion, client mismatch, replayed jti... */
  | 'invalid'
  /** Idle or absolute expiry. */
  | 'expired'
  | 'rate-limited'
  /** A malformed request (400 invalid_request, unsupported grant type). */
  | 'rejected';

/**
 * One grant outcome. Never contains a token, an assertion or a password: only identifiers
 * that are safe to log.
 */
export type GrantLogEntry = {
  /** ISO 8601 time from the injected clock. */
  time: string;
  grant: GrantKind;
  outcome: GrantOutcome;
  familyId?: string;
  /**
   * The client, only when a record the server issued vouches for it: the family of the
   * presented refresh token, an enrolled device key, or the session a login just started.
   * A client_id that only came with the request (an unknown token, a failed sign-in, a
   * rate-limited call) is never echoed: clients are not registered in advance, so it is
   * arbitrary caller-chosen text.
   */
  clientId?: string;
  userId?: string;
  /** A short fixed reason, e.g. `idle timeout`, `jti replayed`. */
  reason?: string;
};

/** Builds an entry without `undefined` members (they would print as missing anyway). */
export function logEntry(
  now: number,
  grant: GrantKind,
  outcome: GrantOutcome,
  details: {
    familyId?: string | undefined;
    clientId?: string | undefined;
    userId?: string | undefined;
    reason?: string | undefined;
  } = {},
): GrantLogEntry {
  const entry: GrantLogEntry = { time: new Date(now).toISOString(), grant, outcome };
  if (details.familyId !== undefined) entry.familyId = details.familyId;
  if (details.clientId !== undefined) entry.clientId = details.clientId;
  if (details.userId !== undefined) entry.userId = details.userId;
  if (details.reason !== undefined) entry.reason = details.reason;
  return entry;
}
