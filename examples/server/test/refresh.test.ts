import { afterAll, beforeAll, expect, it } from 'vitest';
import type { RunningServer } from '../src/index.ts';
import {
  CLIENT_ID,
  describeEachBackend,
  familyLog,
  FakeClock,
  getApi,
  login,
  loginRequest,
  postForm,
  refresh,
  refreshRequest,
  sessionIdOf,
  startTestServer,
  TEST_LIFETIMES,
  type Tokens,
} from './helpers.ts';

describeEachBackend('refresh_token grant', (backend) => {
  let server: RunningServer;
  let clock: FakeClock;
  let stop: () => Promise<void>;

  beforeAll(async () => {
    ({ server, clock, stop } = await startTestServer(backend));
  });
  afterAll(async () => stop?.());

  it('login returns an RFC 6749 token response with the session lifetimes', async () => {
    const tokens = await login(server);
    expect(tokens).toEqual({
      access_token: expect.stringMatching(/^[\w-]+\.[\w-]+\.[\w-]+$/),
      token_type: 'Bearer',
      expires_in: TEST_LIFETIMES.accessTokenTtlSeconds,
      refresh_token: expect.stringMatching(/^[\w-]{43}$/),
      refresh_token_expires_in: TEST_LIFETIMES.refreshTokenTtlSeconds,
      session_expires_in: TEST_LIFETIMES.sessionMaxSeconds,
    });
    expect(familyLog(server, sessionIdOf(tokens.access_token)).map((e) => e.outcome)).toEqual(['issued']);
  });

  it('a wrong password and an unknown user get the same 401', async () => {
    const responses = await Promise.all([
      fetch(`${server.url}/auth/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ username: 'alice', password: 'wrong', client_id: CLIENT_ID }),
      }),
      fetch(`${server.url}/auth/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ username: 'mallory', password: 'secret', client_id: CLIENT_ID }),
      }),
    ]);
    const bodies = await Promise.all(responses.map((r) => r.text()));
    expect(responses.map((r) => r.status)).toEqual([401, 401]);
    expect(bodies[0]).toBe(bodies[1]);
    expect(JSON.parse(bodies[0]!)).toMatchObject({ error: 'invalid_grant' });
  });

  it('every refresh rotates: a new refresh token and a new access token in the same session', async () => {
    const first = await login(server);
    const second = await refresh(server, first.refresh_token);
    const third = await refresh(server, second.refresh_token);
    expect(new Set([first.refresh_token, second.refresh_token, third.refresh_token]).size).toBe(3);
    expect(new Set([first.access_token, second.access_token, third.access_token]).size).toBe(3);
    expect(sessionIdOf(third.access_token)).toBe(sessionIdOf(first.access_token));
    expect(familyLog(server, sessionIdOf(first.access_token)).map((e) => e.outcome)).toEqual([
      'issued',
      'rotated',
      'rotated',
    ]);
  });

  it('the token endpoint marks its responses no-store and allows any origin', async () => {
    const { refresh_token } = await login(server);
    const response = await refreshRequest(server, refresh_token);
    expect(response.headers.get('cache-control')).toBe('no-store');
    expect(response.headers.get('access-control-allow-origin')).toBe('*');
  });

  it('the just-rotated token, presented again inside the grace window, gets the same child with the lifetimes that remain', async () => {
    const { refresh_token } = await login(server);
    const first = await refresh(server, refresh_token);
    clock.advanceSeconds(TEST_LIFETIMES.refreshGraceSeconds);
    const again = await refreshRequest(server, refresh_token);
    expect(again.status).toBe(200);
    const replayed = (await again.json()) as Tokens;
    expect(replayed.refresh_token).toBe(first.refresh_token);
    expect(replayed.refresh_token_expires_in).toBe(first.refresh_token_expires_in - TEST_LIFETIMES.refreshGraceSeconds);
    expect(replayed.session_expires_in).toBe(first.session_expires_in - TEST_LIFETIMES.refreshGraceSeconds);
    expect((await getApi(server, '/api/me', replayed.access_token)).status).toBe(200);
    const familyId = sessionIdOf(first.access_token);
    expect(familyLog(server, familyId).map((e) => e.outcome)).toEqual(['issued', 'rotated', 'replayed']);
  });

  it('the replayed child is the one live token: it rotates normally', async () => {
    const { refresh_token } = await login(server);
    await refresh(server, refresh_token);
    const replayed = await refresh(server, refresh_token);
    const next = await refresh(server, replayed.refresh_token);
    expect(next.refresh_token).not.toBe(replayed.refresh_token);
  });

  it('the grace replay is refused to another client, without revoking the session', async () => {
    const { refresh_token } = await login(server);
    const child = await refresh(server, refresh_token);
    const other = await refreshRequest(server, refresh_token, 'other-client');
    expect(other.status).toBe(400);
    expect(await other.json()).toMatchObject({ error: 'invalid_grant' });
    await refresh(server, child.refresh_token);
  });

  it('a rotated token presented after the grace window is reuse: the whole family is revoked', async () => {
    const { refresh_token, access_token } = await login(server);
    const child = await refresh(server, refresh_token);
    clock.advanceSeconds(TEST_LIFETIMES.refreshGraceSeconds + 1);

    const reuse = await refreshRequest(server, refresh_token);
    expect(reuse.status).toBe(400);
    expect(await reuse.json()).toEqual({
      error: 'invalid_grant',
      error_description: 'The refresh token is invalid, expired or revoked.',
    });
    const childAfter = await refreshRequest(server, child.refresh_token);
    expect(childAfter.status).toBe(400);
    expect(familyLog(server, sessionIdOf(access_token)).map((e) => e.outcome)).toEqual([
      'issued',
      'rotated',
      'reuse-detected',
      'revoked',
    ]);
  });

  it('retired tokens of one family presented at once after the grace window, raced by revocations: all refused, never a 500', async () => {
    // On PostgreSQL, each reuse revokes the family (every token row of it); locking the
    // presented token's row before the family's deadlocked two of them (a 500).
    for (let round = 0; round < 5; round += 1) {
      const a = await login(server);
      const b = await refresh(server, a.refresh_token);
      const c = await refresh(server, b.refresh_token);
      const d = await refresh(server, c.refresh_token);
      clock.advanceSeconds(TEST_LIFETIMES.refreshGraceSeconds + 1);
      const [reuses, revocation, revokedSessions] = await Promise.all([
        Promise.all([a, b, c].map((t) => refreshRequest(server, t.refresh_token))),
        postForm(server.revocationEndpoint, { token: b.refresh_token, client_id: CLIENT_ID }),
        round % 2 === 1 ? server.revokeUserSessions('alice') : undefined,
      ]);
      expect(reuses.map((r) => r.status)).toEqual([400, 400, 400]);
      for (const response of reuses) expect(await response.json()).toMatchObject({ error: 'invalid_grant' });
      expect(revocation.status).toBe(200);
      if (revokedSessions !== undefined) expect(revokedSessions).toBeGreaterThanOrEqual(0);
      expect((await refreshRequest(server, d.refresh_token)).status).toBe(400);
      expect(
        familyLog(server, sessionIdOf(a.access_token)).some(
          (e) => e.outcome === 'reuse-detected' || e.outcome === 'revoked',
        ),
      ).toBe(true);
    }
  }, 30_000);

  it('50 concurrent refreshes of one token yield exactly one child; the other 49 get that same child', async () => {
    const { refresh_token, access_token } = await login(server);
    const responses = await Promise.all(Array.from({ length: 50 }, () => refreshRequest(server, refresh_token)));
    const bodies = await Promise.all(responses.map((r) => r.text()));
    expect(responses.map((r) => r.status)).toEqual(Array(50).fill(200));
    const parsed = bodies.map((body) => JSON.parse(body) as Tokens);
    expect(new Set(parsed.map((t) => t.refresh_token)).size).toBe(1);
    expect(new Set(parsed.map((t) => t.refresh_token_expires_in)).size).toBe(1);
    for (const tokens of parsed.slice(0, 3))
      expect((await getApi(server, '/api/me', tokens.access_token)).status).toBe(200);
    const outcomes = familyLog(server, sessionIdOf(access_token)).map((e) => e.outcome);
    expect(outcomes.filter((o) => o === 'rotated')).toHaveLength(1);
    expect(outcomes.filter((o) => o === 'replayed')).toHaveLength(49);
    // The one child is live.
    await refresh(server, (JSON.parse(bodies[0]!) as Tokens).refresh_token);
  });

  it('a refresh token expires after the idle lifetime without use', async () => {
    const tokens = await login(server);
    clock.advanceSeconds(TEST_LIFETIMES.refreshTokenTtlSeconds - 1);
    const stillValid = await refresh(server, tokens.refresh_token);
    clock.advanceSeconds(TEST_LIFETIMES.refreshTokenTtlSeconds);
    const expired = await refreshRequest(server, stillValid.refresh_token);
    expect(expired.status).toBe(400);
    expect(await expired.json()).toMatchObject({ error: 'invalid_grant' });
    expect(familyLog(server, sessionIdOf(tokens.access_token)).at(-1)).toMatchObject({
      outcome: 'expired',
      reason: 'idle timeout',
    });
  });

  it('the session ends at its absolute lifetime even when used all along', async () => {
    let tokens = await login(server);
    const step = TEST_LIFETIMES.refreshTokenTtlSeconds - 60;
    let elapsed = 0;
    while (elapsed + step < TEST_LIFETIMES.sessionMaxSeconds) {
      clock.advanceSeconds(step);
      elapsed += step;
      tokens = await refresh(server, tokens.refresh_token);
      expect(tokens.session_expires_in).toBe(TEST_LIFETIMES.sessionMaxSeconds - elapsed);
      expect(tokens.refresh_token_expires_in).toBe(
        Math.min(TEST_LIFETIMES.refreshTokenTtlSeconds, TEST_LIFETIMES.sessionMaxSeconds - elapsed),
      );
    }
    clock.advanceSeconds(TEST_LIFETIMES.sessionMaxSeconds - elapsed);
    const ended = await refreshRequest(server, tokens.refresh_token);
    expect(ended.status).toBe(400);
    expect(familyLog(server, sessionIdOf(tokens.access_token)).at(-1)).toMatchObject({
      outcome: 'expired',
      reason: 'session ended',
    });
  });

  it('RFC 7009 revocation ends the session; unknown tokens still get 200', async () => {
    const tokens = await login(server);
    const revoked = await postForm(server.revocationEndpoint, {
      token: tokens.refresh_token,
      token_type_hint: 'refresh_token',
      client_id: CLIENT_ID,
    });
    expect(revoked.status).toBe(200);
    expect((await refreshRequest(server, tokens.refresh_token)).status).toBe(400);

    const unknown = await postForm(server.revocationEndpoint, { token: 'x'.repeat(43), client_id: CLIENT_ID });
    expect(unknown.status).toBe(200);
    const accessToken = await postForm(server.revocationEndpoint, {
      token: tokens.access_token,
      token_type_hint: 'access_token',
    });
    expect(accessToken.status).toBe(200);
  });

  it('revoking a retired token of the family revokes its live child too', async () => {
    const first = await login(server);
    const child = await refresh(server, first.refresh_token);
    expect(
      (await postForm(server.revocationEndpoint, { token: first.refresh_token, client_id: CLIENT_ID })).status,
    ).toBe(200);
    expect((await refreshRequest(server, child.refresh_token)).status).toBe(400);
  });

  it('another client cannot revoke the session', async () => {
    const tokens = await login(server);
    const response = await postForm(server.revocationEndpoint, {
      token: tokens.refresh_token,
      client_id: 'other-client',
    });
    expect(response.status).toBe(200);
    await refresh(server, tokens.refresh_token);
  });

  it('revokeUserSessions ends every session of the user and only theirs', async () => {
    const alice1 = await login(server);
    const alice2 = await login(server);
    const bob = await login(server, { username: 'bob', password: 'secret2' });
    expect(await server.revokeUserSessions('alice')).toBeGreaterThanOrEqual(2);
    expect((await refreshRequest(server, alice1.refresh_token)).status).toBe(400);
    expect((await refreshRequest(server, alice2.refresh_token)).status).toBe(400);
    await refresh(server, bob.refresh_token);
    expect(await server.revokeUserSessions('nobody')).toBe(0);
  });
});

