import { ConfigurationError } from './errors.ts';
import type { BiometricProvider } from './ports/biometric.ts';
import { broadcastChannel, type BroadcastPort } from './ports/broadcast.ts';
import { systemClock, type Clock } from './ports/clock.ts';
import { visibilityLifecycle, type LifecyclePort } from './ports/lifecycle.ts';
import { webLock, type LockPort } from './ports/lock.ts';
import { redactingLogger, silentLogger, type Logger } from './ports/logger.ts';
import { browserNetwork, type NetworkPort } from './ports/network.ts';
import { MemoryTokenStore, type TokenStore } from './ports/token-store.ts';
import { defaultBackoff, type BackoffOptions } from './refresh/backoff.ts';
import type { ReauthReason, TokenResponse } from './types.ts';

/** Options of {@link SessionManager}. Only `tokenEndpoint` and `clientId` are required. */
export interface SessionManagerOptions {
  /** The OAuth 2.0 token endpoint (RFC 6749 section 3.2), for the `refresh_token` grant. */
  tokenEndpoint: string;
  /** The OAuth client id, sent with every grant. */
  clientId: string;
  /** Where the session persists. Default: {@link MemoryTokenStore} (nothing survives a relaunch). */
  store?: TokenStore;
  /**
   * Whether the access token is handed to the store too. `false` keeps it in memory only
   * (less exposure; a relaunch then costs one refresh). Default `true`.
   */
  persistAccessToken?: boolean;
  /** Time and timers. Default: the system clock. */
  clock?: Clock;
  /** Refresh this long (ms) before the access token expires. Default 300 000 (5 minutes). */
  refreshMargin?: number;
  /** Emit `sessionExpiring` this long (ms) before the absolute session end. Default 300 000. */
  sessionWarning?: number;
  /**
   * The app's own sign-in UI, called when the refresh token is dead (after biometrics, when
   * offered). Resolve with the token response of a new sign-in, or `null` when the user gives up.
   * `signal` aborts when the prompt is no longer needed (another tab re-authenticated, or the
   * app signed out): close the dialog then.
   */
  signInPrompt?: ((reason: ReauthReason, context: { signal: AbortSignal }) => Promise<TokenResponse | null>) | undefined;
  /** Biometric re-authentication with a device key (RFC 7523). Default: none, step skipped. */
  biometric?: BiometricProvider | undefined;
  /** RFC 7009 revocation endpoint: `signOut()` revokes the refresh token there. */
  revocationEndpoint?: string | undefined;
  /**
   * Replaces the standard `refresh_token` grant for non-standard backends. Resolve with a
   * token response; throw `RefreshRejectedError` when the refresh token is dead and
   * `TransientRefreshError` for failures worth retrying.
   */
  refreshTokens?: ((refreshToken: string, signal: AbortSignal) => Promise<TokenResponse>) | undefined;
  /** The lock that makes one refresh across contexts. Default: Web Locks, else in-process. */
  lock?: LockPort;
  /** Name of that lock; contexts sharing a store must share it. Default `session-keeper:<clientId>`. */
  lockName?: string;
  /**
   * Tells other contexts sharing the store about changes at once. Default: a `BroadcastChannel`
   * named after `lockName` where there is one. `false` turns it off.
   */
  broadcast?: BroadcastPort | false;
  /** Foreground signal. Default: `visibilitychange` where there is a `document`. */
  lifecycle?: LifecyclePort;
  /** Connectivity signal. Default: `online` events where there is a `window`. */
  network?: NetworkPort;
  /** Debug logs; every line is redacted. Default: silent. */
  logger?: Logger;
  /** The `fetch` used for grants, revocation and `session.fetch`. Default: `globalThis.fetch` at call time. */
  fetch?: typeof globalThis.fetch;
  /**
   * Origins (like `https://api.example.com`) whose requests `session.fetch` sends with the
   * access token; in a browser page its own origin is included. Elsewhere (Node), without
   * them `session.fetch` rejects with `ConfigurationError`. The ky client takes its own
   * (`createClient(options, { trustedOrigins })`). Default: none.
   */
  trustedOrigins?: readonly string[];
  /** A grant without an answer after this many ms is abandoned as transient. Default 15 000. */
  refreshTimeout?: number;
  /**
   * How long (ms) a request waits for a token while refreshes fail transiently, before it
   * rejects with `TokenWaitTimeoutError`. Waiting through re-authentication does not count.
   * Default 30 000.
   */
  tokenWaitTimeout?: number;
  /** Backoff between transient refresh failures. Default `{ initialDelay: 1000, maxDelay: 60000 }`. */
  backoff?: Partial<BackoffOptions>;
}

