/**
 * End to end with DPoP (RFC 9449): the built SDK ('session-keeper' with
 * 'session-keeper/dpop', as users install it) against the reference server, SQLite and
 * PostgreSQL. Every token is bound to the session's key; the suite checks what that changes
 * and what it must not: one refresh per generation, re-authentication after a lost key
 * (never a silent sign-out, never a loop), nonces that rotate, replayed proofs and stolen
 * tokens refused.
 */
import { afterAll, afterEach, beforeAll, expect, it, vi } from 'vitest';
import { MemoryTokenStore, SessionExpiredError, type SessionManager } from 'session-keeper';
import { dpop, memoryKeyStore, type Dpop } from 'session-keeper/dpop';
import {
  CLIENT_ID,
  claimsOf,
  describeBackend,
  dpopSignIn,
  recordEvents,
  recordingFetch,
  sessionFactory,
  settleAll,
  startE2EServer,
  tally,
  type Backend,
  type E2EServer,
} from './harness.ts';

/** Access tokens of the main server: 30 s, so that moving its clock past them stays inside the 60 s proof window. */
const ACCESS_TTL_S = 30;
const PAST_EXPIRY_MS = (ACCESS_TTL_S + 1) * 1000;
/** The nonce server's rotation period: four of them fit in one access token's lifetime. */
const NONCE_ROTATION_S = 5;

let keyStores = 0;
/** A DPoP handle with a key store of its own (a device of its own). */
const newDevice = (): Dpop => dpop({ keyStore: memoryKeyStore(`e2e-dpop-${process.pid}-${++keyStores}`) });

