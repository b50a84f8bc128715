import { createHmac, generateKeyPairSync, sign } from 'node:crypto';
import fc from 'fast-check';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { RunningServer } from '../src/index.ts';
import { CLIENT_ID, describeEachBackend, login, startTestServer } from './helpers.ts';

type Case = {
  name: string;
  path: '/oauth/token' | '/auth/login' | '/oauth/revoke' | '/api/me';
  method?: string;
  contentType?: string;
  headers?: Record<string, string>;
  /** The `WWW-Authenticate` a resource must answer with. */
  challenge?: RegExp;
  /** A function for a streamed body (a stream can be sent only once). */
  body?: string | Uint8Array | (() => ReadableStream<Uint8Array>);
  status: number;
  error: string;
};

const FORM = 'application/x-www-form-urlencoded';
const JSON_TYPE = 'application/json';
const validRefresh = (extra = '') => `grant_type=refresh_token&client_id=${CLIENT_ID}${extra}`;
const big = 'a'.repeat(17 * 1024);
const base64url = (text: string) => Buffer.from(text).toString('base64url');
/** An unsigned assertion with this JWS header: refused, whatever the header holds, before any signature check. */
const assertionWithHeader = (header: object) => `${base64url(JSON.stringify(header))}.e30.AA`;

/** A DPoP key made synchronously (the case table is built at load time). */
const dpopKeys = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const dpopJwk = dpopKeys.publicKey.export({ format: 'jwk' });
const dpopClaims = (htu: string, htm = 'POST') => ({
  jti: `j-${Math.random()}`,
  htm,
  htu,
  iat: Math.floor(Date.now() / 1000),
});
/** A proof signed with `dpopKeys` (ES256), whatever the header and claims say. */
function signedProof(header: object, claims: object): string {
  const input = `${base64url(JSON.stringify(header))}.${base64url(JSON.stringify(claims))}`;
  const signature = sign('sha256', Buffer.from(input), { key: dpopKeys.privateKey, dsaEncoding: 'ieee-p1363' });
  return `${input}.${signature.toString('base64url')}`;
}
const goodHeader = { alg: 'ES256', typ: 'dpop+jwt', jwk: dpopJwk };
const hmacProof = (() => {
  const secret = Buffer.alloc(32, 7);
  const input = `${base64url(JSON.stringify({ alg: 'HS256', typ: 'dpop+jwt', jwk: { kty: 'oct', k: secret.toString('base64url') } }))}.${base64url(JSON.stringify(dpopClaims('http://x/oauth/token')))}`;
  return `${input}.${createHmac('sha256', secret).update(input).digest('base64url')}`;
})();
/** Hostile DPoP headers: each is refused as invalid_dpop_proof, wherever it comes. */
const hostileProofs: Array<[string, string]> = [
  ['empty', ''],
  ['garbage', 'not a proof'],
  ['three dots of nothing', 'a.b.c'],
  ['huge', `${'a'.repeat(6000)}.b.c`],
  ['bad base64url', 'a*b.c$d.e!f'],
  ['alg none', `${base64url('{"alg":"none","typ":"dpop+jwt"}')}.${base64url('{}')}.AA`],
  ['HS256 with a symmetric jwk', hmacProof],
  [
    'a private jwk',
    signedProof({ ...goodHeader, jwk: dpopKeys.privateKey.export({ format: 'jwk' }) }, dpopClaims('http://x/')),
  ],
  ['typ JWT', signedProof({ ...goodHeader, typ: 'JWT' }, dpopClaims('http://x/'))],
  ['a jwk that is a string', signedProof({ ...goodHeader, jwk: 'key' }, dpopClaims('http://x/'))],
  ['a header that is an array', `${base64url('[1]')}.${base64url('{}')}.AA`],
  ['no claims at all', signedProof(goodHeader, {})],
  ['numeric claims', signedProof(goodHeader, { jti: 1, htm: 2, htu: 3, iat: '4' })],
  ['a jti with U+0000', signedProof(goodHeader, { ...dpopClaims('http://x/'), jti: 'a\u0000b' })],
  ['two proofs in one header', 'a.b.c, d.e.f'],
];
const dpopCases = (path: Case['path'], contentType: string, body: string): Case[] =>
  hostileProofs.map(([name, proof]) => ({
    name: `${path}: DPoP proof ${name}`,
    path,
    contentType,
    body,
    headers: { dpop: proof },
    status: 400,
    error: 'invalid_dpop_proof',
  }));

