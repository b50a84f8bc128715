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
  /**
   * The store's write counter when this set was last saved: contexts compare it with the
   * revision another context announced (a counter, so a clock set back changes nothing).
   */
  revision?: number | undefined;
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
  /**
   * Set when the token endpoint rejected this refresh token: the context that found out is
   * re-authenticating, and the others sharing the store wait for its outcome.
   */
  refreshRejectedAt?: number | undefined;
  /** The user (the access token's `sub`), for a device-key assertion when no access token is stored. */
  subject?: string | undefined;
  /** Incremented by every save: how contexts tell a newer write from an older one. */
  revision?: number | undefined;
}

/** The states of a session. */
export type SessionState = 'signedOut' | 'active' | 'refreshing' | 'reauthenticating';

/**
 * Why a session ended: the app called `signOut()`, every re-authentication path failed (the
 * refresh token was dead, or the session reached its absolute end), or another context signed out.
 */
export type SignOutReason = 'user' | 'reauthFailed' | 'otherContext';

/** Why the app is asked to re-authenticate. */
export type ReauthReason = 'refreshRejected' | 'refreshTokenExpired' | 'sessionEnded' | 'noRefreshToken';

/**
 * Why the session's tokens changed: the app's sign-in (`setTokens`), a stored session put back
 * in use (`restore`), this context's refresh, a re-authentication (`biometric`, `signInPrompt`),
 * or tokens another context sharing the store obtained.
 */
export type TokenChangeCause = 'signIn' | 'restore' | 'refresh' | 'biometric' | 'signInPrompt' | 'otherContext';

/** What every token event says about the new tokens (never a token). */
export interface TokenEvent {
  accessTokenExpiresAt: number | null;
  sessionExpiresAt: number | undefined;
}

/**
 * Events emitted by the session manager (a typed mitt map). No event carries a token.
 */
export type SessionEvents = {
  /** Every state transition. */
  stateChange: { from: SessionState; to: SessionState };
  /** Any new token set is in use, whatever its cause: for UIs that show the session. */
  tokensChanged: TokenEvent & { cause: TokenChangeCause };
  /** The app's sign-in (`setTokens`) is saved and in use. */
  signedIn: TokenEvent;
  /** This context refreshed the tokens (one event per refresh grant; sign-ins, restores and adoptions are not refreshes). */
  refreshed: TokenEvent;
  /** A refresh attempt failed transiently; it will be retried (`retryInMs`, or when back online). */
  refreshFailed: { error: Error; attempt: number; retryInMs: number };
  /** The refresh token is dead; the re-authentication chain starts. */
  reauthRequired: { reason: ReauthReason };
  /** Re-authentication succeeded; its tokens are in use. */
  reauthenticated: TokenEvent & { method: 'biometric' | 'signInPrompt' };
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
