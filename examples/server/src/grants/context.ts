import type { AccessTokens } from '../crypto/access-token.ts';
import type { PasswordHasher } from '../crypto/password.ts';
import type { GrantKind, GrantLogEntry, GrantOutcome } from '../grant-log.ts';
import type { ConcurrencyLimit } from '../http/concurrency-limit.ts';
import type { RateLimiter } from '../http/rate-limit.ts';
import type { Repository } from '../storage/repository.ts';

/** The resolved lifetimes and names every grant needs. */
export type GrantSettings = {
  issuer: string;
  tokenEndpoint: string;
  refreshTokenTtlSeconds: number;
  sessionMaxSeconds: number;
  refreshGraceSeconds: number;
};

/** What a grant handler works with: storage, the token signer, settings, clock and log. */
export type GrantContext = {
  repository: Repository;
  accessTokens: AccessTokens;
  passwords: PasswordHasher;
  settings: GrantSettings;
  now: () => number;
  log: (entry: GrantLogEntry) => void;
  /**
   * Failed sign-ins per username: past its limit, the account's logins get 429 for a while,
   * wherever they come from (CORS is open, so any page could drive guesses from its visitors).
   */
  failedLogins: RateLimiter;
  /** Bounds the password checks running and waiting at once (503 past it). */
  passwordChecks: ConcurrencyLimit;
  /** Shorthand for `log(logEntry(now(), ...))`. */
  record: (
    grant: GrantKind,
    outcome: GrantOutcome,
    details?: {
      familyId?: string | undefined;
      clientId?: string | undefined;
      userId?: string | undefined;
      reason?: string | undefined;
    },
  ) => void;
};
