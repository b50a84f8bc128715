import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { calculateJwkThumbprint, exportJWK } from 'jose';
import Provider from 'oidc-provider';
import type { DpopKeyStore } from '../../src/dpop/types.ts';
import type { TokenResponse } from '../../src/types.ts';

export const CLIENT_ID = 'spa';

/** What the provider counted (from its own events). */
export interface ProviderCounts {
  /** Successful refresh_token grants. */
  refreshes: number;
  /** Token-endpoint errors, by error code. */
  grantErrors: Record<string, number>;
  /** Userinfo answers that were errors, by error code. */
  userinfoErrors: Record<string, number>;
  /** Grants revoked (a refresh token revoked at the revocation endpoint revokes its grant). */
  revocations: number;
  /** Every request: its path and whether it carried a DPoP proof. */
  requests: { path: string; proof: boolean }[];
}

/** node-oidc-provider 9 in this process, on 127.0.0.1, in-memory adapter, DPoP on. */
export interface RunningProvider {
  issuer: string;
  tokenEndpoint: string;
  revocationEndpoint: string;
  userinfo: string;
  counts: ProviderCounts;
  /** A first token set for `sub`, bound to the key with `thumbprint` (what the app's sign-in would get). */
  mint(sub: string, thumbprint: string): Promise<TokenResponse>;
  /** Destroys an access token at the provider (as an administrator's revocation would). */
  destroyAccessToken(token: string): Promise<void>;
  close(): Promise<void>;
}

/**
 * Starts the provider: a public client (no secret) whose access tokens must be DPoP-bound,
 * access tokens living `accessTokenTtl` seconds, nonces required or not.
 */
export async function startProvider({
  requireNonce,
  accessTokenTtl,
}: {
  requireNonce: boolean;
  accessTokenTtl: number;
}): Promise<RunningProvider> {
  const server: Server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const provider = new Provider(issuer, {
    clients: [
      {
        client_id: CLIENT_ID,
        token_endpoint_auth_method: 'none',
        grant_types: ['authorization_code', 'refresh_token'],
        response_types: ['code'],
        redirect_uris: ['https://app.test/callback'],
        dpop_bound_access_tokens: true,
      },
    ],
    features: {
      dPoP: { enabled: true, nonceSecret: randomBytes(32), requireNonce: () => requireNonce },
      revocation: { enabled: true },
      devInteractions: { enabled: false },
    },
    scopes: ['openid', 'offline_access'],
    ttl: { AccessToken: accessTokenTtl, RefreshToken: 24 * 3600, Grant: 24 * 3600 },
    findAccount: async (_ctx: unknown, sub: string) => ({ accountId: sub, claims: async () => ({ sub }) }),
  });
  const counts: ProviderCounts = { refreshes: 0, grantErrors: {}, userinfoErrors: {}, revocations: 0, requests: [] };
  const bump = (table: Record<string, number>, error: { error?: string }) =>
    void (table[error.error ?? 'unknown'] = (table[error.error ?? 'unknown'] ?? 0) + 1);
  provider.on('grant.success', (ctx: { oidc: { params?: { grant_type?: string } } }) => {
    if (ctx.oidc.params?.grant_type === 'refresh_token') counts.refreshes++;
  });
  provider.on('grant.error', (_ctx: unknown, error: { error?: string }) => bump(counts.grantErrors, error));
  provider.on('userinfo.error', (_ctx: unknown, error: { error?: string }) => bump(counts.userinfoErrors, error));
  provider.on('grant.revoked', () => void counts.revocations++);
  server.on('request', (request) => {
    counts.requests.push({
      path: new URL(request.url ?? '/', issuer).pathname,
      proof: request.headers.dpop !== undefined,
    });
  });
  server.on('request', provider.callback());

  return {
    issuer,
    tokenEndpoint: `${issuer}/token`,
    revocationEndpoint: `${issuer}/token/revocation`,
    userinfo: `${issuer}/me`,
    counts,
    async mint(sub, thumbprint) {
      const client = await provider.Client.find(CLIENT_ID);
      const grant = new provider.Grant({ accountId: sub, clientId: CLIENT_ID });
      grant.addOIDCScope('openid offline_access');
      const grantId = await grant.save();
      const scope = 'openid offline_access';
      const common = { accountId: sub, client, grantId, gty: 'authorization_code', scope };
      const refresh = new provider.RefreshToken({ ...common, jkt: thumbprint });
      const access = new provider.AccessToken(common);
      access.setThumbprint('jkt', thumbprint);
      return {
        access_token: await access.save(),
        token_type: access.tokenType,
        expires_in: access.expiration,
        refresh_token: await refresh.save(),
        scope,
      };
    },
    async destroyAccessToken(token) {
      await (await provider.AccessToken.find(token))?.destroy();
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** The RFC 7638 thumbprint of the key pair a key store holds. */
export async function thumbprintIn(keyStore: DpopKeyStore): Promise<string> {
  const keys = await keyStore.load();
  if (!keys) throw new Error('no DPoP key in the store');
  const { kty, crv, x, y } = await exportJWK(keys.publicKey);
  return calculateJwkThumbprint({ kty: kty!, crv: crv!, x: x!, y: y! });
}
