/**
 * The one retry both clients share (src/client/one-retry.ts), seen through them over a stub
 * token source and a stub `fetch`: the ky client's wait for a new token ends with
 * TokenWaitTimeoutError before ky's own timeout, the wait follows the caller's abort, a
 * Request's body copy is let go when there is no retry, and with DPoP the requests go through
 * the session's DPoP port, whose nonce challenge is never taken for an expired token.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createSessionClient } from '../../src/client/create-client.ts';
import { withDpop, type TokenProvider } from '../../src/client/one-retry.ts';
import { createSessionFetch } from '../../src/client/session-fetch.ts';
import type { DpopPort } from '../../src/dpop/types.ts';
import { TokenWaitTimeoutError } from '../../src/errors.ts';

const API = 'https://api.test';

afterEach(() => void vi.useRealTimers());

/** A token source whose refresh after a 401 waits until `refreshed()` or its signal aborts. */
function waitingSession() {
  const signals: (AbortSignal | undefined)[] = [];
  let refreshed: (token: string) => void = () => {};
  const session: TokenProvider = {
    getAccessToken: async () => 't1',
    handleUnauthorized: (_used, options) =>
      new Promise<string>((resolve, reject) => {
        signals.push(options?.signal);
        refreshed = resolve;
        if (options?.signal?.aborted) reject(options.signal.reason);
        options?.signal?.addEventListener('abort', () => reject(options.signal!.reason), { once: true });
      }),
  };
  return { session, signals, refresh: (token: string) => refreshed(token) };
}

/** 401 first, then 200s; counts the requests. */
function unauthorizedOnce() {
  const sent: Request[] = [];
  const fetchFn: typeof globalThis.fetch = async (input, init) => {
    sent.push(new Request(input, init));
    return new Response(sent.length === 1 ? 'no' : 'yes', { status: sent.length === 1 ? 401 : 200 });
  };
  return { sent, fetch: fetchFn };
}

const settled = (promise: Promise<unknown>) => {
  const state = { done: false, value: undefined as unknown };
  promise.then(
    (value) => Object.assign(state, { done: true, value }),
    (error: unknown) => Object.assign(state, { done: true, value: error }),
  );
  return state;
};

