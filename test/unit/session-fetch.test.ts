/**
 * `createSessionFetch` over a stub token source and a stub `fetch`: which requests get the
 * token (and which go out exactly as the caller made them), what goes out again after a 401,
 * bodies (strings, streams) on both sends, and aborts.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createSessionFetch, bindSessionFetch } from '../../src/client/session-fetch.ts';
import type { TokenProvider } from '../../src/client/one-retry.ts';
import { ConfigurationError } from '../../src/errors.ts';

const API = 'https://api.test';
const OTHER = 'https://other.test';

afterEach(() => void vi.unstubAllGlobals());

/** Hands out t1, then t2 after a 401; records every call and the signals it got. */
class StubSession implements TokenProvider {
  token = 't1';
  calls: string[] = [];
  signals: (AbortSignal | undefined)[] = [];

  async getAccessToken(options?: { signal?: AbortSignal | undefined }): Promise<string> {
    this.calls.push('getAccessToken');
    this.signals.push(options?.signal);
    return this.token;
  }

  async handleUnauthorized(usedToken: string | undefined, options?: { signal?: AbortSignal | undefined }) {
    this.calls.push(`handleUnauthorized(${usedToken})`);
    this.signals.push(options?.signal);
    this.token = 't2';
    return this.token;
  }
}

interface Sent {
  input: RequestInfo | URL;
  init: RequestInit | undefined;
  url: string;
  authorization: string | null;
  body: string;
}

/** A fetch answering `statuses` in turn (200 after they run out), recording what it was sent. */
function stubFetch(...statuses: number[]) {
  const sent: Sent[] = [];
  const fetchFn: typeof globalThis.fetch = async (input, init) => {
    const request = new Request(input, init);
    sent.push({
      input,
      init,
      url: request.url,
      authorization: request.headers.get('authorization'),
      body: await request.text(),
    });
    const status = statuses.shift() ?? 200;
    return new Response(`answer ${sent.length}`, { status });
  };
  return { sent, fetch: fetchFn };
}

function setup(statuses: number[] = [], trustedOrigins: string[] = [API]) {
  const session = new StubSession();
  const stub = stubFetch(...statuses);
  const apiFetch = createSessionFetch(session, { trustedOrigins, fetch: stub.fetch });
  return { session, stub, apiFetch };
}

