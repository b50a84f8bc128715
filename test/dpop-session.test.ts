import { HTTPError } from 'ky';
import { calculateJwkThumbprint } from 'jose';
import { http, HttpResponse } from 'msw';
import { setupServer } from 'msw/node';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { dpop } from '../src/dpop/dpop.ts';
import { memoryKeyStore } from '../src/dpop/key-store.ts';
import { ConfigurationError, InvalidTokenResponseError } from '../src/errors.ts';
import type { SessionManagerOptions } from '../src/options.ts';
import { inProcessLock } from '../src/ports/lock.ts';
import { MemoryTokenStore } from '../src/ports/token-store.ts';
import { SessionManager } from '../src/ky-session-manager.ts';
import { ManualClock, ManualLifecycle, ManualNetwork } from '../src/testing.ts';
import { fromStoredSession, parseTokenResponse, toStoredSession } from '../src/token-set.ts';
import { DPOP_API, DPOP_REVOKE_URL, DPOP_TOKEN_URL, FakeDpopServer } from './helpers/fake-dpop-server.ts';
import { recordEvents, settle } from './helpers/setup.ts';

const mock = setupServer();
beforeAll(() => mock.listen({ onUnhandledFrame: 'error' }));
afterAll(() => mock.close());

let clock: ManualClock;
let server: FakeDpopServer;
let keyStore: ReturnType<typeof memoryKeyStore>;
let store: MemoryTokenStore;
let lock: ReturnType<typeof inProcessLock>;
let managers: SessionManager[];
let names = 0;

beforeEach(() => {
  clock = new ManualClock();
  server = new FakeDpopServer(clock);
  keyStore = memoryKeyStore(`dpop-session-${++names}`);
  store = new MemoryTokenStore();
  lock = inProcessLock();
  managers = [];
  mock.use(...server.handlers());
});
afterEach(() => {
  for (const manager of managers) manager.dispose();
  mock.resetHandlers();
});

/** A manager with DPoP on (`{ keyStore }`: the DPoP code loads on first use). */
function manager(options: Partial<SessionManagerOptions> = {}) {
  const session = new SessionManager({
    tokenEndpoint: DPOP_TOKEN_URL,
    revocationEndpoint: DPOP_REVOKE_URL,
    clientId: 'test-app',
    store,
    clock,
    lock,
    lifecycle: new ManualLifecycle(),
    network: new ManualNetwork(),
    broadcast: false,
    dpop: { keyStore },
    ...options,
  });
  managers.push(session);
  return session;
}

/** The app's sign-in: tokens bound to the session's key (made in the key store first). */
async function signedIn(options: Partial<SessionManagerOptions> = {}) {
  const session = manager(options);
  await session.setTokens(server.issue(await dpop({ keyStore }).thumbprint()));
  return session;
}

const thumbprintOf = async (proof: { header: { jwk?: object } }) => calculateJwkThumbprint(proof.header.jwk as never);