describe('the ky client: the wait for a new token after a 401', () => {
  it("gives up with TokenWaitTimeoutError 50 ms before ky's timeout, and nothing else goes out", async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    const { session } = waitingSession();
    const stub = unauthorizedOnce();
    const api = createSessionClient(session, { prefix: API, timeout: 1_000, retry: 0, fetch: stub.fetch });
    const outcome = settled(api.get('items'));
    await vi.advanceTimersByTimeAsync(949);
    expect(outcome.done).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(outcome.value).toBeInstanceOf(TokenWaitTimeoutError);
    expect((outcome.value as Error).message).toBe('No access token within 950 ms');
    expect(stub.sent).toHaveLength(1);
  });

  it('counts the time the first request took against the wait', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    const { session } = waitingSession();
    let calls = 0;
    const slow: typeof globalThis.fetch = async () => {
      if (calls++ === 0) await new Promise((resolve) => setTimeout(resolve, 300));
      return new Response('no', { status: 401 });
    };
    const api = createSessionClient(session, { prefix: API, timeout: 1_000, retry: 0, fetch: slow });
    const outcome = settled(api.get('items'));
    await vi.advanceTimersByTimeAsync(949);
    expect(outcome.done).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(outcome.value).toBeInstanceOf(TokenWaitTimeoutError);
    expect((outcome.value as Error).message).toBe('No access token within 650 ms');
  });

  it('gives up at once after a 401 that came later than 50 ms before the timeout', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    const { session } = waitingSession();
    const late: typeof globalThis.fetch = async () => {
      await new Promise((resolve) => setTimeout(resolve, 970));
      return new Response('no', { status: 401 });
    };
    const api = createSessionClient(session, { prefix: API, timeout: 1_000, retry: 0, fetch: late });
    const outcome = settled(api.get('items'));
    await vi.advanceTimersByTimeAsync(970);
    await vi.advanceTimersByTimeAsync(1); // ky's own timer is 29 ms away
    expect(outcome.value).toBeInstanceOf(TokenWaitTimeoutError);
    expect((outcome.value as Error).message).toBe('No access token within 0 ms');
  });

  it('leaves no timer behind once the new token came', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    const { session, refresh } = waitingSession();
    const stub = unauthorizedOnce();
    const api = createSessionClient(session, { prefix: API, timeout: 1_000, retry: 0, fetch: stub.fetch });
    const response = api.get('items').text();
    await vi.advanceTimersByTimeAsync(10);
    refresh('t2');
    expect(await response).toBe('yes');
    expect(stub.sent.map((r) => r.headers.get('authorization'))).toEqual(['Bearer t1', 'Bearer t2']);
    expect(vi.getTimerCount()).toBe(0);
  });

  it("rejects with the caller's reason when the caller aborts during the wait", async () => {
    const { session, signals } = waitingSession();
    const stub = unauthorizedOnce();
    const api = createSessionClient(session, { prefix: API, timeout: 60_000, retry: 0, fetch: stub.fetch });
    const controller = new AbortController();
    const request = api.get('items', { signal: controller.signal });
    await vi.waitFor(() => expect(signals).toHaveLength(1));
    controller.abort(new Error('user left'));
    await expect(request).rejects.toThrow('user left');
    expect(signals[0]!.reason).toEqual(new Error('user left'));
    expect(stub.sent).toHaveLength(1);
  });

  it('once the new token came, a later abort of the request signal reaches no wait', async () => {
    const { session, signals, refresh } = waitingSession();
    const stub = unauthorizedOnce();
    const api = createSessionClient(session, { prefix: API, timeout: 60_000, retry: 0, fetch: stub.fetch });
    const controller = new AbortController();
    const response = api.get('items', { signal: controller.signal }).text();
    await vi.waitFor(() => expect(signals).toHaveLength(1));
    refresh('t2');
    expect(await response).toBe('yes');
    controller.abort(new Error('too late'));
    expect(signals[0]!.aborted).toBe(false);
  });

  it('with timeout: false, waits as long as the session does', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    const { session, refresh } = waitingSession();
    const stub = unauthorizedOnce();
    const api = createSessionClient(session, { prefix: API, timeout: false, retry: 0, fetch: stub.fetch });
    const outcome = settled(api.get('items').text());
    await vi.advanceTimersByTimeAsync(3_600_000);
    expect(outcome.done).toBe(false);
    refresh('t2');
    await vi.waitFor(() => expect(outcome.value).toBe('yes'));
  });
});

