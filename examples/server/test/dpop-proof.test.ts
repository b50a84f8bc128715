/**
 * The DPoP proof validator (src/crypto/dpop-proof.ts), alone: proofs made with jose, as a
 * client makes them, and hostile ones; each case names the check that must refuse it.
 */
import { generateKeyPairSync, sign } from 'node:crypto';
import { calculateJwkThumbprint, CompactSign, exportJWK, type CryptoKey, type JWK } from 'jose';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DpopNonces } from '../src/crypto/dpop-nonce.ts';
import {
  DpopProofError,
  MAX_PROOF_LENGTH,
  normalizeHtu,
  verifyDpopProof,
  type ProofExpectations,
} from '../src/crypto/dpop-proof.ts';
import { athFor, dpopProof, dpopSigner, type ProofChanges } from './helpers.ts';

const NOW = Date.UTC(2030, 0, 1, 12);
const IAT = Math.floor(NOW / 1000);
const URL_ = 'http://127.0.0.1:4000/oauth/token';
const REQUEST = { htm: 'POST', htu: URL_ };
const ACCESS_TOKEN = 'eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhIn0.c2lnbmF0dXJl';
const ALL = new Set(['ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519', 'PS256', 'RS256']);

const expectations = (changes: Partial<ProofExpectations> = {}): ProofExpectations => ({
  method: 'POST',
  url: URL_,
  now: NOW,
  windowSeconds: 60,
  algorithms: new Set(['ES256']),
  ...changes,
});

const b64 = (value: unknown) =>
  Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');

/** Signs any payload bytes (not only JSON objects) under any protected header. */
function signRaw(header: Record<string, unknown>, payload: string, key: CryptoKey): Promise<string> {
  return new CompactSign(new TextEncoder().encode(payload)).setProtectedHeader(header as { alg: string }).sign(key);
}

function refusal(
  proof: string,
  expected: ProofExpectations = expectations(),
): { code: string; reason: string } | 'accepted' {
  try {
    verifyDpopProof(proof, expected);
    return 'accepted';
  } catch (error) {
    if (!(error instanceof DpopProofError)) throw error;
    return { code: error.code, reason: error.message };
  }
}

// Made at load time: the case tables below are built from them.
const [es256, other, p384] = await Promise.all([dpopSigner(), dpopSigner(), dpopSigner('ES384')]);
const privateJwk: JWK = await exportJWK(es256.privateKey);

describe('verifyDpopProof accepts', () => {
  it.each(['ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519', 'PS256', 'RS256'])(
    'a good %s proof, and its jkt is the RFC 7638 thumbprint jose computes',
    async (alg) => {
      const signer = await dpopSigner(alg);
      const proof = await dpopProof(signer, NOW, REQUEST, { jti: 'the-jti' });
      const verified = verifyDpopProof(proof, expectations({ algorithms: ALL }));
      expect(verified).toEqual({ jkt: await calculateJwkThumbprint(signer.publicJwk), jti: 'the-jti', iat: IAT });
      expect(verified.jkt).toBe(signer.jkt);
    },
  );

  it.each<[string, ProofChanges, Partial<ProofExpectations>]>([
    ['iat at the past edge of the window', { iat: IAT - 60 }, {}],
    ['iat at the future edge of the window', { iat: IAT + 60 }, {}],
    ['a fractional iat inside the window', { iat: IAT + 0.5 }, {}],
    ['typ with the application/ prefix, in capitals', { header: { typ: 'application/DPoP+JWT' } }, {}],
    ['htu with a query and a fragment', { htu: `${URL_}?x=1#frag` }, {}],
    ['htu with scheme and host in capitals', { htu: 'HTTP://127.0.0.1:4000/oauth/token' }, {}],
    ['htu with a percent-encoded unreserved character', { htu: 'http://127.0.0.1:4000/oauth/%74oken' }, {}],
    ['htu with a dot segment', { htu: 'http://127.0.0.1:4000/oauth/x/../token' }, {}],
    [
      'the default port written out',
      { htu: 'http://example.test:80/oauth/token' },
      { url: 'http://example.test/oauth/token' },
    ],
    ['jwk with alg and use matching', { header: { jwk: 'with alg and use' } }, {}],
    ['ath of the access token', { accessToken: ACCESS_TOKEN }, { accessToken: ACCESS_TOKEN }],
    ['ath present at the token endpoint (ignored there)', { accessToken: ACCESS_TOKEN }, {}],
    ['a nonce while nonces are not required (ignored)', { nonce: 'whatever' }, {}],
  ])('%s', async (_name, changes, expected) => {
    const header =
      changes.header?.jwk === 'with alg and use'
        ? { jwk: { ...es256.publicJwk, alg: 'ES256', use: 'sig' } }
        : changes.header;
    const proof = await dpopProof(es256, NOW, REQUEST, { ...changes, ...(header ? { header } : {}) });
    expect(refusal(proof, expectations(expected))).toBe('accepted');
  });

  it('a current nonce, and says which one it carried', async () => {
    const proof = await dpopProof(es256, NOW, REQUEST, { nonce: 'n-1' });
    expect(verifyDpopProof(proof, expectations({ nonce: (value) => value === 'n-1' })).nonce).toBe('n-1');
  });
});

