/**
 * DPoP with a key the SDK never holds (`dpop({ signer })`): a native keystore's key, such as a
 * Secure Enclave key behind a Capacitor plugin. Here the "native" key is a non-extractable
 * WebCrypto key that the signer keeps to itself: the SDK sees only `publicJwk` and `sign()`.
 */
import { calculateJwkThumbprint, decodeProtectedHeader, EmbeddedJWK, exportJWK, jwtVerify } from 'jose';
import { setupServer } from 'msw/node';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { dpop } from '../src/dpop/dpop.ts';
import { generateDpopKeys } from '../src/dpop/keys.ts';
import type { DpopSigner, DpopSignerStore } from '../src/dpop/types.ts';
import { ConfigurationError } from '../src/errors.ts';
import { SessionManager } from '../src/ky-session-manager.ts';
import type { SessionManagerOptions } from '../src/options.ts';
import { inProcessLock } from '../src/ports/lock.ts';
import { silentLogger } from '../src/ports/logger.ts';
import { MemoryTokenStore } from '../src/ports/token-store.ts';
import { ManualClock, ManualLifecycle, ManualNetwork } from '../src/testing.ts';
import { DPOP_API, DPOP_REVOKE_URL, DPOP_TOKEN_URL, FakeDpopServer } from './helpers/fake-dpop-server.ts';

/** A signer over a key only it can use, as a native plugin is. */
async function nativeSigner(extra: Record<string, string> = {}): Promise<DpopSigner & { signed: number }> {
  const keys = await generateDpopKeys();
  const { kty, crv, x, y } = await exportJWK(keys.publicKey);
  const signer = {
    signed: 0,
    publicJwk: { kty: kty!, crv: crv!, x: x!, y: y!, ...extra },
    async sign(data: Uint8Array) {
      signer.signed++;
      const signature = await crypto.subtle.sign({ name: 'ECDSA', hash: 'SHA-256' }, keys.privateKey, data as never);
      return new Uint8Array(signature);
    },
  };
  return signer;
}

/** A keystore of one key, made by `create()`, with counts of what the SDK asked of it. */
function nativeKeystore() {
  let current: DpopSigner | undefined;
  const calls = { load: 0, create: 0, clear: 0 };
  const store: DpopSignerStore & { calls: typeof calls; current(): DpopSigner | undefined } = {
    calls,
    current: () => current,
    load: () => (calls.load++, current ?? null), // a native plugin answers null, not undefined
    create: async () => (calls.create++, (current = await nativeSigner())),
    clear: () => void (calls.clear++, (current = undefined)),
  };
  return store;
}

let names = 0;
const context = (lockName = `signer-${++names}`) => ({
  clock: new ManualClock(),
  lock: inProcessLock(),
  lockName,
  logger: silentLogger,
});

/** A handle bound to its own context (`bind` gives the port; the handle itself has `thumbprint`). */
function bound(options: Parameters<typeof dpop>[0], lockName?: string) {
  const handle = dpop(options);
  handle.bind(context(lockName));
  return handle;
}