describeEachBackend('rate limit', (backend) => {
  let server: RunningServer;
  let clock: FakeClock;
  let stop: () => Promise<void>;

  beforeAll(async () => {
    ({ server, clock, stop } = await startTestServer(backend, { rateLimitPerMinute: 3 }));
  });
  afterAll(async () => stop?.());

  it('over the limit the token endpoint answers 429 slow_down with Retry-After, then recovers', async () => {
    const tokens = await login(server); // 1
    const second = await refresh(server, tokens.refresh_token); // 2
    const third = await refresh(server, second.refresh_token); // 3
    const limited = await refreshRequest(server, third.refresh_token);
    expect(limited.status).toBe(429);
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(await limited.json()).toMatchObject({ error: 'slow_down' });
    expect(server.grantLog.at(-1)).toMatchObject({ outcome: 'rate-limited' });
    expect(server.grantLog.at(-1)).not.toHaveProperty('clientId');
    // Another client is not affected.
    expect((await refreshRequest(server, third.refresh_token, 'other-client')).status).toBe(400);

    clock.advanceSeconds(120);
    expect((await refreshRequest(server, third.refresh_token)).status).toBe(200);
  });

  it('varying client_id does not escape the per-address limit (ten times the per-client one)', async () => {
    clock.advanceSeconds(120);
    const statuses: number[] = [];
    for (let i = 0; i < 31; i += 1) {
      statuses.push((await refreshRequest(server, 'x'.repeat(43), `client-${i}`)).status);
    }
    expect(statuses.slice(0, 30)).toEqual(Array(30).fill(400));
    expect(statuses[30]).toBe(429);
  });

  it('failed sign-ins lock the account out for the minute, from any client and address', async () => {
    clock.advanceSeconds(120);
    const statuses: number[] = [];
    for (let i = 0; i < 6; i += 1) {
      statuses.push(
        (await loginRequest(server, { username: 'bob', password: `guess-${i}`, client_id: `c-${i}` })).status,
      );
    }
    // The limit here is 5 failures (the minimum); the right password is refused too, for now.
    expect(statuses).toEqual([401, 401, 401, 401, 401, 429]);
    expect((await loginRequest(server, { username: 'bob', password: 'secret2', client_id: 'c-9' })).status).toBe(429);
    expect((await loginRequest(server, { username: 'alice', client_id: 'c-10' })).status).toBe(200);
    clock.advanceSeconds(120);
    expect((await loginRequest(server, { username: 'bob', password: 'secret2', client_id: 'c-11' })).status).toBe(200);
  });

  it('a sign-in counts against the failure budget while it runs, and a successful one gives its slot back', async () => {
    clock.advanceSeconds(120);
    const statuses: number[] = [];
    const attempt = async (password: string, i: number) =>
      statuses.push((await loginRequest(server, { username: 'bob', password, client_id: `d-${i}` })).status);
    for (let i = 0; i < 4; i += 1) await attempt(`guess-${i}`, i);
    for (let i = 4; i < 7; i += 1) await attempt('secret2', i);
    await attempt('guess-7', 7);
    await attempt('guess-8', 8);
    // Four failures, three sign-ins that did not count, the fifth failure, then locked out.
    expect(statuses).toEqual([401, 401, 401, 401, 200, 200, 200, 401, 429]);
  });
});
