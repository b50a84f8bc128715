/**
 * The ky client over a token source: where the access token goes (the origin of `prefix` or
 * `baseUrl`, `trustedOrigins`, the page's own) and the one retry after a 401, tested against a
 * stub token source with msw playing the APIs.
 */
import { HTTPError } from 'ky';
import { http, HttpResponse } from 'msw';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createSessionClient, type TokenProvider } from '../../src/client/create-client.ts';
import { ConfigurationError } from '../../src/errors.ts';
import { seen, useMsw, type SeenRequest } from './msw.ts';

const API = 'https://api.test';
const OTHER = 'https://other.test';
const server = useMsw();

/** A token source that hands out t1, then t2 after a 401, and records every call. */
class StubSession implements TokenProvider {
  token = 't1';
  calls: string[] = [];
  signals: (AbortSignal | undefined)[] = [];
  sameSessionChecks: string[] = [];
  ended = false;

  async getAccessToken(options?: { signal?: AbortSignal }): Promise<string> {
    this.calls.push('getAccessToken');
    this.signals.push(options?.signal);
    return this.token;
  }

  async handleUnauthorized(usedToken: string | undefined, options?: { signal?: AbortSignal }): Promise<string> {
    this.calls.push(`handleUnauthorized(${usedToken})`);
    this.signals.push(options?.signal);
    this.token = 't2';
    return this.token;
  }

  assertSameSession(usedToken: string): void {
    this.sameSessionChecks.push(usedToken);
    if (this.ended) throw new Error(`the session of ${usedToken} has ended`);
  }
}

let session: StubSession;
/** Every request msw saw, in order. */
let requests: SeenRequest[];

/** Serves `origin`/* with the given statuses in turn (200 after they run out), recording each request. */
function api(origin: string, ...statuses: number[]) {
  server.use(
    http.all(`${origin}/*`, async ({ request }) => {
      requests.push(await seen(request));
      const status = statuses.shift() ?? 200;
      return HttpResponse.json({ status }, { status });
    }),
  );
}

const authorizations = () =>
  requests.map((request) => `${new URL(request.url).origin} ${request.headers.get('authorization')}`);

beforeEach(() => {
  session = new StubSession();
  requests = [];
});

afterEach(() => {
  vi.unstubAllGlobals();
});

describe('createSessionClient: which origins it trusts', () => {
  it('refuses to guess without prefix, baseUrl or trustedOrigins outside a page', () => {
    expect(() => createSessionClient(session)).toThrow(
      new ConfigurationError(
        'createClient needs a `prefix`, a `baseUrl` or `trustedOrigins`: the access token only goes to origins named there',
      ),
    );
  });

  it.each([
    ['not URLs', ['api.test', '']],
    ['origins that are opaque', ['data:text/plain,hello', 'about:blank']],
  ])('refuses trustedOrigins that are all %s', (_, trustedOrigins) => {
    expect(() => createSessionClient(session, {}, { trustedOrigins })).toThrow(ConfigurationError);
  });

  it('sends the token to the origin of prefix', async () => {
    api(API);
    await createSessionClient(session, { prefix: `${API}/v1/` }).get('items');
    expect(authorizations()).toEqual([`${API} Bearer t1`]);
  });

  it('sends the token to the origin of baseUrl', async () => {
    api(API);
    await createSessionClient(session, { baseUrl: `${API}/v1/` }).get('items');
    expect(authorizations()).toEqual([`${API} Bearer t1`]);
  });

  it('does not ask for a token for another origin, nor send one there', async () => {
    api(OTHER);
    await createSessionClient(session, { baseUrl: `${API}/v1/` }).get(`${OTHER}/items`);
    expect(authorizations()).toEqual([`${OTHER} null`]);
    expect(session.calls).toEqual([]);
  });

  it.each([
    ['whose name starts with the trusted one', 'https://api.test.evil.test'],
    ['on another port', 'https://api.test:8443'],
    ['over plain http', 'http://api.test'],
  ])('sends no token to an origin %s', async (_, origin) => {
    api(origin);
    await createSessionClient(session, { baseUrl: `${API}/v1/` }).get(`${origin}/items`);
    expect(authorizations()).toEqual([`${origin} null`]);
  });

  it('sends the token to each trusted origin, besides the one of prefix, and nowhere else', async () => {
    const cdn = 'https://cdn.test';
    api(API);
    api(cdn);
    api(OTHER);
    const client = createSessionClient(session, { baseUrl: `${API}/` }, { trustedOrigins: [`${cdn}/any/path`] });
    await client.get('items');
    await client.get(`${cdn}/file`);
    await client.get(`${OTHER}/file`);
    expect(authorizations()).toEqual([`${API} Bearer t1`, `${cdn} Bearer t1`, `${OTHER} null`]);
  });

  it('refuses an entry of trustedOrigins that is not an origin, instead of ignoring it', () => {
    expect(() => createSessionClient(session, { baseUrl: `${API}/` }, { trustedOrigins: ['not a url'] })).toThrow(
      ConfigurationError,
    );
  });

  it('with trustedOrigins alone, sends the token to those only', async () => {
    api(API);
    api(OTHER);
    const client = createSessionClient(session, {}, { trustedOrigins: [API] });
    await client.get(`${API}/items`);
    await client.get(`${OTHER}/items`);
    expect(authorizations()).toEqual([`${API} Bearer t1`, `${OTHER} null`]);
  });

  it("in a page without prefix, trusts the page's own origin", async () => {
    vi.stubGlobal('location', { href: `${API}/app/index.html` });
    api(API);
    api(OTHER);
    const client = createSessionClient(session);
    await client.get(`${API}/items`);
    await client.get(`${OTHER}/items`);
    expect(authorizations()).toEqual([`${API} Bearer t1`, `${OTHER} null`]);
  });

  it('in a page, resolves a relative prefix against the page', () => {
    vi.stubGlobal('location', { href: `${API}/app/index.html` });
    expect(() => createSessionClient(session, { prefix: '/v1/' })).not.toThrow();
  });

  it('outside a page, cannot use a relative prefix to name an origin', () => {
    expect(() => createSessionClient(session, { prefix: '/v1/' })).toThrow(ConfigurationError);
  });

  it('in a page whose origin is opaque, does not trust it', () => {
    vi.stubGlobal('location', { href: 'about:blank' });
    expect(() => createSessionClient(session)).toThrow(ConfigurationError);
  });

  it("passes the request's signal to the token source", async () => {
    api(API);
    const controller = new AbortController();
    await createSessionClient(session, { baseUrl: `${API}/` }).get('items', { signal: controller.signal });
    expect(session.signals[0]).toBeInstanceOf(AbortSignal);
  });
});

