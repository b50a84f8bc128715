/**
 * session-keeper without ky: the same `SessionManager` minus `createClient`, for apps that
 * send their requests with `session.fetch` (or `createSessionFetch`). Everything else is as
 * in the main entry.
 * @packageDocumentation
 * @module session-keeper/fetch
 */
export { SessionManager } from './session-manager.ts';
export type { SessionManagerOptions } from './options.ts';
export type { DpopOption } from './dpop-option.ts';
export type { Dpop, DpopKeyStore, DpopOptions, DpopPort, DpopSigner, DpopSignerStore } from './dpop/types.ts';
export { createSessionFetch, type SessionFetchOptions } from './client/session-fetch.ts';
export type { TokenProvider } from './client/one-retry.ts';
export type { SessionSnapshot, SessionBindings } from './bindings.ts';
export {
  SessionKeeperError,
  ConfigurationError,
  InvalidTokenResponseError,
  TransientRefreshError,
  RefreshRejectedError,
  SessionExpiredError,
  TokenWaitTimeoutError,
  StoreError,
  DiscoveryError,
  isTransientError,
  type SessionKeeperErrorCode,
  type SessionEndReason,
} from './errors.ts';
export type {
  TokenResponse,
  StoredSession,
  SessionState,
  SessionEvents,
  SessionEventHandler,
  SignOutReason,
  ReauthReason,
  TokenChangeCause,
  TokenEvent,
  SessionInfo,
  GetAccessTokenOptions,
} from './types.ts';
export { MemoryTokenStore, WebStorageTokenStore, type TokenStore, type StorageLike } from './ports/token-store.ts';
export { systemClock, type Clock, type TimerHandle } from './ports/clock.ts';
export { webLock, inProcessLock, type LockPort, type LockContext } from './ports/lock.ts';
export { broadcastChannel, type BroadcastPort } from './ports/broadcast.ts';
export { visibilityLifecycle, createLifecycle, type LifecyclePort } from './ports/lifecycle.ts';
export { browserNetwork, createNetwork, type NetworkPort } from './ports/network.ts';
export type { BiometricProvider, AssertionRequest } from './ports/biometric.ts';
export { silentLogger, consoleLogger, redact, type Logger, type LogFields } from './ports/logger.ts';
export type { BackoffOptions } from './refresh/backoff.ts';
export { JWT_BEARER_GRANT } from './refresh/reauth.ts';
export { createDeviceKeyAssertion } from './device-key.ts';
export { discoverEndpoints, type DiscoveredEndpoints } from './discovery.ts';
