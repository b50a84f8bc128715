/**
 * Every error session-keeper throws or rejects with extends {@link SessionKeeperError}.
 * Branch on `error.code` (stable strings) or on the class. Messages never contain a token.
 *
 * Transient failures (the network, a timeout, 5xx, 429) and terminal ones (the server said
 * the refresh token is dead) are different classes, because callers must treat them
 * differently: a transient failure keeps the session, a terminal one starts re-authentication.
 */

/** Stable machine-readable codes, one per error class. */
export type SessionKeeperErrorCode =
  | 'ERR_CONFIG'
  | 'ERR_INVALID_TOKEN_RESPONSE'
  | 'ERR_REFRESH_TRANSIENT'
  | 'ERR_REFRESH_REJECTED'
  | 'ERR_SESSION_EXPIRED'
  | 'ERR_TOKEN_WAIT_TIMEOUT'
  | 'ERR_STORE'
  | 'ERR_DISCOVERY';

/** Base class of every session-keeper error. */
export class SessionKeeperError extends Error {
  override name = 'SessionKeeperError';

  /** A stable code to branch on, like `ERR_SESSION_EXPIRED`. */
  readonly code: SessionKeeperErrorCode;
  /** `true` when the session is intact and trying again later can succeed. */
  readonly transient: boolean;

  constructor(code: SessionKeeperErrorCode, message: string, options?: { cause?: unknown; transient?: boolean }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.transient = options?.transient ?? false;
  }

  /** Serialises without the `cause` chain, which may hold foreign objects. */
  toJSON(): { name: string; code: SessionKeeperErrorCode; message: string; transient: boolean } {
    return { name: this.name, code: this.code, message: this.message, transient: this.transient };
  }
}

/**
 * The options given to `SessionManager` (or `dpop()`) are invalid. Thrown by the constructor, or
 * when a port the app gave answers outside its contract (a DPoP signer with a DER signature).
 */
export class ConfigurationError extends SessionKeeperError {
  override name = 'ConfigurationError';

  constructor(message: string) {
    super('ERR_CONFIG', message);
  }
}

/**
 * A token response (from the token endpoint, `setTokens` or the sign-in prompt) or a stored
 * session failed validation. Nothing was saved. A malformed answer from the token endpoint
 * counts as transient (a captive portal or a broken proxy can produce one).
 */
export class InvalidTokenResponseError extends SessionKeeperError {
  override name = 'InvalidTokenResponseError';

  constructor(message: string, options?: { cause?: unknown; transient?: boolean }) {
    super('ERR_INVALID_TOKEN_RESPONSE', message, options);
  }
}

/**
 * A refresh failed for a reason that does not end the session: no network, a timeout, a 5xx,
 * a 429. The session is kept and the refresh is retried with backoff.
 */
export class TransientRefreshError extends SessionKeeperError {
  override name = 'TransientRefreshError';

  /** HTTP status of the token endpoint's answer, when there was one. */
  readonly status: number | undefined;
  /** The server's `Retry-After`, in milliseconds, when it sent one. */
  readonly retryAfterMs: number | undefined;

  constructor(
    message: string,
    options?: { cause?: unknown; status?: number | undefined; retryAfterMs?: number | undefined },
  ) {
    super('ERR_REFRESH_TRANSIENT', message, { cause: options?.cause, transient: true });
    this.status = options?.status;
    this.retryAfterMs = options?.retryAfterMs;
  }
}

/**
 * The token endpoint rejected the grant for good (`invalid_grant`, `invalid_client`, ...):
 * the refresh token is dead. The session manager answers it with re-authentication.
 */
export class RefreshRejectedError extends SessionKeeperError {
  override name = 'RefreshRejectedError';

  /** The RFC 6749 section 5.2 `error` value, like `invalid_grant`. */
  readonly oauthError: string;
  /** HTTP status of the answer. */
  readonly status: number;

  constructor(oauthError: string, status: number) {
    super('ERR_REFRESH_REJECTED', `Grant rejected: ${oauthError} (HTTP ${status})`);
    this.oauthError = oauthError;
    this.status = status;
  }
}

/** Why a request found no session; see {@link SessionExpiredError.reason}. */
export type SessionEndReason =
  /** Nobody is signed in (never, or not yet: `setTokens`/`restore` first). */
  | 'notSignedIn'
  /** The app signed out (here or in another context sharing the store). */
  | 'signedOut'
  /** Every re-authentication path failed or was declined: the user was signed out. */
  | 'reauthFailed'
  /** The request was made for a session that has ended since, and another session (perhaps another user's) is in use now. */
  | 'sessionReplaced'
  /** The session manager was disposed. */
  | 'disposed';

const SESSION_END_MESSAGES: Record<SessionEndReason, string> = {
  notSignedIn: 'Not signed in',
  signedOut: 'The session has ended: signed out',
  reauthFailed: 'The session has ended: re-authentication failed',
  sessionReplaced: 'The session this request was made for has ended',
  disposed: 'Session manager disposed',
};

/**
 * There is no session for this request: see {@link SessionExpiredError.reason}. Requests that
 * waited for a refresh reject with it when the session ends meanwhile.
 */
export class SessionExpiredError extends SessionKeeperError {
  override name = 'SessionExpiredError';

  /** Why: branch on it to tell "sign in first" from "signed out" from "another user now". */
  readonly reason: SessionEndReason;

  constructor(reason: SessionEndReason = 'signedOut', options?: { cause?: unknown }) {
    super('ERR_SESSION_EXPIRED', SESSION_END_MESSAGES[reason] ?? SESSION_END_MESSAGES.signedOut, options);
    this.reason = reason;
  }
}

/**
 * A request waited for a token longer than its own timeout (typically: the network is down
 * and the refresh keeps failing). The session is intact; try again later.
 */
export class TokenWaitTimeoutError extends SessionKeeperError {
  override name = 'TokenWaitTimeoutError';

  constructor(timeoutMs: number) {
    super('ERR_TOKEN_WAIT_TIMEOUT', `No access token within ${timeoutMs} ms`, { transient: true });
  }
}

/** The `TokenStore` threw. The `cause` has the store's own error. */
export class StoreError extends SessionKeeperError {
  override name = 'StoreError';

  constructor(operation: 'load' | 'save' | 'clear', cause: unknown) {
    super('ERR_STORE', `Token store failed to ${operation}`, { cause });
  }
}

/**
 * Authorization server metadata (RFC 8414) could not be read: `transient` when the server
 * could not be reached, not when it answered something unusable.
 */
export class DiscoveryError extends SessionKeeperError {
  override name = 'DiscoveryError';

  constructor(message: string, options?: { cause?: unknown; transient?: boolean }) {
    super('ERR_DISCOVERY', message, options);
  }
}

/** `true` for errors after which the session is intact and a later attempt can succeed. */
export function isTransientError(error: unknown): boolean {
  return error instanceof SessionKeeperError && error.transient;
}
