/**
 * The handle `dpop()` makes (src/dpop/dpop.ts), against a stub `fetch`: where its key lives and
 * when it reads the store again, the lock a new key is made under, what a failing key store
 * costs (a warning, never a failed request), `bind`, and `send` with its one nonce retry.
 */
import { calculateJwkThumbprint, decodeJwt, decodeProtectedHeader } from 'jose';
import { describe, expect, it } from 'vitest';
import { dpop } from '../../src/dpop/dpop.ts';
import { memoryKeyStore } from '../../src/dpop/key-store.ts';
import { generateDpopKeys } from '../../src/dpop/keys.ts';
import { athOf } from '../../src/dpop/proof.ts';
import type { DpopContext, DpopKeyStore } from '../../src/dpop/types.ts';
import { inProcessLock, type LockPort } from '../../src/ports/lock.ts';
import type { Logger } from '../../src/ports/logger.ts';
import { silentLogger } from '../../src/ports/logger.ts';
import { ManualClock } from '../../src/testing.ts';

let names = 0;
const freshStore = () => memoryKeyStore(`dpop-handle-${++names}`);

/** A logger that keeps each warning with its fields. */
function recordingLogger() {
  const warnings: [string, unknown][] = [];
  const logger: Logger = { ...silentLogger, warn: (message, fields) => void warnings.push([message, fields]) };
  return { logger, warnings };
}

function context(overrides: Partial<DpopContext> = {}): DpopContext {
  return {
    clock: new ManualClock(),
    lock: inProcessLock(),
    lockName: `handle-${++names}`,
    logger: silentLogger,
    ...overrides,
  };
}

const thumbprintOf = (proof: string) => calculateJwkThumbprint(decodeProtectedHeader(proof).jwk!);
const keyThumbprint = async (keys: CryptoKeyPair) =>
  (await dpop({ keyStore: { load: () => keys, save() {}, clear() {} } }).thumbprint()) as string;

const nonceChallenge = (nonce: string, body: BodyInit | null = null) =>
  new Response(body, {
    status: 401,
    headers: { 'www-authenticate': 'DPoP error="use_dpop_nonce"', 'dpop-nonce': nonce },
  });

