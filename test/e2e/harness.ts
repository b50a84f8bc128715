/**
 * End-to-end harness: the reference server (examples/server) on a fresh database per test
 * file (SQLite, or a schema in the run's PostgreSQL: see test/setup/database.ts), on a free
 * loopback port, with a server clock the tests can move forward; and the SDK
 * as users get it: the built package, imported by its name.
 */
import { describe } from 'vitest';
import {
  createDeviceKeyAssertion,
  inProcessLock,
  JWT_BEARER_GRANT,
  MemoryTokenStore,
  SessionManager,
  type BiometricProvider,
  type Clock,
  type SessionEvents,
  type SessionManagerOptions,
  type TokenResponse,
} from 'session-keeper';
import { ManualLifecycle, ManualNetwork } from 'session-keeper/testing';
import {
  startServer,
  type GrantLogEntry,
  type RunningServer,
  type StartServerOptions,
} from '../../examples/server/src/index.ts';
import { postgresBackend, sqliteBackend, type Backend } from '../../examples/server/test/helpers.ts';

export const CLIENT_ID = 'e2e-app';

/** The server suite's backends: a fresh SQLite file, or a fresh PostgreSQL schema, per test file. */
export type { Backend };
export const backends = { sqlite: sqliteBackend, postgres: postgresBackend } as const;

/**
 * Declares `suite` for one backend (each backend has its own test file, so they run in
 * parallel). Never skipped: without a PostgreSQL the PostgreSQL suite fails.
 */
export function describeBackend(backend: Backend, title: string, suite: () => void): void {
  describe(`${title} [${backend.name}]`, suite);
}

/** A started server with a clock that only the test moves ahead of real time. */
export interface E2EServer {
  server: RunningServer;
  /** The server's clock (real time plus what the test added). */
  now(): number;
  /** Moves the server's clock forward (its access tokens expire, grace windows pass...). */
  advance(ms: number): void;
  /** Grant log entries since `mark()`. */
  grantsSince(mark: number): GrantLogEntry[];
  mark(): number;
  /** Signs alice in through POST /auth/login; enrolls `devicePublicJwk` when given. */
  login(devicePublicJwk?: JsonWebKey): Promise<TokenResponse & { device_key_id?: string }>;
  /**
   * A new session (token family) for alice, fast: through the RFC 7523 grant with a device
   * key enrolled once, instead of the password login whose hash is slow on purpose. Shows in
   * the grant log as `jwt-bearer:issued`.
   */
  quickLogin(retried?: boolean): Promise<TokenResponse>;
  /** Revokes a refresh token through POST /oauth/revoke (RFC 7009). */
  revoke(refreshToken: string): Promise<void>;
  stop(): Promise<void>;
}

