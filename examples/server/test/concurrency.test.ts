import { calculateJwkThumbprint, decodeJwt, exportJWK, generateKeyPair } from 'jose';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { RunningServer } from '../src/index.ts';
import {
  CLIENT_ID,
  describeEachBackend,
  FakeClock,
  login,
  loginRequest,
  postForm,
  refreshRequest,
  startTestServer,
  JWT_BEARER,
  signAssertion,
} from './helpers.ts';

describeEachBackend('failed-login lockout under a burst', (backend) => {
  let server: RunningServer;
  let stop: () => Promise<void>;

  beforeAll(async () => {
    // Per client 100/min, per address 1000/min, failed sign-ins per account 10/min. The
    // standard scrypt cost keeps the guesses hashing long enough to overlap.
    ({ server, stop } = await startTestServer(backend, { rateLimitPerMinute: 100, passwordHashCost: 'standard' }));
  });
  afterAll(async () => stop?.());

  it('a burst of parallel guesses gets no more than the per-account failure budget checked', async () => {
    const responses = await Promise.all(
      Array.from({ length: 40 }, (_, i) => loginRequest(server, { username: 'bob', password: `guess-${i}` })),
    );
    const statuses = responses.map((r) => r.status);
    // Each attempt takes its slot before hashing: 10 are checked, the other 30 get 429.
    expect(statuses.filter((s) => s === 401)).toHaveLength(10);
    expect(statuses.filter((s) => s === 429)).toHaveLength(30);
    expect((await loginRequest(server, { username: 'bob', password: 'secret2' })).status).toBe(429);
  });
});

describeEachBackend('revokeUserSessions racing a sign-in', (backend) => {
  let server: RunningServer;
  let stop: () => Promise<void>;
  const clock = new FakeClock();
  let onNow: (() => void) | undefined;

  beforeAll(async () => {
    ({ server, stop } = await startTestServer(backend, {
      rateLimitPerMinute: 0,
      // The injected clock doubles as a probe. With no rate limit, a grant first reads it
      // after the credential is checked: the jwt-bearer grant right after looking up the
      // device key (before verifying the assertion), the login after the password check
      // (before creating the session).
      now: () => {
        const hook = onNow;
        onNow = undefined;
        hook?.();
        return clock.now();
      },
    }));
  });
  afterAll(async () => stop?.());

  /** Runs revokeUserSessions(username) at the grant's first clock reading; resolves to its count. */
  function revokeDuringNextGrant(username: string): () => Promise<number> {
    let revoked: Promise<number> | undefined;
    onNow = () => {
      revoked = server.revokeUserSessions(username);
    };
    return () => {
      expect(revoked, 'the grant never read the clock').toBeDefined();
      return revoked!;
    };
  }

  it("an assertion in flight when the user's sessions are revoked does not yield a live session", async () => {
    const { privateKey, publicKey } = await generateKeyPair('ES256');
    const tokens = await login(server, {
      username: 'bob',
      password: 'secret2',
      device_public_jwk: await exportJWK(publicKey),
    });
    const userId = decodeJwt(tokens.access_token).sub!;
    const assertion = await signAssertion(server, clock, { privateKey, kid: tokens.device_key_id!, userId });

    const revoked = revokeDuringNextGrant('bob');
    const response = await postForm(server.tokenEndpoint, { grant_type: JWT_BEARER, assertion, client_id: CLIENT_ID });
    expect(await revoked()).toBeGreaterThanOrEqual(1); // the administrator is told the sessions are gone
    if (response.status === 200) {
      // The session was created before the revocation committed: the revocation ended it.
      const issued = (await response.json()) as { refresh_token: string };
      expect((await refreshRequest(server, issued.refresh_token)).status).toBe(400);
    } else {
      expect(response.status).toBe(400);
      expect(await response.json()).toMatchObject({ error: 'invalid_grant' });
      expect(server.grantLog.filter((e) => e.grant === 'jwt-bearer').at(-1)).toMatchObject({
        outcome: 'invalid',
        reason: 'sessions revoked during the grant',
      });
    }
    expect(await refreshRequest(server, tokens.refresh_token).then((r) => r.status)).toBe(400);
  });

  it('a login whose password was checked before the revocation does not yield a live session or device key', async () => {
    const before = await login(server, { username: 'bob', password: 'secret2' });
    const { privateKey, publicKey } = await generateKeyPair('ES256');

    const revoked = revokeDuringNextGrant('bob');
    const response = await loginRequest(server, {
      username: 'bob',
      password: 'secret2',
      device_public_jwk: await exportJWK(publicKey),
    });
    expect(await revoked()).toBeGreaterThanOrEqual(1);
    expect((await refreshRequest(server, before.refresh_token)).status).toBe(400);
    if (response.status === 200) {
      const issued = (await response.json()) as { refresh_token: string; device_key_id: string };
      expect((await refreshRequest(server, issued.refresh_token)).status).toBe(400);
    } else {
      expect(response.status).toBe(401);
      expect(await response.json()).toMatchObject({ error: 'invalid_grant' });
      expect(server.grantLog.filter((e) => e.grant === 'login').at(-1)).toMatchObject({
        outcome: 'rejected',
        reason: 'sessions revoked during sign-in',
      });
    }
    // Either way the device key is not enrolled: an assertion signed with it is refused.
    const userId = decodeJwt(before.access_token).sub!;
    const assertion = await signAssertion(server, clock, {
      privateKey,
      kid: await calculateJwkThumbprint(await exportJWK(publicKey)),
      userId,
    });
    expect(
      (await postForm(server.tokenEndpoint, { grant_type: JWT_BEARER, assertion, client_id: CLIENT_ID })).status,
    ).toBe(400);

    // A sign-in after the revocation works as usual.
    await login(server, { username: 'bob', password: 'secret2' });
  });
});
