/**
 * The guarantees every client of the session keeps, one suite run against each (the ky client
 * and `session.fetch`): single-flight refresh, waiting instead of failing, one retry after a
 * 401 with the body intact, abort, transient and terminal refresh failures.
 */
import { describe, expect, it } from 'vitest';
import { SessionExpiredError, TokenWaitTimeoutError } from '../../src/errors.ts';
import type { SessionManagerOptions } from '../../src/options.ts';
import { recordEvents, settle, type useFakeAuth } from '../helpers/setup.ts';

/** A thousand requests through msw: seconds on an idle machine, over 20 s on a loaded one. */
const HERD_TIMEOUT_MS = 60_000;
import { recordingFetch, type ClientKind } from './kinds.ts';

type Context = ReturnType<typeof useFakeAuth>;

/** JSON of a response, or its status when it is not a 2xx. */
async function outcome(response: Response): Promise<unknown> {
  return response.ok ? response.json() : `HTTP ${response.status}`;
}

export function refreshSuite(ctx: Context, kind: ClientKind): void {
  async function signedIn(options: Partial<SessionManagerOptions> = {}, fetchFn?: typeof globalThis.fetch) {
    const session = ctx.manager({ ...kind.managerOptions(fetchFn), ...options });
    await session.setTokens(ctx.server.issue());
    return { session, send: kind.sender(session, fetchFn) };
  }

  describe(`single-flight refresh through ${kind.name}`, () => {
    it.each([1, 10, 1000])(
      '%i concurrent requests with an expired token share one refresh',
      async (n) => {
        const { session, send } = await signedIn();
        await ctx.clock.advance(3600 * 1000); // the access token expired (the timer refreshed it)
        const refreshesBefore = ctx.server.refreshCalls;
        ctx.server.expireAccessTokens();
        const results = await Promise.all(Array.from({ length: n }, (_, i) => send(`items/${i}`).then(outcome)));
        expect(results.filter((r) => typeof r === 'string')).toEqual([]);
        expect(ctx.server.refreshCalls - refreshesBefore).toBe(1);
        expect(session.state).toBe('active');
      },
      HERD_TIMEOUT_MS,
    );

    it(
      '1000 requests sent with an expired token before any 401 wait and share one refresh',
      async () => {
        const { send } = await signedIn({ refreshMargin: 0 });
        ctx.clock.set(ctx.clock.now() + 3601 * 1000); // expired, and no timer has run yet
        const results = await Promise.all(Array.from({ length: 1000 }, () => send('items').then((r) => r.status)));
        expect(results.every((status) => status === 200)).toBe(true);
        expect(ctx.server.refreshCalls).toBe(1);
        expect(ctx.server.apiCalls).toBe(1000); // nobody went out with the dead token
      },
      HERD_TIMEOUT_MS,
    );

    it('a 401 loop answers each request its 401 after exactly one retry', async () => {
      const { send } = await signedIn();
      ctx.server.rejectAllTokens = true;
      const statuses = await Promise.all(Array.from({ length: 10 }, () => send('items').then((r) => r.status)));
      expect(statuses).toEqual(Array.from({ length: 10 }, () => 401));
      expect(ctx.server.apiCalls).toBe(20);
      expect(ctx.server.refreshCalls).toBe(1);
    });

    it('a 403 or a 404 is the caller’s answer: no refresh, no retry', async () => {
      const { send } = await signedIn();
      const statuses = await Promise.all([
        send('status/403').then((r) => r.status),
        send('status/404').then((r) => r.status),
      ]);
      expect(statuses).toEqual([403, 404]);
      expect(ctx.server.apiCalls).toBe(2);
      expect(ctx.server.refreshCalls).toBe(0);
    });

    it('two managers sharing one store and lock refresh once', async () => {
      const a = await signedIn();
      const b = ctx.manager(kind.managerOptions());
      await b.restore();
      expect(b.state).toBe('active');
      ctx.server.expireAccessTokens();
      const sendB = kind.sender(b);
      const results = await Promise.all([
        ...Array.from({ length: 20 }, () => a.send('items').then((r) => r.status)),
        ...Array.from({ length: 20 }, () => sendB('items').then((r) => r.status)),
      ]);
      expect(results.every((status) => status === 200)).toBe(true);
      expect(ctx.server.refreshCalls).toBe(1);
      expect(await a.session.getAccessToken()).toBe(await b.getAccessToken());
    });
  });

  describe(`the retry after a 401 keeps the body, through ${kind.name}`, () => {
    const bodies: [string, () => RequestInit, string, RegExp][] = [
      [
        'JSON',
        () => ({ body: JSON.stringify({ name: 'x' }), headers: { 'content-type': 'application/json' } }),
        '{"name":"x"}',
        /^application\/json/,
      ],
      [
        'URLSearchParams',
        () => ({ body: new URLSearchParams({ a: '1', b: 'two' }) }),
        'a=1&b=two',
        /^application\/x-www-form-urlencoded/,
      ],
      [
        'FormData',
        () => {
          const form = new FormData();
          form.set('name', 'x');
          form.set('file', new Blob(['file body'], { type: 'text/plain' }), 'notes.txt');
          return { body: form };
        },
        '[["name","x"],["file","notes.txt:file body"]]',
        /^multipart\/form-data; boundary=/,
      ],
      ['Blob', () => ({ body: new Blob(['blob body'], { type: 'text/plain' }) }), 'blob body', /^text\/plain/],
      [
        'ReadableStream',
        () =>
          ({
            body: new ReadableStream({
              start(controller) {
                controller.enqueue(new TextEncoder().encode('streamed '));
                controller.enqueue(new TextEncoder().encode('body'));
                controller.close();
              },
            }),
            duplex: 'half',
          }) as RequestInit,
        'streamed body',
        /.*/,
      ],
    ];

    it.each(bodies)(
      'a %s body goes out the same twice, with the new token the second time',
      async (_, init, body, type) => {
        const recorder = recordingFetch();
        const { session, send } = await signedIn({}, recorder.fetch);
        ctx.server.expireAccessTokens();
        const response = await send('items', { method: 'POST', ...init() });
        expect(response.status).toBe(200);
        expect(ctx.server.refreshCalls).toBe(1);
        expect(recorder.sent.map((s) => s.body)).toEqual([body, body]);
        for (const sent of recorder.sent) expect(sent.type ?? '').toMatch(type);
        expect(recorder.sent[1]!.token).not.toBe(recorder.sent[0]!.token);
        expect(recorder.sent[1]!.token).toBe(`Bearer ${await session.getAccessToken()}`);
      },
    );
  });

  describe(`abort, through ${kind.name}`, () => {
    it('a request aborted while it waits for the refresh rejects with the reason; the others go out', async () => {
      let release!: () => void;
      const { session, send } = await signedIn({ refreshMargin: 0 });
      ctx.server.faults = [{ defer: new Promise<void>((resolve) => (release = resolve)) }];
      ctx.clock.set(ctx.clock.now() + 3601 * 1000);
      const controller = new AbortController();
      const others = Array.from({ length: 3 }, () => send('items').then((r) => r.status));
      const aborted = send('items', { signal: controller.signal });
      await ctx.clock.advance(0);
      expect(session.state).toBe('refreshing');
      controller.abort(new Error('user navigated away'));
      await expect(aborted).rejects.toThrow('user navigated away');
      release();
      expect(await Promise.all(others)).toEqual([200, 200, 200]);
      expect(ctx.server.refreshCalls).toBe(1);
      expect(ctx.server.apiCalls).toBe(3);
    });

    it('a request whose signal has already aborted does not go out', async () => {
      const { send } = await signedIn();
      const controller = new AbortController();
      controller.abort(new Error('too late'));
      await expect(send('items', { signal: controller.signal })).rejects.toThrow('too late');
      expect(ctx.server.apiCalls).toBe(0);
    });
  });

  describe(`refresh failures, through ${kind.name}`, () => {
    it('a terminal failure: one refresh attempt, every waiting request rejects with SessionExpiredError', async () => {
      const { session, send } = await signedIn();
      const events = recordEvents(session);
      ctx.server.revokeAll();
      ctx.server.expireAccessTokens();
      const results = await settle(Array.from({ length: 50 }, () => send('items')));
      expect(results.fulfilled).toBe(0);
      expect(results.rejected.every((e) => e instanceof SessionExpiredError)).toBe(true);
      expect(ctx.server.refreshCalls).toBe(1);
      expect(session.state).toBe('signedOut');
      expect(events.types()).toEqual(['reauthRequired', 'signedOut']);
      expect(ctx.store.load()).toBeNull();
    });

    it('after a sign-out a request rejects with SessionExpiredError and never goes out', async () => {
      const { session, send } = await signedIn();
      await session.signOut();
      await expect(send('items')).rejects.toBeInstanceOf(SessionExpiredError);
      expect(ctx.server.apiCalls).toBe(0);
    });

    it('503 twice, then success: every request succeeds and the session is kept', async () => {
      const { session, send } = await signedIn();
      const events = recordEvents(session);
      ctx.server.faults = [{ status: 503 }, { status: 503 }];
      ctx.server.expireAccessTokens();
      const pending = Promise.all(Array.from({ length: 10 }, () => send('items').then((r) => r.status)));
      await ctx.clock.advance(10_000);
      expect(await pending).toEqual(Array.from({ length: 10 }, () => 200));
      expect(ctx.server.refreshCalls).toBe(3);
      expect(events.types()).toEqual(['refreshFailed', 'refreshFailed', 'refreshed']);
      expect(events.states()).not.toContain('signedOut');
    });

    it('a waiting request fails with TokenWaitTimeoutError after its own timeout; the session stays', async () => {
      const { session, send } = await signedIn({ tokenWaitTimeout: 20_000 });
      ctx.server.faults = Array.from({ length: 100 }, () => 'network' as const);
      ctx.server.expireAccessTokens();
      const request = send('items');
      const rejected = expect(request).rejects.toBeInstanceOf(TokenWaitTimeoutError);
      await ctx.clock.advance(20_000);
      await rejected;
      expect(session.state).toBe('refreshing');
      expect(ctx.store.load()).not.toBeNull();
    });
  });
}
