import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer } from '../src/index.ts';
import {
  decideRedemption,
  type FamilyRecord,
  type RedemptionDecision,
  type RefreshTokenRecord,
} from '../src/storage/repository.ts';
import { openRepository } from '../src/storage/open.ts';
import { describeEachBackend, type TestDatabase } from './helpers.ts';

describe('decideRedemption (the shared rotation policy)', () => {
  const family: FamilyRecord = {
    id: 'f',
    userId: 'u',
    clientId: 'c',
    origin: 'login',
    createdAt: 0,
    expiresAt: 100_000,
    revokedAt: null,
    dpopJkt: null,
  };
  const token: RefreshTokenRecord = {
    tokenHash: 'h',
    familyId: 'f',
    issuedAt: 0,
    expiresAt: 50_000,
    rotatedAt: null,
    replay: null,
    replayUntil: null,
    childHash: null,
  };
  const replay = new Uint8Array([1]);
  const rotated = { ...token, rotatedAt: 10_000, replay, replayUntil: 10_000 + 30_000 };

  it.each([
    ['a live token rotates', token, family, 'c', 1000, 'rotate'],
    ['another client is refused', token, family, 'x', 1000, 'reject'],
    ['a revoked family is refused', token, { ...family, revokedAt: 5 }, 'c', 1000, 'reject'],
    ['past the idle expiry is refused', token, family, 'c', 50_000, 'reject'],
    ['past the absolute end is refused', token, family, 'c', 100_000, 'reject'],
    ['a rotated token inside the grace window replays', rotated, family, 'c', 40_000, 'replay'],
    ['a rotated token after the grace window is reuse', rotated, family, 'c', 40_001, 'reuse'],
    ['a rotated token whose replay was purged is reuse', { ...rotated, replay: null }, family, 'c', 20_000, 'reuse'],
    [
      'a rotated token of a revoked family is refused, not replayed',
      rotated,
      { ...family, revokedAt: 1 },
      'c',
      20_000,
      'reject',
    ],
  ] as const)('%s', (_name, t, f, clientId, now, kind) => {
    expect(decideRedemption(t, f, clientId, now, 30_000, undefined).kind).toBe(kind);
  });

  const bound = { ...family, dpopJkt: 'key-a' };
  type BindingCase = [string, RefreshTokenRecord, FamilyRecord, number, string | undefined, RedemptionDecision];
  const invalidBecause = (reason: string): RedemptionDecision => ({ kind: 'reject', outcome: 'invalid', reason });
  it.each<BindingCase>([
    ['a bound live token rotates with its key', token, bound, 1000, 'key-a', { kind: 'rotate' }],
    ['a bound token replays with its key inside the window', rotated, bound, 40_000, 'key-a', { kind: 'replay' }],
    ['a bound token after the window with its key is reuse', rotated, bound, 40_001, 'key-a', { kind: 'reuse' }],
    ['a bearer token rotates with any key (it stays unbound)', token, family, 1000, 'key-b', { kind: 'rotate' }],
    ...(
      [
        ['a live token', token, 1000],
        ['a token inside the window', rotated, 40_000],
        ['a token after the window (not reuse)', rotated, 40_001],
        ['a token past its idle expiry', token, 50_000],
      ] as const
    ).flatMap(([what, t, now]): BindingCase[] => [
      [`${what} without a proof is refused`, t, bound, now, undefined, invalidBecause('dpop proof missing')],
      [`${what} with another key is refused`, t, bound, now, 'key-b', invalidBecause('dpop key mismatch')],
    ]),
    [
      'a token of another client is refused as such first',
      token,
      { ...bound, clientId: 'x' },
      1000,
      undefined,
      invalidBecause('client mismatch'),
    ],
  ])('%s', (_name, t, f, now, jkt, decision) => {
    expect(decideRedemption(t, f, 'c', now, 30_000, jkt)).toEqual(decision);
  });
});

describeEachBackend('storage', (backend) => {
  let database: TestDatabase;

  beforeAll(async () => {
    database = await backend.createDatabase();
  });
  afterAll(async () => database?.drop());

  it('migrations are idempotent, also when several processes start at once', async () => {
    const repositories = await Promise.all([1, 2, 3].map(() => openRepository(database.url)));
    await Promise.all(repositories.map((r) => r.close()));
    const again = await openRepository(database.url);
    await again.close();
  });

  it("servers sharing a database share one signing key and accept each other's tokens", async () => {
    const [a, b] = await Promise.all([
      startServer({ databaseUrl: database.url, issuer: 'http://shared.test', passwordHashCost: 'low' }),
      startServer({ databaseUrl: database.url, issuer: 'http://shared.test', passwordHashCost: 'low' }),
    ]);
    try {
      const [jwksA, jwksB] = await Promise.all(
        [a, b].map(async (s) => (await fetch(`${s.url}/.well-known/jwks.json`)).json()),
      );
      expect(jwksA).toEqual(jwksB);
      const login = await fetch(`${a.url}/auth/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ username: 'alice', password: 'secret', client_id: 'c' }),
      });
      const { access_token } = (await login.json()) as { access_token: string };
      const me = await fetch(`${b.url}/api/me`, { headers: { authorization: `Bearer ${access_token}` } });
      expect(me.status).toBe(200);
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });

  it('a database URL with an unknown scheme is refused', async () => {
    await expect(openRepository('mysql://localhost/db')).rejects.toThrow(/DATABASE_URL/);
  });
});

describe('startServer defaults', () => {
  it('runs on a temporary SQLite file by default and removes it on close', async () => {
    const server = await startServer();
    expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(server.databaseUrl).toMatch(/^sqlite:/);
    const metadata = (await (await fetch(`${server.url}/.well-known/oauth-authorization-server`)).json()) as {
      issuer: string;
    };
    expect(metadata.issuer).toBe(server.url);
    await server.close();
    const { existsSync } = await import('node:fs');
    expect(existsSync(server.databaseUrl.slice('sqlite:'.length))).toBe(false);
  });

  it('runs on in-memory SQLite', async () => {
    const server = await startServer({ databaseUrl: 'sqlite::memory:' });
    const response = await fetch(`${server.url}/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'bob', password: 'secret2', client_id: 'c' }),
    });
    expect(response.status).toBe(200);
    await server.close();
  });

  it('keeps at most grantLogLimit entries, the newest', async () => {
    const server = await startServer({ databaseUrl: 'sqlite::memory:', passwordHashCost: 'low', grantLogLimit: 2 });
    for (const username of ['alice', 'bob', 'nobody']) {
      await fetch(`${server.url}/auth/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ username, password: 'secret2', client_id: 'c' }),
      });
    }
    expect(server.grantLog.map((e) => e.outcome)).toEqual(['issued', 'invalid']);
    await server.close();
  });

  it('refuses invalid options', async () => {
    await expect(startServer({ accessTokenTtlSeconds: -1 })).rejects.toThrow(/accessTokenTtlSeconds/);
    await expect(startServer({ seedUsers: 'nocolon' })).rejects.toThrow(/seedUsers/);
  });
});