describe('dpop(): where the key lives', () => {
  it('bound to a session without a key store, keeps the key in memory under "<lock name>:dpop"', async () => {
    const ctx = context();
    const thumbprint = await dpop()
      .bind(ctx)
      .proof('GET', 'https://api.test/')
      .then((p) => thumbprintOf(p!));
    const stored = await memoryKeyStore(`${ctx.lockName}:dpop`).load();
    expect(await keyThumbprint(stored!)).toBe(thumbprint);
  });

  it('before any session binds it, keeps the key under "session-keeper:dpop"', async () => {
    const stored = memoryKeyStore('session-keeper:dpop');
    try {
      const thumbprint = await dpop().thumbprint();
      expect(await keyThumbprint((await stored.load())!)).toBe(thumbprint);
    } finally {
      await stored.clear();
    }
  });

  it('makes a new key under the lock "<lock name>:dpop", not the session lock itself', async () => {
    const inner = inProcessLock();
    const names: string[] = [];
    const lock: LockPort = { run: (name, task) => (names.push(name), inner.run(name, task)) };
    await dpop({ keyStore: freshStore() })
      .bind(context({ lock, lockName: 'app' }))
      .proof('GET', 'https://api.test/');
    expect(names).toEqual(['app:dpop']);
  });

  it('uses the key found in the store, without making one', async () => {
    const keys = await generateDpopKeys();
    let saves = 0;
    const keyStore: DpopKeyStore = { load: () => keys, save: () => void saves++, clear() {} };
    const proof = await dpop({ keyStore }).bind(context()).proof('GET', 'https://api.test/');
    expect(await thumbprintOf(proof!)).toBe(await keyThumbprint(keys));
    expect(saves).toBe(0);
  });

  it.each([
    ['nothing usable', { privateKey: 'x', publicKey: 'y' }],
    ['half a pair', { privateKey: {} }],
  ])('a store holding %s gets a new key', async (_, stored) => {
    const saved: CryptoKeyPair[] = [];
    const keyStore: DpopKeyStore = {
      load: () => (saved.at(-1) ?? stored) as never,
      save: (k) => void saved.push(k),
      clear() {},
    };
    const proof = await dpop({ keyStore }).bind(context()).proof('GET', 'https://api.test/');
    expect(saved).toHaveLength(1);
    expect(await thumbprintOf(proof!)).toBe(await keyThumbprint(saved[0]!));
  });

  it('a store that fails to load: a warning, and a new key signs the proof', async () => {
    const { logger, warnings } = recordingLogger();
    const blocked = new Error('blocked');
    const keyStore: DpopKeyStore = { load: () => Promise.reject(blocked), save() {}, clear() {} };
    const proof = await dpop({ keyStore }).bind(context({ logger })).proof('GET', 'https://api.test/');
    expect(proof).toMatch(/^ey/);
    // Looked up once for the proof, once more under the lock before making the key.
    expect(warnings).toEqual([
      ['DPoP key store failed to load', { error: blocked }],
      ['DPoP key store failed to load', { error: blocked }],
    ]);
  });

  it('a store that fails to save: a warning with the error, and this context signs with the new key', async () => {
    const { logger, warnings } = recordingLogger();
    const quota = new Error('quota');
    const keyStore: DpopKeyStore = { load: () => undefined, save: () => Promise.reject(quota), clear() {} };
    const handle = dpop({ keyStore }).bind(context({ logger }));
    const first = await handle.proof('GET', 'https://api.test/', { accessToken: 'at' });
    const second = await handle.proof('GET', 'https://api.test/', { accessToken: 'at' });
    expect(await thumbprintOf(second!)).toBe(await thumbprintOf(first!));
    expect(warnings).toEqual([['DPoP key store failed to save the new key', { error: quota }]]);
  });

  it('with ifKeyExists, sees a key another context made after it looked', async () => {
    const keyStore = freshStore();
    const lock = inProcessLock();
    const here = dpop({ keyStore }).bind(context({ lock }));
    expect(await here.proof('POST', 'https://auth.test/revoke', { ifKeyExists: true })).toBeUndefined();
    const made = await dpop({ keyStore }).bind(context({ lock })).proof('POST', 'https://auth.test/token');
    const later = await here.proof('GET', 'https://api.test/', { accessToken: 'at', ifKeyExists: true });
    expect(await thumbprintOf(later!)).toBe(await thumbprintOf(made!));
  });

  it('a token-endpoint proof reads the store again (another tab signed in anew); a resource proof keeps its key', async () => {
    const keyStore = freshStore();
    const handle = dpop({ keyStore }).bind(context());
    const first = await thumbprintOf((await handle.proof('GET', 'https://api.test/', { accessToken: 'at' }))!);
    const replaced = await generateDpopKeys();
    await keyStore.save(replaced);
    expect(await thumbprintOf((await handle.proof('GET', 'https://api.test/', { accessToken: 'at' }))!)).toBe(first);
    expect(await thumbprintOf((await handle.proof('POST', 'https://auth.test/token'))!)).toBe(
      await keyThumbprint(replaced),
    );
    // And the resource proofs follow the key it found.
    expect(await thumbprintOf((await handle.proof('GET', 'https://api.test/', { accessToken: 'at' }))!)).toBe(
      await keyThumbprint(replaced),
    );
  });

  it('forgetKey: a store that fails to clear costs a warning, not a failure', async () => {
    const { logger, warnings } = recordingLogger();
    const denied = new Error('denied');
    const keyStore: DpopKeyStore = { load: () => undefined, save() {}, clear: () => Promise.reject(denied) };
    await expect(dpop({ keyStore }).bind(context({ logger })).forgetKey()).resolves.toBeUndefined();
    expect(warnings).toEqual([['DPoP key store failed to clear', { error: denied }]]);
  });

  it('forgetKey makes the next resource proof look in the store again', async () => {
    const keyStore = freshStore();
    const handle = dpop({ keyStore }).bind(context());
    await handle.proof('GET', 'https://api.test/', { accessToken: 'at' });
    await handle.forgetKey();
    const next = await generateDpopKeys();
    await keyStore.save(next);
    expect(await thumbprintOf((await handle.proof('GET', 'https://api.test/', { accessToken: 'at' }))!)).toBe(
      await keyThumbprint(next),
    );
  });
});