describe('DPoP at the token endpoint', () => {
  it('a refresh sends a proof (no ath) and gets a DPoP token bound to the key', async () => {
    const session = await signedIn();
    await session.refresh();
    expect(server.refreshes).toBe(1);
    const [proof] = server.accepted;
    expect(proof!.payload).toMatchObject({ htm: 'POST', htu: DPOP_TOKEN_URL, iat: Math.floor(clock.now() / 1000) });
    expect(proof!.payload.ath).toBeUndefined();
    expect(proof!.thumbprint).toBe(await dpop({ keyStore }).thumbprint());
  });

  it('use_dpop_nonce is retried once with the nonce: one refresh, no failure', async () => {
    server.requireNonce = true;
    const session = await signedIn();
    const events = recordEvents(session);
    await session.refresh();
    expect(server.tokenRequests).toBe(2);
    expect(server.refreshes).toBe(1);
    expect(server.accepted[0]!.payload.nonce).toBe('auth-nonce-1');
    expect(events.types()).toEqual(['refreshed']);
  });

  it('a nonce kept from the last answer is used at once, and a rotated one costs one retry', async () => {
    server.requireNonce = true;
    const session = await signedIn();
    await session.refresh(); // 2 requests: learns the nonce
    await session.refresh(); // 1 request
    server.nonces['https://auth.test'] = 'auth-nonce-2';
    await session.refresh(); // 2 requests: the old nonce is refused, the new one learnt
    expect(server.tokenRequests).toBe(5);
    expect(server.refreshes).toBe(3);
  });

  it('a server that keeps asking for a nonce is a transient failure, two requests per attempt: no loop, no sign-out', async () => {
    server.alwaysAskForNonce = true;
    const session = await signedIn();
    const events = recordEvents(session);
    void session.refresh().catch(() => {});
    await vi.waitFor(() => expect(events.types()).toEqual(['refreshFailed']));
    expect(server.tokenRequests).toBe(2);
    expect(session.state).toBe('refreshing');
    await clock.advance(1_000); // the backoff: one more attempt, two more requests
    await vi.waitFor(() => expect(events.types()).toEqual(['refreshFailed', 'refreshFailed']));
    expect(server.tokenRequests).toBe(4);
    expect(session.state).toBe('refreshing');
  });

  it('a device clock three hours behind: the proof refused for its iat is sent again on the server clock from Date', async () => {
    server.serverOffsetMs = 3 * 3600_000;
    const session = await signedIn();
    const events = recordEvents(session);
    await session.refresh();
    expect(server.tokenRequests).toBe(2);
    expect(server.refreshes).toBe(1);
    expect(Math.abs(server.accepted[0]!.payload.iat! * 1000 - server.serverNow())).toBeLessThanOrEqual(1000);
    expect(events.types()).toEqual(['refreshed']);
    // The API, not heard from yet, gets the same estimate: accepted at the first try.
    await session.createClient({ prefix: DPOP_API }).get('items').json();
    expect(server.apiCalls).toBe(1);
  });

  it('sign-out revokes the refresh token with a proof, then deletes the key', async () => {
    const session = await signedIn();
    await session.signOut();
    expect(server.revocations).toEqual([{ proof: true }]);
    expect(await keyStore.load()).toBeUndefined();
  });

  it('a lost key: the bound refresh token is refused and the session re-authenticates through the prompt (no silent sign-out)', async () => {
    const first = await signedIn();
    first.dispose();
    await keyStore.clear(); // site data cleared: the key is gone, the stored session is not
    let prompts = 0;
    const session = manager({
      signInPrompt: async () => {
        prompts++;
        return server.issue(await dpop({ keyStore }).thumbprint()); // the new key made meanwhile
      },
    });
    const events = recordEvents(session);
    await session.restore();
    const api = session.createClient({ prefix: DPOP_API });
    await expect(api.get('items').json()).resolves.toMatchObject({ ok: true });
    expect(prompts).toBe(1);
    expect(events.types()).toEqual(['reauthRequired', 'reauthenticated']);
    expect(session.state).toBe('active');
  });
});

describe('DPoP at a resource server', () => {
  it('requests carry Authorization: DPoP and a proof with ath and htu without the query', async () => {
    const session = await signedIn();
    const api = session.createClient({ prefix: DPOP_API });
    await api.get('items', { searchParams: { page: 2 } }).json();
    const [proof] = server.accepted;
    expect(proof!.payload).toMatchObject({ htm: 'GET', htu: `${DPOP_API}items` });
    expect(proof!.payload.ath).toMatch(/^[\w-]{43}$/);
    expect(proof!.header.jwk).not.toHaveProperty('d');
  });

  it('the use_dpop_nonce challenge is answered once with the nonce, and starts no refresh', async () => {
    server.requireNonce = true;
    const session = await signedIn();
    const api = session.createClient({ prefix: DPOP_API });
    await expect(api.post('items', { json: { name: 'a body, sent twice' } }).json()).resolves.toMatchObject({
      ok: true,
    });
    expect(server.apiCalls).toBe(2);
    expect(server.accepted[0]!.payload.nonce).toBe('api-nonce-1');
    await api.get('items').json(); // the nonce is known now
    expect(server.apiCalls).toBe(3);
    expect(server.tokenRequests).toBe(0);
  });

  it('a server that keeps challenging: the 401 goes back after two requests, and no refresh starts', async () => {
    server.apiAlwaysAsksForNonce = true;
    const session = await signedIn();
    const api = session.createClient({ prefix: DPOP_API, retry: 0 });
    const error = await api
      .get('items')
      .json()
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(HTTPError);
    expect((error as HTTPError).response.status).toBe(401);
    expect(server.apiCalls).toBe(2);
    expect(server.tokenRequests).toBe(0);
    expect(session.state).toBe('active');
  });

  it('an expired DPoP token: the 401 refreshes once and the retry has a new proof for the new token', async () => {
    const session = await signedIn();
    const api = session.createClient({ prefix: DPOP_API });
    server.expireAccessTokens();
    await expect(api.get('items').json()).resolves.toMatchObject({ ok: true });
    expect(server.refreshes).toBe(1);
    expect(server.apiCalls).toBe(2);
  });

  it('100 DPoP requests after expiry share one refresh, each with its own proof', async () => {
    const session = await signedIn({ refreshMargin: 0 });
    const api = session.createClient({ prefix: DPOP_API });
    clock.set(clock.now() + 3601 * 1000); // expired, and no timer has run yet
    const results = await settle(Array.from({ length: 100 }, (_, i) => api.get(`items/${i}`).json()));
    expect(results.rejected).toEqual([]);
    expect(server.refreshes).toBe(1);
    expect(server.apiCalls).toBe(100);
    const jtis = new Set(server.accepted.map((proof) => proof.payload.jti));
    expect(jtis.size).toBe(101);
    expect(new Set(await Promise.all(server.accepted.map(thumbprintOf))).size).toBe(1);
  });

  it('the token goes to untrusted origins neither as DPoP nor with a proof', async () => {
    const session = await signedIn();
    const seen: Request[] = [];
    const api = session.createClient({
      baseUrl: DPOP_API,
      fetch: async (input) => (
        seen.push(input as Request),
        new Response('{}', { headers: { 'content-type': 'application/json' } })
      ),
    });
    await api.get('https://elsewhere.test/x').json();
    expect(seen[0]!.headers.get('authorization')).toBeNull();
    expect(seen[0]!.headers.get('dpop')).toBeNull();
  });
});

