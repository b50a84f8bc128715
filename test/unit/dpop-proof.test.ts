/**
 * The parts of a DPoP proof (RFC 9449 section 4.2), each module on its own: the JWT
 * `createProof` signs (header, htm, htu, iat, jti, ath, nonce), the key pair and its public
 * JWK, what counts as a stored key pair, the nonce cache and the server clock.
 */
import { base64url, compactVerify, decodeJwt, decodeProtectedHeader, importJWK } from 'jose';
import { createHash } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { describeKey, generateDpopKeys, isKeyPair, type DpopKey } from '../../src/dpop/keys.ts';
import { NonceCache } from '../../src/dpop/nonces.ts';
import { athOf, createProof, htuOf } from '../../src/dpop/proof.ts';
import { ServerClock } from '../../src/dpop/server-clock.ts';
import { ManualClock } from '../../src/testing.ts';

let key: DpopKey;
beforeAll(async () => {
  key = await describeKey(await generateDpopKeys());
});

const NOW = Date.UTC(2026, 0, 1);
const answer = (headers: Record<string, string>) => new Response(null, { headers });

describe('createProof', () => {
  it('is a JWT of typ dpop+jwt, ES256, carrying the public key, signed with its private key', async () => {
    const proof = await createProof(key, { method: 'GET', url: 'https://api.test/', now: NOW });
    expect(decodeProtectedHeader(proof)).toEqual({ alg: 'ES256', typ: 'dpop+jwt', jwk: key.jwk });
    await expect(compactVerify(proof, await importJWK(key.jwk, 'ES256'))).resolves.toBeDefined();
  });

  it('carries htm in capitals, htu, iat in whole seconds, a jti, and nothing else without token or nonce', async () => {
    const proof = await createProof(key, {
      method: 'post',
      url: 'https://auth.test:8443/oauth/token',
      now: NOW + 1999,
    });
    expect(decodeJwt(proof)).toEqual({
      htm: 'POST',
      htu: 'https://auth.test:8443/oauth/token',
      iat: NOW / 1000 + 1,
      jti: expect.any(String),
    });
  });

  it('adds ath for an access token and the nonce when there is one', async () => {
    const proof = await createProof(key, {
      method: 'GET',
      url: 'https://api.test/me',
      now: NOW,
      nonce: 'n-1',
      ath: await athOf('at-1'),
    });
    expect(decodeJwt(proof)).toMatchObject({ ath: await athOf('at-1'), nonce: 'n-1' });
  });

  it('has a jti of 128 random bits, new on every proof', async () => {
    const jtis = await Promise.all(
      Array.from({ length: 20 }, async () =>
        String(decodeJwt(await createProof(key, { method: 'GET', url: 'https://api.test/', now: NOW })).jti),
      ),
    );
    expect(new Set(jtis).size).toBe(20);
    for (const jti of jtis) expect(base64url.decode(jti)).toHaveLength(16);
  });
});

describe('htu and ath', () => {
  it.each([
    ['https://api.test/v1/items?page=2&q=x#top', 'https://api.test/v1/items'],
    ['https://api.test/v1/items#top', 'https://api.test/v1/items'],
    ['https://api.test:8443/a/b/', 'https://api.test:8443/a/b/'],
    ['https://API.test/a', 'https://api.test/a'],
    ['https://api.test', 'https://api.test/'],
  ])('htu of %s is %s', (url, htu) => {
    expect(htuOf(url)).toBe(htu);
  });

  it('ath is base64url(SHA-256(token)), without padding', async () => {
    for (const token of ['a', 'at-123.456', 'x'.repeat(500)]) {
      expect(await athOf(token)).toBe(createHash('sha256').update(token).digest('base64url'));
    }
  });
});

