/**
 * Where tokens go and where they never appear: only trusted origins get them; no event, error or log line carries one.
 */
import { describe, expect, it } from 'vitest';
import { ConfigurationError, DiscoveryError } from '../src/errors.ts';
import { discoverEndpoints } from '../src/discovery.ts';
import { captureLogs, recordEvents, useFakeAuth } from './helpers/setup.ts';

const ctx = useFakeAuth();

describe('where the token goes', () => {
  it('createClient without prefix, baseUrl or trustedOrigins refuses to guess (no window here)', () => {
    const session = ctx.manager();
    expect(() => session.createClient()).toThrow(ConfigurationError);
  });

  it('trustedOrigins names the origins that get the token; others get none', async () => {
    const session = ctx.manager();
    await session.setTokens(ctx.server.issue());
    const seen: (string | null)[] = [];
    const api = session.createClient(
      {
        fetch: async (input) => {
          seen.push((input as Request).headers.get('authorization'));
          return new Response('{}', { headers: { 'content-type': 'application/json' } });
        },
      },
      { trustedOrigins: ['https://api.test'] },
    );
    await api.get('https://api.test/v1/items').json();
    await api.get('https://evil.test/steal').json();
    expect(seen[0]).toMatch(/^Bearer /);
    expect(seen[1]).toBeNull();
  });

  it('discoverEndpoints refuses a plain-http issuer (metadata anyone on the path could forge)', async () => {
    const forged = { issuer: 'http://auth.example.com', token_endpoint: 'https://attacker.example/token' };
    const fetch = (async () => new Response(JSON.stringify(forged))) as typeof globalThis.fetch;
    await expect(discoverEndpoints('http://auth.example.com', { fetch })).rejects.toBeInstanceOf(DiscoveryError);
  });
});
describe('secrets, with JWT-shaped tokens and error causes', () => {
  it('no token in any event, error (with its cause chain) or log line', async () => {
    const { lines, logger } = captureLogs();
    const jwt = (n: number) => `eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ1LTEifQ.c2lnbmF0dXJl${n}`;
    const answers: unknown[] = [
      { access_token: 42, refresh_token: jwt(2) }, // malformed, with a token inside
      { access_token: jwt(3), refresh_token: jwt(4), expires_in: 'soon' },
      { access_token: jwt(5), refresh_token: jwt(6), expires_in: 60 },
    ];
    const session = ctx.manager({
      logger,
      refreshTokens: async () => answers.shift() as never,
    });
    const events = recordEvents(session);
    await session.setTokens({ access_token: jwt(0), refresh_token: jwt(1), expires_in: 60 });
    const refreshed = session.refresh().catch((error: unknown) => error);
    await ctx.clock.advance(10_000);
    await refreshed;
    await session.signOut();
    const errors = events.log.filter((e) => e.type === 'refreshFailed').map((e) => (e.event as { error: Error }).error);
    expect(errors).toHaveLength(2);
    const walk = (value: unknown, depth = 0): unknown =>
      value instanceof Error && depth < 5
        ? { name: value.name, message: value.message, cause: walk(value.cause, depth + 1) }
        : value;
    const text = JSON.stringify([lines, events.log, errors.map((e) => walk(e))]);
    expect(text).not.toContain('c2lnbmF0dXJl');
  });
});