/** Options with every default applied. */
export type ResolvedOptions = Required<
  Omit<
    SessionManagerOptions,
    'signInPrompt' | 'biometric' | 'revocationEndpoint' | 'refreshTokens' | 'backoff' | 'broadcast'
  >
> &
  Pick<SessionManagerOptions, 'signInPrompt' | 'biometric' | 'revocationEndpoint' | 'refreshTokens'> & {
    backoff: BackoffOptions;
    broadcast: BroadcastPort | undefined;
  };

function checkUrl(name: string, value: unknown): void {
  try {
    new URL(value as string);
  } catch {
    throw new ConfigurationError(`"${name}" must be an absolute URL, got ${JSON.stringify(value)}`);
  }
}

function checkDuration(name: string, value: unknown): void {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw new ConfigurationError(`"${name}" must be a number of ms >= 0`);
  }
}

/** Applies defaults and validates; the one place where defaults live. */
export function resolveOptions(options: SessionManagerOptions): ResolvedOptions {
  if (typeof options !== 'object' || options === null) throw new ConfigurationError('Options are required');
  checkUrl('tokenEndpoint', options.tokenEndpoint);
  if (options.revocationEndpoint !== undefined) checkUrl('revocationEndpoint', options.revocationEndpoint);
  if (typeof options.clientId !== 'string' || options.clientId === '') {
    throw new ConfigurationError('"clientId" must be a non-empty string');
  }
  const logger = redactingLogger(options.logger ?? silentLogger);
  const lockName = options.lockName ?? `session-keeper:${options.clientId}`;
  const resolved: ResolvedOptions = {
    ...options,
    store: options.store ?? new MemoryTokenStore(),
    persistAccessToken: options.persistAccessToken ?? true,
    clock: options.clock ?? systemClock,
    refreshMargin: options.refreshMargin ?? 300_000,
    sessionWarning: options.sessionWarning ?? 300_000,
    lock: options.lock ?? webLock({ logger }),
    lockName,
    broadcast: options.broadcast === false ? undefined : (options.broadcast ?? broadcastChannel(lockName)),
    lifecycle: options.lifecycle ?? visibilityLifecycle,
    network: options.network ?? browserNetwork,
    logger,
    fetch: options.fetch ?? ((input, init) => globalThis.fetch(input, init)),
    trustedOrigins: options.trustedOrigins ?? [],
    refreshTimeout: options.refreshTimeout ?? 15_000,
    tokenWaitTimeout: options.tokenWaitTimeout ?? 30_000,
    backoff: { ...defaultBackoff, ...options.backoff },
  };
  for (const name of ['refreshMargin', 'sessionWarning', 'refreshTimeout', 'tokenWaitTimeout'] as const) {
    checkDuration(name, resolved[name]);
  }
  checkDuration('backoff.initialDelay', resolved.backoff.initialDelay);
  checkDuration('backoff.maxDelay', resolved.backoff.maxDelay);
  for (const name of ['signInPrompt', 'refreshTokens', 'fetch'] as const) {
    if (resolved[name] !== undefined && typeof resolved[name] !== 'function') {
      throw new ConfigurationError(`"${name}" must be a function`);
    }
  }
  return resolved;
}