describe('createSessionFetch: where the token goes', () => {
  it('a URL of a trusted origin gets the token, as a string, a URL or a Request', async () => {
    const { stub, apiFetch, session } = setup();
    await apiFetch(`${API}/a`);
    await apiFetch(new URL(`${API}/b`));
    await apiFetch(new Request(`${API}/c`));
    expect(stub.sent.map((s) => [s.url, s.authorization])).toEqual([
      [`${API}/a`, 'Bearer t1'],
      [`${API}/b`, 'Bearer t1'],
      [`${API}/c`, 'Bearer t1'],
    ]);
    expect(session.calls).toEqual(['getAccessToken', 'getAccessToken', 'getAccessToken']);
  });

  it('another origin gets no token, no token is asked for, and the call goes out as the caller made it', async () => {
    const { stub, apiFetch, session } = setup();
    const init = { method: 'POST', body: 'b' };
    const request = new Request(`${OTHER}/r`);
    await apiFetch(`${OTHER}/a`, init);
    await apiFetch(request, init);
    expect(stub.sent[0]).toMatchObject({ input: `${OTHER}/a`, authorization: null });
    expect(stub.sent[0]!.init).toBe(init);
    expect(stub.sent[1]!.input).toBe(request);
    expect(stub.sent[1]!.init).toBe(init);
    expect(session.calls).toEqual([]);
  });

  it("another origin's 401 is the caller's: no refresh, no second request, no token", async () => {
    const { stub, apiFetch, session } = setup([401]);
    const response = await apiFetch(`${OTHER}/a`);
    expect(response.status).toBe(401);
    expect(stub.sent).toHaveLength(1);
    expect(stub.sent[0]!.authorization).toBeNull();
    expect(session.calls).toEqual([]);
  });

  it('a URL written differently but on a trusted origin gets the token (case, default port)', async () => {
    const { stub, apiFetch } = setup();
    await apiFetch('HTTPS://API.test:443/a');
    expect(stub.sent[0]!.authorization).toBe('Bearer t1');
  });

  it('a URL that only starts like a trusted origin gets no token', async () => {
    const { stub, apiFetch } = setup();
    await apiFetch('https://api.test.other.test/a');
    await apiFetch('https://api.test:8443/a');
    expect(stub.sent.map((s) => s.authorization)).toEqual([null, null]);
  });

  it('each of several trusted origins gets the token', async () => {
    const { stub, apiFetch } = setup([], [API, 'https://files.test']);
    await apiFetch(`${API}/a`);
    await apiFetch('https://files.test/b');
    await apiFetch(new Request('https://files.test/c'));
    await apiFetch(`${OTHER}/d`);
    expect(stub.sent.map((s) => s.authorization)).toEqual(['Bearer t1', 'Bearer t1', 'Bearer t1', null]);
  });

  it('in a page, a relative URL goes to the page origin with the token, and the page origin is trusted by default', async () => {
    vi.stubGlobal('location', { href: 'https://app.test/orders/12' });
    const session = new StubSession();
    const sent: { input: unknown; authorization: string | null }[] = [];
    const apiFetch = createSessionFetch(session, {
      fetch: async (input, init) => {
        sent.push({ input, authorization: new Headers(init?.headers).get('authorization') });
        return new Response('ok');
      },
    });
    await apiFetch('/api/me');
    await apiFetch('https://app.test/x');
    await apiFetch('//other.test/y');
    expect(sent).toEqual([
      { input: '/api/me', authorization: 'Bearer t1' },
      { input: 'https://app.test/x', authorization: 'Bearer t1' },
      { input: '//other.test/y', authorization: null },
    ]);
  });

  it('outside a page, a relative URL goes out untouched (for fetch to reject), with no token asked for', async () => {
    const session = new StubSession();
    const sent: [unknown, unknown][] = [];
    const init = { method: 'GET' };
    const apiFetch = createSessionFetch(session, {
      trustedOrigins: [API],
      fetch: async (input, given) => (sent.push([input, given]), new Response('ok')),
    });
    await apiFetch('/v1/items', init);
    expect(sent).toEqual([['/v1/items', init]]);
    expect(sent[0]![1]).toBe(init);
    expect(session.calls).toEqual([]);
  });

  it('without trustedOrigins outside a page, createSessionFetch throws, and session.fetch calls reject', async () => {
    const message = 'session.fetch needs `trustedOrigins`: the access token only goes to origins named there';
    expect(() => createSessionFetch(new StubSession())).toThrow(new ConfigurationError(message));
    expect(() => createSessionFetch(new StubSession(), { trustedOrigins: [] })).toThrow(ConfigurationError);
    const bound = bindSessionFetch(new StubSession(), {});
    await expect(bound(`${API}/a`)).rejects.toThrow(new ConfigurationError(message));
  });

  it('with no fetch given, sends through globalThis.fetch at call time', async () => {
    const session = new StubSession();
    const apiFetch = createSessionFetch(session, { trustedOrigins: [API] });
    const stub = stubFetch();
    vi.stubGlobal('fetch', stub.fetch);
    await apiFetch(`${API}/a`);
    expect(stub.sent.map((s) => s.authorization)).toEqual(['Bearer t1']);
  });
});

