/**
 * Interop: session-keeper with DPoP against node-oidc-provider 9 (a certified OpenID
 * provider), started in this process on 127.0.0.1 with short-lived access tokens. A public
 * client whose tokens must be DPoP-bound; with and without the provider requiring nonces.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { memoryKeyStore } from '../../src/dpop/key-store.ts';
import { generateDpopKeys } from '../../src/dpop/keys.ts';
import { dpop } from '../../src/dpop/dpop.ts';
import { MemoryTokenStore } from '../../src/ports/token-store.ts';
import { SessionManager } from '../../src/ky-session-manager.ts';
import type { SessionManagerOptions } from '../../src/options.ts';
import { CLIENT_ID, startProvider, thumbprintIn, type RunningProvider } from './provider.ts';

const ACCESS_TOKEN_TTL_SECONDS = 2;
/** How long each session runs: several access-token lifetimes. */
const RUN_MS = 9_000;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
let names = 0;

describe.each([
  { requireNonce: false, label: 'without nonces' },
  { requireNonce: true, label: 'with nonces required' },
])('DPoP against node-oidc-provider 9 ($label)', ({ requireNonce }) => {
  let op: RunningProvider;
  const managers: SessionManager[] = [];

  beforeEach(async () => {
    op = await startProvider({ requireNonce, accessTokenTtl: ACCESS_TOKEN_TTL_SECONDS });
  });
  afterEach(async () => {
    for (const manager of managers.splice(0)) manager.dispose();
    await op.close();
  });

  /** A manager with `dpop: true` (its key in the default memory key store named after its lock). */
  function manager(options: Partial<SessionManagerOptions> = {}) {
    const lockName = `interop-${++names}`;
    const session = new SessionManager({
      tokenEndpoint: op.tokenEndpoint,
      revocationEndpoint: op.revocationEndpoint,
      clientId: CLIENT_ID,
      dpop: true,
      lockName,
      broadcast: false,
      refreshMargin: 500,
      ...options,
    });
    managers.push(session);
    return { session, keyStore: memoryKeyStore(`${options.lockName ?? lockName}:dpop`) };
  }

  /** The app's sign-in: a key made for the session, and tokens bound to it. */
  async function signIn(session: SessionManager, keyStore: ReturnType<typeof memoryKeyStore>) {
    if (!(await keyStore.load())) await keyStore.save(await generateDpopKeys());
    await session.setTokens(await op.mint('alice', await thumbprintIn(keyStore)));
  }

  it('refreshes DPoP-bound tokens across several lifetimes and calls userinfo through the ky client, without a failure', async () => {
    const { session, keyStore } = manager();
    await signIn(session, keyStore);
    let refreshed = 0;
    session.on('refreshed', () => void refreshed++);
    const api = session.createClient({ prefix: op.issuer });
    const started = Date.now();
    let calls = 0;
    const failures: unknown[] = [];
    while (Date.now() - started < RUN_MS) {
      // A small herd each round: they share one token, one nonce, one refresh.
      const round = await Promise.allSettled(Array.from({ length: 3 }, () => api.get('me').json<{ sub: string }>()));
      for (const result of round) {
        calls++;
        if (result.status === 'rejected') failures.push(result.reason);
        else expect(result.value.sub).toBe('alice');
      }
      await sleep(150);
    }
    console.info(
      `[interop ${requireNonce ? 'nonce' : 'no nonce'}] userinfo calls ${calls}, failures ${failures.length}, ` +
        `refreshes ${refreshed} (provider counted ${op.counts.refreshes}), grant errors ${JSON.stringify(op.counts.grantErrors)}, ` +
        `userinfo errors ${JSON.stringify(op.counts.userinfoErrors)}`,
    );
    expect(failures).toEqual([]);
    expect(refreshed).toBeGreaterThanOrEqual(3);
    expect(op.counts.refreshes).toBe(refreshed);
    expect(session.state).toBe('active');
    // Only the nonce challenges, each answered once: nothing else went wrong.
    expect(Object.keys(op.counts.grantErrors).filter((error) => error !== 'use_dpop_nonce')).toEqual([]);
    expect(Object.keys(op.counts.userinfoErrors).filter((error) => error !== 'use_dpop_nonce')).toEqual([]);
    if (!requireNonce) expect(op.counts.grantErrors).toEqual({});
  });

  it('the tokens are bound: the access token is refused as a bearer token, the refresh token without the key', async () => {
    const { session, keyStore } = manager();
    if (!(await keyStore.load())) await keyStore.save(await generateDpopKeys());
    const minted = await op.mint('alice', await thumbprintIn(keyStore));
    await session.setTokens(minted);
    await session.refresh();
    const token = await session.getAccessToken();
    const bearer = await fetch(op.userinfo, { headers: { authorization: `Bearer ${token}` } });
    expect(bearer.status).toBe(401);
    const refreshWith = async (proofs?: ReturnType<typeof dpop>) => {
      const body = new URLSearchParams({
        grant_type: 'refresh_token',
        refresh_token: minted.refresh_token!,
        client_id: CLIENT_ID,
      });
      for (let attempt = 1; ; attempt++) {
        const headers: Record<string, string> = proofs ? { dpop: (await proofs.proof('POST', op.tokenEndpoint))! } : {};
        const response = await fetch(op.tokenEndpoint, { method: 'POST', headers, body });
        proofs?.observe(op.tokenEndpoint, response);
        const answer = { status: response.status, ...((await response.json()) as { error: string }) };
        if (answer.error !== 'use_dpop_nonce' || attempt === 2) return answer;
      }
    };
    expect(await refreshWith()).toMatchObject({ status: 400, error: 'invalid_grant' });
    // Another device's key, with the nonce when the provider asks for it: still refused.
    expect(await refreshWith(dpop({ keyStore: memoryKeyStore('another-device') }))).toMatchObject({
      status: 400,
      error: 'invalid_grant',
    });
    expect(session.state).toBe('active');
  });

  it('20 concurrent requests whose token the provider stopped accepting share one refresh', async () => {
    const { session, keyStore } = manager();
    await signIn(session, keyStore);
    const api = session.createClient({ prefix: op.issuer });
    await api.get('me').json(); // the nonce is known (when required)
    await op.destroyAccessToken(await session.getAccessToken());
    const results = await Promise.allSettled(Array.from({ length: 20 }, () => api.get('me').json()));
    expect(results.filter((result) => result.status === 'rejected')).toEqual([]);
    expect(op.counts.refreshes).toBe(1);
  });

  it('a refresh before any other request: one use_dpop_nonce when nonces are required, retried at once, no failure', async () => {
    const { session, keyStore } = manager();
    await signIn(session, keyStore);
    let failed = 0;
    session.on('refreshFailed', () => void failed++);
    await session.refresh();
    expect(op.counts.grantErrors).toEqual(requireNonce ? { use_dpop_nonce: 1 } : {});
    expect(op.counts.refreshes).toBe(1);
    expect(failed).toBe(0);
  });

  it('a lost key (site data cleared) leads to re-authentication, once, and then it works again', async () => {
    const store = new MemoryTokenStore();
    const lockName = `interop-lost-${++names}`;
    const first = manager({ store, lockName });
    await signIn(first.session, first.keyStore);
    first.session.dispose();
    await first.keyStore.clear(); // the key is gone; the stored session is not

    let prompts = 0;
    const reasons: string[] = [];
    const { session, keyStore } = manager({
      store,
      lockName,
      signInPrompt: async () => {
        prompts++;
        // The app's sign-in again, bound to the key this session made meanwhile.
        return op.mint('alice', await thumbprintIn(keyStore));
      },
    });
    session.on('reauthRequired', ({ reason }) => void reasons.push(reason));
    let signedOut = 0;
    session.on('signedOut', () => void signedOut++);
    await session.restore();
    const api = session.createClient({ prefix: op.issuer });
    await expect(api.get('me').json()).resolves.toMatchObject({ sub: 'alice' });
    expect(prompts).toBe(1);
    expect(reasons).toEqual(['refreshRejected']);
    expect(signedOut).toBe(0);
    expect(op.counts.grantErrors.invalid_grant).toBe(1);
    await expect(api.get('me').json()).resolves.toMatchObject({ sub: 'alice' });
    expect(prompts).toBe(1);
  });

  it('sign-out revokes the refresh token with a proof and deletes the key', async () => {
    const { session, keyStore } = manager();
    await signIn(session, keyStore);
    await session.signOut();
    expect(op.counts.revocations).toBe(1);
    expect(op.counts.requests.filter((request) => request.path === '/token/revocation')).toEqual([
      { path: '/token/revocation', proof: true },
    ]);
    expect(await keyStore.load()).toBeUndefined();
  });

  it('the dpop() handle signs with the same key the app binds its sign-in to (thumbprint)', async () => {
    const proofs = dpop();
    const session = new SessionManager({
      tokenEndpoint: op.tokenEndpoint,
      clientId: CLIENT_ID,
      dpop: proofs,
      lockName: `interop-handle-${++names}`,
      broadcast: false,
    });
    managers.push(session);
    await session.setTokens(await op.mint('alice', await proofs.thumbprint()));
    await session.refresh();
    const api = session.createClient({ prefix: op.issuer });
    await expect(api.get('me').json()).resolves.toMatchObject({ sub: 'alice' });
    expect(op.counts.refreshes).toBe(1);
  });
});
