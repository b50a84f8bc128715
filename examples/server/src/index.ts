/**
 * The session-keeper reference OAuth 2.0 server, as a library: start it in-process on a
 * free port for end-to-end tests, benchmarks and demos.
 *
 * @example
 * ```ts
 * import { startServer } from '../examples/server/src/index.ts';
 * const server = await startServer({ port: 0, now: () => clock.now() });
 * const res = await fetch(`${server.url}/auth/login`, {
 *   method: 'POST',
 *   headers: { 'content-type': 'application/json' },
 *   body: JSON.stringify({ username: 'alice', password: 'secret', client_id: 'demo' }),
 * });
 * // ... POST server.tokenEndpoint with grant_type=refresh_token ...
 * await server.close();
 * ```
 * @module
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createAdaptorServer } from '@hono/node-server';
import { createApp } from './app.ts';
import { AccessTokens } from './crypto/access-token.ts';
import { deriveNonceSecret, DpopNonces } from './crypto/dpop-nonce.ts';
import { DPOP_ALGORITHMS, type DpopAlgorithm } from './crypto/dpop-proof.ts';
import { PASSWORD_COSTS, PasswordHasher } from './crypto/password.ts';
import { loadSigningKey } from './crypto/signing-key.ts';
import { logEntry, type GrantLogEntry } from './grant-log.ts';
import type { GrantContext } from './grants/context.ts';
import { hasControlCharacter } from './http/body.ts';
import { ConcurrencyLimit } from './http/concurrency-limit.ts';
import { DpopVerifier } from './http/dpop.ts';
import { RateLimiter } from './http/rate-limit.ts';
import { openRepository } from './storage/open.ts';

export type { GrantKind, GrantLogEntry, GrantOutcome } from './grant-log.ts';
export type { TokenResponse } from './grants/token-response.ts';

/** Options of {@link startServer}. Every one has a default; lifetimes are in seconds. */
export type StartServerOptions = {
  /** TCP port; `0` (the default) picks a free one. */
  port?: number;
  /** Interface to bind. Default `127.0.0.1`. */
  host?: string;
  /**
   * `sqlite:<file>`, `sqlite::memory:` or `postgres://...`. Default: a fresh SQLite file in
   * a temporary folder, deleted by `close()`.
   */
  databaseUrl?: string;
  /**
   * SQLite only: `'normal'` (the default) leaves the sync to WAL checkpoints: an answered
   * grant survives a crash of the process, not necessarily a power loss; `'full'` syncs
   * every commit to disk before answering, so an answered grant survives a power loss too,
   * at the price of an fsync on the event loop per commit. Either way grants are
   * group-committed (many per transaction) and each is answered after its commit.
   */
  sqliteSynchronous?: 'full' | 'normal';
  /** Access token lifetime. Default 900 (15 minutes). */
  accessTokenTtlSeconds?: number;
  /** Refresh token idle lifetime, counted from each rotation. Default 1 209 600 (14 days). */
  refreshTokenTtlSeconds?: number;
  /** Absolute session lifetime, counted from sign-in. Default 2 592 000 (30 days). */
  sessionMaxSeconds?: number;
  /** How long a retired refresh token still gets the session's live token set (a replay). Default 30. */
  refreshGraceSeconds?: number;
  /**
   * Requests per minute to `/oauth/token`, `/auth/login` and `/oauth/revoke` per client_id
   * and remote address (and ten times that per remote address alone, whatever the
   * client_id); `0` disables the limit. Default 300 (a burst of 50 refreshes fits easily).
   */
  rateLimitPerMinute?: number;
  /**
   * Sign-ins per minute from one remote address, whatever the client_id: tighter than the
   * ten-times budget of the other endpoints, because each sign-in costs a password hash.
   * Default: `rateLimitPerMinute`, at least 30 (a household or an office behind one address
   * must still sign in); `0` with `rateLimitPerMinute: 0`.
   */
  loginRateLimitPerMinute?: number;
  /**
   * Password checks (scrypt, on libuv's thread pool) running at once. Default: half the
   * CPUs, at least 1, so a flood of sign-ins leaves the other cores to refresh grants.
   */
  passwordCheckConcurrency?: number;
  /**
   * Sign-ins waiting for a password check; past them a sign-in gets 503
   * `temporarily_unavailable` with `Retry-After: 1` at once. Default 16.
   */
  passwordCheckQueue?: number;
  /**
   * Users to create (or whose password to reset) at start: `{ alice: 'secret' }` or
   * `'alice:secret,bob:secret2'`. Default: alice/secret and bob/secret2.
   */
  seedUsers?: Record<string, string> | string;
  /**
   * The clock, in epoch milliseconds, used for every time decision: token `iat`/`exp`,
   * idle and absolute expiry, the grace window, assertion checks, the rate-limit window.
   * Default `Date.now`.
   */
  now?: () => number;
  /** Called with every grant outcome (also kept in {@link RunningServer.grantLog}). */
  log?: (entry: GrantLogEntry) => void;
  /**
   * How many entries {@link RunningServer.grantLog} keeps. Default: all of them, so that
   * `grantLog.slice(since)` with an earlier `grantLog.length` stays valid. Past the limit the
   * oldest are dropped (indices shift); `0` keeps none (`main.ts` logs to stdout instead).
   */
  grantLogLimit?: number;
  /**
   * The issuer (`iss` of access tokens, base of every endpoint URL). Default
   * `http://<host>:<port>` of the listening socket. Servers sharing a database behind one
   * address must be given the same issuer to accept each other's access tokens.
   */
  issuer?: string;
  /** The `aud` of access tokens. Default `<issuer>/api`. */
  audience?: string;
  /**
   * scrypt cost of password hashes: `'standard'` (the default, OWASP-grade, ~100 ms a
   * login) or `'low'` (about a millisecond: for test suites that log in a lot; never in
   * production).
   */
  passwordHashCost?: 'standard' | 'low';
  /**
   * The ES256 private key as a JWK JSON string. Default: the key stored in the database
   * (created by the first server that starts on it).
   */
  jwtPrivateJwk?: string;
  /**
   * DPoP (RFC 9449) proof algorithms accepted, and advertised as
   * `dpop_signing_alg_values_supported`: any of `ES256`, `ES384`, `ES512`, `EdDSA`,
   * `Ed25519`, `PS256`, `RS256` (RSA keys of 2048 to 4096 bits). Default `['ES256']`.
   * Requests without a `DPoP` header are served as before, with bearer tokens.
   */
  dpopSigningAlgorithms?: readonly string[];
  /** How far a DPoP proof's `iat` may be from the server's clock, either way, in seconds. Default 60. */
  dpopProofWindowSeconds?: number;
  /**
   * Require a server-provided nonce in every DPoP proof (RFC 9449 section 8): a proof without
   * the current one gets `use_dpop_nonce` with a `DPoP-Nonce` header (400 at the token
   * endpoint, 401 with `WWW-Authenticate: DPoP error="use_dpop_nonce"` at resources).
   * Default false.
   */
  dpopNonce?: boolean;
  /**
   * How often the nonce changes, in seconds; the previous one stays accepted for one more
   * period, and every answer to a proof with an older nonce carries the new one. Default 300.
   */
  dpopNonceRotationSeconds?: number;
  /**
   * The secret nonces are derived from (at least 32 characters; every process behind one
   * address must share it). Default: derived from the signing key, which processes sharing a
   * database (or a `jwtPrivateJwk`) share already.
   */
  dpopNonceSecret?: string;
};

