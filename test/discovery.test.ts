import { describe, expect, it } from 'vitest';
import { discoverEndpoints } from '../src/discovery.ts';
import { DiscoveryError } from '../src/errors.ts';

function serving(body: unknown, status = 200) {
  const asked: string[] = [];
  const fetch = async (input: RequestInfo | URL) => {
    asked.push(String(input));
    return new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });
  };
  return { asked, fetch: fetch as typeof globalThis.fetch };
}

const metadata = {
  issuer: 'https://auth.example.com',
  token_endpoint: 'https://auth.example.com/oauth/token',
  revocation_endpoint: 'https://auth.example.com/oauth/revoke',
  grant_types_supported: ['refresh_token'],
};

describe('discoverEndpoints (RFC 8414)', () => {
  it('reads the token and revocation endpoints', async () => {
    const server = serving(metadata);
    await expect(discoverEndpoints('https://auth.example.com', { fetch: server.fetch })).resolves.toEqual({
      issuer: 'https://auth.example.com',
      tokenEndpoint: 'https://auth.example.com/oauth/token',
      revocationEndpoint: 'https://auth.example.com/oauth/revoke',
      grantTypesSupported: ['refresh_token'],
    });
    expect(server.asked).toEqual(['https://auth.example.com/.well-known/oauth-authorization-server']);
  });

  it('puts the well-known path between the host and the issuer path', async () => {
    const server = serving({ ...metadata, issuer: 'https://example.com/tenant1' });
    await discoverEndpoints('https://example.com/tenant1', { fetch: server.fetch });
    expect(server.asked).toEqual(['https://example.com/.well-known/oauth-authorization-server/tenant1']);
  });

  it.each([
    ['another issuer', { ...metadata, issuer: 'https://evil.example' }],
    ['no token endpoint', { ...metadata, token_endpoint: undefined }],
    ['a plain-http token endpoint', { ...metadata, token_endpoint: 'http://auth.example.com/token' }],
    ['not an object', 'metadata'],
  ])('rejects metadata with %s', async (_, body) => {
    const error = await discoverEndpoints('https://auth.example.com', { fetch: serving(body).fetch }).catch((e) => e);
    expect(error).toBeInstanceOf(DiscoveryError);
    expect(error.transient).toBe(false);
  });

  it('an unreachable server is a transient DiscoveryError', async () => {
    const fetch = (async () => {
      throw new TypeError('fetch failed');
    }) as typeof globalThis.fetch;
    const error = await discoverEndpoints('https://auth.example.com', { fetch }).catch((e) => e);
    expect(error).toBeInstanceOf(DiscoveryError);
    expect(error.transient).toBe(true);
  });
});
