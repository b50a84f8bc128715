import { resolveDpop, type DpopOption } from './dpop-option.ts';
import type { DpopPort } from './dpop/types.ts';
import { ConfigurationError } from './errors.ts';
import { isSecureUrl } from './utils/secure-url.ts';
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
import { globalFetch } from './utils/global-fetch.ts';

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
  signInPrompt?:
    ((reason: ReauthReason, context: { signal: AbortSignal }) => Promise<TokenResponse | null>) | undefined;
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
  /**
   * Name of that lock (and of the broadcast channel); contexts sharing a store must share it,
   * sessions that do not share a store must not. Default: `session-keeper:<clientId>:<store>`,
   * where `<store>` is the store's {@link TokenStore.id} (the same in every context that opens
   * that storage) or, for a store without one, this store object's own number.
   */
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
  /** The source of backoff jitter: a number in [0, 1). Default `Math.random`; tests pin it. */
  random?: () => number;
  /**
   * DPoP (RFC 9449): tokens bound to a key pair of this device, so that a stolen token is
   * useless elsewhere. Every token-endpoint request (refresh, device-key grant, revocation) and
   * every request of `createClient` carries a proof; the token endpoint must answer
   * `token_type: "DPoP"`. `true` uses a P-256 key kept in IndexedDB (memory in Node.js) and loads
   * the DPoP code on first use; `{ keyStore }` brings the app's own store; a handle from
   * `dpop()` (`session-keeper/dpop`) also signs the app's own sign-in request with the same key.
   * Sign-out deletes the key. Default: off.
   */
  dpop?: DpopOption | undefined;
  /**
   * Accept plain `http:` endpoints on any host, for development only (a device reaching a dev
   * server on the LAN). Default `false`: `https:`, or `http:` on a loopback host.
   */
  allowInsecureHttp?: boolean;
}

/** Options with every default applied. */
export type ResolvedOptions = Required<
  Omit<
    SessionManagerOptions,
    'signInPrompt' | 'biometric' | 'revocationEndpoint' | 'refreshTokens' | 'backoff' | 'broadcast' | 'dpop'
  >
> &
  Pick<SessionManagerOptions, 'signInPrompt' | 'biometric' | 'revocationEndpoint' | 'refreshTokens'> & {
    backoff: BackoffOptions;
    broadcast: BroadcastPort | undefined;
    dpop: DpopPort | undefined;
  };

function fail(name: string, expected: string): never {
  throw new ConfigurationError(`"${name}" must be ${expected}`);
}

function checkUrl(name: string, value: unknown, allowInsecureHttp: boolean): void {
  try {
    new URL(value as string);
  } catch {
    throw new ConfigurationError(`"${name}" must be an absolute URL, got ${JSON.stringify(value)}`);
  }
  if (!isSecureUrl(value, allowInsecureHttp)) {
    fail(name, 'an https: URL (plain http: only on a loopback host, or with allowInsecureHttp for development)');
  }
}

function checkDuration(name: string, value: unknown, min = 0): void {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min) {
    fail(name, min > 0 ? 'a number of ms > 0' : 'a number of ms >= 0');
  }
}

/** The methods a port must have; `optional` ones are checked when present. */
function checkPort(name: string, value: unknown, methods: string[], optional: string[] = []): void {
  const port = value as Record<string, unknown> | null;
  if (typeof port !== 'object' || port === null) fail(name, `an object with ${methods.join(', ')}()`);
  for (const method of methods) {
    if (typeof port[method] !== 'function')
      fail(name, `an object with ${methods.join(', ')}(); "${method}" is missing`);
  }
  for (const method of optional) {
    if (port[method] !== undefined && typeof port[method] !== 'function') fail(`${name}.${method}`, 'a function');
  }
}

/** Numbers for store objects that do not name themselves, so that each gets its own lock. */
const storeNumbers = new WeakMap<object, number>();
let nextStoreNumber = 1;

function storeName(store: TokenStore): string {
  if (typeof store.id === 'string' && store.id !== '') return store.id;
  let number = storeNumbers.get(store);
  if (number === undefined) storeNumbers.set(store, (number = nextStoreNumber++));
  return `#${number}`;
}