describe('session.fetch: the wait for a new token after a 401', () => {
  it("follows the caller's signal, and is bounded by nothing else", async () => {
    const { session, signals } = waitingSession();
    const stub = unauthorizedOnce();
    const apiFetch = createSessionFetch(session, { trustedOrigins: [API], fetch: stub.fetch });
    const controller = new AbortController();
    const request = apiFetch(`${API}/items`, { signal: controller.signal });
    await vi.waitFor(() => expect(signals).toHaveLength(1));
    expect(signals[0]).toBe(controller.signal);
    controller.abort(new Error('user left'));
    await expect(request).rejects.toThrow('user left');
  });

  it('a Request with a body that gets no retry lets go of the copy kept for it', async () => {
    let reason: unknown = 'not cancelled';
    const body = new ReadableStream({
      pull: (controller) => controller.enqueue(new TextEncoder().encode('more')),
      cancel: (why) => void (reason = why),
    });
    const apiFetch = createSessionFetch(
      { getAccessToken: async () => 't1', handleUnauthorized: async () => 't2' },
      {
        trustedOrigins: [API],
        // A server that answers without reading the body: the sent request's branch is cancelled.
        fetch: async (input) => (void (input as Request).body?.cancel('answered early'), new Response('ok')),
      },
    );
    await apiFetch(new Request(`${API}/items`, { method: 'POST', body, duplex: 'half' } as RequestInit));
    await expect.poll(() => reason).toEqual(['answered early', undefined]); // both branches
  });

  /**
   * A fetch that answers before it has read the body (an upload still streaming while the
   * answer arrives): 401 at once, then 200, reading the retry's body only afterwards.
   */
  function answeringBeforeReading() {
    const bodies: Promise<string>[] = [];
    const fetchFn: typeof globalThis.fetch = async (input, init) => {
      const request = new Request(input, init);
      if (bodies.length === 0) {
        bodies.push(Promise.resolve('(first send: not read)'));
        return new Response(null, { status: 401 });
      }
      bodies.push(new Promise<void>((resolve) => setImmediate(resolve)).then(() => request.text()));
      return new Response('yes');
    };
    return { bodies, fetch: fetchFn };
  }

  it('a Request retried after a 401 keeps its body for a fetch still reading it after the answer', async () => {
    const stub = answeringBeforeReading();
    const apiFetch = createSessionFetch(
      { getAccessToken: async () => 't1', handleUnauthorized: async () => 't2' },
      { trustedOrigins: [API], fetch: stub.fetch },
    );
    await apiFetch(new Request(`${API}/items`, { method: 'POST', body: 'the body' }));
    expect(await stub.bodies[1]).toBe('the body');
  });

  it('a streamed body retried after a 401 stays whole for a fetch still reading it after the answer', async () => {
    const stub = answeringBeforeReading();
    const apiFetch = createSessionFetch(
      { getAccessToken: async () => 't1', handleUnauthorized: async () => 't2' },
      { trustedOrigins: [API], fetch: stub.fetch },
    );
    const body = new ReadableStream({
      start(controller) {
        controller.enqueue(new TextEncoder().encode('streamed'));
        controller.close();
      },
    });
    await apiFetch(`${API}/items`, { method: 'POST', body, duplex: 'half' } as RequestInit);
    expect(await stub.bodies[1]).toBe('streamed');
  });

  it('a 401 without a body is retried like any other', async () => {
    let calls = 0;
    const apiFetch = createSessionFetch(
      { getAccessToken: async () => 't1', handleUnauthorized: async () => 't2' },
      {
        trustedOrigins: [API],
        fetch: async () => (calls++ === 0 ? new Response(null, { status: 401 }) : new Response('yes')),
      },
    );
    expect(await (await apiFetch(`${API}/items`)).text()).toBe('yes');
    expect(calls).toBe(2);
  });

  it('a Request without a body goes out again as it is, with the new token', async () => {
    const stub = unauthorizedOnce();
    const apiFetch = createSessionFetch(
      { getAccessToken: async () => 't1', handleUnauthorized: async () => 't2' },
      { trustedOrigins: [API], fetch: stub.fetch },
    );
    const response = await apiFetch(new Request(`${API}/items`, { headers: { 'x-app': '1' } }));
    expect(await response.text()).toBe('yes');
    expect(stub.sent.map((r) => [r.headers.get('authorization'), r.headers.get('x-app')])).toEqual([
      ['Bearer t1', '1'],
      ['Bearer t2', '1'],
    ]);
  });

  it('a Request without a body is not copied for its retry: fetch gets the same Request twice', async () => {
    const sent: Request[] = [];
    const apiFetch = createSessionFetch(
      { getAccessToken: async () => 't1', handleUnauthorized: async () => 't2' },
      {
        trustedOrigins: [API],
        fetch: async (input) => (
          sent.push(input as Request),
          new Response(null, { status: sent.length === 1 ? 401 : 200 })
        ),
      },
    );
    expect((await apiFetch(new Request(`${API}/items`))).status).toBe(200);
    expect(sent).toHaveLength(2);
    expect(sent[1]).toBe(sent[0]);
  });
});

