/**
 * The refresher: one refresh attempt under the cross-context lock (`refreshOnce`: re-read the
 * store, adopt another context's rotation, refresh, keep whatever was saved meanwhile) and the
 * loop around it (`refreshUntilSettled`: backoff with jitter, Retry-After, wake-ups). msw plays
 * the token endpoint; the clock is manual; "another context" is a second storage on the same store.
 */
import { getEventListeners } from 'node:events';
import { http, HttpResponse } from 'msw';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { InvalidTokenResponseError, TransientRefreshError } from '../../src/errors.ts';
import type { DpopPort } from '../../src/dpop/types.ts';
import { resolveOptions, type ResolvedOptions, type SessionManagerOptions } from '../../src/options.ts';
import { inProcessLock, type LockPort } from '../../src/ports/lock.ts';
import { MemoryTokenStore, type TokenStore } from '../../src/ports/token-store.ts';
import {
  DISPOSED,
  refreshOnce,
  refreshUntilSettled,
  STORE_HANDOFF_MS,
  type RefreshContext,
  type RefreshHooks,
} from '../../src/refresh/refresher.ts';
import { REAUTH_HANDOFF_MS } from '../../src/session/decisions.ts';
import { createSessionStorage, type SessionStorage } from '../../src/session/storage.ts';
import { parseTokenResponse } from '../../src/token-set.ts';
import { ManualClock, ManualNetwork } from '../../src/testing.ts';
import type { SessionTokens } from '../../src/types.ts';
import { NOW, recordingLogger, unsignedJwt } from './builders.ts';
import { seen, useMsw, type SeenRequest } from './msw.ts';

const TOKEN_URL = 'https://auth.test/oauth/token';
const REVOKE_URL = 'https://auth.test/oauth/revoke';
const MINUTE = 60_000;

const server = useMsw();
let clock: ManualClock;
let network: ManualNetwork;
let log: ReturnType<typeof recordingLogger>;
let store: MemoryTokenStore;
let grants: SeenRequest[];
let revocations: SeenRequest[];
/** What the token endpoint answers, in turn; the last one again once the list runs out. */
let answers: (() => Response | Promise<Response>)[];
/** Runs while a grant is at the server, before it answers (another context acts then). */
let duringGrant: (() => void | Promise<void>) | undefined;
let controller: AbortController;

const access = (name: string) => unsignedJwt({ sub: 'alice', jti: name });
const rotated = (refreshToken = 'rt-2', extra: Record<string, unknown> = {}) =>
  HttpResponse.json({
    access_token: access(refreshToken),
    token_type: 'Bearer',
    expires_in: 3600,
    refresh_token: refreshToken,
    ...extra,
  });
const unavailable = (
  headers: Record<string, string> = {},
  body: Record<string, string> = { error: 'temporarily_unavailable' },
) => HttpResponse.json(body, { status: 503, headers });

beforeEach(() => {
  clock = new ManualClock(NOW);
  network = new ManualNetwork();
  log = recordingLogger();
  store = new MemoryTokenStore();
  grants = [];
  revocations = [];
  answers = [() => rotated()];
  duringGrant = undefined;
  controller = new AbortController();
  server.use(
    http.post(TOKEN_URL, async ({ request }) => {
      grants.push(await seen(request));
      await duringGrant?.();
      const answer = answers.length > 1 ? answers.shift()! : answers[0]!;
      return answer();
    }),
    http.post(REVOKE_URL, async ({ request }) => {
      revocations.push(await seen(request));
      return new HttpResponse(null, { status: 200 });
    }),
  );
});

function options(overrides: Partial<SessionManagerOptions> = {}): ResolvedOptions {
  return resolveOptions({
    tokenEndpoint: TOKEN_URL,
    revocationEndpoint: REVOKE_URL,
    clientId: 'app',
    clock,
    network,
    store,
    logger: log.logger,
    lock: inProcessLock(),
    lockName: 'the-session',
    broadcast: false,
    random: () => 0,
    refreshTimeout: 5000,
    ...overrides,
  });
}

/** A token set as a grant answer makes it, at `clock.now()`. */
function tokens(refreshToken: string | undefined, extra: Partial<SessionTokens> = {}): SessionTokens {
  return {
    ...parseTokenResponse(
      { access_token: access(refreshToken ?? 'none'), expires_in: 3600, refresh_token: refreshToken },
      clock.now(),
    ),
    ...extra,
  };
}

