/**
 * The setup shared by the unit tests of the refresher and of re-authentication: msw plays the
 * token and revocation endpoints, the clock and the network are manual, the logger records.
 * Call {@link useTokenEndpoint} once at the top of a test file; the `let` exports are fresh in
 * every test (read them, never assign them: use {@link answer} and {@link whileGranting}).
 */
import { http, HttpResponse } from 'msw';
import { beforeEach, vi } from 'vitest';
import type { DpopPort } from '../../src/dpop/types.ts';
import { resolveOptions, type ResolvedOptions, type SessionManagerOptions } from '../../src/options.ts';
import type { BiometricProvider } from '../../src/ports/biometric.ts';
import { inProcessLock } from '../../src/ports/lock.ts';
import { MemoryTokenStore } from '../../src/ports/token-store.ts';
import { reauthenticate } from '../../src/refresh/reauth.ts';
import type { RefreshContext, RefreshHooks } from '../../src/refresh/refresher.ts';
import { createSessionStorage, type SessionStorage } from '../../src/session/storage.ts';
import { parseTokenResponse } from '../../src/token-set.ts';
import { ManualClock, ManualNetwork } from '../../src/testing.ts';
import type { SessionTokens, TokenResponse } from '../../src/types.ts';
import { NOW, recordingLogger, unsignedJwt } from './builders.ts';
import { seen, useMsw, type SeenRequest } from './msw.ts';

export const TOKEN_URL = 'https://auth.test/oauth/token';
export const REVOKE_URL = 'https://auth.test/oauth/revoke';
export const MINUTE = 60_000;

type Answer = () => Response | Promise<Response>;

export let clock: ManualClock;
export let network: ManualNetwork;
export let log: ReturnType<typeof recordingLogger>;
export let store: MemoryTokenStore;
/** What the token endpoint was sent, in order. */
export let grants: SeenRequest[];
/** What the revocation endpoint was sent, in order. */
export let revocations: SeenRequest[];
/** The session's signal (`controller.abort()` ends the session). */
export let controller: AbortController;
let answers: Answer[];
let duringGrant: (() => void | Promise<void>) | undefined;

/** The token endpoint answers these, in turn; the last one again once the list runs out. */
export function answer(...next: Answer[]): void {
  answers = next;
}

/** Runs `action` while each grant is at the server, before it answers (another context acts then). */
export function whileGranting(action: () => void | Promise<void>): void {
  duringGrant = action;
}

export const access = (name: string) => unsignedJwt({ sub: 'alice', jti: name });

/** A rotation to `refreshToken`, its access token named after it. */
export const rotated = (refreshToken = 'rt-2', extra: Record<string, unknown> = {}) =>
  HttpResponse.json({
    access_token: access(refreshToken),
    token_type: 'Bearer',
    expires_in: 3600,
    refresh_token: refreshToken,
    ...extra,
  });

export const unavailable = (
  headers: Record<string, string> = {},
  body: Record<string, string> = { error: 'temporarily_unavailable' },
) => HttpResponse.json(body, { status: 503, headers });

export const invalidGrant = () => HttpResponse.json({ error: 'invalid_grant' }, { status: 400 });

export function useTokenEndpoint(): void {
  const server = useMsw();
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
        const next = answers.length > 1 ? answers.shift()! : answers[0]!;
        return next();
      }),
      http.post(REVOKE_URL, async ({ request }) => {
        revocations.push(await seen(request));
        return new HttpResponse(null, { status: 200 });
      }),
    );
  });
}

export function options(overrides: Partial<SessionManagerOptions> = {}): ResolvedOptions {
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

/** A DPoP port that signs nothing for real: the token endpoint here checks no proof. */
export const fakeDpop: DpopPort = {
  proof: async () => 'dpop-proof',
  observe: () => {},
  isNonceChallenge: () => false,
  send: async () => new Response(),
  forgetKey: async () => {},
};

/** {@link options} with DPoP on, through a handle bound to {@link fakeDpop}. */
export const withDpop = (overrides: Partial<SessionManagerOptions> = {}) =>
  options({ dpop: { bind: () => fakeDpop } as unknown as SessionManagerOptions['dpop'], ...overrides });

/** A token set as a grant answer makes it, at `clock.now()`. */
export function tokens(refreshToken: string | undefined, extra: Partial<SessionTokens> = {}): SessionTokens {
  return {
    ...parseTokenResponse(
      { access_token: access(refreshToken ?? 'none'), expires_in: 3600, refresh_token: refreshToken },
      clock.now(),
    ),
    ...extra,
  };
}

/** The refresher's view of a session on `resolved`, on the test's signal. */
export function context(resolved = options(), extra: Partial<RefreshContext> = {}): RefreshContext {
  return {
    options: resolved,
    storage: createSessionStorage(resolved),
    rejectedAccessToken: undefined,
    signal: controller.signal,
    ...extra,
  };
}

/**
 * Hooks for `refreshUntilSettled` that record what the loop reports, fresh in every test. The
 * loop reads `loop.current` as the session's tokens (`rt-1` at first; a test may replace it).
 */
export function useLoopHooks(): {
  current: SessionTokens | null;
  failures: [string, number, number][];
  waitingForOtherContext: number;
  hooks: RefreshHooks;
} {
  const loop: ReturnType<typeof useLoopHooks> = {
    current: null,
    failures: [],
    waitingForOtherContext: 0,
    hooks: {
      current: () => loop.current,
      failed: (error, attempt, retryInMs) => void loop.failures.push([error.name, attempt, retryInMs]),
      waitingForOtherContext: () => void loop.waitingForOtherContext++,
    },
  };
  beforeEach(() => {
    loop.current = tokens('rt-1');
    loop.failures = [];
    loop.waitingForOtherContext = 0;
  });
  return loop;
}

/** Another context sharing the store (same lock, its own storage). */
export const otherContext = (resolved: ResolvedOptions) => createSessionStorage(resolved);

export const form = (request: SeenRequest) => Object.fromEntries(new URLSearchParams(request.body));

/** The refresh tokens the grants presented, in order. */
export const presented = () => grants.map((request) => form(request).refresh_token);

/** The stored tokens, or `'empty'` / `'garbled'`. */
export const stored = async (storage: SessionStorage) => {
  const loaded = await storage.load();
  return loaded.kind === 'ok' ? loaded.tokens : loaded.kind;
};

export const rejection = (promise: Promise<unknown>) =>
  promise.then(
    () => {
      throw new Error('expected a rejection');
    },
    (error: unknown) => error,
  );

/** The sign-in the re-authentication tests expect from either step. */
export const ACCESS = unsignedJwt({ sub: 'alice' });
export const GRANTED: TokenResponse = {
  access_token: ACCESS,
  token_type: 'Bearer',
  expires_in: 3600,
  refresh_token: 'rt-2',
};
export const granted = () => HttpResponse.json(GRANTED);

/** A biometric provider that is available and passes the assertion `assertion` (null: the user cancels). */
export function biometric(assertion: string | null = 'device-assertion'): BiometricProvider & {
  isAvailable: ReturnType<typeof vi.fn>;
  getAssertion: ReturnType<typeof vi.fn>;
} {
  return { isAvailable: vi.fn(async () => true), getAssertion: vi.fn(async () => assertion) };
}

/** A signal that never aborts. */
export const signal = () => new AbortController().signal;

/** Re-authentication (one pass of the chain) after alice's refresh token was rejected. */
export const reauthAlice = (resolved: ResolvedOptions, sessionSignal = signal()) =>
  reauthenticate(resolved, 'refreshRejected', 'alice', sessionSignal);