describe('verifyDpopProof refuses', () => {
  type Case = [
    name: string,
    make: () => Promise<string> | string,
    reason: string,
    expected?: Partial<ProofExpectations>,
  ];
  const proof =
    (changes: ProofChanges = {}) =>
    () =>
      dpopProof(es256, NOW, REQUEST, changes);
  const header = (h: Record<string, unknown>) => proof({ header: h });
  /** Refused before the signature is looked at: no real signature needed (jose would not make one). */
  const unsigned = (h: Record<string, unknown>) => () =>
    `${b64({ alg: 'ES256', typ: 'dpop+jwt', jwk: es256.publicJwk, ...h })}.${b64(claims)}.AAAA`;
  const claims = { jti: 'j', htm: 'POST', htu: URL_, iat: IAT };

  const cases: Case[] = [
    // Shape
    ['an empty string', () => '', 'proof is not a compact JWS'],
    ['garbage', () => 'not a jwt', 'proof is not a compact JWS'],
    ['two parts', () => 'abc.def', 'proof is not a compact JWS'],
    ['four parts', () => 'a.b.c.d', 'proof is not a compact JWS'],
    [
      'an empty signature (alg none style)',
      () => `${b64({ alg: 'none', typ: 'dpop+jwt' })}.${b64(claims)}.`,
      'proof is not a compact JWS',
    ],
    ['base64 instead of base64url', () => 'ab+c.de/f.gh==', 'proof is not a compact JWS'],
    ['a space inside', () => 'abc. def.ghi', 'proof is not a compact JWS'],
    ['a huge proof', () => `${'a'.repeat(MAX_PROOF_LENGTH)}.b.c`, 'proof too long'],
    ['a header that is not JSON', () => `${b64('not json')}.${b64(claims)}.AAAA`, 'header is not base64url JSON'],
    [
      'a header that is not UTF-8',
      () => `${Buffer.from([0xff, 0xfe]).toString('base64url')}.${b64(claims)}.AAAA`,
      'header is not base64url JSON',
    ],
    ['a header that is a JSON array', () => `${b64([1])}.${b64(claims)}.AAAA`, 'header is not a JSON object'],
    ['a header that is JSON null', () => `${b64('null')}.${b64(claims)}.AAAA`, 'header is not a JSON object'],
    // Header
    ['no typ', header({ typ: undefined }), 'typ is not dpop+jwt'],
    ['typ JWT', header({ typ: 'JWT' }), 'typ is not dpop+jwt'],
    ['typ as a number', header({ typ: 7 }), 'typ is not dpop+jwt'],
    [
      'alg none',
      () => `${b64({ alg: 'none', typ: 'dpop+jwt', jwk: es256.publicJwk })}.${b64(claims)}.AA`,
      'alg is not accepted',
    ],
    [
      'HS256 with a symmetric jwk',
      async () => {
        const secret = new Uint8Array(32).fill(7);
        return new CompactSign(new TextEncoder().encode(JSON.stringify(claims)))
          .setProtectedHeader({
            alg: 'HS256',
            typ: 'dpop+jwt',
            jwk: { kty: 'oct', k: Buffer.from(secret).toString('base64url') },
          } as never)
          .sign(secret);
      },
      'alg is not accepted',
    ],
    ['an algorithm the server does not accept (ES384)', () => dpopProof(p384, NOW, REQUEST), 'alg is not accepted'],
    [
      'an algorithm name jose knows but we never check (RS512)',
      unsigned({ alg: 'RS512' }),
      'alg is not accepted',
      { algorithms: new Set(['RS512']) },
    ],
    ['alg as a number', unsigned({ alg: 256 }), 'alg is not accepted'],
    ['alg __proto__', unsigned({ alg: '__proto__' }), 'alg is not accepted', { algorithms: new Set(['__proto__']) }],
    ['a crit header', unsigned({ crit: ['exp'], exp: 1 }), 'crit is not supported'],
    ['no jwk', header({ jwk: undefined }), 'jwk header is not a JSON object'],
    ['a jwk as a string', header({ jwk: 'key' }), 'jwk header is not a JSON object'],
    ['a jwk as an array', header({ jwk: [es256.publicJwk] }), 'jwk header is not a JSON object'],
    [
      'a private jwk (d)',
      () => dpopProof(es256, NOW, REQUEST, { header: { jwk: privateJwk } }),
      'jwk header holds a private key',
    ],
    ['a jwk with a k member', header({ jwk: { ...es256.publicJwk, k: 'AA' } }), 'jwk header holds a private key'],
    ['an RSA jwk under ES256', header({ jwk: { kty: 'RSA', n: 'AQAB', e: 'AQAB' } }), 'jwk kty does not match alg'],
    ['a P-384 jwk under ES256', header({ jwk: p384.publicJwk }), 'jwk crv does not match alg'],
    ['a jwk whose alg is another', header({ jwk: { ...es256.publicJwk, alg: 'ES384' } }), 'jwk alg does not match alg'],
    ['a jwk for encryption', header({ jwk: { ...es256.publicJwk, use: 'enc' } }), 'jwk use is not sig'],
    ['a jwk without y', header({ jwk: { ...es256.publicJwk, y: undefined } }), 'jwk y is malformed'],
    ['a jwk with a numeric x', header({ jwk: { ...es256.publicJwk, x: 12 } }), 'jwk x is malformed'],
    [
      'a jwk with a short x',
      header({ jwk: { ...es256.publicJwk, x: es256.publicJwk.x!.slice(1) } }),
      'jwk x has the wrong length',
    ],
    [
      'a jwk x in base64',
      header({ jwk: { ...es256.publicJwk, x: `${es256.publicJwk.x!.slice(0, 42)}+` } }),
      'jwk x is malformed',
    ],
    [
      'a point off the curve',
      header({ jwk: { kty: 'EC', crv: 'P-256', x: 'A'.repeat(43), y: 'B'.repeat(43) } }),
      'jwk is not a valid public key',
    ],
    [
      'an RSA key of 1024 bits',
      () => {
        // jose refuses to make one: node:crypto does.
        const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 1024 });
        const input = `${b64({ alg: 'RS256', typ: 'dpop+jwt', jwk: publicKey.export({ format: 'jwk' }) })}.${b64(claims)}`;
        return `${input}.${sign('sha256', Buffer.from(input), privateKey).toString('base64url')}`;
      },
      'jwk RSA modulus size is not accepted',
      { algorithms: new Set(['RS256']) },
    ],
    // Signature
    [
      'signed by another key',
      () => dpopProof(es256, NOW, REQUEST, { key: other.privateKey }),
      'signature does not verify',
    ],
    [
      'a payload changed after signing',
      async () => {
        const [h, , s] = (await dpopProof(es256, NOW, REQUEST)).split('.');
        return `${h}.${b64({ ...claims, htu: URL_ })}.${s}`;
      },
      'signature does not verify',
    ],
    [
      'a signature of the wrong length',
      async () => `${(await dpopProof(es256, NOW, REQUEST)).split('.').slice(0, 2).join('.')}.AAAA`,
      'signature does not verify',
    ],
    // Payload
    [
      'a payload that is not JSON',
      () => signRaw({ alg: 'ES256', typ: 'dpop+jwt', jwk: es256.publicJwk }, 'nope', es256.privateKey),
      'payload is not base64url JSON',
    ],
    [
      'a payload that is an array',
      () => signRaw({ alg: 'ES256', typ: 'dpop+jwt', jwk: es256.publicJwk }, '[]', es256.privateKey),
      'payload is not a JSON object',
    ],
    ['no jti', proof({ jti: undefined }), 'jti missing'],
    ['an empty jti', proof({ jti: '' }), 'jti missing'],
    ['a numeric jti', proof({ jti: 42 }), 'jti missing'],
    ['a jti of 257 characters', proof({ jti: 'j'.repeat(257) }), 'jti malformed'],
    ['a jti with U+0000', proof({ jti: 'a\u0000b' }), 'jti malformed'],
    ['no htm', proof({ htm: undefined }), 'htm does not match the method'],
    ['htm GET for a POST', proof({ htm: 'GET' }), 'htm does not match the method'],
    ['htm in lower case', proof({ htm: 'post' }), 'htm does not match the method'],
    ['no htu', proof({ htu: undefined }), 'htu missing'],
    ['a numeric htu', proof({ htu: 1 }), 'htu missing'],
    ['an overlong htu', proof({ htu: `${URL_}/${'a'.repeat(2100)}` }), 'htu missing'],
    ['an htu that is not a URL', proof({ htu: 'oauth/token' }), 'htu does not match the URL'],
    ['an htu of another path', proof({ htu: 'http://127.0.0.1:4000/oauth/revoke' }), 'htu does not match the URL'],
    ['an htu of another host', proof({ htu: 'http://evil.test:4000/oauth/token' }), 'htu does not match the URL'],
    ['an htu of another port', proof({ htu: 'http://127.0.0.1:4001/oauth/token' }), 'htu does not match the URL'],
    ['an htu of another scheme', proof({ htu: 'https://127.0.0.1:4000/oauth/token' }), 'htu does not match the URL'],
    [
      'an htu with an encoded slash',
      proof({ htu: 'http://127.0.0.1:4000/oauth%2Ftoken' }),
      'htu does not match the URL',
    ],
    ['no iat', proof({ iat: undefined }), 'iat missing'],
    ['a string iat', proof({ iat: String(IAT) }), 'iat missing'],
    ['an iat 61 s old', proof({ iat: IAT - 61 }), 'iat outside the accepted window'],
    ['an iat 61 s ahead', proof({ iat: IAT + 61 }), 'iat outside the accepted window'],
    ['an iat of 1e308', proof({ iat: 1e308 }), 'iat outside the accepted window'],
    ['no ath on a resource request', proof(), 'ath does not match the access token', { accessToken: ACCESS_TOKEN }],
    [
      'the ath of another token',
      proof({ accessToken: 'other' }),
      'ath does not match the access token',
      { accessToken: ACCESS_TOKEN },
    ],
    ['a numeric ath', proof({ ath: 1 }), 'ath does not match the access token', { accessToken: ACCESS_TOKEN }],
    [
      'an ath in hex',
      proof({ ath: createHexAth() }),
      'ath does not match the access token',
      { accessToken: ACCESS_TOKEN },
    ],
    ['a numeric nonce', proof({ nonce: 7 }), 'nonce malformed'],
    ['a numeric nonce, nonces required', proof({ nonce: 7 }), 'nonce malformed', { nonce: () => true }],
  ];

  it.each(cases)('%s', async (_name, make, reason, expected = {}) => {
    expect(refusal(await make(), expectations(expected))).toEqual({ code: 'invalid_dpop_proof', reason });
  });

  it.each([
    ['no nonce', {}, 'nonce missing'],
    ['an unknown nonce', { nonce: 'old' }, 'nonce stale or unknown'],
  ] as const)('with nonces required, %s: use_dpop_nonce', async (_name, changes, reason) => {
    const proof = await dpopProof(es256, NOW, REQUEST, changes);
    expect(refusal(proof, expectations({ nonce: (value) => value === 'current' }))).toEqual({
      code: 'use_dpop_nonce',
      reason,
    });
  });

  it('a proof that is bad in another way gets invalid_dpop_proof, not use_dpop_nonce', async () => {
    const proof = await dpopProof(es256, NOW, REQUEST, { htm: 'GET' });
    expect(refusal(proof, expectations({ nonce: () => false }))).toMatchObject({ code: 'invalid_dpop_proof' });
  });

  it('any changed character of a good proof is refused (property)', async () => {
    const good = await dpopProof(es256, NOW, REQUEST);
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    // The last character of each part may carry unused bits: leave those alone.
    const lastOfPart = new Set([...good].flatMap((ch, i) => (good[i + 1] === '.' || i === good.length - 1 ? [i] : [])));
    const positions = [...good].map((_, i) => i).filter((i) => good[i] !== '.' && !lastOfPart.has(i));
    fc.assert(
      fc.property(fc.constantFrom(...positions), fc.constantFrom(...alphabet), (position, replacement) => {
        fc.pre(good[position] !== replacement);
        const changed = `${good.slice(0, position)}${replacement}${good.slice(position + 1)}`;
        expect(refusal(changed)).toMatchObject({ code: 'invalid_dpop_proof' });
      }),
      { numRuns: 300 },
    );
  });

  it('random strings are refused with a DpopProofError, never another error (property)', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string(),
          fc
            .tuple(fc.base64String(), fc.base64String(), fc.base64String())
            .map((parts) => parts.join('.').replace(/=/g, '')),
          fc.tuple(fc.jsonValue(), fc.jsonValue()).map(([h, p]) => `${b64(h ?? null)}.${b64(p ?? null)}.AAAA`),
        ),
        (input) => {
          expect(refusal(input)).toMatchObject({ code: 'invalid_dpop_proof' });
        },
      ),
      { numRuns: 500 },
    );
  });
});