describe('DPoP keys', () => {
  it('a new pair: P-256 ECDSA, the private key not extractable, the public one exportable', async () => {
    const keys = await generateDpopKeys();
    expect(keys.privateKey).toMatchObject({ type: 'private', extractable: false });
    expect(keys.privateKey.algorithm).toMatchObject({ name: 'ECDSA', namedCurve: 'P-256' });
    expect(keys.publicKey).toMatchObject({ type: 'public', extractable: true });
  });

  it('describeKey gives the public JWK (kty, crv, x, y only) and its RFC 7638 thumbprint', async () => {
    const { jwk, thumbprint } = key;
    expect(Object.keys(jwk).sort()).toEqual(['crv', 'kty', 'x', 'y']);
    expect(jwk).toMatchObject({ kty: 'EC', crv: 'P-256' });
    const canonical = JSON.stringify({ crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y });
    expect(thumbprint).toBe(createHash('sha256').update(canonical).digest('base64url'));
  });

  it.each([
    ['undefined', undefined],
    ['null', null],
    ['a string', 'keys'],
    ['no private key', { publicKey: {} }],
    ['a null private key', { privateKey: null, publicKey: {} }],
    ['a string private key', { privateKey: 'k', publicKey: {} }],
    ['no public key', { privateKey: {} }],
    ['a null public key', { privateKey: {}, publicKey: null }],
    ['a string public key', { privateKey: {}, publicKey: 'k' }],
  ])('isKeyPair: %s is not a key pair', (_, value) => {
    expect(isKeyPair(value)).toBe(false);
  });

  it('isKeyPair: a stored pair is one', async () => {
    expect(isKeyPair(await generateDpopKeys())).toBe(true);
  });
});

describe('NonceCache', () => {
  it('keeps the latest nonce of each origin, whatever the path', () => {
    const nonces = new NonceCache();
    nonces.update('https://api.test/a', answer({ 'dpop-nonce': 'n-1' }));
    nonces.update('https://api.test/b?x', answer({ 'dpop-nonce': 'n-2' }));
    nonces.update('https://api.test:8443/', answer({ 'dpop-nonce': 'other-port' }));
    expect(nonces.get('https://api.test/c')).toBe('n-2');
    expect(nonces.get('https://api.test:8443/c')).toBe('other-port');
    expect(nonces.get('https://auth.test/')).toBeUndefined();
  });

  it('keeps the nonce trimmed, and ignores an answer without one, or with an empty one', () => {
    const nonces = new NonceCache();
    nonces.update('https://api.test/', answer({ 'dpop-nonce': '  n-1 ' }));
    nonces.update('https://api.test/', answer({}));
    nonces.update('https://api.test/', answer({ 'dpop-nonce': '   ' }));
    expect(nonces.get('https://api.test/')).toBe('n-1');
  });

  it('drops the whitespace a header value may keep around the nonce (form feed, vertical tab), and ignores a nonce of only that', () => {
    const nonces = new NonceCache();
    nonces.update('https://api.test/', answer({ 'dpop-nonce': '\fn-1\v' }));
    expect(nonces.get('https://api.test/')).toBe('n-1');
    nonces.update('https://api.test/', answer({ 'dpop-nonce': '\f' }));
    expect(nonces.get('https://api.test/')).toBe('n-1');
  });
});

describe('ServerClock', () => {
  const dateHeader = (ms: number) => ({ date: new Date(ms).toUTCString() });

  it("is the device clock until an answer's Date says otherwise", () => {
    const clock = new ManualClock(NOW);
    expect(new ServerClock(clock).now('https://api.test/')).toBe(NOW);
  });

  it('puts the server half-way through the second its Date names', () => {
    const clock = new ManualClock(NOW);
    const server = new ServerClock(clock);
    server.update('https://api.test/', answer(dateHeader(NOW + 60_000)));
    expect(server.now('https://api.test/')).toBe(NOW + 60_500);
  });

  it('keeps an offset per origin, and gives an origin not heard from the latest one', () => {
    const clock = new ManualClock(NOW);
    const server = new ServerClock(clock);
    server.update('https://a.test/', answer(dateHeader(NOW + 10_000)));
    server.update('https://b.test/', answer(dateHeader(NOW - 20_000)));
    expect(server.now('https://a.test/x')).toBe(NOW + 10_500);
    expect(server.now('https://b.test/x')).toBe(NOW - 19_500);
    expect(server.now('https://c.test/x')).toBe(NOW - 19_500);
  });

  it('learns nothing from an answer without Date, with an unreadable one, or a cached one (Age)', () => {
    const clock = new ManualClock(NOW);
    const server = new ServerClock(clock);
    server.update('https://a.test/', answer({}));
    server.update('https://a.test/', answer({ date: 'yesterday' }));
    server.update('https://a.test/', answer({ ...dateHeader(NOW + 7_200_000), age: '0' }));
    expect(server.now('https://a.test/')).toBe(NOW);
    expect(server.now('https://other.test/')).toBe(NOW);
  });
});