/** Applies defaults and validates; the one place where defaults live. */
export function resolveOptions(options: SessionManagerOptions): ResolvedOptions {
  if (typeof options !== 'object' || options === null) throw new ConfigurationError('Options are required');
  if (options.allowInsecureHttp !== undefined && typeof options.allowInsecureHttp !== 'boolean') {
    fail('allowInsecureHttp', 'a boolean');
  }
  const insecure = options.allowInsecureHttp ?? false;
  checkUrl('tokenEndpoint', options.tokenEndpoint, insecure);
  if (options.revocationEndpoint !== undefined) checkUrl('revocationEndpoint', options.revocationEndpoint, insecure);
  if (typeof options.clientId !== 'string' || options.clientId === '') fail('clientId', 'a non-empty string');
  if (options.store !== undefined) checkPort('store', options.store, ['load', 'save', 'clear'], ['subscribe']);
  if (options.clock !== undefined) checkPort('clock', options.clock, ['now', 'setTimeout', 'clearTimeout']);
  if (options.lock !== undefined) checkPort('lock', options.lock, ['run'], ['holdShared', 'isHeld']);
  if (options.logger !== undefined) checkPort('logger', options.logger, ['debug', 'info', 'warn', 'error']);
  if (options.biometric !== undefined) checkPort('biometric', options.biometric, ['isAvailable', 'getAssertion']);
  if (options.lifecycle !== undefined) checkPort('lifecycle', options.lifecycle, ['subscribe']);
  if (options.network !== undefined) checkPort('network', options.network, ['subscribe'], ['isOnline']);
  if (options.broadcast !== undefined && options.broadcast !== false) {
    checkPort('broadcast', options.broadcast, ['post', 'subscribe']);
  }
  if (options.persistAccessToken !== undefined && typeof options.persistAccessToken !== 'boolean') {
    fail('persistAccessToken', 'a boolean');
  }
  if (options.lockName !== undefined && (typeof options.lockName !== 'string' || options.lockName === '')) {
    fail('lockName', 'a non-empty string');
  }
  if (options.backoff !== undefined && (typeof options.backoff !== 'object' || options.backoff === null)) {
    fail('backoff', 'an object like { initialDelay: 1000, maxDelay: 60000 }');
  }
  for (const name of ['signInPrompt', 'refreshTokens', 'fetch', 'random'] as const) {
    if (options[name] !== undefined && typeof options[name] !== 'function') fail(name, 'a function');
  }
  const logger = redactingLogger(options.logger ?? silentLogger);
  const store = options.store ?? new MemoryTokenStore();
  const lockName = options.lockName ?? `session-keeper:${options.clientId}:${storeName(store)}`;
  const clock = options.clock ?? systemClock;
  const lock = options.lock ?? webLock({ logger });
  const resolved: ResolvedOptions = {
    ...options,
    store,
    persistAccessToken: options.persistAccessToken ?? true,
    clock,
    refreshMargin: options.refreshMargin ?? 300_000,
    sessionWarning: options.sessionWarning ?? 300_000,
    lock,
    lockName,
    broadcast: options.broadcast === false ? undefined : (options.broadcast ?? broadcastChannel(lockName)),
    lifecycle: options.lifecycle ?? visibilityLifecycle,
    network: options.network ?? browserNetwork,
    logger,
    fetch: options.fetch ?? globalFetch,
    trustedOrigins: options.trustedOrigins ?? [],
    refreshTimeout: options.refreshTimeout ?? 15_000,
    tokenWaitTimeout: options.tokenWaitTimeout ?? 30_000,
    backoff: { ...defaultBackoff, ...options.backoff },
    random: options.random ?? Math.random,
    dpop: resolveDpop(options.dpop, { clock, lock, lockName, logger }),
    allowInsecureHttp: insecure,
  };
  for (const name of ['refreshMargin', 'sessionWarning'] as const) checkDuration(name, resolved[name]);
  // Zero cannot work: every grant would be abandoned at once, every wait would time out at once.
  for (const name of ['refreshTimeout', 'tokenWaitTimeout'] as const) checkDuration(name, resolved[name], 1);
  checkDuration('backoff.initialDelay', resolved.backoff.initialDelay, 1);
  checkDuration('backoff.maxDelay', resolved.backoff.maxDelay, 1);
  if (resolved.backoff.maxDelay < resolved.backoff.initialDelay)
    fail('backoff.maxDelay', 'at least backoff.initialDelay');
  return resolved;
}
