/**
 * DPoP (RFC 9449) over real HTTP, on both backends: binding at sign-in, refresh and the
 * jwt-bearer grant; refusals that never revoke; the grace window per key; resources;
 * revocation; nonces; and clients without DPoP, unchanged.
 */
import { request as httpRequest } from 'node:http';
import { decodeJwt, type JWK } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type RunningServer } from '../src/index.ts';
import {
  CLIENT_ID,
  describeEachBackend,
  dpopProof,
  dpopSigner,
  familyLog,
  FakeClock,
  getApi,
  JWT_BEARER,
  login,
  refresh,
  refreshRequest,
  sessionIdOf,
  signAssertion,
  startTestServer,
  TEST_LIFETIMES,
  tokenProof,
  type DpopSigner,
  type ProofChanges,
  type Tokens,
} from './helpers.ts';

const REFUSED = { error: 'invalid_grant', error_description: 'The refresh token is invalid, expired or revoked.' };

function form(params: Record<string, string>): string {
  return new URLSearchParams(params).toString();
}

/** The requests of the suites, each with an optional DPoP proof. */
function client(server: RunningServer, clock: FakeClock) {
  const withProof = (proof: string | undefined): Record<string, string> => (proof === undefined ? {} : { dpop: proof });
  return {
    loginRequest(proof?: string, fields: Record<string, unknown> = {}) {
      return fetch(`${server.url}/auth/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...withProof(proof) },
        body: JSON.stringify({ username: 'alice', password: 'secret', client_id: CLIENT_ID, ...fields }),
      });
    },
    async login(signer: DpopSigner, changes: ProofChanges = {}): Promise<Tokens> {
      const proof = await dpopProof(signer, clock.now(), { htm: 'POST', htu: `${server.issuer}/auth/login` }, changes);
      const response = await this.loginRequest(proof);
      if (response.status !== 200) throw new Error(`login failed: ${response.status} ${await response.text()}`);
      return (await response.json()) as Tokens;
    },
    refreshRequest(refreshToken: string, proof?: string) {
      return fetch(server.tokenEndpoint, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', ...withProof(proof) },
        body: form({ grant_type: 'refresh_token', refresh_token: refreshToken, client_id: CLIENT_ID }),
      });
    },
    async refresh(refreshToken: string, signer: DpopSigner, changes: ProofChanges = {}): Promise<Tokens> {
      const response = await this.refreshRequest(refreshToken, await tokenProof(server, clock, signer, changes));
      if (response.status !== 200) throw new Error(`refresh failed: ${response.status} ${await response.text()}`);
      return (await response.json()) as Tokens;
    },
    revokeRequest(token: string, proof?: string) {
      return fetch(server.revocationEndpoint, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', ...withProof(proof) },
        body: form({ token, client_id: CLIENT_ID }),
      });
    },
    /** A resource request with `Authorization: DPoP` and a proof of `signer` (with `ath`). */
    async resource(path: string, accessToken: string, signer: DpopSigner | undefined, changes: ProofChanges = {}) {
      const url = `${server.url}${path}`;
      const headers: Record<string, string> = { authorization: `DPoP ${accessToken}` };
      if (signer) {
        const htu = `${server.issuer}${path}`;
        headers.dpop = await dpopProof(signer, clock.now(), { htm: 'GET', htu }, { accessToken, ...changes });
      }
      return fetch(url, { headers });
    },
  };
}

describeEachBackend('DPoP', (backend) => {
  let server: RunningServer;
  let clock: FakeClock;
  let stop: () => Promise<void>;
  let api: ReturnType<typeof client>;
  let key: DpopSigner;
  let otherKey: DpopSigner;

  beforeAll(async () => {
    // No rate limit: the suite sends many grants from one client on purpose.
    ({ server, clock, stop } = await startTestServer(backend, { rateLimitPerMinute: 0 }));
    api = client(server, clock);
    [key, otherKey] = await Promise.all([dpopSigner(), dpopSigner()]);
  });
  afterAll(async () => stop?.());

  describe('binding', () => {
    it('a sign-in with a proof gets token_type DPoP and an access token bound to the key (cnf.jkt)', async () => {
      const tokens = await api.login(key);
      expect(tokens.token_type).toBe('DPoP');
      expect(decodeJwt(tokens.access_token).cnf).toEqual({ jkt: key.jkt });
      expect(familyLog(server, sessionIdOf(tokens.access_token)).map((e) => e.outcome)).toEqual(['issued']);
    });

    it('a sign-in without a proof is a bearer session, exactly as before', async () => {
      const tokens = await login(server);
      expect(tokens.token_type).toBe('Bearer');
      expect(decodeJwt(tokens.access_token)).not.toHaveProperty('cnf');
      const next = await refresh(server, tokens.refresh_token);
      expect(next.token_type).toBe('Bearer');
      expect((await getApi(server, '/api/me', next.access_token)).status).toBe(200);
    });

    it('a bound refresh token rotates with a proof of its key: a new DPoP-bound access token', async () => {
      const first = await api.login(key);
      const second = await api.refresh(first.refresh_token, key);
      expect(second.token_type).toBe('DPoP');
      expect(second.refresh_token).not.toBe(first.refresh_token);
      expect(decodeJwt(second.access_token).cnf).toEqual({ jkt: key.jkt });
      expect(familyLog(server, sessionIdOf(first.access_token)).map((e) => e.outcome)).toEqual(['issued', 'rotated']);
    });

    it('a bound refresh token without a proof is refused like an unknown token, and the session lives on', async () => {
      const tokens = await api.login(key);
      const response = await api.refreshRequest(tokens.refresh_token);
      expect(response.status).toBe(400);
      expect(await response.json()).toEqual(REFUSED);
      expect(familyLog(server, sessionIdOf(tokens.access_token)).at(-1)).toMatchObject({
        outcome: 'invalid',
        reason: 'dpop proof missing',
      });
      await api.refresh(tokens.refresh_token, key);
    });

    it("a bound refresh token with another key's proof is refused, and the session lives on", async () => {
      const tokens = await api.login(key);
      const response = await api.refreshRequest(tokens.refresh_token, await tokenProof(server, clock, otherKey));
      expect(response.status).toBe(400);
      expect(await response.json()).toEqual(REFUSED);
      expect(familyLog(server, sessionIdOf(tokens.access_token)).at(-1)).toMatchObject({
        outcome: 'invalid',
        reason: 'dpop key mismatch',
      });
      await api.refresh(tokens.refresh_token, key);
    });

    it('a bearer family refreshed with a proof: the access token is bound, the family stays a bearer one', async () => {
      const tokens = await login(server);
      const bound = await api.refresh(tokens.refresh_token, key);
      expect(bound.token_type).toBe('DPoP');
      expect(decodeJwt(bound.access_token).cnf).toEqual({ jkt: key.jkt });
      // Not bound to the first key that came along: without a proof it still refreshes.
      const bearer = await refresh(server, bound.refresh_token);
      expect(bearer.token_type).toBe('Bearer');
    });

    it('the jwt-bearer grant with a proof starts a bound family', async () => {
      const device = await dpopSigner();
      const enrolled = await login(server, { device_public_jwk: device.publicJwk });
      const signer = {
        privateKey: device.privateKey,
        kid: enrolled.device_key_id!,
        userId: decodeJwt(enrolled.access_token).sub!,
      };
      const response = await fetch(server.tokenEndpoint, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', dpop: await tokenProof(server, clock, key) },
        body: form({
          grant_type: JWT_BEARER,
          assertion: await signAssertion(server, clock, signer),
          client_id: CLIENT_ID,
        }),
      });
      expect(response.status).toBe(200);
      const tokens = (await response.json()) as Tokens;
      expect(tokens.token_type).toBe('DPoP');
      expect((await api.refreshRequest(tokens.refresh_token)).status).toBe(400);
      await api.refresh(tokens.refresh_token, key);
    });
  });

  describe('grace window and reuse', () => {
    it('a grace replay with the same key gets the live token set', async () => {
      const tokens = await api.login(key);
      const child = await api.refresh(tokens.refresh_token, key);
      const replayed = await api.refresh(tokens.refresh_token, key);
      expect(replayed.refresh_token).toBe(child.refresh_token);
      expect(replayed.token_type).toBe('DPoP');
      expect(familyLog(server, sessionIdOf(tokens.access_token)).map((e) => e.outcome)).toEqual([
        'issued',
        'rotated',
        'replayed',
      ]);
    });

    it('a grace replay with another key is refused, and does not revoke', async () => {
      const tokens = await api.login(key);
      const child = await api.refresh(tokens.refresh_token, key);
      const response = await api.refreshRequest(tokens.refresh_token, await tokenProof(server, clock, otherKey));
      expect(response.status).toBe(400);
      expect(await response.json()).toEqual(REFUSED);
      await api.refresh(child.refresh_token, key);
    });

    it('a retired token after the window, without the key, is refused and is not reuse: the session lives on', async () => {
      const tokens = await api.login(key);
      const child = await api.refresh(tokens.refresh_token, key);
      clock.advanceSeconds(TEST_LIFETIMES.refreshGraceSeconds + 1);
      for (const proof of [undefined, await tokenProof(server, clock, otherKey)]) {
        expect((await api.refreshRequest(tokens.refresh_token, proof)).status).toBe(400);
      }
      const outcomes = familyLog(server, sessionIdOf(tokens.access_token)).map((e) => e.outcome);
      expect(outcomes).not.toContain('reuse-detected');
      await api.refresh(child.refresh_token, key);
    });

    it('a retired token after the window with the key is reuse: the family is revoked', async () => {
      const tokens = await api.login(key);
      const child = await api.refresh(tokens.refresh_token, key);
      clock.advanceSeconds(TEST_LIFETIMES.refreshGraceSeconds + 1);
      expect((await api.refreshRequest(tokens.refresh_token, await tokenProof(server, clock, key))).status).toBe(400);
      expect((await api.refreshRequest(child.refresh_token, await tokenProof(server, clock, key))).status).toBe(400);
      expect(familyLog(server, sessionIdOf(tokens.access_token)).map((e) => e.outcome)).toContain('reuse-detected');
    });

    it('50 concurrent refreshes of one bound token, each with its own proof: one rotation, 49 replays', async () => {
      const tokens = await api.login(key);
      const proofs = await Promise.all(Array.from({ length: 50 }, () => tokenProof(server, clock, key)));
      const responses = await Promise.all(proofs.map((proof) => api.refreshRequest(tokens.refresh_token, proof)));
      expect(responses.map((r) => r.status)).toEqual(Array(50).fill(200));
      const bodies = (await Promise.all(responses.map((r) => r.json()))) as Tokens[];
      expect(new Set(bodies.map((b) => b.refresh_token)).size).toBe(1);
      const outcomes = familyLog(server, sessionIdOf(tokens.access_token)).map((e) => e.outcome);
      expect(outcomes.filter((o) => o === 'rotated')).toHaveLength(1);
      expect(outcomes.filter((o) => o === 'replayed')).toHaveLength(49);
    });
  });

  describe('proofs at the token endpoint', () => {
    it('a proof sent twice is refused the second time (jti), before the grant is looked at', async () => {
      const tokens = await api.login(key);
      const proof = await tokenProof(server, clock, key);
      expect((await api.refreshRequest(tokens.refresh_token, proof)).status).toBe(200);
      const again = await api.refreshRequest(tokens.refresh_token, proof);
      expect(again.status).toBe(400);
      expect(await again.json()).toEqual({ error: 'invalid_dpop_proof', error_description: expect.any(String) });
      expect(server.grantLog.at(-1)).toMatchObject({ outcome: 'invalid', reason: 'dpop proof: jti already used' });
    });

    it('the same jti under another key is another proof', async () => {
      const tokens = await api.login(key);
      const child = await api.refresh(tokens.refresh_token, key, { jti: 'shared-jti' });
      const stranger = await login(server);
      await api.refresh(stranger.refresh_token, otherKey, { jti: 'shared-jti' });
      expect(child.token_type).toBe('DPoP');
    });

    it.each<[string, (now: number) => ProofChanges]>([
      ['a proof for another endpoint', () => ({ htu: 'http://127.0.0.1:1/oauth/revoke' })],
      ['a proof for GET', () => ({ htm: 'GET' })],
      ['a proof 61 s old', (now) => ({ iat: Math.floor(now / 1000) - 61 })],
    ])('%s: 400 invalid_dpop_proof, and the token is not spent', async (_name, changes) => {
      const tokens = await api.login(key);
      const proof = await tokenProof(server, clock, key, changes(clock.now()));
      const response = await api.refreshRequest(tokens.refresh_token, proof);
      expect(response.status).toBe(400);
      expect(await response.json()).toMatchObject({ error: 'invalid_dpop_proof' });
      await api.refresh(tokens.refresh_token, key);
    });

    it('two DPoP headers are refused', async () => {
      const tokens = await api.login(key);
      const proofs = [await tokenProof(server, clock, key), await tokenProof(server, clock, key)];
      const url = new URL(server.tokenEndpoint);
      const body = form({ grant_type: 'refresh_token', refresh_token: tokens.refresh_token, client_id: CLIENT_ID });
      // Two header lines on the wire (fetch would join them into one).
      const { status, text } = await new Promise<{ status: number; text: string }>((resolve, reject) => {
        const request = httpRequest(
          url,
          { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', dpop: proofs } },
          (response) => {
            let text = '';
            response.on('data', (chunk: Buffer) => (text += chunk.toString()));
            response.on('end', () => resolve({ status: response.statusCode!, text }));
          },
        );
        request.on('error', reject);
        request.end(body);
      });
      expect(status).toBe(400);
      expect(JSON.parse(text)).toMatchObject({ error: 'invalid_dpop_proof' });
    });

    it('a sign-in with a bad proof is refused before the password is checked', async () => {
      const proof = await dpopProof(key, clock.now(), { htm: 'POST', htu: server.tokenEndpoint });
      const response = await api.loginRequest(proof, { password: 'wrong' });
      expect(response.status).toBe(400);
      expect(await response.json()).toMatchObject({ error: 'invalid_dpop_proof' });
      expect(server.grantLog.at(-1)).toMatchObject({ grant: 'login', outcome: 'invalid' });
      expect(server.grantLog.at(-1)!.reason).toMatch(/^dpop proof: htu/);
    });
  });

  describe('resources', () => {
    it('accept a DPoP-bound token with a proof of its key, with ath; the query is not part of htu', async () => {
      const tokens = await api.login(key);
      const me = await api.resource('/api/me', tokens.access_token, key);
      expect(me.status).toBe(200);
      expect(await me.json()).toMatchObject({ username: 'alice' });
      expect((await api.resource('/api/slow?ms=1', tokens.access_token, key)).status).toBe(200);
    });

    async function expectDpopChallenge(response: Response, error: string) {
      expect(response.status).toBe(401);
      const challenge = response.headers.get('www-authenticate') ?? '';
      expect(challenge).toMatch(new RegExp(`^DPoP error="${error}", error_description="[^"]+", algs="ES256"$`));
      expect(await response.json()).toEqual({ error, error_description: expect.any(String) });
    }

    it('refuse a DPoP-bound token sent as a bearer token', async () => {
      const tokens = await api.login(key);
      await expectDpopChallenge(await getApi(server, '/api/me', tokens.access_token), 'invalid_token');
    });

    it('refuse a DPoP request without a proof, with a proof of another key, or with the ath of another token', async () => {
      const tokens = await api.login(key);
      await expectDpopChallenge(await api.resource('/api/me', tokens.access_token, undefined), 'invalid_dpop_proof');
      await expectDpopChallenge(await api.resource('/api/me', tokens.access_token, otherKey), 'invalid_token');
      await expectDpopChallenge(
        await api.resource('/api/me', tokens.access_token, key, { accessToken: 'another' }),
        'invalid_dpop_proof',
      );
    });

    it('refuse a proof sent twice', async () => {
      const tokens = await api.login(key);
      const proof = await dpopProof(
        key,
        clock.now(),
        { htm: 'GET', htu: `${server.issuer}/api/me` },
        {
          accessToken: tokens.access_token,
        },
      );
      const send = () =>
        fetch(`${server.url}/api/me`, { headers: { authorization: `DPoP ${tokens.access_token}`, dpop: proof } });
      expect((await send()).status).toBe(200);
      await expectDpopChallenge(await send(), 'invalid_dpop_proof');
    });

    it('one proof sent ten times at once is accepted once (the jti is spent atomically)', async () => {
      const tokens = await api.login(key);
      const proof = await dpopProof(
        key,
        clock.now(),
        { htm: 'GET', htu: `${server.issuer}/api/items` },
        {
          accessToken: tokens.access_token,
        },
      );
      const responses = await Promise.all(
        Array.from({ length: 10 }, () =>
          fetch(`${server.url}/api/items`, { headers: { authorization: `DPoP ${tokens.access_token}`, dpop: proof } }),
        ),
      );
      expect(responses.map((r) => r.status).sort()).toEqual([200, ...Array(9).fill(401)]);
    });

    it('refuse a bearer token sent with the DPoP scheme, and an expired DPoP token', async () => {
      const bearer = await login(server);
      await expectDpopChallenge(await api.resource('/api/me', bearer.access_token, key), 'invalid_token');
      const tokens = await api.login(key);
      clock.advanceSeconds(TEST_LIFETIMES.accessTokenTtlSeconds);
      const expired = await api.resource('/api/me', tokens.access_token, key);
      await expectDpopChallenge(expired, 'invalid_token');
    });
  });

  describe('revocation', () => {
    it('revokes a bound family only with a proof of its key (the answer is 200 either way)', async () => {
      const tokens = await api.login(key);
      expect((await api.revokeRequest(tokens.refresh_token)).status).toBe(200);
      const proofUrl = { htm: 'POST', htu: server.revocationEndpoint };
      expect(
        (await api.revokeRequest(tokens.refresh_token, await dpopProof(otherKey, clock.now(), proofUrl))).status,
      ).toBe(200);
      const child = await api.refresh(tokens.refresh_token, key);
      expect((await api.revokeRequest(child.refresh_token, await dpopProof(key, clock.now(), proofUrl))).status).toBe(
        200,
      );
      expect((await api.refreshRequest(child.refresh_token, await tokenProof(server, clock, key))).status).toBe(400);
      expect(familyLog(server, sessionIdOf(tokens.access_token)).map((e) => [e.outcome, e.reason])).toEqual([
        ['issued', undefined],
        ['invalid', 'dpop proof missing'],
        ['invalid', 'dpop key mismatch'],
        ['rotated', undefined],
        ['revoked', undefined],
        ['revoked', 'family revoked'],
      ]);
    });
  });

  describe('HTTP surface', () => {
    it('the metadata names the proof algorithms', async () => {
      const metadata = (await (await fetch(`${server.url}/.well-known/oauth-authorization-server`)).json()) as Record<
        string,
        unknown
      >;
      expect(metadata.dpop_signing_alg_values_supported).toEqual(['ES256']);
    });

    it('CORS lets a browser send DPoP and read DPoP-Nonce and Date', async () => {
      const preflight = await fetch(server.tokenEndpoint, {
        method: 'OPTIONS',
        headers: {
          origin: 'https://app.test',
          'access-control-request-method': 'POST',
          'access-control-request-headers': 'dpop',
        },
      });
      expect(preflight.headers.get('access-control-allow-headers')?.toLowerCase()).toContain('dpop');
      const response = await fetch(`${server.url}/.well-known/jwks.json`, { headers: { origin: 'https://app.test' } });
      expect(
        response.headers
          .get('access-control-expose-headers')
          ?.toLowerCase()
          .split(/\s*,\s*/),
      ).toEqual(expect.arrayContaining(['dpop-nonce', 'date']));
    });

    it("every answer's Date is the server's clock (clients set their proofs' iat from it)", async () => {
      const response = await fetch(`${server.url}/.well-known/jwks.json`);
      expect(Date.parse(response.headers.get('date')!)).toBe(Math.floor(clock.now() / 1000) * 1000);
    });
  });
});