/** A started server. */
export type RunningServer = {
  /** Base URL, e.g. `http://127.0.0.1:54321`. */
  url: string;
  /** The issuer (equal to `url` unless the `issuer` option was given). */
  issuer: string;
  /** `<issuer>/oauth/token`. */
  tokenEndpoint: string;
  /** `<issuer>/oauth/revoke`. */
  revocationEndpoint: string;
  /** The database actually used (the generated temporary file when none was given). */
  databaseUrl: string;
  /**
   * Every grant outcome so far, oldest first (see the `grantLogLimit` option). Never
   * contains a token or a password.
   */
  grantLog: GrantLogEntry[];
  /**
   * Revokes every session (token family) of the user and deletes their enrolled device
   * keys, as an administrator would after a password reset: every refresh token and every
   * device-key assertion of the user is refused afterwards, including a login or an
   * assertion whose credential was checked before and whose session is not yet created.
   * Access tokens already issued stay valid until they expire. Resolves to the number of
   * sessions revoked (0 for an unknown user).
   */
  revokeUserSessions(username: string): Promise<number>;
  /** Stops accepting connections, waits for in-flight requests, closes the database. */
  close(): Promise<void>;
};

/** One address may use this many client_ids' worth of the rate limit (sign-ins excepted). */
const ADDRESS_LIMIT_FACTOR = 10;
/** The default per-address sign-in budget never goes below this (many people share one address). */
const MIN_LOGIN_ADDRESS_LIMIT = 30;

function positiveInteger(name: string, value: number | undefined, fallback: number, allowZero = false): number {
  const resolved = value ?? fallback;
  if (!Number.isInteger(resolved) || resolved < (allowZero ? 0 : 1)) {
    throw new TypeError(
      `${name} must be ${allowZero ? 'a non-negative' : 'a positive'} integer (got ${String(value)})`,
    );
  }
  return resolved;
}

