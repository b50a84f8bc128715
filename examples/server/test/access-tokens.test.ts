import { exportJWK, generateKeyPair, SignJWT, UnsecuredJWT, type CryptoKey, type JWK } from 'jose';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { RunningServer } from '../src/index.ts';
import { describeEachBackend, FakeClock, getApi, login, startTestServer, TEST_LIFETIMES } from './helpers.ts';

describeEachBackend('protected resources', (backend) => {
  let server: RunningServer;
  let clock: FakeClock;
  let stop: () => Promise<void>;
  /** The server's own key, given to it through the jwtPrivateJwk option, to forge claims. */
  let serverKey: CryptoKey;
  let serverKid: string;

  beforeAll(async () => {
    const pair = await generateKeyPair('ES256', { extractable: true });
    serverKey = pair.privateKey;
    const jwk: JWK = await exportJWK(pair.privateKey);
    ({ server, clock, stop } = await startTestServer(backend, { jwtPrivateJwk: JSON.stringify(jwk) }));
    const jwks = (await (await fetch(`${server.url}/.well-known/jwks.json`)).json()) as { keys: JWK[] };
    serverKid = jwks.keys[0]!.kid!;
  });
  afterAll(async () => stop?.());

  /** A token with the server's key and real claims, minus/plus the given changes. */
  async function forge(changes: { aud?: string; iss?: string; exp?: number } = {}, key: CryptoKey = serverKey) {
    const iat = Math.floor(clock.now() / 1000);
    return new SignJWT({ client_id: 'test-client', sid: 'session' })
      .setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', kid: serverKid })
      .setIssuer(changes.iss ?? server.issuer)
      .setAudience(changes.aud ?? `${server.issuer}/api`)
      .setSubject('someone')
      .setIssuedAt(iat)
      .setExpirationTime(changes.exp ?? iat + 60)
      .setJti('jti')
      .sign(key);
  }

  async function expectInvalidToken(response: Response) {
    expect(response.status).toBe(401);
    expect(response.headers.get('www-authenticate')).toMatch(
      /^Bearer error="invalid_token", error_description="[^"]+"$/,
    );
    expect(await response.json()).toMatchObject({ error: 'invalid_token' });
  }

  it('the JWKS publishes only the public key', async () => {
    const jwks = (await (await fetch(`${server.url}/.well-known/jwks.json`)).json()) as { keys: JWK[] };
    expect(jwks.keys).toHaveLength(1);
    expect(Object.keys(jwks.keys[0]!).sort()).toEqual(['alg', 'crv', 'kid', 'kty', 'use', 'x', 'y']);
  });

  it('RFC 8414 metadata names the endpoints and grants', async () => {
    const metadata = (await (await fetch(`${server.url}/.well-known/oauth-authorization-server`)).json()) as Record<
      string,
      unknown
    >;
    expect(metadata).toMatchObject({
      issuer: server.issuer,
      token_endpoint: server.tokenEndpoint,
      revocation_endpoint: server.revocationEndpoint,
      jwks_uri: `${server.issuer}/.well-known/jwks.json`,
      grant_types_supported: ['refresh_token', 'urn:ietf:params:oauth:grant-type:jwt-bearer'],
      token_endpoint_auth_methods_supported: ['none'],
    });
  });

  it('a valid access token reads /api/me, /api/items and /api/slow', async () => {
    const { access_token } = await login(server);
    const me = await getApi(server, '/api/me', access_token);
    expect(me.status).toBe(200);
    expect(await me.json()).toEqual({
      sub: expect.any(String),
      username: 'alice',
      client_id: 'test-client',
      session_id: expect.any(String),
    });
    expect((await getApi(server, '/api/items', access_token)).status).toBe(200);
    const slow = await getApi(server, '/api/slow?ms=20', access_token);
    expect(await slow.json()).toMatchObject({ waited_ms: 20 });
    expect((await getApi(server, '/api/slow?ms=abc', access_token)).status).toBe(400);
  });

  it('a missing token gets 401 with a bare Bearer challenge', async () => {
    const response = await getApi(server, '/api/me');
    expect(response.status).toBe(401);
    expect(response.headers.get('www-authenticate')).toBe('Bearer');
    const basic = await fetch(`${server.url}/api/me`, { headers: { authorization: 'Basic YWxpY2U6c2VjcmV0' } });
    expect(basic.headers.get('www-authenticate')).toBe('Bearer');
  });

  it('an access token is rejected from the second of its exp, with no clock tolerance', async () => {
    const { access_token } = await login(server);
    clock.advanceSeconds(TEST_LIFETIMES.accessTokenTtlSeconds - 1);
    expect((await getApi(server, '/api/me', access_token)).status).toBe(200);
    clock.advanceSeconds(1);
    const expired = await getApi(server, '/api/me', access_token);
    await expectInvalidToken(expired);
  });

  it('a tampered token is rejected', async () => {
    const { access_token } = await login(server);
    const [header, payload, signature] = access_token.split('.') as [string, string, string];
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString()) as Record<string, unknown>;
    claims.sub = 'admin';
    const tampered = `${header}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.${signature}`;
    await expectInvalidToken(await getApi(server, '/api/me', tampered));
    await expectInvalidToken(await getApi(server, '/api/me', `${access_token.slice(0, -4)}AAAA`));
    await expectInvalidToken(await getApi(server, '/api/me', 'not-a-jwt'));
  });

  it('a token signed by another key is rejected, with our kid or its own', async () => {
    const other = await generateKeyPair('ES256');
    await expectInvalidToken(await getApi(server, '/api/me', await forge({}, other.privateKey)));
    const ownKid = await new SignJWT({ client_id: 'c', sid: 's' })
      .setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', kid: 'attacker' })
      .setIssuer(server.issuer)
      .setAudience(`${server.issuer}/api`)
      .setSubject('someone')
      .setIssuedAt(Math.floor(clock.now() / 1000))
      .setExpirationTime(Math.floor(clock.now() / 1000) + 60)
      .setJti('j')
      .sign(other.privateKey);
    await expectInvalidToken(await getApi(server, '/api/me', ownKid));
  });

  /** The claims of a valid access token for this server, on either kind of jose builder. */
  function validClaims<T extends SignJWT | UnsecuredJWT>(jwt: T, iat: number): T {
    return jwt
      .setIssuer(server.issuer)
      .setAudience(`${server.issuer}/api`)
      .setSubject('someone')
      .setIssuedAt(iat)
      .setExpirationTime(iat + 60)
      .setJti('j') as T;
  }

  it('alg none and HS256 (keyed with the public key) are rejected', async () => {
    const iat = Math.floor(clock.now() / 1000);
    const none = validClaims(new UnsecuredJWT({ client_id: 'c', sid: 's' }), iat).encode();
    await expectInvalidToken(await getApi(server, '/api/me', none));
    const jwks = (await (await fetch(`${server.url}/.well-known/jwks.json`)).json()) as { keys: JWK[] };
    const hs256 = await validClaims(new SignJWT({ client_id: 'c', sid: 's' }), iat)
      .setProtectedHeader({ alg: 'HS256', typ: 'at+jwt', kid: serverKid })
      .sign(new TextEncoder().encode(JSON.stringify(jwks.keys[0])));
    await expectInvalidToken(await getApi(server, '/api/me', hs256));
  });

  it('a token for another audience or from another issuer is rejected', async () => {
    await expectInvalidToken(await getApi(server, '/api/me', await forge({ aud: 'https://elsewhere.example/api' })));
    await expectInvalidToken(await getApi(server, '/api/me', await forge({ iss: 'https://elsewhere.example' })));
    // The forging helper itself produces acceptable tokens (for a user that does not exist).
    const items = await getApi(server, '/api/items', await forge());
    expect(items.status).toBe(200);
  });

  it('CORS preflight is answered for any origin, without credentials', async () => {
    const response = await fetch(`${server.url}/api/me`, {
      method: 'OPTIONS',
      headers: {
        origin: 'http://localhost:5173',
        'access-control-request-method': 'GET',
        'access-control-request-headers': 'authorization',
      },
    });
    expect(response.status).toBe(204);
    expect(response.headers.get('access-control-allow-origin')).toBe('*');
    expect(response.headers.get('access-control-allow-headers')?.toLowerCase()).toContain('authorization');
    expect(response.headers.get('access-control-allow-credentials')).toBeNull();
  });
});