describeEachBackend('DPoP nonces', (backend) => {
  const ROTATION = 60;
  let server: RunningServer;
  let clock: FakeClock;
  let stop: () => Promise<void>;
  let api: ReturnType<typeof client>;
  let key: DpopSigner;

  beforeAll(async () => {
    ({ server, clock, stop } = await startTestServer(backend, { dpopNonce: true, dpopNonceRotationSeconds: ROTATION }));
    api = client(server, clock);
    key = await dpopSigner();
  });
  afterAll(async () => stop?.());

  /** Asks for a nonce the way a client learns it: a proof without one. */
  async function nonce(): Promise<string> {
    const tokens = await login(server);
    const response = await api.refreshRequest(tokens.refresh_token, await tokenProof(server, clock, key));
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({ error: 'use_dpop_nonce' });
    return response.headers.get('dpop-nonce')!;
  }

  it('the token endpoint answers a proof without a nonce with 400 use_dpop_nonce and DPoP-Nonce; the retry works', async () => {
    const tokens = await login(server);
    const first = await api.refreshRequest(tokens.refresh_token, await tokenProof(server, clock, key));
    expect(first.status).toBe(400);
    expect(await first.json()).toEqual({ error: 'use_dpop_nonce', error_description: expect.any(String) });
    const value = first.headers.get('dpop-nonce');
    expect(value).toMatch(/^[\w-]{43}$/);
    expect(server.grantLog.at(-1)).toMatchObject({ outcome: 'rejected', reason: 'dpop nonce required' });
    const second = await api.refreshRequest(
      tokens.refresh_token,
      await tokenProof(server, clock, key, { nonce: value }),
    );
    expect(second.status).toBe(200);
    // The nonce is current: nothing new to hand out.
    expect(second.headers.get('dpop-nonce')).toBeNull();
    // The token was not spent by the nonce round: it rotated once.
    expect(familyLog(server, sessionIdOf(tokens.access_token)).map((e) => e.outcome)).toEqual(['issued', 'rotated']);
  });

  it('nonces rotate: the previous one is accepted with a fresh DPoP-Nonce, an older one gets use_dpop_nonce', async () => {
    const old = await nonce();
    clock.advanceSeconds(ROTATION);
    const tokens = await api.login(key, { nonce: old });
    const response = await api.refreshRequest(
      tokens.refresh_token,
      await tokenProof(server, clock, key, { nonce: old }),
    );
    expect(response.status).toBe(200);
    const fresh = response.headers.get('dpop-nonce');
    expect(fresh).not.toBeNull();
    expect(fresh).not.toBe(old);
    const body = (await response.json()) as Tokens;
    clock.advanceSeconds(ROTATION);
    const stale = await api.refreshRequest(body.refresh_token, await tokenProof(server, clock, key, { nonce: old }));
    expect(stale.status).toBe(400);
    expect(await stale.json()).toMatchObject({ error: 'use_dpop_nonce' });
    expect(stale.headers.get('dpop-nonce')).not.toBe(old);
    await api.refresh(body.refresh_token, key, { nonce: stale.headers.get('dpop-nonce') });
  });

  it('resources answer 401 WWW-Authenticate: DPoP error="use_dpop_nonce" with DPoP-Nonce', async () => {
    const value = await nonce();
    const tokens = await api.login(key, { nonce: value });
    const challenged = await api.resource('/api/me', tokens.access_token, key);
    expect(challenged.status).toBe(401);
    expect(challenged.headers.get('www-authenticate')).toMatch(/^DPoP error="use_dpop_nonce"/);
    expect(challenged.headers.get('dpop-nonce')).toBe(value);
    expect((await api.resource('/api/me', tokens.access_token, key, { nonce: value })).status).toBe(200);
  });

  it('a sign-in with a proof needs the nonce too; clients without DPoP are not asked for one', async () => {
    const proof = await dpopProof(key, clock.now(), { htm: 'POST', htu: `${server.issuer}/auth/login` });
    const response = await api.loginRequest(proof);
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({ error: 'use_dpop_nonce' });
    const bearer = await login(server);
    expect((await getApi(server, '/api/me', bearer.access_token)).status).toBe(200);
    expect((await refreshRequest(server, bearer.refresh_token)).status).toBe(200);
  });

  it("servers on one database accept each other's nonces (the secret comes from the shared signing key)", async () => {
    const value = await nonce();
    const second = await startServer({
      databaseUrl: server.databaseUrl,
      issuer: server.issuer,
      now: clock.now,
      passwordHashCost: 'low',
      dpopNonce: true,
      dpopNonceRotationSeconds: ROTATION,
    });
    try {
      const tokens = await login(server);
      const response = await fetch(`${second.url}/oauth/token`, {
        method: 'POST',
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          dpop: await tokenProof(server, clock, key, { nonce: value }),
        },
        body: form({ grant_type: 'refresh_token', refresh_token: tokens.refresh_token, client_id: CLIENT_ID }),
      });
      expect(response.status).toBe(200);
    } finally {
      await second.close();
    }
  });
});

