/**
 * Behaviours an outside attacker probed: duplicate parameters hidden behind empty values,
 * what a grace replay states, replays of older ancestors, 405 answers, and what the grant
 * log echoes of a client_id the server does not know.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { RunningServer } from '../src/index.ts';
import {
  CLIENT_ID,
  describeEachBackend,
  FakeClock,
  login,
  postForm,
  refresh,
  refreshRequest,
  startTestServer,
  TEST_LIFETIMES,
} from './helpers.ts';

describeEachBackend('findings', (backend) => {
  let server: RunningServer;
  let clock: FakeClock;
  let stop: () => Promise<void>;

  beforeAll(async () => {
    ({ server, clock, stop } = await startTestServer(backend, { rateLimitPerMinute: 0 }));
  });
  afterAll(async () => stop?.());

  function rawForm(body: string): Promise<Response> {
    return fetch(server.tokenEndpoint, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body,
    });
  }

  it('an empty refresh_token followed by a live one is a repeated parameter, refused', async () => {
    const { refresh_token } = await login(server);
    const response = await rawForm(
      `grant_type=refresh_token&client_id=${CLIENT_ID}&refresh_token=&refresh_token=${refresh_token}`,
    );
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({ error: 'invalid_request' });
    // The token was not used.
    await refresh(server, refresh_token);
  });

  it('an empty client_id followed by another is a repeated parameter, refused', async () => {
    const { refresh_token } = await login(server);
    const response = await rawForm(
      `grant_type=refresh_token&client_id=&client_id=${CLIENT_ID}&refresh_token=${refresh_token}`,
    );
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({ error: 'invalid_request' });
  });

  it('a grace replay states the lifetimes that remain, not those of the first answer', async () => {
    const { refresh_token } = await login(server);
    const first = await refresh(server, refresh_token);
    clock.advanceSeconds(10);
    const replay = await refresh(server, refresh_token);
    expect(replay.refresh_token).toBe(first.refresh_token);
    expect(replay.refresh_token_expires_in).toBe(first.refresh_token_expires_in - 10);
    expect(replay.session_expires_in).toBe(first.session_expires_in - 10);
    // expires_in is true of the access token it comes with.
    const exp = (JSON.parse(Buffer.from(replay.access_token.split('.')[1]!, 'base64url').toString()) as { exp: number })
      .exp;
    expect(replay.expires_in).toBe(exp - Math.floor(clock.now() / 1000));
    expect(replay.expires_in).toBeLessThanOrEqual(TEST_LIFETIMES.accessTokenTtlSeconds);
  });

  it('a replay of any ancestor inside the window yields the live token set', async () => {
    const r0 = await login(server);
    const r1 = await refresh(server, r0.refresh_token);
    clock.advanceSeconds(5);
    const r2 = await refresh(server, r1.refresh_token);
    clock.advanceSeconds(5);
    // A tab that lost the first answer replays R0: it gets R2 (live), not R1 (retired).
    const fromR0 = await refresh(server, r0.refresh_token);
    expect(fromR0.refresh_token).toBe(r2.refresh_token);
    expect(fromR0.refresh_token_expires_in).toBe(r2.refresh_token_expires_in - 5);
    // After the window, R2 still rotates normally: nobody is signed out.
    clock.advanceSeconds(TEST_LIFETIMES.refreshGraceSeconds + 1);
    const r3 = await refresh(server, fromR0.refresh_token);
    expect(r3.refresh_token).not.toBe(r2.refresh_token);
  });

  it('a replay of an ancestor whose descendants were rotated outside the window is still reuse', async () => {
    const r0 = await login(server);
    const r1 = await refresh(server, r0.refresh_token);
    clock.advanceSeconds(TEST_LIFETIMES.refreshGraceSeconds + 1);
    await refresh(server, r1.refresh_token);
    const reuse = await refreshRequest(server, r0.refresh_token);
    expect(reuse.status).toBe(400);
    expect(server.grantLog.at(-1)).toMatchObject({ outcome: 'reuse-detected' });
  });

  it.each([
    ['/oauth/token', 'GET', 'POST'],
    ['/oauth/revoke', 'PUT', 'POST'],
    ['/auth/login', 'DELETE', 'POST'],
    ['/.well-known/jwks.json', 'POST', 'GET'],
    ['/.well-known/oauth-authorization-server', 'PATCH', 'GET'],
  ])('%s answers %s with 405 and an Allow header naming %s', async (path, method, allowed) => {
    const response = await fetch(`${server.url}${path}`, { method });
    expect(response.status).toBe(405);
    const allow = (response.headers.get('allow') ?? '').split(',').map((m) => m.trim());
    expect(allow).toContain(allowed);
    expect(allow).not.toContain(method);
  });

  it('a client_id the server never issued a token to is not echoed into the grant log', async () => {
    const marker = 'attacker-chosen-client-id-7c1e';
    const since = server.grantLog.length;
    await refreshRequest(server, 'Z'.repeat(43), marker); // unknown token
    await refreshRequest(server, '%%%', marker); // malformed token
    await postForm(server.tokenEndpoint, { grant_type: 'password', client_id: marker }); // unsupported grant
    await postForm(`${server.url}/oauth/revoke`, { token: 'Z'.repeat(43), client_id: marker });
    await fetch(`${server.url}/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'alice', password: 'wrong', client_id: marker }),
    });
    const { refresh_token } = await login(server);
    await refreshRequest(server, refresh_token, marker); // a real token of another client
    const entries = server.grantLog.slice(since);
    expect(entries.length).toBeGreaterThanOrEqual(7);
    expect(JSON.stringify(entries)).not.toContain(marker);
    // The client a token was really issued to is still named.
    expect(entries.some((e) => e.clientId === CLIENT_ID)).toBe(true);
  });
});