function dpopAlgorithms(value: readonly string[] | undefined): DpopAlgorithm[] {
  const algorithms = [...(value ?? ['ES256'])];
  const known = new Set<string>(DPOP_ALGORITHMS);
  if (algorithms.length === 0 || algorithms.some((alg) => !known.has(alg))) {
    throw new TypeError(`dpopSigningAlgorithms must be a non-empty list of ${DPOP_ALGORITHMS.join(', ')}`);
  }
  return [...new Set(algorithms)] as DpopAlgorithm[];
}

/** Parses `alice:secret,bob:secret2`. Passwords may contain `:`; usernames may not. */
export function parseSeedUsers(seed: Record<string, string> | string): Map<string, string> {
  const users = new Map<string, string>();
  const pairs =
    typeof seed === 'string'
      ? seed
          .split(',')
          .map((pair) => pair.trim())
          .filter((pair) => pair !== '')
          .map((pair) => {
            const colon = pair.indexOf(':');
            if (colon <= 0) throw new TypeError('seedUsers must look like "alice:secret,bob:secret2"');
            return [pair.slice(0, colon), pair.slice(colon + 1)] as const;
          })
      : Object.entries(seed);
  for (const [username, password] of pairs) {
    if (username === '' || password === '') throw new TypeError('seed users need a username and a password');
    // Such a username could never sign in: login refuses it before any lookup.
    if (hasControlCharacter(username)) throw new TypeError('seed usernames may not contain control characters');
    users.set(username, password);
  }
  return users;
}

/**
 * Starts the reference server: opens (and migrates) the database, seeds the users, loads
 * or creates the signing key, and listens.
 */
