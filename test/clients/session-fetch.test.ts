/**
 * What `session.fetch` does beyond the shared client suites: the exact `fetch` shape, where the
 * token goes (and where not), requests that bring their own credentials or a `Request`, and
 * one refresh serving the ky client and `session.fetch` together.
 */
import { afterEach, describe, expect, expectTypeOf, it, vi } from 'vitest';
import { createSessionFetch } from '../../src/client/session-fetch.ts';
import { ConfigurationError } from '../../src/errors.ts';
import { API } from '../helpers/fake-auth-server.ts';
import { useFakeAuth } from '../helpers/setup.ts';
import { recordingFetch } from './kinds.ts';

const ctx = useFakeAuth();
afterEach(() => void vi.unstubAllGlobals());

/** A `fetch` that answers 200 to everything and keeps the Authorization header it saw. */
function answeringFetch() {
  const seen: { url: string; authorization: string | null }[] = [];
  const fetchFn: typeof globalThis.fetch = async (input, init) => {
    const request = new Request(input, init);
    seen.push({ url: request.url, authorization: request.headers.get('authorization') });
    return Response.json({ ok: true });
  };
  return { seen, fetch: fetchFn };
}

/** The error `run` throws. */
function catching(run: () => unknown): Error {
  try {
    run();
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected an error');
}

async function signedIn(options: Parameters<typeof ctx.manager>[0] = {}) {
  const session = ctx.manager({ trustedOrigins: [API], ...options });
  await session.setTokens(ctx.server.issue());
  return session;
}

describe('session.fetch', () => {
  it('has the exact type of fetch and works unbound', async () => {
    const session = await signedIn();
    expectTypeOf(session.fetch).toEqualTypeOf<typeof globalThis.fetch>();
    const { fetch: unbound } = session;
    expect((await unbound(`${API}items`)).status).toBe(200);
  });

  it('sends the token to the trusted origins only, however the URL is written', async () => {
    const spy = answeringFetch();
    const session = await signedIn({ fetch: spy.fetch, trustedOrigins: [API, 'https://files.test:8443'] });
    await session.fetch('https://elsewhere.test/v1/items');
    await session.fetch('https://api.test.elsewhere.test/v1/items');
    await session.fetch('https://API.test:443/v1/items');
    await session.fetch(new URL('https://files.test:8443/a'));
    await session.fetch(new Request('https://files.test/a')); // another port: another origin
    expect(spy.seen.map((s) => [s.url, s.authorization?.replace(/at-\d+-x+/, 'token') ?? null])).toEqual([
      ['https://elsewhere.test/v1/items', null],
      ['https://api.test.elsewhere.test/v1/items', null],
      ['https://api.test/v1/items', 'Bearer token'],
      ['https://files.test:8443/a', 'Bearer token'],
      ['https://files.test/a', null],
    ]);
  });

  it('in a browser page its own origin is trusted by default, and a relative URL resolves against it', async () => {
    vi.stubGlobal('location', { href: 'https://app.test/orders/12' });
    const seen: { url: string; authorization: string | null }[] = [];
    const session = ctx.manager({
      fetch: async (input, init) => {
        const request = new Request(new URL(String(input), 'https://app.test/orders/12'), init);
        seen.push({ url: request.url, authorization: request.headers.get('authorization') });
        return Response.json({ ok: true });
      },
    });
    await session.setTokens(ctx.server.issue());
    await session.fetch('/api/me');
    await session.fetch('https://api.test/v1/items');
    expect(seen.map((s) => [s.url, s.authorization !== null])).toEqual([
      ['https://app.test/api/me', true],
      ['https://api.test/v1/items', false],
    ]);
  });

  it('a relative URL outside a browser fails as fetch does, with no token wait and no token', async () => {
    const given: (string | null)[] = [];
    const session = await signedIn({
      fetch: (input, init) => {
        given.push(new Headers(init?.headers).get('authorization'));
        return globalThis.fetch(input, init);
      },
      refreshMargin: 0,
    });
    ctx.clock.set(ctx.clock.now() + 3601 * 1000); // a request for the token would start a refresh
    await expect(session.fetch('/v1/items')).rejects.toBeInstanceOf(TypeError);
    expect(given).toEqual([null]);
    expect(ctx.server.refreshCalls).toBe(0);
  });

  it('a request with its own Authorization header goes out as it is, and is not retried', async () => {
    const session = await signedIn();
    const response = await session.fetch(`${API}items`, { headers: { authorization: 'Basic dXNlcjpwdw==' } });
    expect(response.status).toBe(401);
    expect(ctx.server.apiCalls).toBe(1);
    expect(ctx.server.refreshCalls).toBe(0);
  });

  it('the caller’s own Authorization header is found however it is written, and sent as it is', async () => {
    const spy = answeringFetch();
    const session = await signedIn({ fetch: spy.fetch });
    const basic = 'Basic dXNlcjpwdw==';
    await session.fetch(`${API}a`, { headers: { Authorization: basic } });
    await session.fetch(`${API}b`, { headers: { 'x-app': '1', AUTHORIZATION: basic } });
    await session.fetch(`${API}c`, { headers: new Headers({ Authorization: basic }) });
    await session.fetch(`${API}d`, { headers: [['authorization', basic]] });
    expect(spy.seen.map((s) => s.authorization)).toEqual([basic, basic, basic, basic]);
  });

  it('the caller’s other headers go out with the token, and the caller’s record or Headers is left as it was', async () => {
    const seen: { app: string | null; authorization: string | null }[] = [];
    const session = await signedIn({
      fetch: async (input, init) => {
        const request = new Request(input, init);
        seen.push({ app: request.headers.get('x-app'), authorization: request.headers.get('authorization') });
        return Response.json({ ok: true });
      },
    });
    const record = { 'x-app': 'record' };
    const headers = new Headers({ 'x-app': 'headers' });
    const pairs: [string, string][] = [['x-app', 'pairs']];
    for (const given of [record, headers, pairs]) await session.fetch(`${API}items`, { headers: given });
    const bearer = `Bearer ${await session.getAccessToken()}`;
    expect(seen).toEqual([
      { app: 'record', authorization: bearer },
      { app: 'headers', authorization: bearer },
      { app: 'pairs', authorization: bearer },
    ]);
    expect(record).toEqual({ 'x-app': 'record' });
    expect(headers.has('authorization')).toBe(false);
  });

  it('never throws: bad headers (with the error fetch gives them), or a fetch that throws, are rejections', async () => {
    const session = await signedIn({
      fetch: () => {
        throw new TypeError('no network here');
      },
    });
    for (const bad of ['not headers', null, 5] as never[]) {
      // What fetch rejects with for these headers: the Headers constructor's TypeError.
      const expected = catching(() => new Headers(bad));
      expect(expected).toBeInstanceOf(TypeError);
      await expect(session.fetch(`${API}items`, { headers: bad })).rejects.toThrow(expected.message);
    }
    await expect(session.fetch(`${API}items`)).rejects.toThrow('no network here');
    await expect(session.fetch(new Request(`${API}items`))).rejects.toThrow('no network here');
    expect(ctx.server.refreshCalls).toBe(0);
  });

  it('a Request with its own Authorization header goes out as it is, and is not retried', async () => {
    const session = await signedIn();
    const request = new Request(`${API}items`, { headers: { Authorization: 'Basic dXNlcjpwdw==' } });
    expect((await session.fetch(request)).status).toBe(401);
    expect(ctx.server.apiCalls).toBe(1);
    expect(ctx.server.refreshCalls).toBe(0);
  });

  it('a Request whose signal aborts while it waits for the refresh rejects with the reason', async () => {
    let release!: () => void;
    const session = await signedIn({ refreshMargin: 0 });
    ctx.server.faults = [{ defer: new Promise<void>((resolve) => (release = resolve)) }];
    ctx.clock.set(ctx.clock.now() + 3601 * 1000);
    const controller = new AbortController();
    const aborted = session.fetch(new Request(`${API}items`, { signal: controller.signal }));
    await ctx.clock.advance(0);
    expect(session.state).toBe('refreshing');
    controller.abort(new Error('user navigated away'));
    await expect(aborted).rejects.toThrow('user navigated away');
    release();
    expect((await session.fetch(new Request(`${API}items`))).status).toBe(200);
    expect(ctx.server.apiCalls).toBe(1);
  });

  it('a Request whose signal has already aborted does not go out and starts no refresh', async () => {
    const session = await signedIn({ refreshMargin: 0 });
    ctx.clock.set(ctx.clock.now() + 3601 * 1000); // a request for the token would start a refresh
    const controller = new AbortController();
    controller.abort(new Error('too late'));
    await expect(session.fetch(new Request(`${API}items`, { signal: controller.signal }))).rejects.toThrow('too late');
    expect(ctx.server.apiCalls).toBe(0);
    expect(ctx.server.refreshCalls).toBe(0);
  });

  it('a Request with a body is replayed after a 401, and the caller’s Request is left as it was', async () => {
    const recorder = recordingFetch();
    const session = await signedIn({ fetch: recorder.fetch });
    ctx.server.expireAccessTokens();
    const request = new Request(`${API}items`, { method: 'PUT', body: 'the body', headers: { 'x-app': '1' } });
    const response = await session.fetch(request);
    expect(response.status).toBe(200);
    expect(recorder.sent.map((s) => s.body)).toEqual(['the body', 'the body']);
    expect(request.headers.get('authorization')).toBeNull();
    expect(ctx.server.refreshCalls).toBe(1);
  });

  it('the ky client and session.fetch share one refresh', async () => {
    const session = await signedIn();
    const api = session.createClient({ prefix: API });
    ctx.server.expireAccessTokens();
    const results = await Promise.all([
      ...Array.from({ length: 20 }, () => session.fetch(`${API}items`).then((r) => r.status)),
      ...Array.from({ length: 20 }, () => api.get('items').then((r) => r.status)),
    ]);
    expect(results.every((status) => status === 200)).toBe(true);
    expect(ctx.server.refreshCalls).toBe(1);
  });

  it('without trustedOrigins (outside a browser) it rejects with ConfigurationError; the manager still works', async () => {
    const session = ctx.manager();
    await session.setTokens(ctx.server.issue());
    await expect(session.fetch(`${API}items`)).rejects.toBeInstanceOf(ConfigurationError);
    expect(ctx.server.apiCalls).toBe(0);
    expect(await session.getAccessToken()).toMatch(/^at-/);
  });

  it('an entry of trustedOrigins that is not an origin fails the construction', () => {
    expect(() => ctx.manager({ trustedOrigins: ['api.example.com'] })).toThrow(ConfigurationError);
    expect(() => ctx.manager({ trustedOrigins: 'https://api.example.com' as never })).toThrow(ConfigurationError);
  });
});

describe('createSessionFetch', () => {
  it('needs an origin to trust outside a browser', async () => {
    const session = await signedIn();
    expect(() => createSessionFetch(session)).toThrow(ConfigurationError);
  });

  it('sends through the fetch it is given, over any token source', async () => {
    const spy = answeringFetch();
    const source = { getAccessToken: async () => 'opaque', handleUnauthorized: async () => 'opaque-2' };
    const apiFetch = createSessionFetch(source, { trustedOrigins: ['https://api.example.com'], fetch: spy.fetch });
    await apiFetch('https://api.example.com/me');
    expect(spy.seen).toEqual([{ url: 'https://api.example.com/me', authorization: 'Bearer opaque' }]);
  });
});
