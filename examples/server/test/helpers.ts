/**
 * Shared test helpers: the backends every suite runs against, a fake clock, and small
 * HTTP helpers for the server's endpoints.
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  calculateJwkThumbprint,
  CompactSign,
  exportJWK,
  generateKeyPair,
  SignJWT,
  type CryptoKey,
  type JWK,
  type CompactJWSHeaderParameters,
  type JWTPayload,
} from 'jose';
import pg from 'pg';
import { describe, inject } from 'vitest';
import { startServer, type RunningServer, type StartServerOptions } from '../src/index.ts';

/**
 * The PostgreSQL server of this test run: `TEST_DATABASE_URL`, or the one that vitest's global
 * setup (test/setup/database.ts) started for the run.
 */
export function testDatabaseUrl(): string {
  const url = inject('testDatabaseUrl');
  if (!url) {
    throw new Error(
      'no PostgreSQL for this run: run the suites with `npm test` (vitest.config.ts starts one) or set TEST_DATABASE_URL',
    );
  }
  return url;
}

/** A database for one test file, and how to remove it. */
export type TestDatabase = { url: string; drop(): Promise<void> };

/** Where a suite runs: every suite runs on both. */
export type Backend = { name: 'sqlite' | 'postgres'; createDatabase(): Promise<TestDatabase> };

export const sqliteBackend: Backend = {
  name: 'sqlite',
  async createDatabase() {
    const dir = mkdtempSync(join(tmpdir(), 'sk-server-test-'));
    return {
      url: `sqlite:${join(dir, 'test.sqlite')}`,
      drop: async () => rmSync(dir, { recursive: true, force: true }),
    };
  },
};

/** A fresh schema per test file (selected with the connection's search_path). */
export const postgresBackend: Backend = {
  name: 'postgres',
  async createDatabase() {
    const serverUrl = testDatabaseUrl();
    const schema = `sk_test_${randomBytes(6).toString('hex')}`;
    const admin = new pg.Client({ connectionString: serverUrl });
    await admin.connect();
    await admin.query(`CREATE SCHEMA ${schema}`);
    await admin.end();
    const url = new URL(serverUrl);
    url.searchParams.set('options', `-c search_path=${schema}`);
    return {
      url: url.toString(),
      async drop() {
        const client = new pg.Client({ connectionString: serverUrl });
        await client.connect();
        await client.query(`DROP SCHEMA ${schema} CASCADE`);
        await client.end();
      },
    };
  },
};

/** Both backends, always: a suite that cannot reach its PostgreSQL fails, it is never skipped. */
export const backends: Backend[] = [sqliteBackend, postgresBackend];

/** Runs `suite` once per backend. */
export function describeEachBackend(title: string, suite: (backend: Backend) => void): void {
  for (const backend of backends) describe(`${title} [${backend.name}]`, () => suite(backend));
}

/** A manual clock (epoch ms). */
export class FakeClock {
  #now: number;
  constructor(start = Date.UTC(2030, 0, 1, 12)) {
    this.#now = start;
  }
  now = (): number => this.#now;
  advance(ms: number): void {
    this.#now += ms;
  }
  advanceSeconds(seconds: number): void {
    this.#now += seconds * 1000;
  }
}

/** Lifetimes used by the suites unless a test says otherwise. */
export const TEST_LIFETIMES = {
  accessTokenTtlSeconds: 60,
  refreshTokenTtlSeconds: 3600,
  sessionMaxSeconds: 4 * 3600,
  refreshGraceSeconds: 30,
} as const;

export const CLIENT_ID = 'test-client';

/** Starts a server on a fresh database of the backend; `stop` closes both. */
export async function startTestServer(
  backend: Backend,
  options: StartServerOptions = {},
): Promise<{ server: RunningServer; clock: FakeClock; database: TestDatabase; stop(): Promise<void> }> {
  const database = await backend.createDatabase();
  const clock = new FakeClock();
  const server = await startServer({
    port: 0,
    databaseUrl: database.url,
    now: clock.now,
    passwordHashCost: 'low',
    ...TEST_LIFETIMES,
    ...options,
  });
  return {
    server,
    clock,
    database,
    async stop() {
      await server.close();
      await database.drop();
    },
  };
}

/** The token response fields, as the tests read them. */
export type Tokens = {
  access_token: string;
  token_type: string;
  expires_in: number;
  refresh_token: string;
  refresh_token_expires_in: number;
  session_expires_in: number;
  device_key_id?: string;
};

export function postForm(
  url: string,
  params: Record<string, string>,
  headers: Record<string, string> = {},
): Promise<Response> {
  return fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    body: new URLSearchParams(params).toString(),
  });
}

export function postJson(url: string, body: unknown): Promise<Response> {
  return fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
}

export function loginRequest(
  server: RunningServer,
  fields: { username?: string; password?: string; client_id?: string; device_public_jwk?: unknown } = {},
): Promise<Response> {
  return postJson(`${server.url}/auth/login`, {
    username: 'alice',
    password: 'secret',
    client_id: CLIENT_ID,
    ...fields,
  });
}

/** Logs alice in and returns the token response (fails the test otherwise). */
export async function login(server: RunningServer, fields: Parameters<typeof loginRequest>[1] = {}): Promise<Tokens> {
  const response = await loginRequest(server, fields);
  if (response.status !== 200) throw new Error(`login failed: ${response.status} ${await response.text()}`);
  return (await response.json()) as Tokens;
}

export function refreshRequest(server: RunningServer, refreshToken: string, clientId = CLIENT_ID): Promise<Response> {
  return postForm(server.tokenEndpoint, {
    grant_type: 'refresh_token',
    refresh_token: refreshToken,
    client_id: clientId,
  });
}

