/**
 * An RFC 6749 section 5.1 token response, as the token endpoint (or the app's own login)
 * sends it: snake_case JSON. Fields beyond the standard ones are accepted and ignored, except
 * the session-lifetime hints below, which several servers send.
 */
export interface TokenResponse {
  access_token: string;
  token_type?: string;
  /** Access token lifetime in seconds, counted from receipt. */
  expires_in?: number | string;
  /** Absent on a refresh: the previous refresh token stays in use (RFC 6749 section 6). */
  refresh_token?: string;
  scope?: string;
  /** Seconds until the refresh token expires when unused (also read: `refresh_expires_in`). */
  refresh_token_expires_in?: number | string;
  refresh_expires_in?: number | string;
  /** Seconds until the absolute end of the session, whatever the activity. */
  session_expires_in?: number | string;
  [field: string]: unknown;
}

/** The session as session-keeper keeps it. All instants are milliseconds on the `Clock`. */
export interface SessionTokens {
  accessToken: string;
  /** Missing when the server issued none: the session then ends with the access token. */
  refreshToken: string | undefined;
  tokenType: string;
  /** When the access token expires; `null` when neither `expires_in` nor a JWT `exp` says. */
  accessTokenExpiresAt: number | null;
  /** When the refresh token dies if unused, when the server said. */
  refreshTokenExpiresAt: number | undefined;
  /** The absolute end of the session, when the server said. */
  sessionExpiresAt: number | undefined;
  /** When the user signed in (kept across refreshes). */
  sessionStartedAt: number;
  /** When this token set was received. */
  receivedAt: number;
  scope: string | undefined;
  /**
   * Set when the token endpoint rejected this refresh token (`invalid_grant`): the context that
   * found out is re-authenticating, and the others sharing the store wait for its outcome
   * instead of presenting the dead token again and prompting the user a second time.
   */
  refreshRejectedAt?: number | undefined;
  /**
   * The user (the access token's `sub`, when it is a JWT), kept so that a device-key assertion
   * can name them even when the access token is not persisted.
   */
  subject?: string | undefined;
  /** When this context last saved the set (a version other contexts compare against). */
  savedAt?: number | undefined;
}

/**
 * What a {@link TokenStore} persists. `accessToken` is absent when the manager is configured
 * to keep access tokens in memory only (`persistAccessToken: false`).
 */
export interface StoredSession {
  version: 1;
  refreshToken: string | undefined;
  accessToken?: string | undefined;
  tokenType: string;
  accessTokenExpiresAt: number | null;
  refreshTokenExpiresAt?: number | undefined;
  sessionExpiresAt?: number | undefined;
  sessionStartedAt: number;
  receivedAt: number;
  scope?: string | undefined;
  /** See {@link SessionTokens.refreshRejectedAt}. */
  refreshRejectedAt?: number | undefined;
  /** See {@link SessionTokens.subject}. */
  subject?: string | undefined;
  /** See {@link SessionTokens.savedAt}. */
  savedAt?: number | undefined;
}

/** The states of a session. */
export type SessionState = 'signedOut' | 'active' | 'refreshing' | 'reauthenticating';

/** Why a session ended. */
export type SignOutReason = 'user' | 'reauthFailed' | 'sessionEnded' | 'otherContext';

/** Why the app is asked to re-authenticate. */
export type ReauthReason = 'refreshRejected' | 'refreshTokenExpired' | 'sessionEnded' | 'noRefreshToken';

/** Where a new token set came from. */
export type TokenSource = 'signIn' | 'refresh' | 'biometric' | 'signInPrompt' | 'otherContext' | 'restore';

/**
 * Events emitted by the session manager (a typed mitt map). No event carries a token.
 */
export type SessionEvents = {
  /** Every state transition. */
  stateChange: { from: SessionState; to: SessionState };
  /** A new token set is in use. */
  refreshed: { source: TokenSource; accessTokenExpiresAt: number | null; sessionExpiresAt: number | undefined };
  /** A refresh attempt failed transiently; it will be retried (`retryInMs`, or when back online). */
  refreshFailed: { error: Error; attempt: number; retryInMs: number };
  /** The refresh token is dead; the re-authentication chain starts. */
  reauthRequired: { reason: ReauthReason };
  /** Re-authentication succeeded. */
  reauthenticated: { method: 'biometric' | 'signInPrompt' };
  /** The session ended. */
  signedOut: { reason: SignOutReason };
  /** The absolute session end is near (see `sessionWarning`). */
  sessionExpiring: { sessionExpiresAt: number; remainingMs: number };
};

/** Handler for one event of {@link SessionEvents}. */
export type SessionEventHandler<K extends keyof SessionEvents> = (event: SessionEvents[K]) => void;

/** What the app may know about the session; never a token. */
export interface SessionInfo {
  state: SessionState;
  /** When the user signed in. */
  startedAt: number;
  /** How long ago that was, in ms. */
  ageMs: number;
  accessTokenExpiresAt: number | null;
  refreshTokenExpiresAt: number | undefined;
  /** The absolute end of the session, when the server said. */
  sessionExpiresAt: number | undefined;
}

/** Options of one token read. */
export interface GetAccessTokenOptions {
  /** Stop waiting when it aborts (rejects with its reason). */
  signal?: AbortSignal | undefined;
}
