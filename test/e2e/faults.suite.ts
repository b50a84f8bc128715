/**
 * Fault injection end to end: the built SDK talks to the reference server through a
 * loopback proxy that drops, resets, delays, answers 5xx/429/garbage, or lets the server
 * rotate and then loses the answer. For each fault the outcome is asserted: no request lost
 * (each resolves, or rejects with a typed error), no sign-out for a transient fault, no
 * duplicate rotation (the grant log shows one), and no refresh storm (the proxy counts the
 * token requests).
 */
import { NetworkError } from 'ky';
import { afterAll, afterEach, beforeAll, beforeEach, expect, it, vi } from 'vitest';
import { SessionKeeperError } from 'session-keeper';
import { ManualNetwork } from 'session-keeper/testing';
import { startFaultProxy, type Fault, type FaultProxy } from './fault-proxy.ts';
import {
  describeBackend,
  type Backend,
  recordEvents,
  sessionFactory,
  settleAll,
  startE2EServer,
  tally,
  type E2EServer,
} from './harness.ts';

/** Transient faults on the refresh grant, each followed by normal service: [name, faults]. */
const TRANSIENT_REFRESH_FAULTS: [string, Fault[]][] = [
  ['connection dropped without an answer (x2)', [{ kind: 'drop' }, { kind: 'drop' }]],
  ['connection reset (x2)', [{ kind: 'reset' }, { kind: 'reset' }]],
  ['slow answer within the refresh timeout', [{ kind: 'delay', ms: 300 }]],
  ['503 Service Unavailable (x3)', [503, 503, 503].map((status) => ({ kind: 'status', status }) as Fault)],
  ['500 with an HTML body', [{ kind: 'status', status: 500, body: '<html>Internal Server Error</html>' }]],
  [
    '502 Bad Gateway then 504 Gateway Timeout',
    [
      { kind: 'status', status: 502 },
      { kind: 'status', status: 504 },
    ],
  ],
  ['200 with a body that is not JSON (captive portal)', [{ kind: 'garbled' }]],
];