function context(resolved = options(), extra: Partial<RefreshContext> = {}): RefreshContext {
  return {
    options: resolved,
    storage: createSessionStorage(resolved),
    rejectedAccessToken: undefined,
    signal: controller.signal,
    ...extra,
  };
}

/** Another context sharing the store (same lock, its own storage). */
const otherContext = (resolved: ResolvedOptions) => createSessionStorage(resolved);

const form = (request: SeenRequest) => Object.fromEntries(new URLSearchParams(request.body));
const presented = () => grants.map((request) => form(request).refresh_token);
const stored = async (storage: SessionStorage) => {
  const loaded = await storage.load();
  return loaded.kind === 'ok' ? loaded.tokens : loaded.kind;
};
const rejection = (promise: Promise<unknown>) =>
  promise.then(
    () => {
      throw new Error('expected a rejection');
    },
    (error: unknown) => error,
  );

/** A DPoP port that signs nothing for real: the token endpoint here checks no proof. */
const fakeDpop: DpopPort = {
  proof: async () => 'dpop-proof',
  observe: () => {},
  isNonceChallenge: () => false,
  send: async () => new Response(),
  forgetKey: async () => {},
};

describe('DISPOSED', () => {
  it('is the abort reason of a disposed manager, and says so', () => {
    expect(DISPOSED).toBeInstanceOf(Error);
    expect(DISPOSED.message).toBe('Session manager disposed');
  });
});

describe('refreshOnce: the grant', () => {
  it('sends the refresh_token grant, saves the rotated tokens and retires the spent refresh token', async () => {
    const ctx = context();
    const current = tokens('rt-1');
    const outcome = await refreshOnce(ctx, current);
    expect(form(grants[0]!)).toEqual({ grant_type: 'refresh_token', refresh_token: 'rt-1', client_id: 'app' });
    expect(outcome).toMatchObject({ kind: 'refreshed', source: 'refresh', tokens: { refreshToken: 'rt-2' } });
    expect(await stored(ctx.storage)).toMatchObject({ refreshToken: 'rt-2', accessToken: access('rt-2') });
    expect(ctx.storage.isRetired(current)).toBe(true);
    expect(ctx.storage.holdsOurs).toBe(true);
    // The expiry is readable in the log line (a field named after the token would be redacted).
    expect(log.lines).toEqual([['debug', 'refreshed', { expiresAt: NOW + 3600_000 }]]);
  });

  it('keeps the refresh token, unretired, when the server does not rotate it', async () => {
    answers = [() => HttpResponse.json({ access_token: access('same'), expires_in: 600 })];
    const ctx = context();
    const current = tokens('rt-1');
    const outcome = await refreshOnce(ctx, current);
    expect(outcome).toMatchObject({ kind: 'refreshed', tokens: { refreshToken: 'rt-1', accessToken: access('same') } });
    expect(ctx.storage.isRetired(current)).toBe(false);
  });

  it('keeps what the new answer leaves out from the set it refreshed', async () => {
    answers = [() => HttpResponse.json({ access_token: access('new'), expires_in: 600, refresh_token: 'rt-2' })];
    await clock.advance(1000);
    const outcome = await refreshOnce(context(), tokens('rt-1', { sessionStartedAt: NOW - 5000, scope: 'read' }));
    expect(outcome).toMatchObject({
      tokens: { sessionStartedAt: NOW - 5000, scope: 'read', receivedAt: NOW + 1000 },
    });
  });

  it('runs under the lock named lockName', async () => {
    const names: string[] = [];
    const lock: LockPort = {
      run: (name, task) => {
        names.push(name);
        return task();
      },
    };
    await refreshOnce(context(options({ lock })), tokens('rt-1'));
    expect(names).toEqual(['the-session']);
  });

  it('uses the refreshTokens option instead of the standard grant, with the deadline signal', async () => {
    const signals: AbortSignal[] = [];
    const refreshTokens = vi.fn(async (_token: string, signal: AbortSignal) => {
      signals.push(signal);
      return { access_token: access('custom'), expires_in: 600, refresh_token: 'rt-custom' };
    });
    const outcome = await refreshOnce(context(options({ refreshTokens })), tokens('rt-1'));
    expect(refreshTokens).toHaveBeenCalledWith('rt-1', expect.any(AbortSignal));
    expect(outcome).toMatchObject({ kind: 'refreshed', tokens: { refreshToken: 'rt-custom' } });
    expect(grants).toHaveLength(0);
    expect(signals[0]!.aborted).toBe(false);
  });

  it('abandons a grant without an answer at refreshTimeout, as transient', async () => {
    answers = [() => new Promise<Response>(() => {})];
    const ctx = context();
    const pending = rejection(refreshOnce(ctx, tokens('rt-1')));
    await clock.advance(4999);
    expect(grants).toHaveLength(1);
    await clock.advance(1);
    const error = await pending;
    expect(error).toBeInstanceOf(TransientRefreshError);
    expect((error as Error).message).toBe('No answer within 5000 ms');
    expect(await stored(ctx.storage)).toBe('empty');
  });

  it('passes on a 503 whose body says invalid_grant as transient: the refresh token is not taken for dead', async () => {
    answers = [() => unavailable({}, { error: 'invalid_grant' })];
    const ctx = context();
    const error = await rejection(refreshOnce(ctx, tokens('rt-1')));
    expect(error).toBeInstanceOf(TransientRefreshError);
    expect((error as TransientRefreshError).status).toBe(503);
    expect(await stored(ctx.storage)).toBe('empty');
  });

  it('passes on a two-digit Retry-After with the transient error', async () => {
    answers = [() => unavailable({ 'retry-after': '30' })];
    const error = await rejection(refreshOnce(context(), tokens('rt-1')));
    expect((error as TransientRefreshError).retryAfterMs).toBe(30_000);
  });

  it('refuses a garbled answer as transient, saving nothing', async () => {
    answers = [() => HttpResponse.json({ token_type: 'Bearer', expires_in: 600 })];
    const ctx = context();
    const error = await rejection(refreshOnce(ctx, tokens('rt-1')));
    expect(error).toBeInstanceOf(InvalidTokenResponseError);
    expect((error as InvalidTokenResponseError).transient).toBe(true);
    expect(await stored(ctx.storage)).toBe('empty');
  });

  it('with DPoP on, takes a DPoP-bound answer and refuses a Bearer one', async () => {
    const withDpop = options({ dpop: { bind: () => fakeDpop } as unknown as SessionManagerOptions['dpop'] });
    answers = [() => rotated('rt-2', { token_type: 'DPoP' }), () => rotated('rt-3')];
    await expect(refreshOnce(context(withDpop), tokens('rt-1'))).resolves.toMatchObject({
      tokens: { tokenType: 'DPoP' },
    });
    await expect(refreshOnce(context(withDpop), tokens('rt-2'))).rejects.toBeInstanceOf(InvalidTokenResponseError);
  });

  it('without DPoP, refuses a DPoP-bound answer', async () => {
    answers = [() => rotated('rt-2', { token_type: 'DPoP' })];
    await expect(refreshOnce(context(), tokens('rt-1'))).rejects.toBeInstanceOf(InvalidTokenResponseError);
  });

  it("leaves no listener on the session's signal", async () => {
    const ctx = context();
    await refreshOnce(ctx, tokens('rt-1'));
    answers = [() => unavailable()];
    await refreshOnce(ctx, tokens('rt-2')).catch(() => {});
    expect(getEventListeners(ctx.signal, 'abort')).toHaveLength(0);
  });
});