describe('createSessionClient: the retry after a 401', () => {
  it('refreshes once and retries with the new token', async () => {
    api(API, 401);
    const response = await createSessionClient(session, { baseUrl: `${API}/` })
      .get('items')
      .json();
    expect(response).toEqual({ status: 200 });
    expect(authorizations()).toEqual([`${API} Bearer t1`, `${API} Bearer t2`]);
    expect(session.calls).toEqual(['getAccessToken', 'handleUnauthorized(t1)']);
  });

  it('hands the request signal to the refresh it waits for', async () => {
    api(API, 401);
    await createSessionClient(session, { baseUrl: `${API}/` }).get('items');
    expect(session.signals).toHaveLength(2);
    expect(session.signals[1]).toBeInstanceOf(AbortSignal);
  });

  it('retries after a 401 that has no body', async () => {
    let answered = 0;
    server.use(
      http.get(`${API}/items`, async ({ request }) => {
        requests.push(await seen(request));
        return answered++ === 0 ? new HttpResponse(null, { status: 401 }) : HttpResponse.json({ ok: true });
      }),
    );
    await expect(
      createSessionClient(session, { baseUrl: `${API}/` })
        .get('items')
        .json(),
    ).resolves.toEqual({ ok: true });
    expect(authorizations()).toEqual([`${API} Bearer t1`, `${API} Bearer t2`]);
  });

  it('hands a second 401 to the caller', async () => {
    api(API, 401, 401);
    const error = await createSessionClient(session, { baseUrl: `${API}/` }, {})
      .get('items', { retry: 0 })
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(error).toBeInstanceOf(HTTPError);
    expect((error as HTTPError).response.status).toBe(401);
    expect(requests).toHaveLength(2);
  });

  it('keeps the body of a POST for its retry', async () => {
    api(API, 401);
    await createSessionClient(session, { baseUrl: `${API}/` }).post('items', { json: { name: 'x' } });
    expect(requests.map((request) => request.body)).toEqual(['{"name":"x"}', '{"name":"x"}']);
    expect(requests[1]!.headers.get('content-type')).toBe('application/json');
  });

  it("does not answer another origin's 401 with the session's token", async () => {
    api(OTHER, 401);
    const client = createSessionClient(session, { baseUrl: `${API}/` });
    const status = await client
      .get(`${OTHER}/items`, { headers: { authorization: 'Bearer their-own' }, retry: 0, throwHttpErrors: false })
      .then((response) => response.status);
    expect(status).toBe(401);
    expect(authorizations()).toEqual([`${OTHER} Bearer their-own`]);
    expect(session.calls).toEqual([]);
  });

  it('does not retry a 401 of a request that carries no bearer token', async () => {
    api(OTHER, 401);
    const client = createSessionClient(session, { baseUrl: `${API}/` });
    const response = await client.get(`${OTHER}/items`, {
      headers: { authorization: 'Basic dXNlcg==' },
      retry: 0,
      throwHttpErrors: false,
    });
    expect(response.status).toBe(401);
    expect(requests).toHaveLength(1);
    expect(session.calls).toEqual([]);
  });

  it('passes other statuses through without a refresh', async () => {
    api(API, 403);
    const response = await createSessionClient(session, { baseUrl: `${API}/` }).get('items', {
      throwHttpErrors: false,
    });
    expect(response.status).toBe(403);
    expect(session.calls).toEqual(['getAccessToken']);
  });

  it('goes through the fetch it was given', async () => {
    api(API);
    const fetched: string[] = [];
    const fetch = ((input: RequestInfo | URL, init?: RequestInit) => {
      fetched.push(input instanceof Request ? input.url : String(input));
      return globalThis.fetch(input, init);
    }) as typeof globalThis.fetch;
    await createSessionClient(session, { baseUrl: `${API}/`, fetch }).get('items');
    expect(fetched).toEqual([`${API}/items`]);
  });
});