export function faultSuite(backend: Backend): void {
  describeBackend(backend, 'fault injection between the SDK and the reference server', () => {
    let e2e: E2EServer;
    let proxy: FaultProxy;
    const sessions = sessionFactory(() => ({
      tokenEndpoint: `${proxy.url}/oauth/token`,
      refreshTimeout: 800,
      tokenWaitTimeout: 10_000,
      backoff: { initialDelay: 50, maxDelay: 1500 },
    }));
    const api = (session: ReturnType<typeof sessions.create>) =>
      session.createClient({ prefix: `${proxy.url}/api/`, retry: 0 });

    beforeAll(async () => {
      e2e = await startE2EServer(backend);
    });
    afterAll(async () => e2e?.stop());
    beforeEach(async () => {
      proxy = await startFaultProxy(e2e.server.url);
    });
    afterEach(async () => {
      sessions.disposeAll();
      await proxy.close();
    });

    /** Signs in, then makes the server deem the access token expired: the next request 401s. */
    async function expiredSession(options: Parameters<typeof sessions.create>[0] = {}) {
      const session = sessions.create(options);
      const events = recordEvents(session);
      await session.setTokens(await e2e.quickLogin());
      e2e.advance(61_000);
      return { session, events, mark: e2e.mark(), proxyMark: proxy.requests.length };
    }

    function tokenRequestsSince(proxyMark: number) {
      return proxy.requests.slice(proxyMark).filter((r) => r.path.startsWith('/oauth/token'));
    }

    it.each(TRANSIENT_REFRESH_FAULTS)(
      '%s: every request succeeds, one rotation, no sign-out, no storm',
      async (_, faults) => {
        const { session, events, mark, proxyMark } = await expiredSession();
        proxy.inject('/oauth/token', faults);
        const results = await settleAll(Array.from({ length: 8 }, () => api(session).get('me').json()));
        expect(results.rejected).toEqual([]);
        expect(events.of('signedOut')).toEqual([]);
        expect(events.of('reauthRequired')).toEqual([]);
        expect(events.of('refreshFailed')).toHaveLength(faults.filter((f) => f.kind !== 'delay').length);
        expect(session.state).toBe('active');
        expect(tally(e2e.grantsSince(mark))).toEqual({ 'refresh_token:rotated': 1 });
        expect(tokenRequestsSince(proxyMark)).toHaveLength(
          faults.length + 1 - faults.filter((f) => f.kind === 'delay').length,
        );
      },
    );

    it('429 with Retry-After: the retry waits as told, then succeeds; no sign-out', async () => {
      const { session, events, mark, proxyMark } = await expiredSession();
      proxy.inject('/oauth/token', [{ kind: 'status', status: 429, retryAfter: '1', body: '{"error":"slow_down"}' }]);
      const results = await settleAll(Array.from({ length: 5 }, () => api(session).get('items').json()));
      expect(results.rejected).toEqual([]);
      const [limited, retry] = tokenRequestsSince(proxyMark);
      expect(retry!.at - limited!.at).toBeGreaterThanOrEqual(950);
      expect(events.of('refreshFailed').map((e) => e.retryInMs)).toEqual([1000]);
      expect(events.of('signedOut')).toEqual([]);
      expect(tally(e2e.grantsSince(mark))).toEqual({ 'refresh_token:rotated': 1 });
    });

    it('the server rotated but the response was lost: the retry gets the same answer (grace replay), no reuse', async () => {
      const { session, events, mark, proxyMark } = await expiredSession();
      proxy.inject('/oauth/token', [{ kind: 'lose-response' }]);
      const results = await settleAll(Array.from({ length: 5 }, () => api(session).get('me').json()));
      expect(results.rejected).toEqual([]);
      expect(events.of('signedOut')).toEqual([]);
      expect(events.of('reauthRequired')).toEqual([]);
      expect(tally(e2e.grantsSince(mark))).toEqual({ 'refresh_token:rotated': 1, 'refresh_token:replayed': 1 });
      expect(tokenRequestsSince(proxyMark)).toHaveLength(2);
      // The replayed answer carried the live child token: the next refresh rotates normally.
      await session.refresh();
      expect(tally(e2e.grantsSince(mark))).toEqual({ 'refresh_token:rotated': 2, 'refresh_token:replayed': 1 });
    });

    it('an answer slower than the refresh timeout is abandoned and retried; its late arrival is a replay, not reuse', async () => {
      const { session, events, mark } = await expiredSession({ refreshTimeout: 400 });
      proxy.inject('/oauth/token', [{ kind: 'delay', ms: 800 }]);
      const results = await settleAll(Array.from({ length: 5 }, () => api(session).get('me').json()));
      expect(results.rejected).toEqual([]);
      expect(events.of('refreshFailed')).toHaveLength(1);
      // The abandoned request still reaches the server, after the retry rotated the token.
      await vi.waitFor(() => expect(tally(e2e.grantsSince(mark))['refresh_token:replayed']).toBe(1), {
        timeout: 3000,
        interval: 50,
      });
      expect(tally(e2e.grantsSince(mark))).toEqual({ 'refresh_token:rotated': 1, 'refresh_token:replayed': 1 });
      expect(events.of('signedOut')).toEqual([]);
      await session.refresh();
      expect(tally(e2e.grantsSince(mark))['refresh_token:rotated']).toBe(2);
    });

    it('a lost response retried after the grace window is reuse: the family dies, and the app re-authenticates (no silent sign-out)', async () => {
      const prompts: string[] = [];
      const { session, events, mark } = await expiredSession({
        backoff: { initialDelay: 600, maxDelay: 600 },
        signInPrompt: async (reason) => {
          prompts.push(reason);
          return e2e.login();
        },
      });
      proxy.inject('/oauth/token', [{ kind: 'lose-response' }]);
      const lost = api(session).get('me').json();
      // The server's clock passes the 30-second grace window before the SDK's retry.
      await vi.waitFor(() => expect(tally(e2e.grantsSince(mark))['refresh_token:rotated']).toBe(1), { interval: 5 });
      e2e.advance(31_000);
      await expect(lost).resolves.toMatchObject({ username: 'alice' });
      expect(tally(e2e.grantsSince(mark))).toMatchObject({
        'refresh_token:rotated': 1,
        'refresh_token:reuse-detected': 1,
        'login:issued': 1,
      });
      expect(prompts).toEqual(['refreshRejected']);
      expect(events.of('reauthenticated').map((e) => e.method)).toEqual(['signInPrompt']);
      expect(events.of('signedOut')).toEqual([]);
    });

    it('an API request whose connection drops rejects with a typed network error; the session is untouched', async () => {
      const session = sessions.create();
      await session.setTokens(await e2e.login());
      const events = recordEvents(session);
      proxy.inject('/api/', [{ kind: 'drop' }]);
      const results = await settleAll([api(session).get('me').json(), api(session).get('items').json()]);
      expect(results.fulfilled).toBe(1);
      expect(results.rejected).toHaveLength(1);
      expect(results.rejected[0]).toBeInstanceOf(NetworkError);
      expect(proxy.tokenRequests()).toEqual([]);
      expect(events.types()).toEqual([]);
      expect(session.state).toBe('active');
    });

    it('a burst of 20 requests through drop, 503 and reset on the refresh: all succeed, one rotation, four token requests', async () => {
      const { session, events, mark, proxyMark } = await expiredSession();
      proxy.inject('/oauth/token', [{ kind: 'drop' }, { kind: 'status', status: 503 }, { kind: 'reset' }]);
      const results = await settleAll(
        Array.from({ length: 20 }, (_, i) =>
          api(session)
            .get(i % 2 ? 'me' : 'items')
            .json(),
        ),
      );
      expect(results.rejected).toEqual([]);
      expect(tokenRequestsSince(proxyMark)).toHaveLength(4);
      expect(tally(e2e.grantsSince(mark))).toEqual({ 'refresh_token:rotated': 1 });
      expect(events.of('signedOut')).toEqual([]);
    });

    it('offline, then back online: the refresh is retried at once, not after its backoff', async () => {
      const network = new ManualNetwork();
      // A backoff far beyond ky's 10 s request timeout: the request can only succeed if coming
      // back online ends the wait.
      const { session, events, mark } = await expiredSession({
        network,
        backoff: { initialDelay: 120_000, maxDelay: 120_000 },
      });
      proxy.inject('/oauth/token', [{ kind: 'drop' }]);
      network.goOffline();
      const request = api(session).get('me').json();
      await vi.waitFor(() => expect(events.of('refreshFailed')).toHaveLength(1), { interval: 5 });
      network.goOnline();
      await expect(request).resolves.toMatchObject({ username: 'alice' });
      expect(tally(e2e.grantsSince(mark))).toEqual({ 'refresh_token:rotated': 1 });
    });

    it('a refresh that keeps failing: waiting requests reject with a typed, transient error after their own timeout; the session is kept', async () => {
      const { session, events, mark } = await expiredSession({
        tokenWaitTimeout: 700,
        backoff: { initialDelay: 200, maxDelay: 400 },
      });
      proxy.inject(
        '/oauth/token',
        Array.from({ length: 50 }, () => ({ kind: 'status', status: 503 }) as Fault),
      );
      const results = await settleAll(Array.from({ length: 4 }, () => api(session).get('me').json()));
      expect(results.fulfilled).toBe(0);
      for (const error of results.rejected) {
        expect(error).toBeInstanceOf(SessionKeeperError);
        expect((error as SessionKeeperError).transient).toBe(true);
      }
      expect(events.of('signedOut')).toEqual([]);
      expect(session.state).toBe('refreshing');
      // No storm: a few attempts in ~0.7 s with a 200-400 ms backoff.
      expect(events.of('refreshFailed').length).toBeLessThanOrEqual(5);
      // Service is back: the next request goes through.
      proxy.clear();
      await expect(api(session).get('me').json()).resolves.toMatchObject({ username: 'alice' });
      expect(tally(e2e.grantsSince(mark))['refresh_token:rotated']).toBe(1);
    });
  });
}