describe('refreshOnce: when the refresh token cannot be used', () => {
  it('a refresh token the server rejects: re-authenticate, and mark it dead in the store for the other contexts', async () => {
    answers = [() => HttpResponse.json({ error: 'invalid_grant' }, { status: 400 })];
    await clock.advance(1234);
    const ctx = context();
    const outcome = await refreshOnce(ctx, tokens('rt-1'));
    expect(outcome).toEqual({ kind: 'reauth', reason: 'refreshRejected' });
    const saved = await stored(ctx.storage);
    expect(saved).toMatchObject({ refreshToken: 'rt-1' });
    expect((saved as SessionTokens).refreshRejectedAt).toBe(NOW + 1234);
  });

  it('no refresh token: re-authenticate without asking the server', async () => {
    const outcome = await refreshOnce(context(), tokens(undefined));
    expect(outcome).toEqual({ kind: 'reauth', reason: 'noRefreshToken' });
    expect(grants).toHaveLength(0);
  });

  it('the session past its end: re-authenticate without asking the server', async () => {
    const outcome = await refreshOnce(context(), tokens('rt-1', { sessionExpiresAt: NOW }));
    expect(outcome).toEqual({ kind: 'reauth', reason: 'sessionEnded' });
    expect(grants).toHaveLength(0);
  });

  it('another context found it dead moments ago: wait for its re-authentication', async () => {
    const resolved = options();
    const current = tokens('rt-1');
    await otherContext(resolved).save({ ...current, refreshRejectedAt: NOW });
    await clock.advance(MINUTE);
    const ctx = context(resolved);
    ctx.storage.followed();
    expect(await refreshOnce(ctx, current)).toEqual({ kind: 'reauthElsewhere' });
    expect(grants).toHaveLength(0);
  });

  it('another context found it dead long ago: re-authenticate here', async () => {
    const resolved = options();
    const current = tokens('rt-1');
    await otherContext(resolved).save({ ...current, refreshRejectedAt: NOW });
    await clock.advance(REAUTH_HANDOFF_MS);
    const ctx = context(resolved);
    ctx.storage.followed();
    expect(await refreshOnce(ctx, current)).toEqual({ kind: 'reauth', reason: 'refreshRejected' });
  });

  it('rejected, but another context saved a usable rotation meanwhile: that one is adopted, nothing marked dead', async () => {
    answers = [() => HttpResponse.json({ error: 'invalid_grant' }, { status: 400 })];
    const resolved = options();
    const ctx = context(resolved);
    const current = tokens('rt-1');
    await ctx.storage.save(current);
    const theirs = tokens('rt-theirs');
    duringGrant = () => otherContext(resolved).save(theirs);
    const outcome = await refreshOnce(ctx, current);
    expect(outcome).toMatchObject({ kind: 'refreshed', source: 'otherContext', tokens: { refreshToken: 'rt-theirs' } });
    expect(await stored(ctx.storage)).toMatchObject({ refreshToken: 'rt-theirs', refreshRejectedAt: undefined });
  });

  it('rejected, and another context signed out meanwhile: signed out, nothing saved', async () => {
    answers = [() => HttpResponse.json({ error: 'invalid_grant' }, { status: 400 })];
    const resolved = options();
    const ctx = context(resolved);
    const current = tokens('rt-1');
    await ctx.storage.save(current);
    duringGrant = () => otherContext(resolved).clear();
    expect(await refreshOnce(ctx, current)).toEqual({ kind: 'signedOutElsewhere' });
    expect(await stored(ctx.storage)).toBe('empty');
  });
});