/** A body of unknown length (chunked), larger than the cap. */
function endlessStream(): ReadableStream<Uint8Array> {
  let sent = 0;
  return new ReadableStream({
    pull(controller) {
      if (sent > 64 * 1024) return controller.close();
      sent += 4096;
      controller.enqueue(new Uint8Array(4096).fill(0x61));
    },
  });
}

const cases: Case[] = [
  // Token endpoint
  {
    name: 'JSON instead of a form',
    path: '/oauth/token',
    contentType: JSON_TYPE,
    body: '{"grant_type":"refresh_token"}',
    status: 400,
    error: 'invalid_request',
  },
  { name: 'no content type', path: '/oauth/token', body: validRefresh(), status: 400, error: 'invalid_request' },
  {
    name: 'text/plain',
    path: '/oauth/token',
    contentType: 'text/plain',
    body: validRefresh(),
    status: 400,
    error: 'invalid_request',
  },
  {
    name: 'oversized form',
    path: '/oauth/token',
    contentType: FORM,
    body: validRefresh(`&refresh_token=${big}`),
    status: 413,
    error: 'invalid_request',
  },
  {
    name: 'oversized chunked body',
    path: '/oauth/token',
    contentType: FORM,
    body: endlessStream,
    status: 413,
    error: 'invalid_request',
  },
  {
    name: 'repeated grant_type',
    path: '/oauth/token',
    contentType: FORM,
    body: `${validRefresh()}&grant_type=refresh_token&refresh_token=${'a'.repeat(43)}`,
    status: 400,
    error: 'invalid_request',
  },
  {
    name: 'repeated refresh_token',
    path: '/oauth/token',
    contentType: FORM,
    body: validRefresh(`&refresh_token=${'a'.repeat(43)}&refresh_token=${'b'.repeat(43)}`),
    status: 400,
    error: 'invalid_request',
  },
  {
    name: 'missing grant_type',
    path: '/oauth/token',
    contentType: FORM,
    body: `client_id=${CLIENT_ID}&refresh_token=${'a'.repeat(43)}`,
    status: 400,
    error: 'invalid_request',
  },
  {
    name: 'unknown grant_type',
    path: '/oauth/token',
    contentType: FORM,
    body: `grant_type=password&client_id=${CLIENT_ID}&username=a&password=b`,
    status: 400,
    error: 'unsupported_grant_type',
  },
  {
    name: 'missing client_id',
    path: '/oauth/token',
    contentType: FORM,
    body: `grant_type=refresh_token&refresh_token=${'a'.repeat(43)}`,
    status: 401,
    error: 'invalid_client',
  },
  {
    name: 'overlong client_id',
    path: '/oauth/token',
    contentType: FORM,
    body: `grant_type=refresh_token&client_id=${'c'.repeat(200)}`,
    status: 401,
    error: 'invalid_client',
  },
  {
    name: 'missing refresh_token',
    path: '/oauth/token',
    contentType: FORM,
    body: validRefresh(),
    status: 400,
    error: 'invalid_request',
  },
  {
    name: 'empty refresh_token',
    path: '/oauth/token',
    contentType: FORM,
    body: validRefresh('&refresh_token='),
    status: 400,
    error: 'invalid_request',
  },
  {
    name: 'garbage refresh_token',
    path: '/oauth/token',
    contentType: FORM,
    body: validRefresh('&refresh_token=%00%FF%27%22;DROP TABLE users'),
    status: 400,
    error: 'invalid_grant',
  },
  {
    name: 'unknown well-formed refresh_token',
    path: '/oauth/token',
    contentType: FORM,
    body: validRefresh(`&refresh_token=${'Z'.repeat(43)}`),
    status: 400,
    error: 'invalid_grant',
  },
  {
    name: 'invalid UTF-8 bytes',
    path: '/oauth/token',
    contentType: FORM,
    body: new Uint8Array([0x67, 0x3d, 0xff, 0xfe]),
    status: 400,
    error: 'invalid_request',
  },
  {
    name: 'jwt-bearer without assertion',
    path: '/oauth/token',
    contentType: FORM,
    body: `grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer&client_id=${CLIENT_ID}`,
    status: 400,
    error: 'invalid_request',
  },
  {
    name: 'jwt-bearer garbage assertion',
    path: '/oauth/token',
    contentType: FORM,
    body: `grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer&client_id=${CLIENT_ID}&assertion=a.b.c`,
    status: 400,
    error: 'invalid_grant',
  },
  {
    name: 'jwt-bearer assertion with a JSON header but no kid',
    path: '/oauth/token',
    contentType: FORM,
    body: `grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer&client_id=${CLIENT_ID}&assertion=${Buffer.from('{"alg":"ES256"}').toString('base64url')}.e30.AA`,
    status: 400,
    error: 'invalid_grant',
  },
  // PostgreSQL refuses U+0000 in text: the kid must be refused before it is looked up.
  {
    name: 'jwt-bearer assertion whose kid contains U+0000',
    path: '/oauth/token',
    contentType: FORM,
    body: `grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer&client_id=${CLIENT_ID}&assertion=${assertionWithHeader({ alg: 'ES256', kid: 'a\u0000b' })}`,
    status: 400,
    error: 'invalid_grant',
  },
  {
    name: 'jwt-bearer assertion whose kid contains U+001B',
    path: '/oauth/token',
    contentType: FORM,
    body: `grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer&client_id=${CLIENT_ID}&assertion=${assertionWithHeader({ alg: 'ES256', kid: '\u001b[31m' })}`,
    status: 400,
    error: 'invalid_grant',
  },
  { name: 'GET on the token endpoint', path: '/oauth/token', method: 'GET', status: 405, error: 'method_not_allowed' },
  // Login
  {
    name: 'login: invalid JSON',
    path: '/auth/login',
    contentType: JSON_TYPE,
    body: '{"username":',
    status: 400,
    error: 'invalid_request',
  },
  {
    name: 'login: JSON array',
    path: '/auth/login',
    contentType: JSON_TYPE,
    body: '[1,2]',
    status: 400,
    error: 'invalid_request',
  },
  {
    name: 'login: JSON null',
    path: '/auth/login',
    contentType: JSON_TYPE,
    body: 'null',
    status: 400,
    error: 'invalid_request',
  },
  {
    name: 'login: form instead of JSON',
    path: '/auth/login',
    contentType: FORM,
    body: 'username=alice&password=secret',
    status: 400,
    error: 'invalid_request',
  },
  {
    name: 'login: oversized',
    path: '/auth/login',
    contentType: JSON_TYPE,
    body: JSON.stringify({ username: big, password: 'x', client_id: CLIENT_ID }),
    status: 413,
    error: 'invalid_request',
  },
  {
    name: 'login: numeric username',
    path: '/auth/login',
    contentType: JSON_TYPE,
    body: JSON.stringify({ username: 1, password: 'secret', client_id: CLIENT_ID }),
    status: 400,
    error: 'invalid_request',
  },
  {
    name: 'login: object password',
    path: '/auth/login',
    contentType: JSON_TYPE,
    body: JSON.stringify({ username: 'alice', password: { $ne: 1 }, client_id: CLIENT_ID }),
    status: 400,
    error: 'invalid_request',
  },
  {
    name: 'login: missing password',
    path: '/auth/login',
    contentType: JSON_TYPE,
    body: JSON.stringify({ username: 'alice', client_id: CLIENT_ID }),
    status: 400,
    error: 'invalid_request',
  },
  // The ordinary 401 of an unknown user (never looked up: PostgreSQL refuses U+0000 in text).
  {
    name: 'login: username with U+0000',
    path: '/auth/login',
    contentType: JSON_TYPE,
    body: JSON.stringify({ username: 'alice\u0000', password: 'secret', client_id: CLIENT_ID }),
    status: 401,
    error: 'invalid_grant',
  },
  {
    name: 'login: username with a control character',
    path: '/auth/login',
    contentType: JSON_TYPE,
    body: JSON.stringify({ username: 'alice\u0085', password: 'secret', client_id: CLIENT_ID }),
    status: 401,
    error: 'invalid_grant',
  },
  {
    name: 'login: missing client_id',
    path: '/auth/login',
    contentType: JSON_TYPE,
    body: JSON.stringify({ username: 'alice', password: 'secret' }),
    status: 401,
    error: 'invalid_client',
  },
  {
    name: 'login: numeric client_id',
    path: '/auth/login',
    contentType: JSON_TYPE,
    body: JSON.stringify({ username: 'alice', password: 'secret', client_id: 7 }),
    status: 401,
    error: 'invalid_client',
  },
  {
    name: 'login: device key with private member d',
    path: '/auth/login',
    contentType: JSON_TYPE,
    body: JSON.stringify({
      username: 'alice',
      password: 'secret',
      client_id: CLIENT_ID,
      device_public_jwk: { kty: 'EC', crv: 'P-256', x: 'AA', y: 'AA', d: 'AA' },
    }),
    status: 400,
    error: 'invalid_request',
  },
  {
    name: 'login: device key on P-384',
    path: '/auth/login',
    contentType: JSON_TYPE,
    body: JSON.stringify({
      username: 'alice',
      password: 'secret',
      client_id: CLIENT_ID,
      device_public_jwk: { kty: 'EC', crv: 'P-384', x: 'AA', y: 'AA' },
    }),
    status: 400,
    error: 'invalid_request',
  },
  {
    name: 'login: RSA device key',
    path: '/auth/login',
    contentType: JSON_TYPE,
    body: JSON.stringify({
      username: 'alice',
      password: 'secret',
      client_id: CLIENT_ID,
      device_public_jwk: { kty: 'RSA', n: 'AQAB', e: 'AQAB' },
    }),
    status: 400,
    error: 'invalid_request',
  },
  {
    name: 'login: device key not on the curve',
    path: '/auth/login',
    contentType: JSON_TYPE,
    body: JSON.stringify({
      username: 'alice',
      password: 'secret',
      client_id: CLIENT_ID,
      device_public_jwk: { kty: 'EC', crv: 'P-256', x: 'A'.repeat(43), y: 'B'.repeat(43) },
    }),
    status: 400,
    error: 'invalid_request',
  },
  {
    name: 'login: device key as a string',
    path: '/auth/login',
    contentType: JSON_TYPE,
    body: JSON.stringify({ username: 'alice', password: 'secret', client_id: CLIENT_ID, device_public_jwk: 'key' }),
    status: 400,
    error: 'invalid_request',
  },
  // Revocation
  {
    name: 'revoke: missing token',
    path: '/oauth/revoke',
    contentType: FORM,
    body: `client_id=${CLIENT_ID}`,
    status: 400,
    error: 'invalid_request',
  },
  {
    name: 'revoke: JSON body',
    path: '/oauth/revoke',
    contentType: JSON_TYPE,
    body: '{"token":"x"}',
    status: 400,
    error: 'invalid_request',
  },
  {
    name: 'revoke: repeated token',
    path: '/oauth/revoke',
    contentType: FORM,
    body: 'token=a&token=b',
    status: 400,
    error: 'invalid_request',
  },
  // DPoP proofs (RFC 9449): checked before the grant, the password or the token is looked at.
  ...dpopCases('/oauth/token', FORM, validRefresh(`&refresh_token=${'a'.repeat(43)}`)),
  ...dpopCases(
    '/auth/login',
    JSON_TYPE,
    JSON.stringify({ username: 'alice', password: 'secret', client_id: CLIENT_ID }),
  ),
  ...dpopCases('/oauth/revoke', FORM, `token=${'a'.repeat(43)}`),
  ...hostileProofs.map(([name, proof]): Case => ({
    name: `/api/me: DPoP proof ${name}`,
    path: '/api/me',
    method: 'GET',
    headers: { authorization: 'DPoP eyJhbGciOiJFUzI1NiJ9.e30.AAAA', dpop: proof },
    status: 401,
    error: 'invalid_dpop_proof',
    challenge: /^DPoP error="invalid_dpop_proof", error_description="[^"]+", algs="ES256"$/,
  })),
  {
    name: '/api/me: the DPoP scheme without a proof',
    path: '/api/me',
    method: 'GET',
    headers: { authorization: 'DPoP eyJhbGciOiJFUzI1NiJ9.e30.AAAA' },
    status: 401,
    error: 'invalid_dpop_proof',
    challenge: /^DPoP error="invalid_dpop_proof"/,
  },
  {
    name: '/api/me: the DPoP scheme with a malformed token',
    path: '/api/me',
    method: 'GET',
    headers: { authorization: 'DPoP a b c', dpop: 'a.b.c' },
    status: 401,
    error: 'invalid_token',
    challenge: /^DPoP error="invalid_token"/,
  },
];

