/**
 * Re-authentication: the device-key exchange and the sign-in prompt, their transient failures, and prompts across tabs.
 */
import { describe, expect, it, vi } from 'vitest';
import { TokenWaitTimeoutError } from '../src/errors.ts';
import { inProcessLock, type LockPort } from '../src/ports/lock.ts';
import { MemoryTokenStore } from '../src/ports/token-store.ts';
import type { StoredSession, TokenResponse } from '../src/types.ts';
import { API } from './helpers/fake-auth-server.ts';
import { captureLogs, recordEvents, settle, useFakeAuth } from './helpers/setup.ts';

const ctx = useFakeAuth();
const MINUTE = 60_000;

/** The shared in-process lock, recording which names are held shared and asked about. */
function recordingLock() {
  const inner = inProcessLock();
  const held: string[] = [];
  const asked: string[] = [];
  const lock: LockPort = {
    run: (name, task) => inner.run(name, task),
    holdShared(name, until) {
      held.push(name);
      inner.holdShared!(name, until);
    },
    isHeld(name) {
      asked.push(name);
      return inner.isHeld!(name);
    },
  };
  return { lock, held, asked };
}

/**
 * The store then holds a session whose refresh token the server rejected a moment ago, left by
 * a context that is gone (its manager disposed while it prompted).
 */
async function deadSessionStored(): Promise<void> {
  const gone = ctx.manager({ signInPrompt: () => new Promise<null>(() => {}) });
  await gone.setTokens(ctx.server.issue());
  ctx.server.revokeAll();
  void gone.refresh().catch(() => {});
  await ctx.clock.advance(0);
  expect((ctx.store.load() as StoredSession).refreshRejectedAt).toBeDefined();
  gone.dispose();
}