describe('refreshOnce: the store read under the lock', () => {
  it('adopts the usable tokens another context rotated to, without a grant', async () => {
    const resolved = options();
    const theirs = tokens('rt-theirs');
    await otherContext(resolved).save(theirs);
    const outcome = await refreshOnce(context(resolved), tokens('rt-1'));
    expect(outcome).toEqual({
      kind: 'refreshed',
      source: 'otherContext',
      tokens: expect.objectContaining({ refreshToken: 'rt-theirs' }),
    });
    expect(grants).toHaveLength(0);
  });

  it('refreshes from the newer set another context saved when its access token is no longer usable', async () => {
    const resolved = options();
    await otherContext(resolved).save(tokens('rt-theirs', { accessTokenExpiresAt: NOW - 1 }));
    const outcome = await refreshOnce(context(resolved), tokens('rt-1'));
    expect(presented()).toEqual(['rt-theirs']);
    expect(outcome).toMatchObject({ kind: 'refreshed', source: 'refresh' });
  });

  it('does not adopt a newer set that carries the access token the server rejected', async () => {
    const resolved = options();
    const theirs = tokens('rt-theirs');
    await otherContext(resolved).save(theirs);
    await refreshOnce(context(resolved, { rejectedAccessToken: theirs.accessToken }), tokens('rt-1'));
    expect(presented()).toEqual(['rt-theirs']);
  });

  it('another context cleared the store that held this session: signed out elsewhere, no grant', async () => {
    const resolved = options();
    const ctx = context(resolved);
    const current = tokens('rt-1');
    await ctx.storage.save(current);
    await otherContext(resolved).clear();
    expect(await refreshOnce(ctx, current)).toEqual({ kind: 'signedOutElsewhere' });
    expect(grants).toHaveLength(0);
  });

  it('a store that never held this session: refreshes from memory', async () => {
    const outcome = await refreshOnce(context(), tokens('rt-1'));
    expect(presented()).toEqual(['rt-1']);
    expect(outcome).toMatchObject({ kind: 'refreshed', source: 'refresh' });
  });

  it('a store still holding a set this manager moved on from (a failed save): caught up first, then refreshed from memory', async () => {
    const resolved = options();
    const ctx = context(resolved);
    const old = tokens('rt-0');
    await ctx.storage.save(old);
    ctx.storage.retire('rt-0');
    const current = tokens('rt-1');
    let storedDuringGrant: unknown;
    duringGrant = async () => void (storedDuringGrant = await stored(otherContext(resolved)));
    const outcome = await refreshOnce(ctx, current);
    expect(storedDuringGrant).toMatchObject({ refreshToken: 'rt-1' });
    expect(presented()).toEqual(['rt-1']);
    expect(outcome).toMatchObject({ kind: 'refreshed', source: 'refresh', tokens: { refreshToken: 'rt-2' } });
    expect(log.messages('warn')).toEqual(['store holds an older session; refreshing from memory']);
  });

  it('a store that fails to load: refreshes from memory, logged', async () => {
    const failing: TokenStore = {
      load: () => {
        throw new Error('keychain locked');
      },
      save: () => {},
      clear: () => {},
    };
    const outcome = await refreshOnce(context(options({ store: failing })), tokens('rt-1'));
    expect(presented()).toEqual(['rt-1']);
    expect(outcome).toMatchObject({ kind: 'refreshed', source: 'refresh' });
    expect(log.lines.filter(([level]) => level === 'warn')).toEqual([
      ['warn', 'store re-read failed; refreshing from memory', { error: 'StoreError: Token store failed to load' }],
    ]);
  });

  describe('after waiting for the lock, with the store still holding the same set', () => {
    const waitedLock: LockPort = { run: (_name, task) => task({ waited: true }) };

    it("gives another context's write a moment before refreshing", async () => {
      expect(STORE_HANDOFF_MS).toBe(250);
      const resolved = options({ lock: waitedLock });
      const ctx = context(resolved);
      const current = tokens('rt-1');
      await ctx.storage.save(current);
      const pending = refreshOnce(ctx, current);
      await clock.advance(249);
      expect(grants).toHaveLength(0);
      await clock.advance(1);
      await expect(pending).resolves.toMatchObject({ kind: 'refreshed', source: 'refresh' });
      expect(presented()).toEqual(['rt-1']);
    });

    it('adopts the write that arrives meanwhile, without a grant', async () => {
      const resolved = options({ lock: waitedLock });
      const ctx = context(resolved);
      const current = tokens('rt-1');
      await ctx.storage.save(current);
      const pending = refreshOnce(ctx, current);
      await clock.advance(100);
      await otherContext(resolved).save(tokens('rt-theirs'));
      await clock.advance(0);
      await expect(pending).resolves.toMatchObject({ kind: 'refreshed', source: 'otherContext' });
      expect(grants).toHaveLength(0);
      expect(clock.now()).toBe(NOW + 100);
    });

    it('does not wait with a store that sends no change notices', async () => {
      const inner = new MemoryTokenStore();
      const quiet: TokenStore = { load: () => inner.load(), save: (s) => inner.save(s), clear: () => inner.clear() };
      const resolved = options({ lock: waitedLock, store: quiet });
      const ctx = context(resolved);
      const current = tokens('rt-1');
      await ctx.storage.save(current);
      await expect(refreshOnce(ctx, current)).resolves.toMatchObject({ kind: 'refreshed', source: 'refresh' });
      expect(clock.now()).toBe(NOW);
      expect(clock.pendingTimers).toBe(0);
      expect(log.messages('warn')).toEqual([]);
    });

    it('a lock that says nothing about waiting: refreshes at once', async () => {
      const resolved = options({ lock: { run: (_name, task) => task() } });
      const ctx = context(resolved);
      const current = tokens('rt-1');
      await ctx.storage.save(current);
      await expect(refreshOnce(ctx, current)).resolves.toMatchObject({ kind: 'refreshed', source: 'refresh' });
      expect(clock.now()).toBe(NOW);
    });
  });
});

