import 'fake-indexeddb/auto';
import { calculateJwkThumbprint, decodeProtectedHeader, EmbeddedJWK, exportJWK, jwtVerify } from 'jose';
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { isNonceChallenge } from '../src/dpop/challenge.ts';
import { dpop } from '../src/dpop/dpop.ts';
import { defaultKeyStore, indexedDbKeyStore, memoryKeyStore } from '../src/dpop/key-store.ts';
import { generateDpopKeys } from '../src/dpop/keys.ts';
import { athOf, htuOf } from '../src/dpop/proof.ts';
import { ServerClock } from '../src/dpop/server-clock.ts';
import type { DpopKeyStore } from '../src/dpop/types.ts';
import { inProcessLock } from '../src/ports/lock.ts';
import { silentLogger } from '../src/ports/logger.ts';
import { ManualClock } from '../src/testing.ts';

let stores = 0;
const freshStore = () => memoryKeyStore(`proof-test-${++stores}`);

/** A handle bound to a manual clock, with its own memory key store. */
function handle(clock = new ManualClock(), keyStore: DpopKeyStore = freshStore()) {
  return dpop({ keyStore }).bind({
    clock,
    lock: inProcessLock(),
    lockName: `proofs-${++stores}`,
    logger: silentLogger,
  });
}

const response = (status: number, headers: Record<string, string>) => new Response(null, { status, headers });

describe('DPoP proofs', () => {
  it('carry typ dpop+jwt, ES256 and the public key only, and verify against that key', async () => {
    const clock = new ManualClock();
    const proof = (await handle(clock).proof('post', 'https://auth.test/oauth/token'))!;
    const { payload, protectedHeader } = await jwtVerify(proof, EmbeddedJWK, {
      typ: 'dpop+jwt',
      algorithms: ['ES256'],
    });
    expect(protectedHeader).toMatchObject({ typ: 'dpop+jwt', alg: 'ES256', jwk: { kty: 'EC', crv: 'P-256' } });
    expect(Object.keys(protectedHeader.jwk!).sort()).toEqual(['crv', 'kty', 'x', 'y']); // no `d`
    expect(payload).toMatchObject({ htm: 'POST', htu: 'https://auth.test/oauth/token', iat: clock.now() / 1000 });
    expect(payload.ath).toBeUndefined();
    expect(payload.nonce).toBeUndefined();
  });

  it('leave the query and the fragment out of htu', async () => {
    expect(htuOf('https://api.test/v1/items?page=2&q=secret#top')).toBe('https://api.test/v1/items');
    const proof = (await handle().proof('GET', 'https://api.test/v1/items?page=2#top'))!;
    expect((await jwtVerify(proof, EmbeddedJWK)).payload.htu).toBe('https://api.test/v1/items');
  });

  it('have a unique jti each', async () => {
    const proofs = handle();
    const jtis = await Promise.all(
      Array.from(
        { length: 50 },
        async () => (await jwtVerify((await proofs.proof('GET', 'https://api.test/'))!, EmbeddedJWK)).payload.jti,
      ),
    );
    expect(new Set(jtis).size).toBe(50);
    expect(jtis.every((jti) => typeof jti === 'string' && jti.length >= 22)).toBe(true);
  });

  it('hash the access token into ath on resource requests: base64url(SHA-256(token))', async () => {
    const token = 'at-123.456';
    const expected = createHash('sha256').update(token).digest('base64url');
    expect(await athOf(token)).toBe(expected);
    const proof = (await handle().proof('GET', 'https://api.test/me', { accessToken: token }))!;
    expect((await jwtVerify(proof, EmbeddedJWK)).payload.ath).toBe(expected);
  });

  it('hash each new access token into ath: one handle, the token of each generation in turn', async () => {
    const proofs = handle();
    const athFor = async (token: string) =>
      (await jwtVerify((await proofs.proof('GET', 'https://api.test/me', { accessToken: token }))!, EmbeddedJWK))
        .payload.ath;
    for (const token of ['generation-1', 'generation-1', 'generation-2', 'generation-1']) {
      expect(await athFor(token)).toBe(createHash('sha256').update(token).digest('base64url'));
    }
  });

  it('authorize() sets Authorization: DPoP and a proof bound to the request', async () => {
    const proofs = dpop({ keyStore: freshStore() });
    const request = new Request('https://api.test/v1/items?x=1', { method: 'DELETE' });
    await proofs.authorize(request, 'tok');
    expect(request.headers.get('authorization')).toBe('DPoP tok');
    const { payload } = await jwtVerify(request.headers.get('dpop')!, EmbeddedJWK);
    expect(payload).toMatchObject({ htm: 'DELETE', htu: 'https://api.test/v1/items', ath: await athOf('tok') });
  });

  it('carry the nonce the origin last sent, and each origin its own', async () => {
    const proofs = handle();
    proofs.observe('https://auth.test/oauth/token', response(400, { 'dpop-nonce': 'n-auth' }));
    proofs.observe('https://api.test/v1/x', response(200, { 'dpop-nonce': 'n-api-1' }));
    proofs.observe('https://api.test/v1/y', response(200, { 'dpop-nonce': 'n-api-2' })); // a newer one replaces it
    proofs.observe('https://api.test/v1/z', response(200, {})); // no nonce: the last one stays
    const nonceOf = async (url: string) =>
      (await jwtVerify((await proofs.proof('GET', url))!, EmbeddedJWK)).payload.nonce;
    expect(await nonceOf('https://auth.test/oauth/token')).toBe('n-auth');
    expect(await nonceOf('https://api.test/v1/items')).toBe('n-api-2');
    expect(await nonceOf('https://other.test/')).toBeUndefined();
  });
});