describe('re-authentication', () => {
  it('a garbled answer to the device-key exchange is retried, not a password prompt or a sign-out', async () => {
    const signInPrompt = vi.fn(async () => null);
    const session = ctx.manager({
      biometric: { isAvailable: async () => true, getAssertion: async () => 'good-assertion' },
      signInPrompt,
    });
    await session.setTokens(ctx.server.issue());
    ctx.server.revokeAll();
    ctx.server.faults = ['invalid_grant', 'malformed']; // a proxy garbles the jwt-bearer answer once
    const events = recordEvents(session);
    const refreshed = session.refresh().catch((error: unknown) => error);
    await ctx.clock.advance(5000);
    await refreshed;
    expect(events.types()).not.toContain('signedOut');
    expect(signInPrompt).not.toHaveBeenCalled();
    expect(session.state).toBe('active');
  });

  it('a device-key exchange that keeps answering an unusable 2xx falls through to the sign-in prompt', async () => {
    const getAssertion = vi.fn(async () => 'good-assertion');
    const signInPrompt = vi.fn(async () => ctx.server.issue());
    const session = ctx.manager({ biometric: { isAvailable: async () => true, getAssertion }, signInPrompt });
    await session.setTokens(ctx.server.issue());
    ctx.server.revokeAll();
    // e.g. the server answers the jwt-bearer grant with token_type "DPoP" / a bad expires_in: every time
    ctx.server.faults = ['invalid_grant', ...Array.from({ length: 100 }, () => 'malformed' as const)];
    void session.refresh().catch(() => {});
    await ctx.clock.advance(10 * MINUTE);
    expect(getAssertion.mock.calls.length).toBeLessThanOrEqual(3); // Face ID shown again and again
    expect(signInPrompt).toHaveBeenCalled();
  });

  it('restore() on a manager that is itself prompting does not wait for the lock of its own prompt', async () => {
    const signals: AbortSignal[] = [];
    const session = ctx.manager({
      signInPrompt: (_reason, { signal }) => {
        signals.push(signal);
        return new Promise(() => {});
      },
    });
    await session.setTokens(ctx.server.issue());
    ctx.server.revokeAll();
    void session.refresh().catch(() => {});
    await ctx.clock.advance(0);
    expect(signals).toHaveLength(1);
    void session.restore(); // e.g. the app calls restore() again on resume
    await ctx.clock.advance(1000);
    expect(signals.filter((s) => !s.aborted)).toHaveLength(1); // a prompt is open
  });

  it('a captive portal answering the device-key exchange twice does not sign a biometric-only app out', async () => {
    let portal = 2;
    const fetchFn: typeof fetch = async (input, init) => {
      if (String(init?.body ?? '').includes('jwt-bearer') && portal-- > 0) {
        return new Response('<html>Hotel Wi-Fi: accept the terms</html>', {
          status: 200,
          headers: { 'content-type': 'text/html' },
        });
      }
      return fetch(input, init);
    };
    const session = ctx.manager({
      biometric: { isAvailable: async () => true, getAssertion: async () => 'good-assertion' },
      fetch: fetchFn,
    });
    const events = recordEvents(session);
    await session.setTokens(ctx.server.issue());
    ctx.server.revokeAll();
    void session.refresh().catch(() => {});
    await ctx.clock.advance(5 * MINUTE);
    expect(events.types()).not.toContain('signedOut');
    expect(session.state).toBe('active');
  });

  it('with a sign-in prompt, the same captive portal does not make it ask for the password', async () => {
    let portal = 2;
    const fetchFn: typeof fetch = async (input, init) => {
      if (String(init?.body ?? '').includes('jwt-bearer') && portal-- > 0) {
        return new Response('<html>Hotel Wi-Fi</html>', { status: 200, headers: { 'content-type': 'text/html' } });
      }
      return fetch(input, init);
    };
    const signInPrompt = vi.fn(async () => null);
    const session = ctx.manager({
      biometric: { isAvailable: async () => true, getAssertion: async () => 'good-assertion' },
      signInPrompt,
      fetch: fetchFn,
    });
    await session.setTokens(ctx.server.issue());
    ctx.server.revokeAll();
    void session.refresh().catch(() => {});
    await ctx.clock.advance(5 * MINUTE);
    expect(signInPrompt).not.toHaveBeenCalled();
  });

  it('a tab opened while another shows its prompt waits for that prompt instead of showing a second', async () => {
    const prompts: string[] = [];
    let answerA: (response: TokenResponse | null) => void = () => {};
    const a = ctx.manager({
      signInPrompt: () => {
        prompts.push('a');
        return new Promise((resolve) => (answerA = resolve));
      },
    });
    await a.setTokens(ctx.server.issue());
    ctx.server.revokeAll();
    void a.refresh().catch(() => {});
    await ctx.clock.advance(0); // A: invalid_grant, marked dead in the store, prompt open
    const b = ctx.manager({ signInPrompt: async () => (prompts.push('b'), ctx.server.issue()) });
    const restoring = b.restore(); // the user opens a second tab; A is alive and prompting
    await ctx.clock.advance(1000);
    expect(prompts).toEqual(['a']);
    expect(b.state).toBe('reauthenticating');
    answerA(ctx.server.issue());
    await ctx.clock.advance(0);
    expect(await restoring).toBe('active');
    expect(prompts).toEqual(['a']);
    expect(await b.getAccessToken()).toBe(await a.getAccessToken());
  });

  it('a tab showing its own prompt follows a sign-out in another tab and closes the prompt', async () => {
    const signals: AbortSignal[] = [];
    const prompt = (_reason: unknown, { signal }: { signal: AbortSignal }) => {
      signals.push(signal);
      return new Promise<TokenResponse | null>(() => {});
    };
    const a = ctx.manager({ signInPrompt: prompt });
    const b = ctx.manager({ signInPrompt: prompt });
    await a.setTokens(ctx.server.issue());
    await b.restore();
    ctx.server.revokeAll();
    ctx.server.expireAccessTokens();
    void a
      .createClient({ prefix: API })
      .get('items')
      .catch(() => {});
    await ctx.clock.advance(0); // A: invalid_grant, prompt open
    const waiting = b
      .createClient({ prefix: API })
      .get('items')
      .catch((error: unknown) => error);
    await ctx.clock.advance(2 * MINUTE + 1); // B stops waiting for A and opens its own prompt
    expect(signals).toHaveLength(2);
    await a.signOut(); // the user chose "sign out" in A
    await ctx.clock.advance(0);
    expect([a.state, b.state]).toEqual(['signedOut', 'signedOut']);
    expect(signals[1]?.aborted).toBe(true);
    expect(await waiting).toMatchObject({ name: 'SessionExpiredError' });
  });
});
describe('re-authentication and the lock', () => {
  it('a restored session found dead, with no context prompting, prompts at once for refreshRejected', async () => {
    await deadSessionStored();
    const reasons: string[] = [];
    const session = ctx.manager({ signInPrompt: async (reason) => (reasons.push(reason), ctx.server.issue()) });
    expect(await session.restore()).toBe('active');
    expect(reasons).toEqual(['refreshRejected']);
  });

  it('the prompting context holds the shared lock <lockName>:reauth, which a restore asks about', async () => {
    const { lock, held, asked } = recordingLock();
    await deadSessionStored();
    const session = ctx.manager({ lock, lockName: 'app-lock', signInPrompt: async () => ctx.server.issue() });
    expect(await session.restore()).toBe('active');
    expect(asked).toEqual(['app-lock:reauth']);
    expect(held).toEqual(['app-lock:reauth']);
  });

  it('restoring a live session asks the lock nothing about prompts', async () => {
    const { lock, asked } = recordingLock();
    await ctx.manager().setTokens(ctx.server.issue());
    expect(await ctx.manager({ lock }).restore()).toBe('active');
    expect(asked).toEqual([]);
  });

  it('with a lock that can neither hold shared nor tell, a restored dead session prompts at once and signs in', async () => {
    await deadSessionStored();
    const { run } = inProcessLock();
    const signInPrompt = vi.fn(async () => ctx.server.issue());
    const session = ctx.manager({ lock: { run }, signInPrompt });
    expect(await session.restore()).toBe('active');
    expect(signInPrompt).toHaveBeenCalledOnce();
  });

  it('with a lock whose isHeld fails, a restored dead session prompts at once', async () => {
    await deadSessionStored();
    const inner = inProcessLock();
    const lock: LockPort = {
      run: (name, task) => inner.run(name, task),
      isHeld: () => Promise.reject(new Error('lock manager gone')),
    };
    const signInPrompt = vi.fn(async () => ctx.server.issue());
    expect(await ctx.manager({ lock, signInPrompt }).restore()).toBe('active');
    expect(signInPrompt).toHaveBeenCalledOnce();
  });

  it('a lock whose holdShared throws is reported as a failed session task', async () => {
    const { lines, logger } = captureLogs();
    const inner = inProcessLock();
    const lock: LockPort = {
      run: (name, task) => inner.run(name, task),
      holdShared: () => {
        throw new Error('lock manager gone');
      },
    };
    const session = ctx.manager({ lock, logger, signInPrompt: () => new Promise<null>(() => {}) });
    await session.setTokens(ctx.server.issue());
    ctx.server.revokeAll();
    void session.refresh().catch(() => {});
    await ctx.clock.advance(0);
    const at = lines.indexOf('session task failed');
    expect(lines[at + 1]).toEqual({ error: 'Error: lock manager gone' });
  });
});

