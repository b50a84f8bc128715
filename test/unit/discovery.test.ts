/**
 * Reading an authorization server's metadata (RFC 8414): where it is asked for, which
 * issuers and endpoints are accepted, and which failures are transient. msw plays the server.
 */
import { http, HttpResponse } from 'msw';
import { describe, expect, it } from 'vitest';
import { discoverEndpoints } from '../../src/discovery.ts';
import { DiscoveryError } from '../../src/errors.ts';
import { seen, useMsw, type SeenRequest } from './msw.ts';

const server = useMsw();
const ISSUER = 'https://auth.test';
const WELL_KNOWN = `${ISSUER}/.well-known/oauth-authorization-server`;

const metadata = {
  issuer: ISSUER,
  token_endpoint: `${ISSUER}/oauth/token`,
  revocation_endpoint: `${ISSUER}/oauth/revoke`,
  grant_types_supported: ['refresh_token', 'urn:ietf:params:oauth:grant-type:jwt-bearer'],
};

/** Serves `response` at `url` and records the requests. */
function serve(url: string, response: () => Response) {
  const requests: SeenRequest[] = [];
  server.use(
    http.get(url, async ({ request }) => {
      requests.push(await seen(request));
      return response();
    }),
  );
  return requests;
}

async function failure(issuer: string, options?: Parameters<typeof discoverEndpoints>[1]): Promise<DiscoveryError> {
  const error = await discoverEndpoints(issuer, options).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(DiscoveryError);
  return error as DiscoveryError;
}

describe('discoverEndpoints: what it asks for', () => {
  it('reads the endpoints with the global fetch, asking for JSON', async () => {
    const requests = serve(WELL_KNOWN, () => HttpResponse.json(metadata));
    await expect(discoverEndpoints(ISSUER)).resolves.toEqual({
      issuer: ISSUER,
      tokenEndpoint: `${ISSUER}/oauth/token`,
      revocationEndpoint: `${ISSUER}/oauth/revoke`,
      grantTypesSupported: ['refresh_token', 'urn:ietf:params:oauth:grant-type:jwt-bearer'],
    });
    expect(requests).toHaveLength(1);
    expect(requests[0]!.headers.get('accept')).toBe('application/json');
  });

  it('uses the fetch it is given', async () => {
    const asked: string[] = [];
    const fetch = (async (input: RequestInfo | URL) => {
      asked.push(String(input));
      return Response.json(metadata);
    }) as typeof globalThis.fetch;
    await discoverEndpoints(ISSUER, { fetch });
    expect(asked).toEqual([WELL_KNOWN]);
  });

  it('puts the well-known path between the host and the issuer path, without its trailing slash', async () => {
    serve(`${ISSUER}/.well-known/oauth-authorization-server/tenant1`, () =>
      HttpResponse.json({ ...metadata, issuer: `${ISSUER}/tenant1` }),
    );
    await expect(discoverEndpoints(`${ISSUER}/tenant1/`)).resolves.toMatchObject({ issuer: `${ISSUER}/tenant1` });
  });

  it('accepts metadata naming the issuer with or without the trailing slash it was asked with', async () => {
    serve(WELL_KNOWN, () => HttpResponse.json(metadata));
    await expect(discoverEndpoints(`${ISSUER}/`)).resolves.toMatchObject({ issuer: ISSUER });
    serve(WELL_KNOWN, () => HttpResponse.json({ ...metadata, issuer: `${ISSUER}/` }));
    await expect(discoverEndpoints(`${ISSUER}/`)).resolves.toMatchObject({ issuer: `${ISSUER}/` });
  });

  it('passes its signal on: an aborted one ends the request with a transient error', async () => {
    serve(WELL_KNOWN, () => HttpResponse.json(metadata));
    const error = await failure(ISSUER, { signal: AbortSignal.abort() });
    expect(error.transient).toBe(true);
  });
});