describe('DPoP through session.fetch', () => {
  it('a URL with init and a Request both go out with DPoP; the nonce challenge is answered once, without a refresh', async () => {
    server.requireNonce = true;
    const session = await signedIn({ trustedOrigins: ['https://api.test'] });
    const first = await session.fetch(`${DPOP_API}items?page=1`, { method: 'POST', body: JSON.stringify({ a: 1 }) });
    expect(first.status).toBe(200);
    expect(server.apiCalls).toBe(2); // the challenge, then the answer
    const second = await session.fetch(new Request(`${DPOP_API}items`));
    expect(second.status).toBe(200);
    expect(server.apiCalls).toBe(3);
    expect(server.accepted.map((proof) => proof.payload.htu)).toEqual([`${DPOP_API}items`, `${DPOP_API}items`]);
    expect(server.tokenRequests).toBe(0);
  });

  it('a request with its own Authorization header goes out as it is, without a proof', async () => {
    const seen: Request[] = [];
    const session = await signedIn({
      trustedOrigins: ['https://api.test'],
    });
    mock.use(http.all(`${DPOP_API}*`, ({ request }) => (seen.push(request), HttpResponse.json({ ok: true }))));
    await session.fetch(`${DPOP_API}x`, { headers: { authorization: 'Bearer the-callers-own' } });
    expect(seen[0]!.headers.get('authorization')).toBe('Bearer the-callers-own');
    expect(seen[0]!.headers.has('dpop')).toBe(false);
  });
});

describe('the dpop option', () => {
  it('token_type DPoP is refused when DPoP is off and required when it is on', async () => {
    const off = manager({ dpop: undefined });
    await expect(off.setTokens({ access_token: 'a', token_type: 'DPoP', expires_in: 60 })).rejects.toThrow(
      InvalidTokenResponseError,
    );
    const on = manager();
    await expect(on.setTokens({ access_token: 'a', token_type: 'Bearer', expires_in: 60 })).rejects.toThrow(
      /not bound to the key/,
    );
    await expect(on.setTokens({ access_token: 'a', token_type: 'DPoP', expires_in: 60 })).resolves.toBeUndefined();
  });

  it('a stored session keeps its DPoP token type', () => {
    const tokens = parseTokenResponse(
      { access_token: 'a', token_type: 'dpop', refresh_token: 'r' },
      0,
      undefined,
      true,
    );
    expect(tokens.tokenType).toBe('DPoP');
    expect(fromStoredSession(toStoredSession(tokens, true, 1))?.tokenType).toBe('DPoP');
  });

  it('dpop: true loads the DPoP code on first use and works like the handle', async () => {
    const session = manager({ dpop: true, lockName: `dpop-true-${++names}` });
    await session.setTokens(
      server.issue(await dpop({ keyStore: memoryKeyStore(`dpop-true-${names}:dpop`) }).thumbprint()),
    );
    await session.refresh();
    await session.createClient({ prefix: DPOP_API }).get('items').json();
    expect(server.refreshes).toBe(1);
    expect(new Set(await Promise.all(server.accepted.map(thumbprintOf))).size).toBe(1);
  });

  it.each([['yes'], [1], [null], [{ keyStore: {} }], [{ keyStore: { load() {}, save() {} } }]])(
    'rejects %j with a clear message',
    (value) => {
      expect(() => manager({ dpop: value as never })).toThrow(ConfigurationError);
    },
  );

  it('off by default: requests carry Bearer and no proof', async () => {
    const seen: Request[] = [];
    const session = manager({ dpop: undefined });
    await session.setTokens({ access_token: 'plain', token_type: 'Bearer', expires_in: 60 });
    const api = session.createClient({
      prefix: DPOP_API,
      fetch: async (input) => (
        seen.push(input as Request),
        new Response('{}', { headers: { 'content-type': 'application/json' } })
      ),
    });
    await api.get('items').json();
    expect(seen[0]!.headers.get('authorization')).toBe('Bearer plain');
    expect(seen[0]!.headers.has('dpop')).toBe(false);
  });
});
