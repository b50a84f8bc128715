import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { exportJWK, generateKeyPair, decodeJwt } from 'jose';
import pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startServer, type GrantLogEntry, type RunningServer } from '../src/index.ts';
import {
  CLIENT_ID,
  describeEachBackend,
  FakeClock,
  login,
  postForm,
  refresh,
  refreshRequest,
  TEST_LIFETIMES,
  type TestDatabase,
  type Tokens,
  signAssertion,
} from './helpers.ts';

const PASSWORD = 'carol-password-7f3a9c';

describeEachBackend('secrets stay out of the database and the logs', (backend) => {
  let server: RunningServer;
  let database: TestDatabase;
  const clock = new FakeClock();
  const logLines: string[] = [];
  const secrets: string[] = [];

  function keep(tokens: Tokens) {
    secrets.push(tokens.refresh_token, tokens.access_token);
    return tokens;
  }

  /**
   * SQLite: every file of the database (main file, WAL, shared memory) as raw bytes.
   * PostgreSQL: every row of every table of the test schema, as text.
   */
  async function databaseBytes(): Promise<string> {
    if (backend.name === 'sqlite') {
      const dir = dirname(database.url.slice('sqlite:'.length));
      return readdirSync(dir)
        .map((name) => readFileSync(join(dir, name)).toString('latin1'))
        .join('\n');
    }
    const client = new pg.Client({ connectionString: database.url });
    await client.connect();
    try {
      const { rows: tables } = await client.query<{ table_name: string }>(
        'SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()',
      );
      expect(tables.length).toBeGreaterThanOrEqual(7);
      const dumps: string[] = [];
      for (const { table_name } of tables) {
        const { rows } = await client.query<{ row: string }>(`SELECT t::text AS row FROM "${table_name}" t`);
        dumps.push(...rows.map((r) => r.row));
      }
      return dumps.join('\n');
    } finally {
      await client.end();
    }
  }

  beforeAll(async () => {
    database = await backend.createDatabase();
    server = await startServer({
      port: 0,
      databaseUrl: database.url,
      now: clock.now,
      seedUsers: `carol:${PASSWORD}`,
      passwordHashCost: 'low',
      log: (entry: GrantLogEntry) => logLines.push(JSON.stringify(entry)),
      ...TEST_LIFETIMES,
    });

    // Exercise every path that handles a token: login (with a device key), rotation,
    // grace replay, reuse detection, revocation, the jwt-bearer grant, a failed login.
    const device = await generateKeyPair('ES256');
    const first = keep(
      await login(server, {
        username: 'carol',
        password: PASSWORD,
        device_public_jwk: await exportJWK(device.publicKey),
      }),
    );
    const second = keep(await refresh(server, first.refresh_token));
    keep(await refresh(server, first.refresh_token)); // replay
    keep(await refresh(server, second.refresh_token));
    clock.advanceSeconds(TEST_LIFETIMES.refreshGraceSeconds + 1);
    await refreshRequest(server, first.refresh_token); // reuse

    const signer = {
      privateKey: device.privateKey,
      kid: first.device_key_id!,
      userId: decodeJwt(first.access_token).sub!,
    };
    const assertion = await signAssertion(server, clock, signer, { lifetime: 60 });
    secrets.push(assertion);
    const reauth = await postForm(server.tokenEndpoint, {
      grant_type: 'urn:ietf:params:oauth:grant-type:jwt-bearer',
      assertion,
      client_id: CLIENT_ID,
    });
    const fromAssertion = keep((await reauth.json()) as Tokens);
    const rotated = keep(await refresh(server, fromAssertion.refresh_token));
    await postForm(server.revocationEndpoint, { token: rotated.refresh_token, client_id: CLIENT_ID });
    await postForm(`${server.url}/auth/login`, {});
    await fetch(`${server.url}/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'carol', password: `${PASSWORD}-wrong`, client_id: CLIENT_ID }),
    });
  });
  afterAll(async () => {
    await server?.close();
    await database?.drop();
  });

  it('exercised what it meant to', () => {
    expect(server.grantLog.map((e) => e.outcome)).toEqual(
      expect.arrayContaining(['issued', 'rotated', 'replayed', 'reuse-detected', 'revoked', 'invalid']),
    );
    expect(secrets.length).toBeGreaterThanOrEqual(11);
  });

  it('no token, assertion or password appears in the database while running', async () => {
    const bytes = await databaseBytes();
    expect(bytes).toContain('carol');
    expect(bytes.length).toBeGreaterThan(0);
    for (const secret of [...secrets, PASSWORD]) expect(bytes.includes(secret)).toBe(false);
  });

  it('nor in the grant log', () => {
    const logs = [...logLines, JSON.stringify(server.grantLog)].join('\n');
    for (const secret of [...secrets, PASSWORD]) expect(logs.includes(secret)).toBe(false);
  });

  it('nor after shutdown (on SQLite, the WAL checkpointed into the main file)', async () => {
    await server.close();
    const bytes = await databaseBytes();
    for (const secret of [...secrets, PASSWORD]) expect(bytes.includes(secret)).toBe(false);
  });
});