describe('DPoP keys', () => {
  it('are P-256 pairs whose private key cannot be exported', async () => {
    const keys = await generateDpopKeys();
    expect(keys.privateKey.extractable).toBe(false);
    expect(keys.privateKey.algorithm).toMatchObject({ name: 'ECDSA', namedCurve: 'P-256' });
    await expect(exportJWK(keys.privateKey)).rejects.toThrow();
  });

  it('are created once for any number of concurrent proofs, saved, and reused by a later handle', async () => {
    const keyStore = freshStore();
    let saves = 0;
    const counting: DpopKeyStore = { ...keyStore, save: (keys) => (saves++, keyStore.save(keys)) };
    const proofs = handle(undefined, counting);
    const all = await Promise.all(Array.from({ length: 20 }, () => proofs.proof('GET', 'https://api.test/')));
    const thumbprints = new Set(
      await Promise.all(all.map(async (p) => calculateJwkThumbprint(decodeProtectedHeader(p!).jwk!))),
    );
    expect(saves).toBe(1);
    expect(thumbprints.size).toBe(1);
    expect(await dpop({ keyStore }).thumbprint()).toBe([...thumbprints][0]);
  });

  it('are created once by two contexts sharing the store and the lock (two tabs racing)', async () => {
    const keyStore = freshStore();
    let saves = 0;
    const counting: DpopKeyStore = { ...keyStore, save: (keys) => (saves++, keyStore.save(keys)) };
    const context = { clock: new ManualClock(), lock: inProcessLock(), lockName: 'two-tabs', logger: silentLogger };
    const tabs = [dpop({ keyStore: counting }).bind(context), dpop({ keyStore: counting }).bind(context)];
    const all = await Promise.all(
      tabs.flatMap((tab) => [tab.proof('POST', 'https://auth.test/t'), tab.proof('POST', 'https://auth.test/t')]),
    );
    const thumbprints = new Set(
      await Promise.all(all.map(async (p) => calculateJwkThumbprint(decodeProtectedHeader(p!).jwk!))),
    );
    expect(saves).toBe(1);
    expect(thumbprints.size).toBe(1);
  });

  it('are not created for a proof that may only use an existing one (revocation after sign-out)', async () => {
    const keyStore = freshStore();
    expect(
      await handle(undefined, keyStore).proof('POST', 'https://auth.test/revoke', { ifKeyExists: true }),
    ).toBeUndefined();
    expect(await keyStore.load()).toBeUndefined();
  });

  it('are deleted by forgetKey(); the next proof makes a new one', async () => {
    const keyStore = freshStore();
    const proofs = dpop({ keyStore });
    const first = await proofs.thumbprint();
    await proofs.forgetKey();
    expect(await keyStore.load()).toBeUndefined();
    expect(await proofs.thumbprint()).not.toBe(first);
  });

  it('a key store that fails to load is read as empty: a new key, and the failure logged with its cause', async () => {
    const logged: { message: string; error: unknown }[] = [];
    const cause = new Error('IndexedDB is closing');
    const saved: CryptoKeyPair[] = [];
    const failing: DpopKeyStore = {
      load: () => Promise.reject(cause),
      save: (keys) => void saved.push(keys),
      clear: () => {},
    };
    const proofs = dpop({ keyStore: failing }).bind({
      clock: new ManualClock(),
      lock: inProcessLock(),
      lockName: 'failing-load',
      logger: { ...silentLogger, warn: (message, context) => void logged.push({ message, error: context?.error }) },
    });
    expect(await proofs.proof('POST', 'https://auth.test/oauth/token')).toMatch(/^ey/);
    expect(saved).toHaveLength(1);
    expect(logged[0]).toEqual({ message: 'DPoP key store failed to load', error: cause });
  });

  it('a key store that fails to save still lets this context sign (the failure is logged)', async () => {
    const warnings: string[] = [];
    const failing: DpopKeyStore = {
      load: () => undefined,
      save: () => Promise.reject(new Error('quota')),
      clear: () => {},
    };
    const proofs = dpop({ keyStore: failing }).bind({
      clock: new ManualClock(),
      lock: inProcessLock(),
      lockName: 'failing',
      logger: { ...silentLogger, warn: (message) => void warnings.push(message) },
    });
    expect(await proofs.proof('GET', 'https://api.test/')).toMatch(/^ey/);
    expect(warnings).toEqual(['DPoP key store failed to save the new key']);
  });
});