describe('a prompt overtaken by the app', () => {
  it('restore() while prompting, finding another dead session stored, prompts for that one at once', async () => {
    const signals: AbortSignal[] = [];
    const session = ctx.manager({
      signInPrompt: (_reason, { signal }) => {
        signals.push(signal);
        return signals.length === 1 ? new Promise<null>(() => {}) : Promise.resolve(ctx.server.issue());
      },
    });
    const first = ctx.server.issue();
    await session.setTokens(first);
    ctx.server.revokeAll();
    void session.refresh().catch(() => {});
    await ctx.clock.advance(0); // invalid_grant: this manager prompts
    expect(signals).toHaveLength(1);
    // Another context stored a session of its own, found dead a moment ago (no usable access token).
    const stored = ctx.store.load() as StoredSession;
    ctx.store.save({ ...stored, refreshToken: 'rt-other', accessToken: undefined, refreshRejectedAt: ctx.clock.now() });
    await ctx.clock.advance(0);
    expect(await session.restore()).toBe('active');
    expect(signals).toHaveLength(2);
    expect(signals[0]!.aborted).toBe(true);
    // The restore continued this session (opaque tokens: same owner): the first token's requests may retry.
    expect(() => session.assertSameSession(first.access_token)).not.toThrow();
  });

  it('refresh() during the prompt resolves once the prompt signed the user in', async () => {
    let answer: (response: TokenResponse) => void = () => {};
    const session = ctx.manager({ signInPrompt: () => new Promise((resolve) => (answer = resolve)) });
    await session.setTokens(ctx.server.issue());
    ctx.server.revokeAll();
    void session.refresh().catch(() => {});
    await ctx.clock.advance(0); // prompting
    let settled = false;
    const again = session.refresh().finally(() => (settled = true));
    await ctx.clock.advance(1000);
    expect(settled).toBe(false);
    answer(ctx.server.issue());
    await again;
    expect(session.state).toBe('active');
  });

  it("a sign-in while the prompt is open wins over the prompt's dismissal", async () => {
    const session = ctx.manager({
      // A prompt that closes when its signal aborts, answering "dismissed".
      signInPrompt: (_reason, { signal }) =>
        new Promise((resolve) => signal.addEventListener('abort', () => resolve(null), { once: true })),
    });
    await session.setTokens(ctx.server.issue());
    ctx.server.revokeAll();
    void session.refresh().catch(() => {});
    await ctx.clock.advance(0); // prompting
    const events = recordEvents(session);
    await session.setTokens(ctx.server.issue()); // the user signed in another way (a deep link)
    await ctx.clock.advance(0);
    expect(session.state).toBe('active');
    expect(events.types()).not.toContain('signedOut');
  });

  it('a sign-out while the re-authenticated session is being saved stays signed out', async () => {
    const memory = new MemoryTokenStore();
    const held: (() => void)[] = [];
    let holding = false;
    const store = {
      load: () => memory.load(),
      save: (session: StoredSession) =>
        holding
          ? new Promise<void>((resolve) => held.push(() => (memory.save(session), resolve())))
          : memory.save(session),
      clear: () => memory.clear(),
    };
    const session = ctx.manager({
      store,
      signInPrompt: async () => ((holding = true), ctx.server.issue()), // its save is slow
    });
    await session.setTokens(ctx.server.issue());
    ctx.server.revokeAll();
    void session.refresh().catch(() => {});
    await ctx.clock.advance(0);
    expect(held).toHaveLength(1); // the prompt's tokens are being saved
    const signOut = session.signOut();
    held.splice(0).forEach((save) => save());
    await signOut;
    await ctx.clock.advance(0);
    expect(session.state).toBe('signedOut');
    expect(memory.load()).toBeNull();
  });
});

