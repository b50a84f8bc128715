import { afterAll, beforeAll, expect, it } from 'vitest';
import { discoverEndpoints, MemoryTokenStore, SessionManager } from 'session-keeper';
import { startServer, type RunningServer } from '../../examples/server/src/index.ts';

let server: RunningServer;
beforeAll(async () => {
  server = await startServer({ port: 0, databaseUrl: 'sqlite::memory:', passwordHashCost: 'low' });
});
afterAll(async () => server?.close());

it('discovers the reference server and refreshes through what it found', async () => {
  const endpoints = await discoverEndpoints(server.issuer);
  expect(endpoints).toMatchObject({
    tokenEndpoint: server.tokenEndpoint,
    revocationEndpoint: server.revocationEndpoint,
  });
  expect(endpoints.grantTypesSupported).toContain('refresh_token');
  const login = await fetch(`${server.url}/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username: 'alice', password: 'secret', client_id: 'discovery-app' }),
  });
  const session = new SessionManager({
    ...endpoints,
    clientId: 'discovery-app',
    store: new MemoryTokenStore(),
    broadcast: false,
  });
  await session.setTokens(await login.json());
  await session.refresh();
  expect(server.grantLog.filter((e) => e.grant === 'refresh_token').map((e) => e.outcome)).toEqual(['rotated']);
  await session.signOut();
  expect(server.grantLog.at(-1)).toMatchObject({ grant: 'revoke', outcome: 'revoked' });
  session.dispose();
});