describe('dpop({ signer }): a key the platform keeps', () => {
  it('signs proofs that verify against the signer’s public key, which is all the header carries', async () => {
    const signer = await nativeSigner({ kid: 'enclave-1', alg: 'ES256' });
    const proofs = bound({ signer: { load: () => signer, create: () => signer, clear: () => {} } });

    const proof = (await proofs.proof('GET', 'https://api.test/v1/items?page=2', { accessToken: 'at' }))!;

    const { payload, protectedHeader } = await jwtVerify(proof, EmbeddedJWK, {
      typ: 'dpop+jwt',
      algorithms: ['ES256'],
    });
    const { kty, crv, x, y } = signer.publicJwk;
    expect(protectedHeader.jwk).toEqual({ kty, crv, x, y }); // kid, alg and the like stay out
    expect(payload).toMatchObject({ htm: 'GET', htu: 'https://api.test/v1/items' });
    expect(signer.signed).toBe(1);
    expect(await proofs.thumbprint()).toBe(await calculateJwkThumbprint({ kty, crv, x, y }));
  });

  it('asks the keystore to create a key once for concurrent proofs from two contexts, then loads it', async () => {
    const keystore = nativeKeystore();
    const shared = context();
    const tabs = [dpop({ signer: keystore }).bind(shared), dpop({ signer: keystore }).bind(shared)];

    const all = await Promise.all(
      tabs.flatMap((tab) => [tab.proof('POST', 'https://auth.test/t'), tab.proof('GET', 'https://api.test/')]),
    );

    expect(keystore.calls.create).toBe(1);
    const jwks = all.map((proof) => decodeProtectedHeader(proof!).jwk);
    expect(new Set(await Promise.all(jwks.map((jwk) => calculateJwkThumbprint(jwk!)))).size).toBe(1);
    expect(await dpop({ signer: keystore }).thumbprint()).toBe(
      await calculateJwkThumbprint(keystore.current()!.publicJwk),
    );
    expect(keystore.calls.create).toBe(1);
  });

  it('a keystore that cannot be read now fails the proof and makes no new key; the next proof uses the old key', async () => {
    const keystore = nativeKeystore();
    const proofs = bound({ signer: keystore });
    const before = await proofs.thumbprint();
    const load = keystore.load;
    keystore.load = () => Promise.reject(new Error('errSecInteractionNotAllowed'));

    await expect(proofs.proof('POST', 'https://auth.test/oauth/token')).rejects.toThrow('errSecInteractionNotAllowed');
    expect(keystore.calls.create).toBe(1);

    keystore.load = load; // unlocked again
    const proof = await proofs.proof('POST', 'https://auth.test/oauth/token');
    expect(await calculateJwkThumbprint(decodeProtectedHeader(proof!).jwk!)).toBe(before);
    expect(keystore.calls.create).toBe(1);
  });

  it('makes no key for a proof that may only use an existing one, and forgetKey() clears the keystore', async () => {
    const keystore = nativeKeystore();
    const proofs = bound({ signer: keystore });
    expect(await proofs.proof('POST', 'https://auth.test/revoke', { ifKeyExists: true })).toBeUndefined();
    expect(keystore.calls.create).toBe(0);

    const first = await proofs.thumbprint();
    await proofs.forgetKey();
    expect(keystore.calls.clear).toBe(1);
    expect(keystore.current()).toBeUndefined();
    expect(await proofs.thumbprint()).not.toBe(first);
    expect(keystore.calls.create).toBe(2);
  });

  it.each([
    [
      'a DER signature',
      // X9.62 DER, as SecKeyCreateSignature gives it: SEQUENCE { INTEGER r, INTEGER s }
      (rs: Uint8Array) => new Uint8Array([0x30, 0x44, 0x02, 0x20, ...rs.slice(0, 32), 0x02, 0x20, ...rs.slice(32)]),
      /70 bytes.*not DER/,
    ],
    ['a base64 string', () => 'MEUCIQ' as never, /gave string/],
  ])('refuses %s with a ConfigurationError that says why', async (_, garble, message) => {
    const signer = await nativeSigner();
    const sign = signer.sign.bind(signer);
    const garbled = { publicJwk: signer.publicJwk, sign: async (data: Uint8Array) => garble(await sign(data)) };
    const proofs = bound({ signer: { load: () => garbled, create: () => garbled, clear: () => {} } });

    const failure = proofs.proof('GET', 'https://api.test/');
    await expect(failure).rejects.toThrow(ConfigurationError);
    await expect(failure).rejects.toThrow(message);
  });

  it.each([
    ['an RSA key', { kty: 'RSA', n: 'AQAB', e: 'AQAB' }],
    ['a P-384 key', { kty: 'EC', crv: 'P-384', x: 'x'.repeat(64), y: 'y'.repeat(64) }],
    [
      'a P-384 curve name on P-256-sized coordinates',
      { kty: 'EC', crv: 'P-384', x: 'x'.repeat(43), y: 'y'.repeat(43) },
    ],
    ['a key type other than EC', { kty: 'oct', crv: 'P-256', x: 'x'.repeat(43), y: 'y'.repeat(43) }],
    ['a short coordinate', { kty: 'EC', crv: 'P-256', x: 'AAAA', y: 'y'.repeat(43) }],
    ['a long coordinate', { kty: 'EC', crv: 'P-256', x: 'x'.repeat(44), y: 'y'.repeat(43) }],
    ['no public key', undefined],
    ['no sign()', null],
  ])('refuses a signer with %s', async (_, publicJwk) => {
    const signer = (
      publicJwk === null
        ? { publicJwk: (await nativeSigner()).publicJwk }
        : { publicJwk, sign: () => new Uint8Array(64) }
    ) as DpopSigner;
    const proofs = bound({ signer: { load: () => signer, create: () => signer, clear: () => {} } });
    const failure = proofs.proof('GET', 'https://api.test/');
    await expect(failure).rejects.toThrow(ConfigurationError);
    await expect(failure).rejects.toThrow(/^"dpop\.signer" (must give \{ publicJwk|gave a public JWK whose x or y)/);
  });

  it('a keystore that answers undefined for "no key" gets a key created, as with null', async () => {
    const keystore = nativeKeystore();
    const load = keystore.load;
    keystore.load = () => (keystore.current() === undefined ? undefined : load());
    const proofs = bound({ signer: keystore });
    expect(await proofs.proof('GET', 'https://api.test/')).toMatch(/^ey/);
    expect(keystore.calls.create).toBe(1);
  });

  it('refuses a keystore whose create() gives nothing', async () => {
    const proofs = bound({ signer: { load: () => null, create: () => null as never, clear: () => {} } });
    await expect(proofs.proof('GET', 'https://api.test/')).rejects.toThrow(/"dpop\.signer" must give/);
  });

  it('takes a keyStore or a signer, not both, and a signer with load, create and clear', async () => {
    const keystore = nativeKeystore();
    const keyStore = { load: () => undefined, save: () => {}, clear: () => {} };
    expect(() => dpop({ keyStore, signer: keystore })).toThrow(/keyStore or a signer, not both/);
    expect(() => dpop({ signer: { load: () => undefined, clear: () => {} } as never })).toThrow(
      /"dpop.signer" must have create\(\)/,
    );
    const options = { tokenEndpoint: DPOP_TOKEN_URL, clientId: 'app', lifecycle: new ManualLifecycle() };
    expect(() => new SessionManager({ ...options, dpop: { keyStore, signer: keystore } })).toThrow(ConfigurationError);
    expect(() => new SessionManager({ ...options, dpop: { signer: {} as never } })).toThrow(/must have load\(\)/);
  });
});

describe('a session whose DPoP key is a native signer', () => {
  const mock = setupServer();
  beforeAll(() => mock.listen({ onUnhandledFrame: 'error' }));
  afterAll(() => mock.close());
  let clock: ManualClock;
  let server: FakeDpopServer;
  beforeEach(() => {
    clock = new ManualClock();
    server = new FakeDpopServer(clock);
    mock.use(...server.handlers());
  });
  afterEach(() => mock.resetHandlers());

  /** A session on the test's clock whose DPoP key is `keystore`'s signer. */
  const signerSession = (keystore: ReturnType<typeof nativeKeystore>, extra: Partial<SessionManagerOptions> = {}) =>
    new SessionManager({
      tokenEndpoint: DPOP_TOKEN_URL,
      clientId: 'test-app',
      store: new MemoryTokenStore(),
      clock,
      lock: inProcessLock(),
      lifecycle: new ManualLifecycle(),
      network: new ManualNetwork(),
      broadcast: false,
      dpop: { signer: keystore },
      ...extra,
    });

  it('refreshes, calls the API and revokes with proofs from the signer; sign-out clears the keystore', async () => {
    const keystore = nativeKeystore();
    const session = signerSession(keystore, { revocationEndpoint: DPOP_REVOKE_URL });
    const jkt = await session.dpop!.proof('POST', DPOP_TOKEN_URL).then(async (proof) => {
      return calculateJwkThumbprint(decodeProtectedHeader(proof!).jwk!);
    });
    await session.setTokens(server.issue(jkt));

    server.expireAccessTokens();
    const items = await session.createClient({ prefix: DPOP_API }).get('items').json();
    await session.signOut();

    expect(items).toEqual({ ok: true, path: '/v1/items' });
    expect(server.refreshes).toBe(1);
    expect(server.revocations).toEqual([{ proof: true }]);
    expect(new Set(server.accepted.map((proof) => proof.thumbprint))).toEqual(new Set([jkt]));
    expect(keystore.calls.create).toBe(1);
    expect(keystore.calls.clear).toBe(1);
    session.dispose();
  });

  it('a signer that fails (the plugin not ready) fails the request, not the session', async () => {
    const keystore = nativeKeystore();
    const session = signerSession(keystore);
    await session.setTokens(server.issue(await dpop({ signer: keystore }).thumbprint()));
    const signer = keystore.current()!;
    const sign = signer.sign.bind(signer);
    signer.sign = () => Promise.reject(new Error('the plugin is not ready'));

    await expect(session.createClient({ prefix: DPOP_API }).get('items').json()).rejects.toThrow(
      'the plugin is not ready',
    );
    expect(session.state).toBe('active');

    signer.sign = sign;
    expect(await session.createClient({ prefix: DPOP_API }).get('items').json()).toEqual({
      ok: true,
      path: '/v1/items',
    });
    expect(server.refreshes, 'a signer failure is no reason to refresh').toBe(0);
    session.dispose();
  });
});