describeEachBackend('hostile input', (backend) => {
  let server: RunningServer;
  let stop: () => Promise<void>;

  beforeAll(async () => {
    // No rate limit here: this suite sends many requests from one client on purpose.
    ({ server, stop } = await startTestServer(backend, { rateLimitPerMinute: 0 }));
  });
  afterAll(async () => stop?.());

  it.each(cases)(
    '$name -> $status $error',
    async ({ path, method, contentType, headers, challenge, body, status, error }) => {
      const init: RequestInit & { duplex?: 'half' } = { method: method ?? 'POST', headers: { ...headers } };
      if (contentType) (init.headers as Record<string, string>)['content-type'] = contentType;
      if (body !== undefined) {
        if (typeof body === 'function') {
          init.body = body();
          init.duplex = 'half';
        } else {
          init.body = body as BodyInit;
        }
      }
      if (contentType === undefined && typeof body === 'string') {
        // fetch would add text/plain; send the bytes without any content type.
        init.body = new TextEncoder().encode(body);
      }
      const response = await fetch(`${server.url}${path}`, init);
      expect(response.status).toBe(status);
      const parsed = (await response.json()) as Record<string, unknown>;
      expect(parsed).toEqual({ error, error_description: expect.any(String) });
      if (challenge) expect(response.headers.get('www-authenticate')).toMatch(challenge);
    },
  );

  it('the server still works after all of that', async () => {
    await login(server);
  });

  it('unknown paths get a JSON 404', async () => {
    const response = await fetch(`${server.url}/oauth/authorize`);
    expect(response.status).toBe(404);
    expect(await response.json()).toMatchObject({ error: 'not_found' });
  });
});

