import fc from 'fast-check';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { RunningServer } from '../src/index.ts';
import { CLIENT_ID, describeEachBackend, login, startTestServer } from './helpers.ts';

type Case = {
  name: string;
  path: '/oauth/token' | '/auth/login' | '/oauth/revoke';
  method?: string;
  contentType?: string;
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
];

describeEachBackend('hostile input', (backend) => {
  let server: RunningServer;
  let stop: () => Promise<void>;

  beforeAll(async () => {
    // No rate limit here: this suite sends many requests from one client on purpose.
    ({ server, stop } = await startTestServer(backend, { rateLimitPerMinute: 0 }));
  });
  afterAll(async () => stop?.());

  it.each(cases)('$name -> $status $error', async ({ path, method, contentType, body, status, error }) => {
    const init: RequestInit & { duplex?: 'half' } = { method: method ?? 'POST', headers: {} };
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
  });

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
        expect(response.headers.get('www-authenticate')).toMatch(/^Bearer/);
      }),
      { numRuns: 150 },
    );
  });
});