export function dpopSuite(backend: Backend): void {
  describeBackend(backend, 'end to end with DPoP against the reference server', () => {
    let main: Awaited<ReturnType<typeof startE2EServer>>;
    /** 2-second access tokens, on the same database. */
    let short: E2EServer;
    /** Nonces required, rotating every 5 s, on the same database. */
    let nonced: E2EServer;
    let stopAll: () => Promise<void>;
    const sessions = sessionFactory(() => ({
      tokenEndpoint: main.server.tokenEndpoint,
      revocationEndpoint: main.server.revocationEndpoint,
    }));
    const api = (session: SessionManager, server: E2EServer = main, fetchFn?: typeof globalThis.fetch) =>
      session.createClient({ prefix: `${server.server.url}/api/`, retry: 0, ...(fetchFn ? { fetch: fetchFn } : {}) });
    /** A session bound to a new device key, signed in on `server`. */
    async function signedIn(
      server: E2EServer = main,
      options: Parameters<typeof sessions.create>[0] = {},
      proofs: Dpop = newDevice(),
    ) {
      const session = sessions.create({
        tokenEndpoint: server.server.tokenEndpoint,
        revocationEndpoint: server.server.revocationEndpoint,
        dpop: proofs,
        ...options,
      });
      await session.setTokens(await dpopSignIn(server, proofs));
      return { session, proofs };
    }

    beforeAll(async () => {
      const common = { passwordHashCost: 'low', accessTokenTtlSeconds: ACCESS_TTL_S } as const;
      main = await startE2EServer(backend, common);
      short = await startE2EServer(backend, { ...common, accessTokenTtlSeconds: 2 }, main.database);
      nonced = await startE2EServer(
        backend,
        { ...common, dpopNonce: true, dpopNonceRotationSeconds: NONCE_ROTATION_S },
        main.database,
      );
      stopAll = async () => {
        await nonced.stop();
        await short.stop();
        await main.stop(); // drops the database too
      };
    });
    afterAll(async () => stopAll?.());
    afterEach(() => sessions.disposeAll());

    it('the sign-in, every API request and every refresh carry proofs; the tokens are DPoP-bound', async () => {
      const { session, proofs } = await signedIn();
      const recorded = recordingFetch();
      await api(session, main, recorded.fetch).get('me').json();
      expect(recorded.requests.map((r) => [r.scheme, r.proof !== undefined, r.status])).toEqual([['DPoP', true, 200]]);
      const accessToken = await session.getAccessToken();
      expect(claimsOf(accessToken).cnf).toEqual({ jkt: await proofs.thumbprint() });
      // Without the proof the same token is refused: it is not a bearer token.
      const asBearer = await fetch(`${main.server.url}/api/me`, {
        headers: { authorization: `Bearer ${accessToken}` },
      });
      expect(asBearer.status).toBe(401);
    });

    it('refreshes by itself before the access token expires (2-second tokens), bound to the same key', async () => {
      const { session, proofs } = await signedIn(short);
      const events = recordEvents(session);
      const mark = short.mark();
      await vi.waitFor(() => expect(events.of('refreshed').length).toBeGreaterThan(0), { timeout: 4000, interval: 50 });
      expect(tally(short.grantsSince(mark))).toEqual({ 'refresh_token:rotated': 1 });
      expect(claimsOf(await session.getAccessToken()).cnf).toEqual({ jkt: await proofs.thumbprint() });
      const recorded = recordingFetch();
      await api(session, short, recorded.fetch).get('me').json();
      expect(recorded.statuses()).toEqual([200]);
    });

    it('after expiry a 401 makes one refresh, with a proof, and the request is retried', async () => {
      const { session } = await signedIn();
      const mark = main.mark();
      main.advance(PAST_EXPIRY_MS);
      const recorded = recordingFetch();
      const me = await api(session, main, recorded.fetch).get('me').json<{ username: string }>();
      expect(me.username).toBe('alice');
      expect(recorded.statuses()).toEqual([401, 200]);
      expect(tally(main.grantsSince(mark))).toEqual({ 'refresh_token:rotated': 1 });
      expect(session.state).toBe('active');
    });

    it('a herd of 50 concurrent requests after expiry makes exactly one refresh', async () => {
      const { session } = await signedIn();
      const mark = main.mark();
      main.advance(PAST_EXPIRY_MS);
      const results = await settleAll(
        Array.from({ length: 50 }, (_, i) =>
          api(session)
            .get(i % 2 ? 'me' : 'items')
            .json(),
        ),
      );
      expect(results.rejected).toEqual([]);
      expect(results.fulfilled).toBe(50);
      expect(tally(main.grantsSince(mark))).toEqual({ 'refresh_token:rotated': 1 });
    });

    it('sign-out revokes the bound refresh token with a proof; the token is dead afterwards', async () => {
      const store = new MemoryTokenStore();
      const { session } = await signedIn(main, { store });
      const refreshToken = store.load()!.refreshToken!;
      const mark = main.mark();
      await session.signOut();
      expect(tally(main.grantsSince(mark))).toEqual({ 'revoke:revoked': 1 });
      const after = await fetch(main.server.tokenEndpoint, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: refreshToken, client_id: CLIENT_ID }),
      });
      expect(after.status).toBe(400);
      await expect(api(session).get('me').json()).rejects.toBeInstanceOf(SessionExpiredError);
    });

    it('sessions revoked by the server: the refresh is refused and the app signs in again, bound again', async () => {
      let prompts = 0;
      const own = newDevice();
      const { session } = await signedIn(
        main,
        {
          signInPrompt: async () => {
            prompts++;
            return dpopSignIn(main, own);
          },
        },
        own,
      );
      const events = recordEvents(session);
      expect(await main.server.revokeUserSessions('alice')).toBeGreaterThan(0);
      const mark = main.mark();
      main.advance(PAST_EXPIRY_MS);
      const results = await settleAll(Array.from({ length: 3 }, () => api(session).get('me').json()));
      expect(results.rejected).toEqual([]);
      expect(prompts).toBe(1);
      expect(events.of('reauthRequired')).toEqual([{ reason: 'refreshRejected' }]);
      expect(events.of('signedOut')).toEqual([]);
      expect(tally(main.grantsSince(mark))).toEqual({ 'refresh_token:revoked': 1, 'login:issued': 1 });
      expect(claimsOf(await session.getAccessToken()).cnf).toEqual({ jkt: await own.thumbprint() });
    });

    it('a lost key (a new key store, the stored session intact): the refresh is refused, the app signs in again once, no loop, no sign-out', async () => {
      const store = new MemoryTokenStore();
      const first = await signedIn(main, { store, lockName: `lost-key-${backend.name}` });
      const lostThumbprint = await first.proofs.thumbprint();
      first.session.dispose(); // the app is killed; its key store is gone with the site data

      let prompts = 0;
      const proofs = newDevice(); // an empty key store: the SDK makes a new key
      const session = sessions.create({
        store,
        lockName: `lost-key-${backend.name}`,
        dpop: proofs,
        signInPrompt: async () => {
          prompts++;
          return dpopSignIn(main, proofs);
        },
      });
      const events = recordEvents(session);
      expect(await session.restore()).toBe('active');
      const mark = main.mark();
      const recorded = recordingFetch();
      // The stored access token is still valid but bound to the lost key: refused, refreshed
      // (refused too: the refresh token is bound to it as well), re-authenticated, retried.
      await expect(api(session, main, recorded.fetch).get('me').json()).resolves.toMatchObject({ username: 'alice' });
      expect(recorded.statuses()).toEqual([401, 200]);
      expect(prompts).toBe(1);
      expect(events.of('reauthRequired')).toEqual([{ reason: 'refreshRejected' }]);
      expect(events.of('signedOut')).toEqual([]);
      const grants = main.grantsSince(mark);
      expect(tally(grants)).toEqual({ 'refresh_token:invalid': 1, 'login:issued': 1 });
      expect(grants[0]).toMatchObject({ reason: 'dpop key mismatch' });
      const thumbprint = await proofs.thumbprint();
      expect(thumbprint).not.toBe(lostThumbprint);
      expect(claimsOf(await session.getAccessToken()).cnf).toEqual({ jkt: thumbprint });
      // And it keeps working, with no further prompt.
      await api(session).get('items').json();
      main.advance(PAST_EXPIRY_MS);
      await api(session).get('me').json();
      expect(prompts).toBe(1);
    });

    it('nonces: the sign-in and the API answer use_dpop_nonce once each; rotated nonces are followed without a failure or a refresh', async () => {
      // At the start of a nonce period, so that the few real milliseconds of the test never cross into the next.
      const period = NONCE_ROTATION_S * 1000;
      nonced.advance(period - (nonced.now() % period) + 50);
      const signInMark = nonced.mark();
      const { session } = await signedIn(nonced);
      expect(tally(nonced.grantsSince(signInMark))).toEqual({ 'login:rejected': 1, 'login:issued': 1 });
      const mark = nonced.mark();
      const recorded = recordingFetch();
      const client = api(session, nonced, recorded.fetch);
      await client.get('me').json(); // the nonce of the sign-in's origin is known: no challenge
      expect(recorded.statuses()).toEqual([200]);

      // One period on: the previous nonce is still good, and the answer hands out the new one.
      nonced.advance(NONCE_ROTATION_S * 1000);
      await client.get('me').json();
      const handedOut = recorded.requests.at(-1)!.nonce;
      expect(handedOut).toBeDefined();
      await client.get('items').json();
      expect(claimsOf(recorded.requests.at(-1)!.proof!).nonce).toBe(handedOut);

      // Three periods on: the nonce is stale; one challenge, answered at once.
      nonced.advance(3 * NONCE_ROTATION_S * 1000);
      await client.get('me').json();
      expect(recorded.statuses().slice(-2)).toEqual([401, 200]);
      expect(tally(nonced.grantsSince(mark))).toEqual({});

      // Past the access token's expiry and another rotation: challenge, 401, one refresh, retry.
      nonced.advance(PAST_EXPIRY_MS);
      const before = recorded.requests.length;
      await client.get('me').json();
      expect(recorded.statuses().slice(before)).toEqual([401, 401, 200]);
      expect(tally(nonced.grantsSince(mark))).toEqual({ 'refresh_token:rotated': 1 });
      expect(session.state).toBe('active');
    });

    it('a replayed proof is refused, at the API and at the token endpoint', async () => {
      const recorded = recordingFetch();
      const store = new MemoryTokenStore();
      const { session } = await signedIn(main, { fetch: recorded.fetch, store });
      const apiRecorded = recordingFetch();
      await api(session, main, apiRecorded.fetch).get('me').json();
      const sent = apiRecorded.requests[0]!;
      const accessToken = await session.getAccessToken();
      const replayedApi = await fetch(sent.url, {
        headers: { authorization: `DPoP ${accessToken}`, dpop: sent.proof! },
      });
      expect(replayedApi.status).toBe(401);
      expect(replayedApi.headers.get('www-authenticate')).toMatch(/^DPoP error="invalid_dpop_proof"/);

      await session.refresh();
      const refreshRequest = recorded.requests.find((r) => r.url === main.server.tokenEndpoint)!;
      expect(refreshRequest).toMatchObject({ status: 200 });
      const mark = main.mark();
      const replayed = await fetch(main.server.tokenEndpoint, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', dpop: refreshRequest.proof! },
        body: new URLSearchParams({
          grant_type: 'refresh_token',
          refresh_token: store.load()!.refreshToken!,
          client_id: CLIENT_ID,
        }),
      });
      expect(replayed.status).toBe(400);
      expect(await replayed.json()).toMatchObject({ error: 'invalid_dpop_proof' });
      expect(tally(main.grantsSince(mark))).toEqual({ 'refresh_token:invalid': 1 });
      await api(session).get('me').json();
    });

    it('a stolen refresh token without the key is refused, and does not end the victim session', async () => {
      const store = new MemoryTokenStore();
      const { session } = await signedIn(main, { store });
      const stolen = store.load()!.refreshToken!;
      const attacker = newDevice();
      const mark = main.mark();
      const steal = async (proof: string | undefined) => {
        const response = await fetch(main.server.tokenEndpoint, {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded', ...(proof ? { dpop: proof } : {}) },
          body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: stolen, client_id: CLIENT_ID }),
        });
        attacker.observe(main.server.tokenEndpoint, response); // a careful thief syncs to the server's clock
        expect(response.status).toBe(400);
        expect(await response.json()).toMatchObject({ error: 'invalid_grant' });
      };
      await steal(undefined);
      await steal(await attacker.proof('POST', main.server.tokenEndpoint));
      // The victim refreshes as usual: the family was not revoked.
      main.advance(PAST_EXPIRY_MS);
      await expect(api(session).get('me').json()).resolves.toMatchObject({ username: 'alice' });
      expect(tally(main.grantsSince(mark))).toEqual({ 'refresh_token:invalid': 2, 'refresh_token:rotated': 1 });
      expect(session.state).toBe('active');
    });
  });
}