/** Starts the server on a fresh database of `backend` (a second server may share it). */
export async function startE2EServer(
  backend: Backend,
  options: StartServerOptions = {},
  database?: { url: string; drop(): Promise<void> },
): Promise<E2EServer & { database: { url: string; drop(): Promise<void> } }> {
  const db = database ?? (await backend.createDatabase());
  let offset = 0;
  const now = () => Date.now() + offset;
  const server = await startServer({
    port: 0,
    databaseUrl: db.url,
    accessTokenTtlSeconds: 60,
    refreshTokenTtlSeconds: 3600,
    sessionMaxSeconds: 8 * 3600,
    refreshGraceSeconds: 30,
    now,
    ...options,
  });
  let deviceKey: Promise<{ privateKey: CryptoKey; keyId: string; subject: string }> | undefined;
  const e2e: E2EServer & { database: { url: string; drop(): Promise<void> } } = {
    server,
    database: db,
    now,
    advance: (ms) => {
      offset += ms;
    },
    mark: () => server.grantLog.length,
    grantsSince: (mark) => server.grantLog.slice(mark),
    async login(devicePublicJwk) {
      const response = await fetch(`${server.url}/auth/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          username: 'alice',
          password: 'secret',
          client_id: CLIENT_ID,
          ...(devicePublicJwk ? { device_public_jwk: devicePublicJwk } : {}),
        }),
      });
      if (response.status !== 200) throw new Error(`login failed: HTTP ${response.status} ${await response.text()}`);
      return (await response.json()) as TokenResponse & { device_key_id?: string };
    },
    async quickLogin(retried = false): Promise<TokenResponse> {
      deviceKey ??= (async () => {
        const key = await createDeviceKey();
        const { device_key_id: keyId } = await e2e.login(key.publicJwk);
        if (!keyId) throw new Error('the server did not enroll the device key');
        const { sub } = JSON.parse(
          Buffer.from((await e2e.login()).access_token.split('.')[1]!, 'base64url').toString(),
        ) as { sub: string };
        return { privateKey: key.privateKey, keyId, subject: sub };
      })();
      const { privateKey, keyId, subject } = await deviceKey;
      const assertion = await createDeviceKeyAssertion(
        privateKey,
        keyId,
        { audience: server.tokenEndpoint, clientId: CLIENT_ID, subject },
        { now: now() },
      );
      const response = await fetch(server.tokenEndpoint, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ grant_type: JWT_BEARER_GRANT, assertion, client_id: CLIENT_ID }).toString(),
      });
      if (response.status === 400 && !retried) {
        // A test revoked alice's sessions, which also removes her device keys: enroll again.
        deviceKey = undefined;
        return e2e.quickLogin(true);
      }
      if (response.status !== 200)
        throw new Error(`jwt-bearer grant failed: HTTP ${response.status} ${await response.text()}`);
      return (await response.json()) as TokenResponse;
    },
    async revoke(refreshToken) {
      const response = await fetch(server.revocationEndpoint, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ token: refreshToken, client_id: CLIENT_ID }).toString(),
      });
      if (response.status !== 200) throw new Error(`revocation failed: HTTP ${response.status}`);
    },
    async stop() {
      await server.close();
      if (!database) await db.drop();
    },
  };
  return e2e;
}

/** Counts grant outcomes, e.g. `{ 'refresh_token:rotated': 1 }`. */
export function tally(entries: GrantLogEntry[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const { grant, outcome } of entries) counts[`${grant}:${outcome}`] = (counts[`${grant}:${outcome}`] ?? 0) + 1;
  return counts;
}

/**
 * A clock whose `now()` can jump ahead while its timers keep real time: what a device sees
 * after the app was suspended (frozen timers, wall clock moved on).
 */
export function jumpableClock(): Clock & { jump(ms: number): void } {
  let offset = 0;
  return {
    now: () => Date.now() + offset,
    setTimeout: (callback, ms) => setTimeout(callback, Math.min(Math.max(0, ms), 2_147_483_647)),
    clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
    jump: (ms) => {
      offset += ms;
    },
  };
}

/** A device key made with WebCrypto, as a Secure Enclave key would be (private part non-extractable). */
export async function createDeviceKey(): Promise<{ privateKey: CryptoKey; publicJwk: JsonWebKey }> {
  const pair = (await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, false, [
    'sign',
    'verify',
  ])) as CryptoKeyPair;
  const { x, y } = await crypto.subtle.exportKey('jwk', pair.publicKey);
  if (!x || !y) throw new Error('WebCrypto exported a P-256 public key without coordinates');
  return { privateKey: pair.privateKey, publicJwk: { kty: 'EC', crv: 'P-256', x, y } };
}

/** A biometric provider over a device key; `answer` plays the user at the Face ID prompt. */
export function deviceKeyBiometric(
  key: { privateKey: CryptoKey; keyId: string },
  options: { now: () => number; available?: boolean; answer?: 'approve' | 'cancel'; calls: string[] },
): BiometricProvider {
  return {
    isAvailable: async () => options.available ?? true,
    async getAssertion(request) {
      options.calls.push('biometric');
      if ((options.answer ?? 'approve') === 'cancel') return null;
      return createDeviceKeyAssertion(key.privateKey, key.keyId, request, { now: options.now() });
    },
  };
}

/** Records every event of a session manager, in order. */
export function recordEvents(session: SessionManager) {
  const events: { type: keyof SessionEvents; event: unknown }[] = [];
  const types: (keyof SessionEvents)[] = [
    'refreshed',
    'refreshFailed',
    'reauthRequired',
    'reauthenticated',
    'signedOut',
  ];
  for (const type of types) session.on(type, (event) => events.push({ type, event }));
  return {
    events,
    of: <K extends keyof SessionEvents>(type: K) =>
      events.filter((e) => e.type === type).map((e) => e.event as SessionEvents[K]),
    types: () => events.map((e) => e.type),
  };
}

/** A `fetch` that counts API answers by status, so a test can tell whether a 401 happened. */
export function countingFetch() {
  const statuses: number[] = [];
  const fetchFn: typeof globalThis.fetch = async (input, init) => {
    const response = await globalThis.fetch(input, init);
    statuses.push(response.status);
    return response;
  };
  return { fetch: fetchFn, statuses };
}

/** Creates session managers with the test ports and disposes of them after each test. */
export function sessionFactory(
  defaults: () => Partial<SessionManagerOptions> & Pick<SessionManagerOptions, 'tokenEndpoint'>,
) {
  const created: SessionManager[] = [];
  return {
    create(options: Partial<SessionManagerOptions> = {}) {
      const session = new SessionManager({
        clientId: CLIENT_ID,
        store: new MemoryTokenStore(),
        lock: inProcessLock(),
        lifecycle: new ManualLifecycle(),
        network: new ManualNetwork(),
        backoff: { initialDelay: 100, maxDelay: 2000 },
        ...defaults(),
        ...options,
      });
      created.push(session);
      return session;
    },
    disposeAll() {
      for (const session of created.splice(0)) session.dispose();
    },
  };
}

/** Settles every promise and classifies the outcomes. */
export async function settleAll<T>(promises: Promise<T>[]) {
  const results = await Promise.allSettled(promises);
  return {
    fulfilled: results.filter((r) => r.status === 'fulfilled').length,
    rejected: results
      .filter((r): r is PromiseRejectedResult => r.status === 'rejected')
      .map((r) => r.reason as unknown),
  };
}

/** One request as a `fetch` saw it: where it went, how it was authorized, its proof, the answer. */
export interface RecordedRequest {
  url: string;
  /** `Bearer`, `DPoP` or undefined (no Authorization). */
  scheme: string | undefined;
  /** The `DPoP` header, when the request had one. */
  proof: string | undefined;
  status: number;
  /** The `DPoP-Nonce` of the answer, when it had one. */
  nonce: string | undefined;
}

/** A `fetch` that records every request it sends (after DPoP signed it) and its answer. */
export function recordingFetch() {
  const requests: RecordedRequest[] = [];
  const fetchFn: typeof globalThis.fetch = async (input, init) => {
    const request = new Request(input, init);
    const authorization = request.headers.get('authorization');
    const response = await globalThis.fetch(request);
    requests.push({
      url: request.url,
      scheme: authorization?.split(' ')[0],
      proof: request.headers.get('dpop') ?? undefined,
      status: response.status,
      nonce: response.headers.get('dpop-nonce') ?? undefined,
    });
    return response;
  };
  return { fetch: fetchFn, requests, statuses: () => requests.map((r) => r.status) };
}

/** The claims of a DPoP proof (or any JWT), read without verification. */
export function claimsOf(jwt: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(jwt.split('.')[1]!, 'base64url').toString('utf8')) as Record<string, unknown>;
}

/**
 * The app's DPoP sign-in: alice through POST /auth/login with a proof of `proofs` (the
 * session's DPoP handle), answering a `use_dpop_nonce` once, as the README shows for a code
 * exchange. The tokens come back bound to the handle's key.
 */
export async function dpopSignIn(
  e2e: E2EServer,
  proofs: { proof(method: string, url: string): Promise<string | undefined>; observe(url: string, r: Response): void },
): Promise<TokenResponse> {
  const url = `${e2e.server.url}/auth/login`;
  const send = async () => {
    const response = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', dpop: (await proofs.proof('POST', url))! },
      body: JSON.stringify({ username: 'alice', password: 'secret', client_id: CLIENT_ID }),
    });
    proofs.observe(url, response);
    return response;
  };
  let response = await send();
  // Signed once more, as the SDK does at the token endpoint: for the server's nonce, or after
  // a proof refused for its iat (the answer's Date has set the handle's estimate of the
  // server's clock, which the tests move ahead).
  const error = response.status === 400 ? ((await response.clone().json()) as { error?: string }).error : undefined;
  if (error === 'use_dpop_nonce' || error === 'invalid_dpop_proof') response = await send();
  if (response.status !== 200) throw new Error(`DPoP sign-in failed: HTTP ${response.status} ${await response.text()}`);
  return (await response.json()) as TokenResponse;
}