describe('DPoP key stores', () => {
  it('default to memory in Node.js, shared by name (managers sharing a lock share the key)', async () => {
    const saved = indexedDB;
    // @ts-expect-error -- Node.js has no IndexedDB: take away the fake one for this test
    delete globalThis.indexedDB;
    try {
      const keys = await generateDpopKeys();
      await defaultKeyStore('shared-name').save(keys);
      expect(await memoryKeyStore('shared-name').load()).toBe(keys);
      expect(await memoryKeyStore('another-name').load()).toBeUndefined();
    } finally {
      globalThis.indexedDB = saved;
    }
  });

  it('default to IndexedDB where there is one, which keeps the CryptoKey objects (still non-extractable)', async () => {
    const keys = await generateDpopKeys();
    await defaultKeyStore('idb-session').save(keys);
    const loaded = await indexedDbKeyStore('idb-session').load();
    expect(loaded?.privateKey.extractable).toBe(false);
    expect(loaded?.privateKey.type).toBe('private');
    expect(await calculateJwkThumbprint(await exportJWK(loaded!.publicKey))).toBe(
      await calculateJwkThumbprint(await exportJWK(keys.publicKey)),
    );
    expect(await indexedDbKeyStore('idb-other').load()).toBeUndefined();
    await indexedDbKeyStore('idb-session').clear();
    expect(await indexedDbKeyStore('idb-session').load()).toBeUndefined();
  });
});

describe('the server clock', () => {
  it('is estimated from Date, so iat is right on a device clock hours off', async () => {
    const clock = new ManualClock(Date.UTC(2026, 0, 1, 9, 0, 0)); // the device says 09:00
    const serverTime = Date.UTC(2026, 0, 1, 12, 0, 0); // the server says 12:00
    const proofs = handle(clock);
    proofs.observe('https://auth.test/token', response(400, { date: new Date(serverTime).toUTCString() }));
    const { payload } = await jwtVerify((await proofs.proof('POST', 'https://auth.test/token'))!, EmbeddedJWK);
    expect(Math.abs(payload.iat! * 1000 - serverTime)).toBeLessThanOrEqual(1000);
    // Another origin not heard from yet gets the same estimate.
    const other = await jwtVerify((await proofs.proof('GET', 'https://api.test/'))!, EmbeddedJWK);
    expect(Math.abs(other.payload.iat! * 1000 - serverTime)).toBeLessThanOrEqual(1000);
  });

  it('ignores a cached answer (Age) and a Date it cannot read', () => {
    const clock = new ManualClock(Date.UTC(2026, 0, 1));
    const server = new ServerClock(clock);
    server.update('https://a.test/', response(200, { date: 'Thu, 01 Jan 2025 00:00:00 GMT', age: '3600' }));
    server.update('https://a.test/', response(200, { date: 'not a date' }));
    expect(server.now('https://a.test/')).toBe(clock.now());
    clock.set(clock.now() + 10_000); // the estimate is an offset: it moves with the device clock
    server.update('https://a.test/', response(200, { date: new Date(clock.now() + 7_200_000).toUTCString() }));
    expect(server.now('https://a.test/') - clock.now()).toBe(7_200_500);
  });
});

describe('isNonceChallenge', () => {
  it.each([
    [401, 'DPoP error="use_dpop_nonce", error_description="Resource server requires nonce in DPoP proof"', true],
    [401, 'Bearer realm="x", DPoP algs="ES256", error="use_dpop_nonce"', true],
    [401, 'DPoP algs="ES256 Ed25519", error=use_dpop_nonce', true],
    [401, 'dpop error="use_dpop_nonce"', true],
    [401, 'DPoP error="invalid_token"', false],
    [401, 'Bearer error="use_dpop_nonce", DPoP error="invalid_token"', false],
    [401, 'DPoP error="invalid_token", Bearer error="use_dpop_nonce"', false],
    [403, 'DPoP error="use_dpop_nonce"', false],
  ])('%i %s -> %s', (status, header, expected) => {
    expect(isNonceChallenge(response(status, { 'www-authenticate': header }))).toBe(expected);
  });

  it('is false without a WWW-Authenticate header', () => {
    expect(isNonceChallenge(response(401, {}))).toBe(false);
  });
});