describe('refreshOnce: what was saved while the grant was in flight wins', () => {
  it("another context's usable rotation is adopted; the grant's answer is not saved", async () => {
    const resolved = options();
    const ctx = context(resolved);
    const current = tokens('rt-1');
    await ctx.storage.save(current);
    duringGrant = () => otherContext(resolved).save(tokens('rt-theirs'));
    const outcome = await refreshOnce(ctx, current);
    expect(outcome).toMatchObject({ kind: 'refreshed', source: 'otherContext', tokens: { refreshToken: 'rt-theirs' } });
    expect(await stored(ctx.storage)).toMatchObject({ refreshToken: 'rt-theirs' });
    expect(ctx.storage.isRetired(current)).toBe(true);
    expect(revocations).toHaveLength(0);
    expect(log.messages('warn')).toEqual(['the store changed during the refresh; keeping what it holds']);
  });

  it('a sign-out elsewhere: the tokens just issued are revoked and not saved', async () => {
    const resolved = options();
    const ctx = context(resolved);
    const current = tokens('rt-1');
    await ctx.storage.save(current);
    duringGrant = () => otherContext(resolved).clear();
    expect(await refreshOnce(ctx, current)).toEqual({ kind: 'signedOutElsewhere' });
    expect(await stored(ctx.storage)).toBe('empty');
    expect(revocations.map((request) => form(request))).toEqual([
      { token: 'rt-2', token_type_hint: 'refresh_token', client_id: 'app' },
    ]);
  });

  it('an unusable set saved by another context: neither is kept, the refresh is retried', async () => {
    const resolved = options();
    const ctx = context(resolved);
    const current = tokens('rt-1');
    await ctx.storage.save(current);
    duringGrant = () => otherContext(resolved).save(tokens('rt-theirs', { accessTokenExpiresAt: NOW - 1 }));
    const error = await rejection(refreshOnce(ctx, current));
    expect(error).toBeInstanceOf(TransientRefreshError);
    expect((error as Error).message).toBe('The stored session changed during the refresh');
    expect(await stored(ctx.storage)).toMatchObject({ refreshToken: 'rt-theirs' });
  });

  it('a store that cannot be read after the grant: the answer is saved', async () => {
    const inner = new MemoryTokenStore();
    let loads = 0;
    const flaky: TokenStore = {
      load: () => {
        if (++loads > 1) throw new Error('keychain locked');
        return inner.load();
      },
      save: (session) => inner.save(session),
      clear: () => inner.clear(),
    };
    const resolved = options({ store: flaky });
    const ctx = context(resolved);
    const current = tokens('rt-1');
    await ctx.storage.save(current);
    const outcome = await refreshOnce(ctx, current);
    expect(outcome).toMatchObject({ kind: 'refreshed', source: 'refresh' });
    expect(inner.load()).toMatchObject({ refreshToken: 'rt-2' });
  });

  it('a store that never held this session is not consulted after the grant', async () => {
    const resolved = options();
    const ctx = context(resolved);
    duringGrant = () => otherContext(resolved).save(tokens('rt-theirs'));
    const outcome = await refreshOnce(ctx, tokens('rt-1'));
    expect(outcome).toMatchObject({ kind: 'refreshed', source: 'refresh', tokens: { refreshToken: 'rt-2' } });
    expect(await stored(ctx.storage)).toMatchObject({ refreshToken: 'rt-2' });
  });

  it('the same set still stored: the answer is saved', async () => {
    const resolved = options();
    const ctx = context(resolved);
    const current = tokens('rt-1');
    await ctx.storage.save(current);
    const outcome = await refreshOnce(ctx, current);
    expect(outcome).toMatchObject({ kind: 'refreshed', source: 'refresh' });
    expect(await stored(ctx.storage)).toMatchObject({ refreshToken: 'rt-2' });
    expect(log.messages('warn')).toEqual([]);
  });
});

