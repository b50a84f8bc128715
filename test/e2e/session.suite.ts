/**
 * End to end: the built SDK ('session-keeper', as users install it) against the reference
 * server (examples/server) on a loopback port, SQLite and PostgreSQL: each invariant of the
 * README's "How a refresh goes" on a real server, plus relaunch, sign-out and device-key re-auth.
 */
import { afterAll, afterEach, beforeAll, expect, it, vi } from 'vitest';
import {
  MemoryTokenStore,
  SessionExpiredError,
  WebStorageTokenStore,
  inProcessLock,
  type StorageLike,
} from 'session-keeper';
import { flushMicrotasks, ManualLifecycle } from 'session-keeper/testing';
import {
  CLIENT_ID,
  countingFetch,
  createDeviceKey,
  describeBackend,
  type Backend,
  deviceKeyBiometric,
  jumpableClock,
  recordEvents,
  sessionFactory,
  settleAll,
  startE2EServer,
  tally,
  type E2EServer,
} from './harness.ts';

export function sessionSuite(backend: Backend): void {
  describeBackend(backend, 'end to end against the reference server', () => {
    let main: E2EServer;
    /** A second server on the same database, with 2-second access tokens. */
    let short: E2EServer;
    let stopAll: () => Promise<void>;
    const sessions = sessionFactory(() => ({
      tokenEndpoint: main.server.tokenEndpoint,
      revocationEndpoint: main.server.revocationEndpoint,
    }));
    const api = (session: ReturnType<typeof sessions.create>, fetchFn?: typeof globalThis.fetch) =>
      session.createClient({ prefix: `${main.server.url}/api/`, retry: 0, ...(fetchFn ? { fetch: fetchFn } : {}) });

    beforeAll(async () => {
      const first = await startE2EServer(backend);
      main = first;
      short = await startE2EServer(backend, { accessTokenTtlSeconds: 2 }, first.database);
      stopAll = async () => {
        await short.stop();
        await first.stop(); // drops the database too
      };
    });
    afterAll(async () => stopAll?.());
    afterEach(() => sessions.disposeAll());

    it('1. refreshes by itself before the access token expires, with no request needed', async () => {
      const session = sessions.create({ tokenEndpoint: short.server.tokenEndpoint });
      const events = recordEvents(session);
      const mark = short.mark();
      await session.setTokens(await short.login());
      const firstExpiry = session.info!.accessTokenExpiresAt!;
      // A 2-second token: the SDK's margin is capped at half the lifetime, so about 1 s.
      await vi.waitFor(() => expect(events.of('refreshed').length).toBeGreaterThan(0), {
        timeout: 4000,
        interval: 50,
      });
      expect(Date.now()).toBeLessThan(firstExpiry);
      expect(tally(short.grantsSince(mark))).toEqual({ 'login:issued': 1, 'refresh_token:rotated': 1 });
      const counted = countingFetch();
      const me = await session
        .createClient({ prefix: `${short.server.url}/api/`, fetch: counted.fetch, retry: 0 })
        .get('me')
        .json<{ username: string }>();
      expect(me.username).toBe('alice');
      expect(counted.statuses).toEqual([200]);
    });

    it('2. a 401 triggers one refresh and the request is retried and succeeds', async () => {
      const session = sessions.create();
      await session.setTokens(await main.quickLogin());
      const mark = main.mark();
      main.advance(61_000); // the server now deems the access token expired; the SDK does not know
      const counted = countingFetch();
      const me = await api(session, counted.fetch).get('me').json<{ username: string }>();
      expect(me.username).toBe('alice');
      expect(counted.statuses).toEqual([401, 200]);
      expect(tally(main.grantsSince(mark))).toEqual({ 'refresh_token:rotated': 1 });
      expect(session.state).toBe('active');
    });

    it('3. a revoked refresh token asks the app to re-authenticate: biometric first (device key, RFC 7523)', async () => {
      const calls: string[] = [];
      const deviceKey = await createDeviceKey();
      const tokens = await main.login(deviceKey.publicJwk);
      const session = sessions.create({
        biometric: deviceKeyBiometric(
          { privateKey: deviceKey.privateKey, keyId: tokens.device_key_id! },
          { now: main.now, calls },
        ),
        signInPrompt: async () => {
          calls.push('signInPrompt');
          return null;
        },
      });
      const events = recordEvents(session);
      await session.setTokens(tokens);
      await main.revoke(tokens.refresh_token!);
      const mark = main.mark();
      main.advance(61_000);
      const results = await settleAll([api(session).get('me').json(), api(session).get('items').json()]);
      expect(results.rejected).toEqual([]);
      expect(calls).toEqual(['biometric']);
      expect(events.of('reauthRequired')).toEqual([{ reason: 'refreshRejected' }]);
      expect(events.of('reauthenticated').map((e) => e.method)).toEqual(['biometric']);
      expect(tally(main.grantsSince(mark))).toEqual({ 'refresh_token:revoked': 1, 'jwt-bearer:issued': 1 });
      expect(session.state).toBe('active');
    });

    it('3b. when the biometric prompt is cancelled, the app sign-in prompt comes next, and requests are retried', async () => {
      const calls: string[] = [];
      const deviceKey = await createDeviceKey();
      const tokens = await main.login(deviceKey.publicJwk);
      const session = sessions.create({
        biometric: deviceKeyBiometric(
          { privateKey: deviceKey.privateKey, keyId: tokens.device_key_id! },
          { now: main.now, calls, answer: 'cancel' },
        ),
        signInPrompt: async (reason) => {
          calls.push(`signInPrompt:${reason}`);
          return main.login();
        },
      });
      const events = recordEvents(session);
      await session.setTokens(tokens);
      await main.revoke(tokens.refresh_token!);
      main.advance(61_000);
      const results = await settleAll(Array.from({ length: 5 }, () => api(session).get('me').json()));
      expect(results.rejected).toEqual([]);
      expect(calls).toEqual(['biometric', 'signInPrompt:refreshRejected']);
      expect(events.of('reauthenticated').map((e) => e.method)).toEqual(['signInPrompt']);
      expect(events.of('signedOut')).toEqual([]);
    });

    it('4. foreground refreshes the token when it is due, and does nothing otherwise', async () => {
      const clock = jumpableClock();
      const lifecycle = new ManualLifecycle();
      const session = sessions.create({ clock, lifecycle });
      await session.setTokens(await main.login());
      const mark = main.mark();

      lifecycle.foreground(); // fresh token: nothing to do (a refresh would start synchronously)
      expect(session.state).toBe('active');
      await flushMicrotasks();
      expect(main.grantsSince(mark)).toEqual([]);

      // The app slept 45 s in the background: timers frozen, the wall clock moved on.
      clock.jump(45_000);
      main.advance(45_000);
      const events = recordEvents(session);
      lifecycle.foreground();
      await vi.waitFor(() => expect(events.of('refreshed')).toHaveLength(1), { timeout: 3000, interval: 20 });
      expect(tally(main.grantsSince(mark))).toEqual({ 'refresh_token:rotated': 1 });
      const counted = countingFetch();
      await api(session, counted.fetch).get('me').json();
      expect(counted.statuses).toEqual([200]);

      lifecycle.foreground(); // just refreshed: nothing to do
      expect(session.state).toBe('active');
      await flushMicrotasks();
      expect(tally(main.grantsSince(mark))).toEqual({ 'refresh_token:rotated': 1 });
    });

    it('5. a burst of 50 concurrent requests with an expired token causes one refresh on the server', async () => {
      const session = sessions.create();
      await session.setTokens(await main.quickLogin());
      const mark = main.mark();
      main.advance(61_000);
      const counted = countingFetch();
      const results = await settleAll(
        Array.from({ length: 50 }, (_, i) =>
          api(session, counted.fetch)
            .get(i % 2 ? 'me' : 'items')
            .json(),
        ),
      );
      expect(results.rejected).toEqual([]);
      expect(results.fulfilled).toBe(50);
      const grants = tally(main.grantsSince(mark));
      expect(grants).toEqual({ 'refresh_token:rotated': 1 });
    });

    it('5b. two contexts sharing a store and a lock: 2 x 25 concurrent requests, one refresh, no replay', async () => {
      const store = new MemoryTokenStore();
      const lock = inProcessLock();
      const tab1 = sessions.create({ store, lock });
      const tab2 = sessions.create({ store, lock });
      await tab1.setTokens(await main.quickLogin());
      await vi.waitFor(() => expect(tab2.state).toBe('active'));
      const mark = main.mark();
      main.advance(61_000);
      const results = await settleAll([
        ...Array.from({ length: 25 }, () => api(tab1).get('me').json()),
        ...Array.from({ length: 25 }, () => api(tab2).get('items').json()),
      ]);
      expect(results.rejected).toEqual([]);
      expect(tally(main.grantsSince(mark))).toEqual({ 'refresh_token:rotated': 1 });
    });

    it('restores the session on relaunch: no request while the token is valid, one refresh once expired', async () => {
      const storage = new Map<string, string>();
      const localStorageLike: StorageLike = {
        getItem: (key) => storage.get(key) ?? null,
        setItem: (key, value) => void storage.set(key, value),
        removeItem: (key) => void storage.delete(key),
      };
      const clock = jumpableClock();
      const first = sessions.create({ store: new WebStorageTokenStore({ storage: localStorageLike }), clock });
      await first.setTokens(await main.login());
      first.dispose(); // the app is killed
      expect(JSON.stringify([...storage.values()])).toContain('refreshToken');

      const mark = main.mark();
      const relaunched = sessions.create({ store: new WebStorageTokenStore({ storage: localStorageLike }), clock });
      expect(await relaunched.restore()).toBe('active');
      expect(main.grantsSince(mark)).toEqual([]);
      await api(relaunched).get('me').json();
      relaunched.dispose();

      // Relaunched a day... well, 2 minutes later: the access token expired meanwhile.
      clock.jump(120_000);
      main.advance(120_000);
      const later = sessions.create({ store: new WebStorageTokenStore({ storage: localStorageLike }), clock });
      expect(await later.restore()).toBe('active');
      expect(tally(main.grantsSince(mark))).toEqual({ 'refresh_token:rotated': 1 });
      const counted = countingFetch();
      await api(later, counted.fetch).get('me').json();
      expect(counted.statuses).toEqual([200]);
    });

    it('signs out gracefully when every path fails: biometric refused, prompt dismissed', async () => {
      const calls: string[] = [];
      const deviceKey = await createDeviceKey();
      const tokens = await main.login(deviceKey.publicJwk);
      const store = new MemoryTokenStore();
      const session = sessions.create({
        store,
        biometric: deviceKeyBiometric(
          { privateKey: deviceKey.privateKey, keyId: tokens.device_key_id! },
          { now: main.now, calls },
        ),
        signInPrompt: async () => {
          calls.push('signInPrompt');
          return null; // the user closed the sign-in screen
        },
      });
      const events = recordEvents(session);
      await session.setTokens(tokens);
      // An administrator ended every session of alice and removed her device keys.
      expect(await main.server.revokeUserSessions('alice')).toBeGreaterThan(0);
      const mark = main.mark();
      main.advance(61_000);
      const results = await settleAll(Array.from({ length: 3 }, () => api(session).get('me').json()));
      expect(results.fulfilled).toBe(0);
      expect(results.rejected.every((error) => error instanceof SessionExpiredError)).toBe(true);
      expect(calls).toEqual(['biometric', 'signInPrompt']);
      expect(events.of('signedOut')).toEqual([{ reason: 'reauthFailed' }]);
      expect(session.state).toBe('signedOut');
      expect(store.load()).toBeNull();
      await expect(session.getAccessToken()).rejects.toBeInstanceOf(SessionExpiredError);
      expect(tally(main.grantsSince(mark))).toMatchObject({ 'refresh_token:revoked': 1, 'jwt-bearer:invalid': 1 });
    });

    it('signOut() revokes the refresh token at the server (RFC 7009)', async () => {
      const store = new MemoryTokenStore();
      const session = sessions.create({ store });
      await session.setTokens(await main.quickLogin());
      const refreshToken = store.load()!.refreshToken!;
      const mark = main.mark();
      await session.signOut();
      expect(tally(main.grantsSince(mark))).toEqual({ 'revoke:revoked': 1 });
      const reuse = await fetch(main.server.tokenEndpoint, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({
          grant_type: 'refresh_token',
          refresh_token: refreshToken,
          client_id: CLIENT_ID,
        }).toString(),
      });
      expect(reuse.status).toBe(400);
      await expect(api(session).get('me').json()).rejects.toBeInstanceOf(SessionExpiredError);
    });
  });
}