export async function startServer(options: StartServerOptions = {}): Promise<RunningServer> {
  const now = options.now ?? Date.now;
  const accessTokenTtlSeconds = positiveInteger('accessTokenTtlSeconds', options.accessTokenTtlSeconds, 900);
  const refreshTokenTtlSeconds = positiveInteger('refreshTokenTtlSeconds', options.refreshTokenTtlSeconds, 14 * 86_400);
  const sessionMaxSeconds = positiveInteger('sessionMaxSeconds', options.sessionMaxSeconds, 30 * 86_400);
  const refreshGraceSeconds = positiveInteger('refreshGraceSeconds', options.refreshGraceSeconds, 30, true);
  const rateLimitPerMinute = positiveInteger('rateLimitPerMinute', options.rateLimitPerMinute, 300, true);
  const loginRateLimitPerMinute = positiveInteger(
    'loginRateLimitPerMinute',
    options.loginRateLimitPerMinute,
    rateLimitPerMinute === 0 ? 0 : Math.max(MIN_LOGIN_ADDRESS_LIMIT, rateLimitPerMinute),
    true,
  );
  const passwordCheckConcurrency = positiveInteger(
    'passwordCheckConcurrency',
    options.passwordCheckConcurrency,
    Math.max(1, Math.floor(availableParallelism() / 2)),
  );
  const passwordCheckQueue = positiveInteger('passwordCheckQueue', options.passwordCheckQueue, 16, true);
  // Failed sign-ins per account: a tenth of the rate limit (30 at the default), at least 5; off with it.
  const failedLoginsPerMinute = rateLimitPerMinute === 0 ? 0 : Math.max(5, Math.floor(rateLimitPerMinute / 10));
  const seedUsers = parseSeedUsers(options.seedUsers ?? { alice: 'secret', bob: 'secret2' });
  const grantLogLimit = options.grantLogLimit ?? Number.POSITIVE_INFINITY;
  if (!(grantLogLimit >= 0)) throw new TypeError('grantLogLimit must be a non-negative number');
  const passwords = new PasswordHasher(PASSWORD_COSTS[options.passwordHashCost ?? 'standard']);
  const algorithms = dpopAlgorithms(options.dpopSigningAlgorithms);
  const dpopProofWindowSeconds = positiveInteger('dpopProofWindowSeconds', options.dpopProofWindowSeconds, 60);
  const dpopNonceRotationSeconds = positiveInteger('dpopNonceRotationSeconds', options.dpopNonceRotationSeconds, 300);
  if (options.dpopNonceSecret !== undefined && options.dpopNonceSecret.length < 32) {
    throw new TypeError('dpopNonceSecret must have at least 32 characters');
  }

  let temporaryDir: string | undefined;
  let databaseUrl = options.databaseUrl;
  if (databaseUrl === undefined) {
    temporaryDir = mkdtempSync(join(tmpdir(), 'session-keeper-server-'));
    databaseUrl = `sqlite:${join(temporaryDir, 'server.sqlite')}`;
  }
  if (options.sqliteSynchronous !== undefined && !['full', 'normal'].includes(options.sqliteSynchronous)) {
    throw new TypeError("sqliteSynchronous must be 'full' or 'normal'");
  }
  const repository = await openRepository(
    databaseUrl,
    options.sqliteSynchronous === undefined ? {} : { sqliteSynchronous: options.sqliteSynchronous },
  );
  const httpServer = createAdaptorServer({
    fetch: (request, env) => handler(request, env),
    // Slow or stalled clients cannot hold connections forever (/api/slow waits at most 5 s).
    serverOptions: { headersTimeout: 10_000, requestTimeout: 30_000 },
  }) as Server;
  let handler: (request: Request, env: unknown) => Response | Promise<Response> = () =>
    new Response('{"error":"temporarily_unavailable","error_description":"Starting."}', {
      status: 503,
      headers: { 'Content-Type': 'application/json', 'Retry-After': '1' },
    });

  try {
    await Promise.all([
      passwords.dummyHash(),
      ...[...seedUsers].map(async ([username, password]) =>
        repository.upsertUser({ id: randomUUID(), username, passwordHash: await passwords.hash(password) }),
      ),
    ]);
    const signingKey = await loadSigningKey(repository, options.jwtPrivateJwk);

    await new Promise<void>((resolve, reject) => {
      httpServer.once('error', reject);
      httpServer.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => {
        httpServer.off('error', reject);
        resolve();
      });
    });
    const address = httpServer.address() as AddressInfo;
    const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
    const url = `http://${host}:${address.port}`;
    const issuer = (options.issuer ?? url).replace(/\/+$/, '');
    const tokenEndpoint = `${issuer}/oauth/token`;

    const grantLog: GrantLogEntry[] = [];
    const log = (entry: GrantLogEntry) => {
      if (grantLogLimit > 0) grantLog.push(entry);
      if (grantLog.length > grantLogLimit) grantLog.splice(0, grantLog.length - grantLogLimit);
      options.log?.(entry);
    };
    const accessTokens = new AccessTokens({
      key: signingKey,
      issuer,
      audience: options.audience ?? `${issuer}/api`,
      ttlSeconds: accessTokenTtlSeconds,
      now,
    });
    const grants: GrantContext = {
      repository,
      accessTokens,
      passwords,
      settings: { issuer, tokenEndpoint, refreshTokenTtlSeconds, sessionMaxSeconds, refreshGraceSeconds },
      now,
      log,
      record: (grant, outcome, details) => log(logEntry(now(), grant, outcome, details)),
      failedLogins: new RateLimiter(failedLoginsPerMinute, now),
      passwordChecks: new ConcurrencyLimit({ concurrency: passwordCheckConcurrency, queue: passwordCheckQueue }),
    };
    const nonceSecret =
      options.dpopNonceSecret === undefined
        ? deriveNonceSecret(signingKey.privateKey.export({ format: 'jwk' }).d!)
        : new TextEncoder().encode(options.dpopNonceSecret);
    const dpop = new DpopVerifier({
      settings: {
        algorithms,
        windowSeconds: dpopProofWindowSeconds,
        nonces: options.dpopNonce ? new DpopNonces(nonceSecret, dpopNonceRotationSeconds) : undefined,
      },
      issuer,
      repository,
      now,
    });
    const app = createApp({
      grants,
      accessTokens,
      signingKey,
      dpop,
      now,
      rateLimiter: new RateLimiter(rateLimitPerMinute, now),
      addressRateLimiter: new RateLimiter(rateLimitPerMinute * ADDRESS_LIMIT_FACTOR, now),
      loginAddressRateLimiter: new RateLimiter(loginRateLimitPerMinute, now),
      issuer,
    });
    handler = (request, env) => app.fetch(request, env);

    // Housekeeping on the real timer (it only deletes what the injected clock says is dead).
    const purge = () => void repository.purgeExpired(now()).catch(() => {});
    purge();
    const purgeTimer = setInterval(purge, 60_000);
    purgeTimer.unref();

    let closing: Promise<void> | undefined;
    return {
      url,
      issuer,
      tokenEndpoint,
      revocationEndpoint: `${issuer}/oauth/revoke`,
      databaseUrl,
      grantLog,
      async revokeUserSessions(username: string): Promise<number> {
        const user = await repository.findUserByUsername(username);
        if (!user) return 0;
        const count = await repository.revokeUserSessions(user.id, now());
        log(logEntry(now(), 'revoke', 'revoked', { userId: user.id, reason: 'user sessions revoked' }));
        return count;
      },
      close() {
        closing ??= (async () => {
          clearInterval(purgeTimer);
          await new Promise<void>((resolve) => {
            httpServer.close(() => resolve());
            httpServer.closeIdleConnections();
          });
          await repository.close();
          if (temporaryDir) rmSync(temporaryDir, { recursive: true, force: true });
        })();
        return closing;
      },
    };
  } catch (error) {
    if (httpServer.listening) httpServer.close();
    await repository.close().catch(() => {});
    if (temporaryDir) rmSync(temporaryDir, { recursive: true, force: true });
    throw error;
  }
}