describe('with DPoP: the requests go through the DPoP port', () => {
  /** A DPoP port that marks requests, and calls an answer with `x-nonce-challenge` a nonce challenge. */
  function stubDpop() {
    const sent: { request: Request; init: RequestInit | undefined; body: string }[] = [];
    const dpop: DpopPort = {
      proof: async () => 'proof',
      observe: () => {},
      isNonceChallenge: (response) => response.status === 401 && response.headers.has('x-nonce-challenge'),
      async send(request, init, fetchFn) {
        sent.push({ request, init, body: await request.clone().text() });
        request.headers.set('authorization', request.headers.get('authorization')!.replace('Bearer', 'DPoP'));
        request.headers.set('dpop', 'proof');
        return fetchFn(request, init);
      },
      forgetKey: async () => {},
    };
    return { sent, dpop };
  }

  function session(dpop: DpopPort) {
    const calls: string[] = [];
    const provider: TokenProvider = {
      dpop,
      getAccessToken: async () => (calls.push('getAccessToken'), 't1'),
      handleUnauthorized: async () => (calls.push('handleUnauthorized'), 't2'),
    };
    return { provider, calls };
  }

  /** Answers `statuses` in turn, with `headers`; records what reached the network. */
  function network(answers: { status: number; headers?: Record<string, string> }[]) {
    const seen: { authorization: string | null; dpop: string | null }[] = [];
    const fetchFn: typeof globalThis.fetch = async (input, init) => {
      const request = new Request(input, init);
      seen.push({ authorization: request.headers.get('authorization'), dpop: request.headers.get('dpop') });
      const { status, headers } = answers.shift() ?? { status: 200 };
      return new Response('answer', { status, headers: headers ?? {} });
    };
    return { seen, fetch: fetchFn };
  }

  const challenge = { status: 401, headers: { 'x-nonce-challenge': '1' } };

  it('session.fetch: a URL goes out with DPoP, and a nonce challenge still standing is the answer, no refresh', async () => {
    const { sent, dpop } = stubDpop();
    const { provider, calls } = session(dpop);
    const net = network([challenge]);
    const apiFetch = createSessionFetch(provider, { trustedOrigins: [API], fetch: net.fetch });
    const response = await apiFetch(`${API}/items?x=1`, { method: 'POST', body: 'b' });
    expect(response.status).toBe(401);
    expect(sent.map((s) => [s.request.url, s.request.method, s.body])).toEqual([[`${API}/items?x=1`, 'POST', 'b']]);
    expect(net.seen).toEqual([{ authorization: 'DPoP t1', dpop: 'proof' }]);
    expect(calls).toEqual(['getAccessToken']);
  });

  it('session.fetch: a Request goes out with DPoP; a 401 about the token refreshes once', async () => {
    const { sent, dpop } = stubDpop();
    const { provider, calls } = session(dpop);
    const net = network([{ status: 401 }]);
    const apiFetch = createSessionFetch(provider, { trustedOrigins: [API], fetch: net.fetch });
    const response = await apiFetch(new Request(`${API}/items`, { method: 'PUT', body: 'b' }));
    expect(response.status).toBe(200);
    expect(sent.map((s) => s.body)).toEqual(['b', 'b']);
    expect(net.seen.map((s) => s.authorization)).toEqual(['DPoP t1', 'DPoP t2']);
    expect(calls).toEqual(['getAccessToken', 'handleUnauthorized']);
  });

  it('session.fetch: a streamed body goes out with DPoP on both sends, even without duplex from the caller', async () => {
    const { sent, dpop } = stubDpop();
    const { provider } = session(dpop);
    const net = network([{ status: 401 }]);
    const apiFetch = createSessionFetch(provider, { trustedOrigins: [API], fetch: net.fetch });
    const body = new ReadableStream({
      start(controller) {
        controller.enqueue(new TextEncoder().encode('streamed'));
        controller.close();
      },
    });
    const response = await apiFetch(`${API}/items`, { method: 'POST', body });
    expect(response.status).toBe(200);
    expect(sent.map((s) => s.body)).toEqual(['streamed', 'streamed']);
  });

  it("the ky client: requests go out with DPoP and ky's init; a nonce challenge still standing is the answer", async () => {
    const { sent, dpop } = stubDpop();
    const { provider, calls } = session(dpop);
    const net = network([challenge]);
    const api = createSessionClient(provider, { prefix: API, retry: 0, throwHttpErrors: false, fetch: net.fetch });
    const response = await api.get('items');
    expect(response.status).toBe(401);
    expect(sent).toHaveLength(1);
    expect(sent[0]!.init).toBeDefined();
    expect(net.seen).toEqual([{ authorization: 'DPoP t1', dpop: 'proof' }]);
    expect(calls).toEqual(['getAccessToken']);
  });

  it('withDpop: a URL sent without an init, like any fetch call, goes through the DPoP port', async () => {
    const { dpop } = stubDpop();
    const sent: [string, RequestInit | undefined][] = [];
    const port: DpopPort = {
      ...dpop,
      send: async (request, init) => (sent.push([request.url, init]), new Response('ok')),
    };
    const response = await withDpop(port, network([]).fetch)(`${API}/items`);
    expect(await response.text()).toBe('ok');
    expect(sent).toEqual([[`${API}/items`, undefined]]);
  });

  it('a request to another origin goes out without DPoP', async () => {
    const { sent, dpop } = stubDpop();
    const { provider } = session(dpop);
    const net = network([]);
    await createSessionFetch(provider, { trustedOrigins: [API], fetch: net.fetch })('https://other.test/x');
    expect(sent).toEqual([]);
    expect(net.seen).toEqual([{ authorization: null, dpop: null }]);
  });
});