describe('refreshOnce: the session ending during the grant', () => {
  it('a sign-out aborts the grant in flight: nothing is saved', async () => {
    answers = [() => new Promise<Response>(() => {})];
    const ctx = context();
    const pending = rejection(refreshOnce(ctx, tokens('rt-1')));
    await clock.advance(10);
    const reason = new Error('signed out');
    controller.abort(reason);
    expect(await pending).toBe(reason);
    expect(await stored(ctx.storage)).toBe('empty');
  });

  it('a dispose lets the grant in flight land and saves it (the server may have rotated)', async () => {
    const resolved = options();
    const ctx = context(resolved);
    duringGrant = () => controller.abort(DISPOSED);
    const outcome = await refreshOnce(ctx, tokens('rt-1'));
    expect(outcome).toMatchObject({ kind: 'refreshed', source: 'refresh', tokens: { refreshToken: 'rt-2' } });
    expect(await stored(ctx.storage)).toMatchObject({ refreshToken: 'rt-2' });
    expect(revocations).toHaveLength(0);
  });

  /** A store whose read after the grant comes as the session ends with `reason`. */
  function endingStore(reason: unknown): TokenStore {
    const inner = new MemoryTokenStore();
    let loads = 0;
    return {
      load: () => {
        if (++loads === 2) controller.abort(reason);
        return inner.load();
      },
      save: (session) => inner.save(session),
      clear: () => inner.clear(),
    };
  }

  it('a session that ended once the answer arrived: the new refresh token is revoked, nothing saved', async () => {
    const resolved = options({ store: endingStore(new Error('signed out')) });
    const ctx = context(resolved);
    const current = tokens('rt-1');
    await ctx.storage.save(current);
    expect(await refreshOnce(ctx, current)).toEqual({ kind: 'signedOutElsewhere' });
    expect(await stored(ctx.storage)).toMatchObject({ refreshToken: 'rt-1' });
    expect(revocations.map((request) => form(request).token)).toEqual(['rt-2']);
  });

  it('a dispose once the answer arrived: saved, not revoked', async () => {
    const resolved = options({ store: endingStore(DISPOSED) });
    const ctx = context(resolved);
    const current = tokens('rt-1');
    await ctx.storage.save(current);
    expect(await refreshOnce(ctx, current)).toMatchObject({ kind: 'refreshed', source: 'refresh' });
    expect(await stored(ctx.storage)).toMatchObject({ refreshToken: 'rt-2' });
    expect(revocations).toHaveLength(0);
  });
});