describe('createSessionFetch: requests with their own credentials', () => {
  it.each([
    ['a record', { authorization: 'Basic dXNlcg==' }],
    ['Headers', new Headers({ Authorization: 'Basic dXNlcg==' })],
    ['pairs', [['authorization', 'Basic dXNlcg==']] as [string, string][]],
  ])(
    'a URL whose init has an Authorization header (%s) goes out as it is, and its 401 is not retried',
    async (_, headers) => {
      const { stub, apiFetch, session } = setup([401]);
      const init = { headers };
      const response = await apiFetch(`${API}/a`, init);
      expect(response.status).toBe(401);
      expect(stub.sent).toHaveLength(1);
      expect(stub.sent[0]!.init).toBe(init);
      expect(stub.sent[0]!.authorization).toBe('Basic dXNlcg==');
      expect(session.calls).toEqual([]);
    },
  );

  it('a Request with an Authorization header goes out as it is, and its 401 is not retried', async () => {
    const { stub, apiFetch, session } = setup([401]);
    const response = await apiFetch(new Request(`${API}/a`, { headers: { authorization: 'Basic dXNlcg==' } }));
    expect(response.status).toBe(401);
    expect(stub.sent.map((s) => s.authorization)).toEqual(['Basic dXNlcg==']);
    expect(session.calls).toEqual([]);
  });

  it("a Request's init may add the Authorization header", async () => {
    const { stub, apiFetch, session } = setup();
    await apiFetch(new Request(`${API}/a`), { headers: { authorization: 'Basic dXNlcg==' } });
    expect(stub.sent.map((s) => s.authorization)).toEqual(['Basic dXNlcg==']);
    expect(session.calls).toEqual([]);
  });
});

describe('createSessionFetch: the retry after a 401', () => {
  it('refreshes once and sends the request again with the new token; the answer is the second one', async () => {
    const { stub, apiFetch, session } = setup([401]);
    const response = await apiFetch(`${API}/a`, { method: 'PUT', body: 'the body' });
    expect(await response.text()).toBe('answer 2');
    expect(stub.sent.map((s) => [s.authorization, s.body])).toEqual([
      ['Bearer t1', 'the body'],
      ['Bearer t2', 'the body'],
    ]);
    expect(session.calls).toEqual(['getAccessToken', 'handleUnauthorized(t1)']);
  });

  it('hands a second 401 to the caller, after exactly two requests', async () => {
    const { stub, apiFetch, session } = setup([401, 401]);
    expect((await apiFetch(`${API}/a`)).status).toBe(401);
    expect(stub.sent).toHaveLength(2);
    expect(session.calls).toEqual(['getAccessToken', 'handleUnauthorized(t1)']);
  });

  it('keeps the caller’s other headers on both sends, and leaves its init as it was', async () => {
    const { stub, apiFetch } = setup([401]);
    const headers = new Headers({ 'x-app': '1' });
    const init = { headers, method: 'POST', body: 'b' };
    await apiFetch(`${API}/a`, init);
    for (const sent of stub.sent) expect(new Headers(sent.init?.headers).get('x-app')).toBe('1');
    expect(stub.sent.map((s) => s.authorization)).toEqual(['Bearer t1', 'Bearer t2']);
    expect([...headers]).toEqual([['x-app', '1']]);
    expect(init.body).toBe('b');
  });

  it('without headers of the caller, sends a plain record with the authorization', async () => {
    const { stub, apiFetch } = setup();
    await apiFetch(`${API}/a`, { method: 'POST' });
    const { body = null, ...sent } = stub.sent[0]!.init ?? {};
    expect(sent).toEqual({ method: 'POST', headers: { authorization: 'Bearer t1' } });
    expect(body).toBeNull();
  });

  it('a streamed body goes out whole on both sends', async () => {
    const { stub, apiFetch } = setup([401]);
    const body = new ReadableStream({
      start(controller) {
        controller.enqueue(new TextEncoder().encode('streamed '));
        controller.enqueue(new TextEncoder().encode('body'));
        controller.close();
      },
    });
    await apiFetch(`${API}/a`, { method: 'POST', body, duplex: 'half' } as RequestInit);
    expect(stub.sent.map((s) => s.body)).toEqual(['streamed body', 'streamed body']);
  });

  it('a streamed body that gets no retry lets go of its source (the copy kept for the retry is cancelled)', async () => {
    let cancelled: unknown = 'not cancelled';
    const body = new ReadableStream({
      pull(controller) {
        controller.enqueue(new TextEncoder().encode('more'));
      },
      cancel(reason) {
        cancelled = reason;
      },
    });
    const session = new StubSession();
    // A server that answers without reading the body: the request's branch is cancelled.
    const apiFetch = createSessionFetch(session, {
      trustedOrigins: [API],
      fetch: async (_input, init) => {
        void (init!.body as ReadableStream).cancel('answered early');
        return new Response('ok');
      },
    });
    await apiFetch(`${API}/a`, { method: 'POST', body, duplex: 'half' } as RequestInit);
    await expect.poll(() => cancelled).toEqual(['answered early', undefined]); // both branches
  });

  it('a Request with a body is sent again with the same body, and the caller’s Request is left as it was', async () => {
    const { stub, apiFetch } = setup([401]);
    const request = new Request(`${API}/a`, { method: 'POST', body: 'request body', headers: { 'x-app': '1' } });
    await apiFetch(request);
    expect(stub.sent.map((s) => [s.authorization, s.body])).toEqual([
      ['Bearer t1', 'request body'],
      ['Bearer t2', 'request body'],
    ]);
    expect(request.headers.get('authorization')).toBeNull();
  });

  it("a Request's init is applied to the copy that goes out", async () => {
    const { stub, apiFetch } = setup();
    await apiFetch(new Request(`${API}/a`), { method: 'DELETE' });
    expect((stub.sent[0]!.input as Request).method).toBe('DELETE');
  });

  it("frees the 401's body before waiting for the refresh", async () => {
    let cancelled = false;
    const session = new StubSession();
    let answered = 0;
    const apiFetch = createSessionFetch(session, {
      trustedOrigins: [API],
      fetch: async () => {
        if (answered++ > 0) return new Response('ok');
        const body = new ReadableStream({
          pull: (controller) => controller.enqueue(new Uint8Array([1])),
          cancel: () => void (cancelled = true),
        });
        return new Response(body, { status: 401 });
      },
    });
    session.handleUnauthorized = async () => {
      expect(cancelled).toBe(true);
      return 't2';
    };
    expect((await apiFetch(`${API}/a`)).status).toBe(200);
    expect(cancelled).toBe(true);
  });
});