describe('dpop(): bind', () => {
  const nonceIn = async (handle: ReturnType<typeof dpop>, url: string) =>
    decodeJwt((await handle.proof('GET', url))!).nonce;

  it('returns the handle; binding the same session again keeps its nonces', async () => {
    const handle = dpop({ keyStore: freshStore() });
    const ctx = context();
    expect(handle.bind(ctx)).toBe(handle);
    handle.observe('https://api.test/x', new Response(null, { headers: { 'dpop-nonce': 'kept' } }));
    handle.bind(ctx);
    expect(await nonceIn(handle, 'https://api.test/y')).toBe('kept');
  });

  it("binding another session forgets the nonces and the server clock, and proofs follow the new session's clock", async () => {
    const handle = dpop({ keyStore: freshStore() });
    handle.bind(context());
    handle.observe(
      'https://api.test/x',
      new Response(null, { headers: { 'dpop-nonce': 'old', date: new Date(Date.UTC(2030, 0, 1)).toUTCString() } }),
    );
    const clock = new ManualClock(Date.UTC(2027, 5, 1));
    handle.bind(context({ clock }));
    const proof = (await handle.proof('GET', 'https://api.test/y'))!;
    expect(decodeJwt(proof).nonce).toBeUndefined();
    expect(decodeJwt(proof).iat).toBe(Date.UTC(2027, 5, 1) / 1000);
  });
});