describe("createSessionClient: ky's own retries", () => {
  const retry = { limit: 1, statusCodes: [503], delay: () => 0 };

  it('a retry after a 503 goes out with the current token, checked against the session of the first try', async () => {
    api(API, 503);
    const client = createSessionClient(session, {
      baseUrl: `${API}/`,
      retry,
      // The session refreshed while the first try was out.
      hooks: { afterResponse: [() => void (session.token = 't3')] },
    });
    await client.get('items');
    expect(authorizations()).toEqual([`${API} Bearer t1`, `${API} Bearer t3`]);
    expect(session.sameSessionChecks).toEqual(['t1', 't1']);
  });

  it('a retry for a session that has ended is not sent', async () => {
    api(API, 503);
    const client = createSessionClient(session, { baseUrl: `${API}/`, retry });
    session.ended = true;
    await expect(client.get('items')).rejects.toThrow('the session of t1 has ended');
    expect(requests).toHaveLength(1);
  });

  it('a retry to another origin is not checked against the session and gets no token', async () => {
    api(OTHER, 503);
    const client = createSessionClient(session, { baseUrl: `${API}/`, retry });
    await client.get(`${OTHER}/items`, { headers: { authorization: 'Bearer their-own' } });
    expect(session.sameSessionChecks).toEqual([]);
    expect(authorizations()).toEqual([`${OTHER} Bearer their-own`, `${OTHER} Bearer their-own`]);
  });

  it('a retry to another origin of a request without an authorization header goes out as it was', async () => {
    api(OTHER, 503);
    const client = createSessionClient(session, { baseUrl: `${API}/`, retry });
    await client.get(`${OTHER}/items`);
    expect(authorizations()).toEqual([`${OTHER} null`, `${OTHER} null`]);
  });

  it('a retry is sent by a token source that cannot check sessions', async () => {
    api(API, 503);
    const source: TokenProvider = {
      getAccessToken: async () => 't1',
      handleUnauthorized: async () => 't2',
    };
    await createSessionClient(source, { baseUrl: `${API}/`, retry }).get('items');
    expect(authorizations()).toEqual([`${API} Bearer t1`, `${API} Bearer t1`]);
  });

  it('a retry of a request whose own hook replaced the bearer token is not checked against the session', async () => {
    api(API, 503);
    const client = createSessionClient(session, {
      baseUrl: `${API}/`,
      retry,
      hooks: { beforeRequest: [({ request }) => void request.headers.set('authorization', 'Basic dXNlcjpwYXNz')] },
    });
    await client.get('items');
    expect(session.sameSessionChecks).toEqual([]);
  });

  it('a retry of a request without a bearer token is not checked against the session', async () => {
    api(OTHER, 503);
    const client = createSessionClient(session, { baseUrl: `${API}/`, retry });
    await client.get(`${OTHER}/items`, { headers: { authorization: 'Basic dXNlcg==' } });
    expect(session.sameSessionChecks).toEqual([]);
  });
});

describe("createSessionClient: the app's own hooks", () => {
  it('runs its beforeRequest hooks after the token is attached', async () => {
    api(API);
    const seenByHook: (string | null)[] = [];
    const client = createSessionClient(session, {
      baseUrl: `${API}/`,
      hooks: { beforeRequest: [({ request }) => void seenByHook.push(request.headers.get('authorization'))] },
    });
    await client.get('items');
    expect(seenByHook).toEqual(['Bearer t1']);
  });

  it('runs its beforeRetry hooks after the token is attached again', async () => {
    api(API, 503);
    const seenByHook: (string | null)[] = [];
    const client = createSessionClient(session, {
      baseUrl: `${API}/`,
      retry: { limit: 1, statusCodes: [503], delay: () => 0 },
      hooks: {
        afterResponse: [() => void (session.token = 't9')],
        beforeRetry: [({ request }) => void seenByHook.push(request.headers.get('authorization'))],
      },
    });
    await client.get('items');
    expect(seenByHook).toEqual(['Bearer t9']);
  });

  it('keeps its other hooks', async () => {
    api(API);
    const statuses: number[] = [];
    const client = createSessionClient(session, {
      baseUrl: `${API}/`,
      hooks: { afterResponse: [({ response }) => void statuses.push(response.status)] },
    });
    await client.get('items');
    expect(statuses).toEqual([200]);
  });
});