/** An ath as a hex digest (a common mistake: it must be base64url). */
function createHexAth(): string {
  return Buffer.from(athFor(ACCESS_TOKEN), 'base64url').toString('hex');
}

describe('normalizeHtu', () => {
  it.each([
    ['http://127.0.0.1:4000/oauth/token?a=1#b', 'http://127.0.0.1:4000/oauth/token'],
    ['HTTPS://Example.TEST:443/A/%7e/%2f', 'https://example.test/A/~/%2F'],
    ['http://example.test', 'http://example.test/'],
  ])('%s -> %s', (input, output) => {
    expect(normalizeHtu(input)).toBe(output);
  });

  it('is undefined for what is not an absolute URL', () => {
    expect(normalizeHtu('/oauth/token')).toBeUndefined();
  });
});

describe('DpopNonces', () => {
  const secret = new Uint8Array(32).fill(1);

  it('hands out one nonce per period, accepts the previous and the next, and refuses older ones', () => {
    const nonces = new DpopNonces(secret, 60);
    const start = Date.UTC(2030, 0, 1, 12, 0, 0);
    const first = nonces.current(start);
    expect(nonces.current(start + 59_999)).toBe(first);
    const second = nonces.current(start + 60_000);
    expect(second).not.toBe(first);
    expect(nonces.accepts(first, start + 60_000)).toBe(true);
    expect(nonces.accepts(second, start)).toBe(true);
    expect(nonces.accepts(first, start + 120_000)).toBe(false);
    expect(nonces.accepts('', start)).toBe(false);
    expect(nonces.accepts(`${first}x`, start)).toBe(false);
  });

  it('two instances with one secret agree (processes), another secret does not', () => {
    const a = new DpopNonces(secret, 60);
    const b = new DpopNonces(new Uint8Array(secret), 60);
    const c = new DpopNonces(new Uint8Array(32).fill(2), 60);
    expect(b.accepts(a.current(NOW), NOW)).toBe(true);
    expect(c.accepts(a.current(NOW), NOW)).toBe(false);
  });

  it('refuses a short secret', () => {
    expect(() => new DpopNonces(new Uint8Array(16), 60)).toThrow(TypeError);
  });
});