describe('dpop(): send', () => {
  /** A fetch that answers from `answers` in turn and keeps what it was sent. */
  function stubFetch(...answers: (() => Response)[]) {
    const sent: { request: Request; body: string; init: RequestInit | undefined }[] = [];
    const fetchFn: typeof globalThis.fetch = async (input, init) => {
      const request = input as Request;
      sent.push({ request, body: await request.clone().text(), init });
      return (answers.shift() ?? (() => new Response('ok')))();
    };
    return { sent, fetch: fetchFn };
  }

  it.each([
    ['Bearer tok', 'tok'],
    ['bearer tok', 'tok'],
    ['DPoP tok', 'tok'],
  ])('turns Authorization %s into DPoP with a proof whose ath is that token', async (header, token) => {
    const stub = stubFetch();
    await dpop({ keyStore: freshStore() })
      .bind(context())
      .send(
        new Request('https://api.test/v1/items?page=2#x', { headers: { authorization: header } }),
        undefined,
        stub.fetch,
      );
    const { request } = stub.sent[0]!;
    expect(request.headers.get('authorization')).toBe(`DPoP ${token}`);
    expect(decodeJwt(request.headers.get('dpop')!)).toMatchObject({
      htm: 'GET',
      htu: 'https://api.test/v1/items',
      ath: await athOf(token),
    });
  });

  it('a request without Authorization goes out with an empty DPoP credential, its ath the hash of no token', async () => {
    const stub = stubFetch();
    const response = await dpop({ keyStore: freshStore() })
      .bind(context())
      .send(new Request('https://api.test/x'), undefined, stub.fetch);
    expect(response.status).toBe(200);
    const { request } = stub.sent[0]!;
    expect(request.headers.get('authorization')).toBe('DPoP');
    expect(decodeJwt(request.headers.get('dpop')!).ath).toBe(await athOf(''));
  });

  it('passes the init on to fetch', async () => {
    const stub = stubFetch();
    const init = { cache: 'no-store' } as RequestInit;
    await dpop({ keyStore: freshStore() })
      .bind(context())
      .send(new Request('https://api.test/', { headers: { authorization: 'Bearer t' } }), init, stub.fetch);
    expect(stub.sent[0]!.init).toBe(init);
  });

  it('answers a use_dpop_nonce challenge once, with the nonce, the same body and a new proof', async () => {
    const stub = stubFetch(() => nonceChallenge('n-1'));
    const handle = dpop({ keyStore: freshStore() }).bind(context());
    const response = await handle.send(
      new Request('https://api.test/items', {
        method: 'POST',
        body: 'the body',
        headers: { authorization: 'Bearer t' },
      }),
      undefined,
      stub.fetch,
    );
    expect(await response.text()).toBe('ok');
    expect(stub.sent.map((s) => s.body)).toEqual(['the body', 'the body']);
    const [first, second] = stub.sent.map((s) => decodeJwt(s.request.headers.get('dpop')!));
    expect(first!.nonce).toBeUndefined();
    expect(second!.nonce).toBe('n-1');
    expect(second!.jti).not.toBe(first!.jti);
    expect(stub.sent[1]!.request.headers.get('authorization')).toBe('DPoP t');
  });

  it('answers the challenge of a request without a body with that same Request, not a copy', async () => {
    const stub = stubFetch(() => nonceChallenge('n-1'));
    const request = new Request('https://api.test/items', { headers: { authorization: 'Bearer t' } });
    await dpop({ keyStore: freshStore() }).bind(context()).send(request, undefined, stub.fetch);
    expect(stub.sent).toHaveLength(2);
    expect(stub.sent[1]!.request).toBe(request);
  });

  it('answers a second challenge with it: two requests at most, and learns the nonce of the last answer', async () => {
    const stub = stubFetch(
      () => nonceChallenge('n-1'),
      () => nonceChallenge('n-2'),
    );
    const handle = dpop({ keyStore: freshStore() }).bind(context());
    const response = await handle.send(
      new Request('https://api.test/items', { headers: { authorization: 'Bearer t' } }),
      undefined,
      stub.fetch,
    );
    expect(response.status).toBe(401);
    expect(stub.sent).toHaveLength(2);
    expect(decodeJwt((await handle.proof('GET', 'https://api.test/other'))!).nonce).toBe('n-2');
  });

  it('learns the nonce and the server clock of a plain answer', async () => {
    const clock = new ManualClock(Date.UTC(2026, 0, 1));
    const serverTime = Date.UTC(2026, 0, 1, 4);
    const stub = stubFetch(
      () => new Response('ok', { headers: { 'dpop-nonce': 'n-9', date: new Date(serverTime).toUTCString() } }),
    );
    const handle = dpop({ keyStore: freshStore() }).bind(context({ clock }));
    await handle.send(
      new Request('https://api.test/a', { headers: { authorization: 'Bearer t' } }),
      undefined,
      stub.fetch,
    );
    const payload = decodeJwt((await handle.proof('GET', 'https://api.test/b'))!);
    expect(payload.nonce).toBe('n-9');
    expect(payload.iat).toBe(Math.floor((serverTime + 500) / 1000));
  });

  it("lets go of the challenge's body before the retry", async () => {
    let cancelled = false;
    const body = new ReadableStream({
      pull(controller) {
        controller.enqueue(new TextEncoder().encode('x'));
      },
      cancel() {
        cancelled = true;
      },
    });
    const stub = stubFetch(() => nonceChallenge('n-1', body));
    await dpop({ keyStore: freshStore() })
      .bind(context())
      .send(new Request('https://api.test/', { headers: { authorization: 'Bearer t' } }), undefined, stub.fetch);
    expect(cancelled).toBe(true);
  });

  it('a 401 that is not a nonce challenge is the answer, without a second request', async () => {
    const stub = stubFetch(
      () => new Response(null, { status: 401, headers: { 'www-authenticate': 'DPoP error="invalid_token"' } }),
    );
    const response = await dpop({ keyStore: freshStore() })
      .bind(context())
      .send(new Request('https://api.test/', { headers: { authorization: 'Bearer t' } }), undefined, stub.fetch);
    expect(response.status).toBe(401);
    expect(stub.sent).toHaveLength(1);
  });

  it('authorize sets Authorization: DPoP and a proof with ath on a request', async () => {
    const request = new Request('https://api.test/x', { method: 'PATCH' });
    const handle = dpop({ keyStore: freshStore() });
    handle.bind(context());
    await handle.authorize(request, 'at-1');
    expect(request.headers.get('authorization')).toBe('DPoP at-1');
    expect(decodeJwt(request.headers.get('dpop')!)).toMatchObject({ htm: 'PATCH', ath: await athOf('at-1') });
  });
});
