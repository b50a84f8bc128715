/** The README's DPoP example, compiled and run against the fake DPoP server (nonces required). */
import { setupServer } from 'msw/node';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { dpop } from '../src/dpop/dpop.ts';
import { memoryKeyStore } from '../src/dpop/key-store.ts';
import { SessionManager } from '../src/ky-session-manager.ts';
import { ManualClock } from '../src/testing.ts';
import { DPOP_API, DPOP_TOKEN_URL, FakeDpopServer } from './helpers/fake-dpop-server.ts';

const clock = new ManualClock();
const server = new FakeDpopServer(clock);
server.requireNonce = true;
const mock = setupServer(...server.handlers());
beforeAll(() => mock.listen({ onUnhandledFrame: 'error' }));
afterAll(() => mock.close());

it('the README example signs the sign-in with the session key, then the session refreshes and calls the API', async () => {
  const tokenEndpoint = DPOP_TOKEN_URL;
  const signInPrompt = async () => null;
  const codeExchangeForm = new URLSearchParams({ grant_type: 'authorization_code', code: 'c', client_id: 'my-app' });

  // --- as in the README (plus the test's key store and clock; the form from the code's callback) ---
  const proofs = dpop({ keyStore: memoryKeyStore('readme') });
  const session = new SessionManager({
    tokenEndpoint,
    clientId: 'my-app',
    dpop: proofs,
    signInPrompt,
    clock,
    broadcast: false,
  });

  const exchange = () =>
    proofs
      .proof('POST', tokenEndpoint)
      .then((proof) => fetch(tokenEndpoint, { method: 'POST', headers: { DPoP: proof! }, body: codeExchangeForm }));
  let response = await exchange();
  proofs.observe(tokenEndpoint, response); // the server's nonce and clock
  if (response.status === 400 && (await response.clone().json()).error === 'use_dpop_nonce')
    response = await exchange();
  await session.setTokens(await response.json()); // token_type must be "DPoP"
  // --- end of the README example ---

  await session.refresh();
  await expect(session.createClient({ prefix: DPOP_API }).get('me').json()).resolves.toMatchObject({ ok: true });
  expect(server.refreshes).toBe(1);
  expect(new Set(server.accepted.map((proof) => proof.thumbprint)).size).toBe(1);
  session.dispose();
});