describe('discoverEndpoints: which issuers and endpoints are accepted', () => {
  it.each(['http://localhost:4000', 'http://127.0.0.1:4000', 'http://[::1]:4000'])(
    'accepts plain http on the loopback interface: %s',
    async (issuer) => {
      serve(`${issuer}/.well-known/oauth-authorization-server`, () =>
        HttpResponse.json({ ...metadata, issuer, token_endpoint: `${issuer}/token`, revocation_endpoint: undefined }),
      );
      await expect(discoverEndpoints(issuer)).resolves.toEqual({
        issuer,
        tokenEndpoint: `${issuer}/token`,
        revocationEndpoint: undefined,
        grantTypesSupported: metadata.grant_types_supported,
      });
    },
  );

  it.each(['http://auth.test', 'ftp://auth.test', 'ftp://localhost', 'ws://127.0.0.1', 'auth.test', ''])(
    'refuses the issuer %j without asking anything',
    async (issuer) => {
      const error = await failure(issuer);
      expect(error.message).toBe(`The issuer ${JSON.stringify(issuer)} is not an https URL`);
      expect(error.transient).toBe(false);
    },
  );

  it.each([
    [
      'a plain-http token endpoint',
      { token_endpoint: 'http://auth.test/token' },
      'Metadata field "token_endpoint" is not an https URL',
    ],
    ['no token endpoint', { token_endpoint: undefined }, 'Metadata field "token_endpoint" is not an https URL'],
    ['a numeric token endpoint', { token_endpoint: 443 }, 'Metadata field "token_endpoint" is not an https URL'],
    [
      'a plain-http revocation endpoint',
      { revocation_endpoint: 'http://auth.test/revoke' },
      'Metadata field "revocation_endpoint" is not an https URL',
    ],
    [
      'a null revocation endpoint',
      { revocation_endpoint: null },
      'Metadata field "revocation_endpoint" is not an https URL',
    ],
    ['another issuer', { issuer: 'https://evil.test' }, `Metadata names issuer "https://evil.test", not "${ISSUER}"`],
    ['no issuer', { issuer: undefined }, `Metadata names issuer undefined, not "${ISSUER}"`],
  ])('refuses metadata with %s, saying why', async (_, change, message) => {
    serve(WELL_KNOWN, () => HttpResponse.json({ ...metadata, ...change }));
    const error = await failure(ISSUER);
    expect(error.message).toBe(message);
    expect(error.transient).toBe(false);
  });

  it.each([
    ['null', null],
    ['a string', 'metadata'],
  ])('refuses metadata that is %s', async (_, body) => {
    serve(WELL_KNOWN, () => HttpResponse.json(body));
    const error = await failure(ISSUER);
    expect(error.message).toBe('Metadata is not a JSON object');
    expect(error.transient).toBe(false);
  });

  it('omits a revocation endpoint the metadata does not name', async () => {
    serve(WELL_KNOWN, () => HttpResponse.json({ ...metadata, revocation_endpoint: undefined }));
    await expect(discoverEndpoints(ISSUER)).resolves.toMatchObject({ revocationEndpoint: undefined });
  });

  it.each([
    ['absent', undefined],
    ['not a list', 'refresh_token'],
    ['a list with a non-string', ['refresh_token', 7]],
  ])('reads grant types that are %s as unknown', async (_, grants) => {
    serve(WELL_KNOWN, () => HttpResponse.json({ ...metadata, grant_types_supported: grants }));
    await expect(discoverEndpoints(ISSUER)).resolves.toMatchObject({ grantTypesSupported: undefined });
  });
});

describe('discoverEndpoints: failures', () => {
  it('an HTTP error below 500 is permanent, naming the URL and the status', async () => {
    serve(WELL_KNOWN, () => new HttpResponse(null, { status: 404 }));
    const error = await failure(ISSUER);
    expect(error).toMatchObject({ message: `${WELL_KNOWN} answered HTTP 404`, transient: false });
  });

  it.each([500, 503])('HTTP %i is transient', async (status) => {
    serve(WELL_KNOWN, () => new HttpResponse(null, { status }));
    const error = await failure(ISSUER);
    expect(error).toMatchObject({ message: `${WELL_KNOWN} answered HTTP ${status}`, transient: true });
  });

  it('an unreachable server is transient, naming the URL, with the cause', async () => {
    server.use(http.get(WELL_KNOWN, () => HttpResponse.error()));
    const error = await failure(ISSUER);
    expect(error).toMatchObject({ message: `Could not read ${WELL_KNOWN}`, transient: true });
    expect(error.cause).toBeInstanceOf(Error);
  });

  it('an answer that is not JSON is transient (a captive portal, a proxy page)', async () => {
    serve(WELL_KNOWN, () => new HttpResponse('<html>', { status: 200 }));
    const error = await failure(ISSUER);
    expect(error).toMatchObject({ message: `Could not read ${WELL_KNOWN}`, transient: true });
  });
});

describe('discoverEndpoints: endpoint values that are not strings', () => {
  it('refuses a token_endpoint given as an array, even one whose only element is a good URL', async () => {
    serve(WELL_KNOWN, () => HttpResponse.json({ ...metadata, token_endpoint: [metadata.token_endpoint] }));
    await failure(ISSUER);
  });
});