describe('refreshUntilSettled', () => {
  let current: SessionTokens | null;
  let failures: [string, number, number][];
  let waitingForOtherContext: number;
  let hooks: RefreshHooks;

  beforeEach(() => {
    current = tokens('rt-1');
    failures = [];
    waitingForOtherContext = 0;
    hooks = {
      current: () => current,
      failed: (error, attempt, retryInMs) => void failures.push([error.name, attempt, retryInMs]),
      waitingForOtherContext: () => void waitingForOtherContext++,
    };
  });

  it('settles with the first outcome that is not a failure', async () => {
    await expect(refreshUntilSettled(context(), hooks)).resolves.toMatchObject({
      kind: 'refreshed',
      source: 'refresh',
    });
    expect(failures).toEqual([]);
  });

  it('settles undefined, without a grant, when there is nothing to refresh', async () => {
    current = null;
    await expect(refreshUntilSettled(context(), hooks)).resolves.toBeUndefined();
    expect(grants).toHaveLength(0);
  });

  it('settles with a re-authentication when the refresh token is dead', async () => {
    answers = [() => HttpResponse.json({ error: 'invalid_grant' }, { status: 400 })];
    await expect(refreshUntilSettled(context(), hooks)).resolves.toEqual({ kind: 'reauth', reason: 'refreshRejected' });
  });

  it('retries a transient failure after the backoff with jitter from the injected random, and logs it', async () => {
    answers = [() => unavailable(), () => unavailable(), () => rotated()];
    const settled = refreshUntilSettled(context(options({ random: () => 0.5 })), hooks);
    await clock.advance(749);
    expect(grants).toHaveLength(1);
    expect(failures).toEqual([['TransientRefreshError', 1, 750]]);
    await clock.advance(1);
    expect(grants).toHaveLength(2);
    await clock.advance(1500);
    await expect(settled).resolves.toMatchObject({ kind: 'refreshed' });
    expect(failures).toEqual([
      ['TransientRefreshError', 1, 750],
      ['TransientRefreshError', 2, 1500],
    ]);
    expect(log.lines.filter(([level]) => level !== 'debug')).toEqual([
      [
        'info',
        'refresh failed; will retry',
        { attempt: 1, retryInMs: 750, error: 'TransientRefreshError: Token endpoint answered HTTP 503' },
      ],
      [
        'info',
        'refresh failed; will retry',
        { attempt: 2, retryInMs: 1500, error: 'TransientRefreshError: Token endpoint answered HTTP 503' },
      ],
    ]);
  });

  it('retries a failure that is not transient too, logged as unexpected', async () => {
    let calls = 0;
    const refreshTokens = async () => {
      if (++calls === 1) throw new Error('bug in the backend adapter');
      return { access_token: access('custom'), expires_in: 600, refresh_token: 'rt-custom' };
    };
    const settled = refreshUntilSettled(context(options({ refreshTokens })), hooks);
    await clock.advance(500);
    await expect(settled).resolves.toMatchObject({ kind: 'refreshed', tokens: { refreshToken: 'rt-custom' } });
    expect(failures).toEqual([['Error', 1, 500]]);
    expect(log.lines.slice(0, 2)).toEqual([
      ['error', 'unexpected refresh failure; retrying', { error: 'Error: bug in the backend adapter' }],
      [
        'info',
        'refresh failed; will retry',
        { attempt: 1, retryInMs: 500, error: 'Error: bug in the backend adapter' },
      ],
    ]);
  });

  it('refreshes from the tokens current at each attempt', async () => {
    answers = [() => unavailable(), () => rotated()];
    const settled = refreshUntilSettled(context(), hooks);
    await clock.advance(10);
    current = tokens('rt-1b');
    await clock.advance(MINUTE);
    await settled;
    expect(presented()).toEqual(['rt-1', 'rt-1b']);
  });

  it('honours a two-digit Retry-After, even when the network comes back', async () => {
    answers = [() => unavailable({ 'retry-after': '30' }), () => rotated()];
    const settled = refreshUntilSettled(context(), hooks);
    await clock.advance(10);
    expect(failures).toEqual([['TransientRefreshError', 1, 30_000]]);
    network.goOnline();
    await clock.advance(30_000 - 11);
    expect(grants).toHaveLength(1);
    await clock.advance(1);
    await expect(settled).resolves.toMatchObject({ kind: 'refreshed' });
    expect(grants).toHaveLength(2);
  });

  it('ends a Retry-After wait when another context changes the store', async () => {
    answers = [() => unavailable({ 'retry-after': '30' })];
    const resolved = options();
    const settled = refreshUntilSettled(context(resolved), hooks);
    await clock.advance(10);
    await otherContext(resolved).save(tokens('rt-theirs'));
    await clock.advance(0);
    await expect(settled).resolves.toMatchObject({ kind: 'refreshed', source: 'otherContext' });
    expect(clock.now()).toBe(NOW + 10);
  });

  it('ends a backoff when the network comes back', async () => {
    answers = [() => unavailable(), () => rotated()];
    const settled = refreshUntilSettled(context(options({ backoff: { initialDelay: MINUTE } })), hooks);
    await clock.advance(10);
    network.goOnline();
    await clock.advance(0);
    await expect(settled).resolves.toMatchObject({ kind: 'refreshed', source: 'refresh' });
    expect(clock.now()).toBe(NOW + 10);
  });

  it('ends a backoff when another context changes the store', async () => {
    answers = [() => unavailable()];
    const resolved = options({ backoff: { initialDelay: MINUTE } });
    const settled = refreshUntilSettled(context(resolved), hooks);
    await clock.advance(10);
    await otherContext(resolved).save(tokens('rt-theirs'));
    await clock.advance(0);
    await expect(settled).resolves.toMatchObject({ kind: 'refreshed', source: 'otherContext' });
  });

  it("waits for another context's re-authentication, then tries again", async () => {
    const resolved = options();
    const dead = tokens('rt-1');
    await otherContext(resolved).save({ ...dead, refreshRejectedAt: NOW });
    current = dead;
    const ctx = context(resolved);
    ctx.storage.followed();
    const settled = refreshUntilSettled(ctx, hooks);
    await clock.advance(REAUTH_HANDOFF_MS - 1);
    expect(waitingForOtherContext).toBe(1);
    expect(failures).toEqual([]);
    await clock.advance(1);
    // Its re-authentication never came: this context re-authenticates itself.
    await expect(settled).resolves.toEqual({ kind: 'reauth', reason: 'refreshRejected' });
    expect(waitingForOtherContext).toBe(1);
  });

  it("adopts another context's re-authentication as soon as the store changes", async () => {
    const resolved = options();
    const dead = tokens('rt-1');
    const other = otherContext(resolved);
    await other.save({ ...dead, refreshRejectedAt: NOW });
    current = dead;
    const ctx = context(resolved);
    ctx.storage.followed();
    const settled = refreshUntilSettled(ctx, hooks);
    await clock.advance(MINUTE);
    await other.save(tokens('rt-reauthenticated'));
    await clock.advance(0);
    await expect(settled).resolves.toMatchObject({
      kind: 'refreshed',
      source: 'otherContext',
      tokens: { refreshToken: 'rt-reauthenticated' },
    });
    expect(grants).toHaveLength(0);
  });

  it('settles undefined, not as a failure, when the session ends during the grant', async () => {
    answers = [() => new Promise<Response>(() => {})];
    const settled = refreshUntilSettled(context(), hooks);
    await clock.advance(10);
    controller.abort(new Error('signed out'));
    await expect(settled).resolves.toBeUndefined();
    expect(failures).toEqual([]);
    expect(log.lines).toEqual([]);
  });

  it('settles undefined when the session ends during a backoff', async () => {
    answers = [() => unavailable()];
    const settled = refreshUntilSettled(context(), hooks);
    await clock.advance(10);
    controller.abort(new Error('signed out'));
    await expect(settled).resolves.toBeUndefined();
    expect(grants).toHaveLength(1);
  });
});
