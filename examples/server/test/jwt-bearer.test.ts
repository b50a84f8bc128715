import { randomUUID } from 'node:crypto';
import { calculateJwkThumbprint, decodeJwt, exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { RunningServer } from '../src/index.ts';
import {
  CLIENT_ID,
  describeEachBackend,
  FakeClock,
  login,
  loginRequest,
  postForm,
  refresh,
  refreshRequest,
  sessionIdOf,
  startTestServer,
  JWT_BEARER,
  signAssertion,
} from './helpers.ts';

describeEachBackend('jwt-bearer grant (device-key re-auth)', (backend) => {
  let server: RunningServer;
  let clock: FakeClock;
  let stop: () => Promise<void>;

  beforeAll(async () => {
    ({ server, clock, stop } = await startTestServer(backend));
  });
  afterAll(async () => stop?.());

  type Device = { privateKey: CryptoKey; publicJwk: JWK; kid: string; userId: string };

  async function enroll(username = 'alice', password = 'secret'): Promise<Device> {
    const { privateKey, publicKey } = await generateKeyPair('ES256');
    const publicJwk = await exportJWK(publicKey);
    const tokens = await login(server, { username, password, device_public_jwk: publicJwk });
    expect(tokens.device_key_id).toBe(await calculateJwkThumbprint(publicJwk));
    return { privateKey, publicJwk, kid: tokens.device_key_id!, userId: decodeJwt(tokens.access_token).sub! };
  }

  function assertion(device: Device, changes: Parameters<typeof signAssertion>[3] = {}): Promise<string> {
    return signAssertion(server, clock, device, changes);
  }

  function exchange(jwt: string, clientId = CLIENT_ID): Promise<Response> {
    return postForm(server.tokenEndpoint, { grant_type: JWT_BEARER, assertion: jwt, client_id: clientId });
  }

  async function expectRefused(response: Response) {
    expect(response.status).toBe(400);
    expect(await response.json()).toEqual({
      error: 'invalid_grant',
      error_description: 'The assertion is invalid, expired or already used.',
    });
  }

  it('a signed assertion starts a new session with a full token response', async () => {
    const device = await enroll();
    const response = await exchange(await assertion(device));
    expect(response.status).toBe(200);
    const tokens = (await response.json()) as {
      access_token: string;
      refresh_token: string;
      session_expires_in: number;
    };
    expect(decodeJwt(tokens.access_token).sub).toBe(device.userId);
    expect(server.grantLog.at(-1)).toMatchObject({ grant: 'jwt-bearer', outcome: 'issued', userId: device.userId });
    await refresh(server, tokens.refresh_token);
  });

  it('the issuer is accepted as audience too', async () => {
    const device = await enroll();
    expect((await exchange(await assertion(device, { aud: server.issuer }))).status).toBe(200);
  });

  it('a replayed jti is refused', async () => {
    const device = await enroll();
    const jwt = await assertion(device);
    expect((await exchange(jwt)).status).toBe(200);
    await expectRefused(await exchange(jwt));
    expect(server.grantLog.at(-1)).toMatchObject({ outcome: 'invalid', reason: 'jti replayed' });
  });

  it('a jti that is not a non-empty string, or holds control characters, is refused (400, never a 500)', async () => {
    // Any user can enroll a key of their own and sign whatever claims they like.
    const device = await enroll();
    for (const jti of [null, 42, {}, '', 'a\u0000b', 'a\nb']) {
      await expectRefused(await exchange(await assertion(device, { jti })));
      expect(server.grantLog.at(-1)).toMatchObject({ outcome: 'invalid', reason: 'malformed jti' });
    }
    expect((await exchange(await assertion(device))).status).toBe(200);
  });

  it('a kid with control characters is refused before any lookup', async () => {
    const device = await enroll();
    await expectRefused(await exchange(await assertion(device, { kid: `${device.kid}\u0000` })));
    expect(server.grantLog.at(-1)).toMatchObject({ outcome: 'invalid', reason: 'malformed kid' });
  });

  it('an assertion signed by another key is refused', async () => {
    const device = await enroll();
    const other = await generateKeyPair('ES256');
    await expectRefused(await exchange(await assertion(device, { key: other.privateKey })));
  });

  it('an expired assertion is refused, and so is one living over 5 minutes', async () => {
    const device = await enroll();
    const jwt = await assertion(device, { lifetime: 60 });
    clock.advanceSeconds(60);
    await expectRefused(await exchange(jwt));
    await expectRefused(await exchange(await assertion(device, { lifetime: 301 })));
  });

  it('a wrong audience, issuer, subject or client is refused', async () => {
    const device = await enroll();
    await expectRefused(await exchange(await assertion(device, { aud: 'https://elsewhere.example/token' })));
    await expectRefused(await exchange(await assertion(device, { iss: 'other-client' })));
    await expectRefused(await exchange(await assertion(device, { sub: 'someone-else' })));
    await expectRefused(await exchange(await assertion(device), 'other-client'));
    await expectRefused(await exchange(await assertion(device, { kid: 'unknown-kid' })));
  });

  it('HS256 and alg none assertions are refused', async () => {
    const device = await enroll();
    const now = Math.floor(clock.now() / 1000);
    const hs256 = await new SignJWT({})
      .setProtectedHeader({ alg: 'HS256', kid: device.kid })
      .setIssuer(CLIENT_ID)
      .setSubject(device.userId)
      .setAudience(server.tokenEndpoint)
      .setIssuedAt(now)
      .setExpirationTime(now + 60)
      .setJti(randomUUID())
      .sign(new TextEncoder().encode(JSON.stringify(device.publicJwk)));
    await expectRefused(await exchange(hs256));
    const header = Buffer.from(JSON.stringify({ alg: 'none', kid: device.kid })).toString('base64url');
    const payload = Buffer.from(
      JSON.stringify({
        iss: CLIENT_ID,
        sub: device.userId,
        aud: server.tokenEndpoint,
        exp: now + 60,
        jti: randomUUID(),
      }),
    ).toString('base64url');
    await expectRefused(await exchange(`${header}.${payload}.`));
  });

  it('revoking a session (RFC 7009) keeps the device key; revokeUserSessions removes it', async () => {
    const device = await enroll('bob', 'secret2');
    const response = await exchange(await assertion(device));
    const tokens = (await response.json()) as { refresh_token: string; access_token: string };
    await postForm(server.revocationEndpoint, { token: tokens.refresh_token, client_id: CLIENT_ID });
    expect((await refreshRequest(server, tokens.refresh_token)).status).toBe(400);
    const again = await exchange(await assertion(device));
    expect(again.status).toBe(200);
    const newTokens = (await again.json()) as { access_token: string };
    expect(sessionIdOf(newTokens.access_token)).not.toBe(sessionIdOf(tokens.access_token));

    await server.revokeUserSessions('bob');
    await expectRefused(await exchange(await assertion(device)));
  });

  it('a device key enrolled by one user cannot be enrolled by another', async () => {
    const device = await enroll('alice', 'secret');
    const response = await loginRequest(server, {
      username: 'bob',
      password: 'secret2',
      device_public_jwk: device.publicJwk,
    });
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({ error: 'invalid_request' });
  });
});
