import type { SessionRecord } from '../../src/session/state.ts';
import type { SessionTokens } from '../../src/types.ts';

/** The instant the pure-core tables are evaluated at. */
export const NOW = Date.UTC(2026, 0, 1);

/** A token set received at {@link NOW} with an hour of access-token life; override any field. */
export function tokens(overrides: Partial<SessionTokens> = {}): SessionTokens {
  return {
    accessToken: 'at-1',
    refreshToken: 'rt-1',
    tokenType: 'Bearer',
    accessTokenExpiresAt: NOW + 3_600_000,
    refreshTokenExpiresAt: undefined,
    sessionExpiresAt: undefined,
    sessionStartedAt: NOW,
    receivedAt: NOW,
    scope: undefined,
    ...overrides,
  };
}

/** A session record; the defaults are an active session without failures. */
export function record(overrides: Partial<SessionRecord> = {}): SessionRecord {
  return {
    phase: 'active',
    tokens: tokens(),
    failures: 0,
    rejectedAccessToken: undefined,
    reauth: undefined,
    endReason: 'notSignedIn',
    ...overrides,
  };
}