/** Refreshes and returns the new tokens (fails the test otherwise). */
export async function refresh(server: RunningServer, refreshToken: string): Promise<Tokens> {
  const response = await refreshRequest(server, refreshToken);
  if (response.status !== 200) throw new Error(`refresh failed: ${response.status} ${await response.text()}`);
  return (await response.json()) as Tokens;
}

export function getApi(server: RunningServer, path: string, accessToken?: string): Promise<Response> {
  return fetch(
    `${server.url}${path}`,
    accessToken === undefined ? {} : { headers: { authorization: `Bearer ${accessToken}` } },
  );
}

/** Grant log entries of one family. */
export function familyLog(server: RunningServer, familyId: string) {
  return server.grantLog.filter((entry) => entry.familyId === familyId);
}

/** The `sid` (family id) of an access token, read without verification. */
export function sessionIdOf(accessToken: string): string {
  const payload = JSON.parse(Buffer.from(accessToken.split('.')[1]!, 'base64url').toString('utf8')) as { sid: string };
  return payload.sid;
}

/** The RFC 7523 grant type of a device-key assertion. */
export const JWT_BEARER = 'urn:ietf:params:oauth:grant-type:jwt-bearer';

/** What signs an assertion: the enrolled device key, its `kid`, and the user it belongs to. */
export type AssertionSigner = { privateKey: CryptoKey; kid: string; userId: string };

/**
 * A device-key assertion as the SDK's `createDeviceKeyAssertion` makes one (ES256, `iss` the
 * client, `aud` the token endpoint, a fresh `jti`, 2 minutes), with `changes` to test the
 * server's checks: `jti` may be anything (`null`, a number).
 */
export function signAssertion(
  server: RunningServer,
  clock: { now(): number },
  signer: AssertionSigner,
  changes: {
    aud?: string;
    iss?: string;
    sub?: string;
    lifetime?: number;
    jti?: unknown;
    key?: CryptoKey;
    kid?: string;
  } = {},
): Promise<string> {
  const now = Math.floor(clock.now() / 1000);
  return new SignJWT({ jti: 'jti' in changes ? changes.jti : randomUUID() } as JWTPayload)
    .setProtectedHeader({ alg: 'ES256', kid: changes.kid ?? signer.kid })
    .setIssuer(changes.iss ?? CLIENT_ID)
    .setSubject(changes.sub ?? signer.userId)
    .setAudience(changes.aud ?? server.tokenEndpoint)
    .setIssuedAt(now)
    .setExpirationTime(now + (changes.lifetime ?? 120))
    .sign(changes.key ?? signer.privateKey);
}

/** A DPoP key pair as a client holds one: the private key, its public JWK and its thumbprint. */
export type DpopSigner = { alg: string; privateKey: CryptoKey; publicJwk: JWK; jkt: string };

/** A new DPoP key pair for `alg` (ES256 by default, as the SDK makes). */
export async function dpopSigner(alg = 'ES256'): Promise<DpopSigner> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  const publicJwk = await exportJWK(publicKey);
  return { alg, privateKey, publicJwk, jkt: await calculateJwkThumbprint(publicJwk) };
}

/** What a proof says; every field can be overridden (or removed with `undefined`) to test the checks. */
export type ProofChanges = {
  htm?: unknown;
  htu?: unknown;
  /** Seconds. */
  iat?: unknown;
  jti?: unknown;
  /** Hashed into `ath`. */
  accessToken?: string;
  ath?: unknown;
  nonce?: unknown;
  /** Header members to add or replace (`jwk: undefined` removes it). */
  header?: Record<string, unknown>;
  /** Signs with this key instead of the signer's (the header still names the signer's). */
  key?: CryptoKey;
};

/** `ath` of an access token, computed independently of the server's code. */
export function athFor(accessToken: string): string {
  return createHash('sha256').update(accessToken).digest('base64url');
}

/**
 * A DPoP proof (RFC 9449 section 4.2) as the SDK makes one: `typ: dpop+jwt`, the public
 * `jwk`, a fresh `jti`, `htm`, `htu` and `iat` from `now` (ms), with `changes`.
 */
export function dpopProof(
  signer: DpopSigner,
  now: number,
  request: { htm: string; htu: string },
  changes: ProofChanges = {},
): Promise<string> {
  const claims: Record<string, unknown> = {
    jti: 'jti' in changes ? changes.jti : randomUUID(),
    htm: 'htm' in changes ? changes.htm : request.htm,
    htu: 'htu' in changes ? changes.htu : request.htu,
    iat: 'iat' in changes ? changes.iat : Math.floor(now / 1000),
  };
  if (changes.accessToken !== undefined) claims.ath = athFor(changes.accessToken);
  if ('ath' in changes) claims.ath = changes.ath;
  if ('nonce' in changes) claims.nonce = changes.nonce;
  for (const [name, value] of Object.entries(claims)) if (value === undefined) delete claims[name];
  const header: Record<string, unknown> = {
    alg: signer.alg,
    typ: 'dpop+jwt',
    jwk: signer.publicJwk,
    ...changes.header,
  };
  for (const [name, value] of Object.entries(header)) if (value === undefined) delete header[name];
  return new CompactSign(new TextEncoder().encode(JSON.stringify(claims)))
    .setProtectedHeader(header as CompactJWSHeaderParameters)
    .sign(changes.key ?? signer.privateKey);
}

/** A proof for a POST to the server's token endpoint at the server's clock. */
export function tokenProof(
  server: RunningServer,
  clock: { now(): number },
  signer: DpopSigner,
  changes: ProofChanges = {},
): Promise<string> {
  return dpopProof(signer, clock.now(), { htm: 'POST', htu: server.tokenEndpoint }, changes);
}
