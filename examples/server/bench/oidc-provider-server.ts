/**
 * node-oidc-provider 9 as the benchmark's point of comparison: its in-memory adapter (it
 * persists nothing), refresh token rotation, and ES256 JWT access tokens (resource
 * indicators with a default resource), so that both servers sign one ES256 JWT per grant.
 * Started by refresh-throughput.ts with an IPC channel: it sends the URL and one refresh
 * token per benchmark client over that channel (never on stdout).
 */
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
// oidc-provider ships no types: test/interop/oidc-provider.d.ts declares the calls used here.
import Provider from 'oidc-provider';

const CLIENTS = Number(process.env.BENCH_CLIENTS ?? 32);
const RESOURCE = 'urn:session-keeper:bench-api';
const CLIENT_ID = 'bench';

const signingKey = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'jwk' });
const server = createServer();
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

const provider = new Provider(issuer, {
  clients: [
    {
      client_id: CLIENT_ID,
      token_endpoint_auth_method: 'none',
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      redirect_uris: ['https://bench.invalid/callback'],
      id_token_signed_response_alg: 'ES256',
    },
  ],
  jwks: { keys: [{ ...signingKey, alg: 'ES256', use: 'sig', kid: 'bench' }] },
  findAccount: (_ctx: unknown, accountId: string) => ({ accountId, claims: () => ({ sub: accountId }) }),
  // Rotation on every use, as this server does (public clients rotate by default too).
  rotateRefreshToken: true,
  ttl: { AccessToken: 900, RefreshToken: 14 * 86_400, Grant: 30 * 86_400 },
  features: {
    devInteractions: { enabled: false },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => RESOURCE,
      useGrantedResource: () => true,
      getResourceServerInfo: () => ({
        scope: 'api',
        audience: RESOURCE,
        accessTokenTTL: 900,
        accessTokenFormat: 'jwt',
        jwt: { sign: { alg: 'ES256' } },
      }),
    },
  },
});
server.on('request', provider.callback());

const client = await provider.Client.find(CLIENT_ID);
const tokens: string[] = [];
for (let i = 0; i < CLIENTS; i += 1) {
  const accountId = `user-${randomUUID()}`;
  const grant = new provider.Grant({ accountId, clientId: CLIENT_ID });
  grant.addOIDCScope('offline_access');
  grant.addResourceScope(RESOURCE, 'api');
  const grantId = await grant.save();
  const refreshToken = new provider.RefreshToken({
    accountId,
    client,
    grantId,
    gty: 'authorization_code',
    scope: 'offline_access api',
    resource: RESOURCE,
    iiat: Math.floor(Date.now() / 1000),
  });
  tokens.push(await refreshToken.save());
}
process.send!({ url: issuer, clientId: CLIENT_ID, tokens });
process.on('SIGTERM', () => server.close(() => process.exit(0)));