describeEachBackend('fuzzed input', (backend) => {
  let server: RunningServer;
  let stop: () => Promise<void>;

  beforeAll(async () => {
    ({ server, stop } = await startTestServer(backend, { rateLimitPerMinute: 0 }));
  });
  afterAll(async () => stop?.());

  /** Every answer to junk is a 4xx with an RFC 6749 error body (revocation may say 200). */
  async function expectClientError(response: Response, allowOk = false) {
    if (allowOk && response.status === 200) return;
    expect(response.status).toBeGreaterThanOrEqual(400);
    expect(response.status).toBeLessThan(500);
    const body = (await response.json()) as { error?: unknown; error_description?: unknown };
    expect(typeof body.error).toBe('string');
    expect(typeof body.error_description).toBe('string');
  }

  const formValue = fc.oneof(
    fc.string(),
    fc.string({ unit: 'binary' }),
    fc.record({ alg: fc.constantFrom('ES256', 'none'), kid: fc.string({ unit: 'binary' }) }).map(assertionWithHeader),
    fc.constantFrom('refresh_token', 'urn:ietf:params:oauth:grant-type:jwt-bearer', CLIENT_ID, 'a.b.c', 'x'.repeat(43)),
  );
  const formPairs = fc.array(
    fc.tuple(
      fc.constantFrom('grant_type', 'refresh_token', 'client_id', 'assertion', 'token', 'token_type_hint', 'scope'),
      formValue,
    ),
    { maxLength: 6 },
  );

  it('the token and revocation endpoints answer random forms with 4xx errors', async () => {
    await fc.assert(
      fc.asyncProperty(formPairs, fc.constantFrom('/oauth/token', '/oauth/revoke'), async (pairs, path) => {
        const body = new URLSearchParams(pairs).toString();
        const response = await fetch(`${server.url}${path}`, {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body,
        });
        await expectClientError(response, path === '/oauth/revoke');
      }),
      { numRuns: 150 },
    );
  });

  it('the token endpoint answers random bytes with 4xx errors', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.uint8Array({ maxLength: 512 }),
        fc.constantFrom('application/x-www-form-urlencoded', 'application/json', 'text/plain', ''),
        async (bytes, contentType) => {
          const response = await fetch(server.tokenEndpoint, {
            method: 'POST',
            headers: contentType ? { 'content-type': contentType } : {},
            body: bytes,
          });
          await expectClientError(response);
        },
      ),
      { numRuns: 100 },
    );
  });

  it('the login endpoint answers random JSON with 4xx errors', async () => {
    const field = fc.oneof(
      fc.jsonValue(),
      fc.string(),
      fc.string({ unit: 'binary-ascii' }),
      fc.constant('alice\u0000'),
    );
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.jsonValue(),
          fc.record(
            {
              username: field,
              password: field,
              client_id: fc.oneof(field, fc.constant(CLIENT_ID)),
              device_public_jwk: fc.jsonValue(),
            },
            { requiredKeys: [] },
          ),
        ),
        async (value) => {
          const response = await fetch(`${server.url}/auth/login`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify(value) ?? 'undefined',
          });
          await expectClientError(response);
        },
      ),
      { numRuns: 150 },
    );
  });

  it('protected resources answer random Authorization headers with 401', async () => {
    const header = fc.oneof(
      fc.string().map((s) => `Bearer ${s}`),
      fc.stringMatching(/^[\x21-\x7e ]{0,80}$/),
      fc.tuple(fc.base64String(), fc.base64String(), fc.base64String()).map(([a, b, c]) => `Bearer ${a}.${b}.${c}`),
    );
    await fc.assert(
      fc.asyncProperty(header, async (value) => {
        let response: Response;
        try {
          response = await fetch(`${server.url}/api/me`, { headers: { authorization: value } });
        } catch {
          return; // not a valid HTTP header value: fetch refuses to send it
        }
        expect(response.status).toBe(401);
        expect(response.headers.get('www-authenticate')).toMatch(/^(Bearer|DPoP)/);
      }),
      { numRuns: 150 },
    );
  });

  /** DPoP header values: random text, random JWS-shaped strings, random JSON in JWS form. */
  const dpopHeader = fc.oneof(
    fc.stringMatching(/^[\x21-\x7e ]{0,200}$/),
    fc.tuple(fc.base64String(), fc.base64String(), fc.base64String()).map((parts) => parts.join('.').replace(/=/g, '')),
    fc
      .tuple(fc.jsonValue(), fc.jsonValue())
      .map(([h, p]) => `${base64url(JSON.stringify(h) ?? 'null')}.${base64url(JSON.stringify(p) ?? 'null')}.AAAA`),
    fc
      .record({
        alg: fc.constantFrom('ES256', 'none', 'HS256'),
        typ: fc.constantFrom('dpop+jwt', 'JWT'),
        jwk: fc.jsonValue(),
      })
      .map((header) => `${base64url(JSON.stringify(header))}.${base64url('{}')}.AAAA`),
  );

  it('the token endpoint and protected resources answer random DPoP headers with 4xx, never a 5xx', async () => {
    await fc.assert(
      fc.asyncProperty(dpopHeader, fc.boolean(), async (proof, atResource) => {
        let response: Response;
        try {
          response = atResource
            ? await fetch(`${server.url}/api/me`, { headers: { authorization: 'DPoP a.b.c', dpop: proof } })
            : await fetch(server.tokenEndpoint, {
                method: 'POST',
                headers: { 'content-type': 'application/x-www-form-urlencoded', dpop: proof },
                body: `grant_type=refresh_token&client_id=${CLIENT_ID}&refresh_token=${'a'.repeat(43)}`,
              });
        } catch {
          return; // not a valid HTTP header value: fetch refuses to send it
        }
        await expectClientError(response);
        if (atResource) expect(response.headers.get('www-authenticate')).toMatch(/^DPoP error=/);
      }),
      { numRuns: 200 },
    );
  });
});