describe('createSessionFetch: abort', () => {
  it('a URL call whose signal has aborted rejects with its reason before asking for a token', async () => {
    const { stub, apiFetch, session } = setup();
    const controller = new AbortController();
    controller.abort(new Error('gone'));
    await expect(apiFetch(`${API}/a`, { signal: controller.signal })).rejects.toThrow('gone');
    expect(session.calls).toEqual([]);
    expect(stub.sent).toEqual([]);
  });

  it('a Request whose signal has aborted rejects with its reason before asking for a token', async () => {
    const { stub, apiFetch, session } = setup();
    const controller = new AbortController();
    controller.abort(new Error('gone'));
    await expect(apiFetch(new Request(`${API}/a`, { signal: controller.signal }))).rejects.toThrow('gone');
    expect(session.calls).toEqual([]);
    expect(stub.sent).toEqual([]);
  });

  it("the token wait and the refresh wait follow the call's signal", async () => {
    const { apiFetch, session } = setup([401]);
    const controller = new AbortController();
    await apiFetch(`${API}/a`, { signal: controller.signal });
    expect(session.signals[0]).toBe(controller.signal);
    controller.abort(new Error('late'));
    expect(session.signals[1]?.aborted).toBe(true);
    expect(session.signals[1]?.reason).toEqual(new Error('late'));
  });

  it("a Request's token wait follows its signal", async () => {
    const { apiFetch, session } = setup();
    const controller = new AbortController();
    await apiFetch(new Request(`${API}/a`, { signal: controller.signal }));
    controller.abort(new Error('late'));
    expect(session.signals[0]?.aborted).toBe(true);
  });

  it('a URL call without a signal waits for its token without one', async () => {
    const { apiFetch, session } = setup([401]);
    await apiFetch(`${API}/a`);
    expect(session.signals).toEqual([undefined, undefined]);
  });
});
