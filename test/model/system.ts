/**
 * The system under test of the model-based suite: two session managers (two contexts: tabs,
 * or an app and its extension) sharing one MemoryTokenStore and one in-process lock, on one
 * manual clock, against the in-memory OAuth server. It records everything the invariants
 * need: every request with the faults it lived through, every sign-out and whether it was
 * allowed, and the violations found.
 */
import type { KyInstance } from 'ky';
import { HTTPError, NetworkError } from 'ky';
import { SessionExpiredError, TokenWaitTimeoutError } from '../../src/errors.ts';
import { SessionManager } from '../../src/index.ts';
import { inProcessLock, type LockPort } from '../../src/ports/lock.ts';
import { MemoryTokenStore } from '../../src/ports/token-store.ts';
import { ManualClock, ManualLifecycle, ManualNetwork, flushMicrotasks } from '../../src/testing.ts';
import { publicState, TRANSITIONS, type Phase, type SessionRecord } from '../../src/session/state.ts';
import type { SessionState, SessionTokens, StoredSession } from '../../src/types.ts';
import { API_URL, FakeOAuthServer, TOKEN_URL } from './fake-oauth.ts';

export const ACCESS_TTL_SECONDS = 600;

/**
 * Every change of the public state the transition table allows: for each row `p -> q` of
 * `TRANSITIONS`, the public states `p` and `q` can show (a phase whose public state depends on
 * whether it holds tokens counts both ways).
 */
export const ALLOWED_STATE_CHANGES: ReadonlySet<string> = (() => {
  const shown = (phase: Phase) =>
    new Set([null, {} as SessionTokens].map((tokens) => publicState({ phase, tokens } as SessionRecord)));
  const allowed = new Set<string>();
  for (const [from, row] of Object.entries(TRANSITIONS) as [Phase, Partial<Record<string, Phase>>][]) {
    for (const to of Object.values(row)) {
      for (const a of shown(from)) for (const b of shown(to!)) if (a !== b) allowed.add(`${a}->${b}`);
    }
  }
  return allowed;
})();
/** The SDK's default margin (5 minutes) is half this lifetime: due every 300 s. */
export const REFRESH_INTERVAL_MS = (ACCESS_TTL_SECONDS * 1000) / 2;

/** One request issued by a command, followed until it settles. */
export interface TrackedRequest {
  id: number;
  context: number;
  settled: boolean;
  outcome?: 'ok' | Error;
  /** The network was down, or the token endpoint faulted, at some point of its life. */
  sawTransientFault: boolean;
  /** Its context was signed out at some point of its life (or at its start). */
  sawSignOut: boolean;
  /** Access tokens were invalidated server-side during its life (a second 401 is then legitimate). */
  sawInvalidation: boolean;
}

export interface Context {
  index: number;
  manager: SessionManager;
  client: KyInstance;
  lifecycle: ManualLifecycle;
  /** Sign-outs seen on this context: reason and whether the invariants allowed it. */
  signOuts: { reason: string; allowed: boolean }[];
}

export class ModelSystem {
  readonly clock = new ManualClock();
  readonly server = new FakeOAuthServer(this.clock, ACCESS_TTL_SECONDS);
  readonly store = new MemoryTokenStore();
  readonly lock: LockPort = inProcessLock();
  readonly network = new ManualNetwork();
  readonly contexts: Context[] = [];
  readonly requests: TrackedRequest[] = [];
  readonly violations: string[] = [];
  /** What the app's sign-in prompt answers: new tokens, or the user gives up. */
  promptSucceeds = true;
  promptCalls = 0;
  /** The refresh tokens were revoked and no re-authentication has succeeded since. */
  revoked = false;
  /** A sign-out was legitimately caused (every re-auth path failed after a revocation). */
  legitimateSignOut = false;
  /**
   * The latest refresh outcome across both contexts. While it is a failure, the SDK is in
   * backoff (possibly told by Retry-After to wait longer than a request's own timeout).
   */
  lastRefreshFailed = false;
  /** Token endpoint attempts, counted before the network (a storm shows here). */
  tokenAttempts = 0;
  #nextRequestId = 1;

