import type { AccessTokens } from '../crypto/access-token.ts';
import type { PasswordHasher } from '../crypto/password.ts';
import type { GrantKind, GrantLogEntry, GrantOutcome } from '../grant-log.ts';
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
  /** Shorthand for `log(logEntry(now(), ...))`. */
  record: (
    grant: GrantKind,
    outcome: GrantOutcome,
    details?: { familyId?: string | undefined; clientId?: string | undefined; userId?: string | undefined; reason?: string | undefined },
  ) => void;
};