describe('DPoP options', () => {
  it.each([
    [{ dpopSigningAlgorithms: [] }, /dpopSigningAlgorithms/],
    [{ dpopSigningAlgorithms: ['HS256'] }, /dpopSigningAlgorithms/],
    [{ dpopSigningAlgorithms: ['none'] }, /dpopSigningAlgorithms/],
    [{ dpopProofWindowSeconds: 0 }, /dpopProofWindowSeconds/],
    [{ dpopNonceRotationSeconds: 1.5 }, /dpopNonceRotationSeconds/],
    [{ dpopNonceSecret: 'short' }, /dpopNonceSecret/],
  ])('%o is refused at start', async (options, message) => {
    await expect(startServer({ databaseUrl: 'sqlite::memory:', ...options })).rejects.toThrow(message);
  });

  it('accepts and advertises the algorithms it is given, and the iat window it is given', async () => {
    const clock = new FakeClock();
    const server = await startServer({
      databaseUrl: 'sqlite::memory:',
      now: clock.now,
      passwordHashCost: 'low',
      dpopSigningAlgorithms: ['EdDSA', 'ES256'],
      dpopProofWindowSeconds: 5,
    });
    try {
      const metadata = (await (await fetch(`${server.url}/.well-known/oauth-authorization-server`)).json()) as {
        dpop_signing_alg_values_supported: string[];
      };
      expect(metadata.dpop_signing_alg_values_supported).toEqual(['EdDSA', 'ES256']);
      const ed = await dpopSigner('EdDSA');
      const tokens = await client(server, clock).login(ed);
      expect(decodeJwt(tokens.access_token).cnf).toEqual({ jkt: ed.jkt });
      const stale = await client(server, clock).refreshRequest(
        tokens.refresh_token,
        await tokenProof(server, clock, ed, { iat: Math.floor(clock.now() / 1000) - 6 }),
      );
      expect(await stale.json()).toMatchObject({ error: 'invalid_dpop_proof' });
      const jwk: JWK = ed.publicJwk;
      expect(jwk.kty).toBe('OKP');
    } finally {
      await server.close();
    }
  });
});