  readonly #fetch: typeof globalThis.fetch = (input, init) => {
    const url = input instanceof Request ? input.url : String(input);
    if (url === TOKEN_URL) this.tokenAttempts++;
    return this.server.fetch(input, init);
  };

  /** Every public state change seen, `from->to`, with how often. */
  readonly stateChanges = new Map<string, number>();
  /** The backoff jitter of every manager (seeded by the run, so a failure replays exactly). */
  readonly #random: () => number;

  constructor(random: () => number) {
    this.#random = random;
    this.contexts.push(this.#createContext(0), this.#createContext(1));
  }

  #createContext(index: number): Context {
    const lifecycle = new ManualLifecycle();
    const manager = new SessionManager({
      tokenEndpoint: TOKEN_URL,
      clientId: 'model-app',
      store: this.store,
      clock: this.clock,
      lock: this.lock,
      lockName: 'model',
      lifecycle,
      network: this.network,
      fetch: this.#fetch,
      random: this.#random,
      signInPrompt: async () => {
        this.promptCalls++;
        // The user gave up after a revocation: the sign-outs that follow (here and, through the
        // store, in the other context, in whichever order they land) are legitimate.
        if (!this.promptSucceeds && this.revoked) this.legitimateSignOut = true;
        return this.promptSucceeds ? this.server.login() : null;
      },
    });
    // retry: 0 keeps ky's own retries (on real timers) out of the model; the SDK still gets
    // its one forced retry after a 401.
    const client = manager.createClient({ prefix: API_URL, fetch: this.#fetch, retry: 0 });
    const context: Context = { index, manager, client, lifecycle, signOuts: [] };
    manager.on('signedOut', ({ reason }) => {
      const allowed =
        reason === 'reauthFailed'
          ? this.revoked && !this.promptSucceeds
          : reason === 'otherContext'
            ? this.legitimateSignOut
            : false;
      if (reason === 'reauthFailed' && allowed) this.legitimateSignOut = true;
      context.signOuts.push({ reason, allowed });
      if (!allowed) {
        this.violations.push(`context ${index} signed out (${reason}) while only transient faults happened`);
      }
      for (const request of this.requests) if (!request.settled && request.context === index) request.sawSignOut = true;
    });
    manager.on('reauthenticated', () => {
      this.revoked = false;
    });
    manager.on('refreshFailed', () => {
      this.lastRefreshFailed = true;
      this.markPending('sawTransientFault');
    });
    manager.on('tokensChanged', () => {
      this.lastRefreshFailed = false;
    });
    manager.on('stateChange', ({ from, to }) => {
      const change = `${from}->${to}`;
      this.stateChanges.set(change, (this.stateChanges.get(change) ?? 0) + 1);
      if (!ALLOWED_STATE_CHANGES.has(change))
        this.violations.push(`context ${index}: ${change} is not in the transition table`);
    });
    return context;
  }

  /** Marks every request still in flight. */
  markPending(flag: 'sawTransientFault' | 'sawSignOut' | 'sawInvalidation'): void {
    for (const request of this.requests) if (!request.settled) request[flag] = true;
  }

  /** Whether a transient fault is in play right now (requests started now may fail transiently). */
  get transientFaultActive(): boolean {
    return !this.network.isOnline() || this.server.faults.length > 0 || this.lastRefreshFailed;
  }

  /** Starts `count` requests on a context; they are followed until they settle. */
  issueRequests(contextIndex: number, count: number): void {
    const context = this.contexts[contextIndex]!;
    for (let i = 0; i < count; i++) {
      const request: TrackedRequest = {
        id: this.#nextRequestId++,
        context: contextIndex,
        settled: false,
        sawTransientFault: this.transientFaultActive,
        sawSignOut: context.manager.state === 'signedOut',
        sawInvalidation: false,
      };
      this.requests.push(request);
      context.client
        .get(`items/${request.id}`)
        .json()
        .then(
          () => this.#settle(request, 'ok'),
          (error: unknown) => this.#settle(request, error instanceof Error ? error : new Error(String(error))),
        );
    }
  }

  #settle(request: TrackedRequest, outcome: 'ok' | Error): void {
    request.settled = true;
    request.outcome = outcome;
    if (outcome === 'ok') return;
    const label = `request #${request.id} (context ${request.context}) failed with ${outcome.name}: ${outcome.message}`;
    if (outcome instanceof SessionExpiredError) {
      if (!request.sawSignOut) this.violations.push(`${label}, but its session never ended`);
    } else if (outcome instanceof TokenWaitTimeoutError || outcome instanceof NetworkError) {
      if (!request.sawTransientFault) this.violations.push(`${label}, but no transient fault happened during it`);
    } else if (outcome instanceof HTTPError && outcome.response.status === 401) {
      if (!request.sawInvalidation && !request.sawSignOut) this.violations.push(`${label}: a 401 survived the refresh`);
    } else {
      this.violations.push(`${label}: not a typed error`);
    }
  }

  /** Replaces context 1 by a fresh manager on the same store, as a relaunched app would. */
  async relaunchSecondContext(): Promise<SessionState | 'busy'> {
    const old = this.contexts[1]!;
    const busy = old.manager.state === 'refreshing' || old.manager.state === 'reauthenticating';
    if (busy || this.requests.some((r) => !r.settled && r.context === 1)) return 'busy';
    old.manager.dispose();
    const context = this.#createContext(1);
    this.contexts[1] = context;
    let result: SessionState | 'busy' = 'busy';
    void context.manager.restore().then((state) => (result = state));
    await flushMicrotasks();
    return result;
  }

  stored(): StoredSession | null {
    return this.store.load();
  }

  /** The invariants of docs/ARCHITECTURE.md that hold after every step. */
  checkInvariants(step: string): void {
    const { stats } = this.server;
    if (stats.reuse > 0) this.violations.push(`${step}: a rotated refresh token was presented again (${stats.reuse}x)`);
    for (const { manager, index } of this.contexts) {
      const { state, info: session } = manager;
      if ((state === 'signedOut') !== (session === null)) {
        this.violations.push(`${step}: context ${index} is ${state} but session info is ${JSON.stringify(session)}`);
      }
    }
    const stored = this.stored();
    if (stored?.refreshToken !== undefined) {
      const serverState = this.server.refreshTokenState(stored.refreshToken);
      if (serverState === 'rotated') this.violations.push(`${step}: the store holds a retired refresh token`);
    }
    if (this.violations.length > 0) {
      throw new Error(`Invariant violated after ${step}:\n  ${this.violations.join('\n  ')}`);
    }
  }

  /**
   * Ends a run: the network comes back, faults stop, and time passes until everything
   * settled. Every request must have settled (none lost) and both contexts must agree.
   */
  async quiesce(): Promise<void> {
    this.server.faults.length = 0;
    this.server.down = false;
    if (!this.network.isOnline()) this.network.goOnline();
    // Long enough for any backoff (at most 60 s) and any request's wait timeout (30 s) to run out.
    await this.clock.advance(125_000);
    for (let i = 0; i < 5 && this.requests.some((r) => !r.settled); i++) await this.clock.advance(61_000);
    await flushMicrotasks();
    const lost = this.requests.filter((r) => !r.settled);
    if (lost.length > 0)
      this.violations.push(`${lost.length} request(s) never settled (lost): #${lost.map((r) => r.id).join(', #')}`);
    const states = this.contexts.map((c) => c.manager.state);
    for (const state of states) {
      if (state === 'refreshing' || state === 'reauthenticating') this.violations.push(`a context is stuck ${state}`);
    }
    if (states[0] !== states[1]) this.violations.push(`contexts disagree after quiescence: ${states.join(' / ')}`);
    this.checkInvariants('quiescence');
  }

  dispose(): void {
    for (const { manager } of this.contexts) manager.dispose();
  }
}