describe('transient failures during re-authentication and proactive refresh', () => {
  it('a network error on the biometric exchange keeps the session and retries, never signs out', async () => {
    const session = ctx.manager({
      biometric: { isAvailable: async () => true, getAssertion: async () => 'good-assertion' },
    });
    await session.setTokens(ctx.server.issue());
    ctx.server.revokeAll();
    ctx.server.faults = ['invalid_grant', 'network'];
    const events = recordEvents(session);
    const refreshed = session.refresh();
    await ctx.clock.advance(5000);
    await refreshed;
    expect(session.state).toBe('active');
    expect(events.types()).not.toContain('signedOut');
    expect(ctx.server.assertionCalls).toBe(2);
    expect(events.log.filter((entry) => entry.type === 'refreshFailed')).toEqual([
      { type: 'refreshFailed', event: { error: expect.any(Error), attempt: 1, retryInMs: expect.any(Number) } },
    ]);
  });

  it('a request issued while a proactive refresh is in flight waits and gets the new token', async () => {
    const session = ctx.manager();
    const issued = ctx.server.issue();
    await session.setTokens(issued);
    let answer = () => {};
    ctx.server.faults = [{ defer: new Promise<void>((resolve) => (answer = resolve)) }];
    await ctx.clock.advance(55 * MINUTE); // the proactive refresh starts; its answer is pending
    expect(session.state).toBe('refreshing');
    let token: string | undefined;
    const waiting = session.getAccessToken().then((t) => (token = t));
    await ctx.clock.advance(0);
    expect(token).toBeUndefined();
    answer();
    await waiting;
    expect(token).not.toBe(issued.access_token);
    expect(token).toBe(await session.getAccessToken());
  });

  it('while a proactive refresh keeps failing, requests go out with the still-valid token', async () => {
    const session = ctx.manager({ tokenWaitTimeout: 10_000 });
    await session.setTokens(ctx.server.issue());
    ctx.server.faults = Array.from({ length: 50 }, () => ({ status: 503 }));
    await ctx.clock.advance(56 * MINUTE); // inside the margin: refreshing, failing
    expect(session.state).toBe('refreshing');
    const api = session.createClient({ prefix: API });
    const results = await settle([api.get('items').json(), api.get('items').json()]);
    expect(results.fulfilled).toBe(2);
    ctx.clock.set(ctx.clock.now() + 5 * MINUTE); // now expired: requests must wait
    const waiting = expect(api.get('items').json()).rejects.toBeInstanceOf(TokenWaitTimeoutError);
    await ctx.clock.advance(10_000);
    await waiting;
  });
});
