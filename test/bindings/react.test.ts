// @vitest-environment happy-dom
/**
 * A small React component over `useSyncExternalStore(session.subscribe, session.getSnapshot)`,
 * rendered with react-dom: it shows the session's state and updates on a refresh, through a
 * re-authentication at the sign-in prompt, and on sign-out. No network: the grant is the
 * app's own `refreshTokens` (the bindings only read the session).
 */
import { act, createElement, useSyncExternalStore } from 'react';
import { createRoot, type Root } from 'react-dom/client';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { RefreshRejectedError } from '../../src/errors.ts';
import { SessionManager } from '../../src/index.ts';
import { MemoryTokenStore } from '../../src/ports/token-store.ts';
import { inProcessLock } from '../../src/ports/lock.ts';
import { ManualClock, ManualLifecycle, ManualNetwork } from '../../src/testing.ts';
import type { TokenResponse } from '../../src/types.ts';

(globalThis as { IS_REACT_ACT_ENVIRONMENT?: boolean }).IS_REACT_ACT_ENVIRONMENT = true;

/** The component an app would write. */
function SessionBadge({ session }: { session: SessionManager }) {
  const { state, info } = useSyncExternalStore(session.subscribe, session.getSnapshot);
  renders++;
  return createElement(
    'p',
    { id: 'badge' },
    state === 'signedOut' ? 'signed out' : `${state}, token until ${info?.accessTokenExpiresAt ?? 'unknown'}`,
  );
}

let renders = 0;
let root: Root;
let container: HTMLElement;
let clock: ManualClock;
let issued = 0;
/** A token response that lives `seconds` from now on the manual clock. */
const tokens = (seconds: number): TokenResponse => ({
  access_token: `at-${++issued}`,
  expires_in: seconds,
  refresh_token: `rt-${issued}`,
});
const text = () => container.querySelector('#badge')?.textContent;

function manager(options: Partial<ConstructorParameters<typeof SessionManager>[0]>) {
  return new SessionManager({
    tokenEndpoint: 'https://auth.test/oauth/token',
    clientId: 'react-app',
    store: new MemoryTokenStore(),
    clock,
    lock: inProcessLock(),
    lifecycle: new ManualLifecycle(),
    network: new ManualNetwork(),
    broadcast: false,
    ...options,
  });
}

beforeEach(() => {
  renders = 0;
  clock = new ManualClock();
  container = document.createElement('div');
  document.body.append(container);
  root = createRoot(container);
});
afterEach(() => {
  act(() => root.unmount());
  container.remove();
});

describe('a React component on useSyncExternalStore(session.subscribe, session.getSnapshot)', () => {
  it('updates on refresh, through re-authentication at the prompt, and on sign-out', async () => {
    let answerPrompt!: (response: TokenResponse | null) => void;
    let refreshIsDead = false;
    const session = manager({
      refreshTokens: async () => {
        if (refreshIsDead) throw new RefreshRejectedError('invalid_grant', 400);
        return tokens(600);
      },
      signInPrompt: () => new Promise((resolve) => (answerPrompt = resolve)),
    });
    await session.setTokens(tokens(300));
    await act(async () => root.render(createElement(SessionBadge, { session })));
    expect(text()).toBe(`active, token until ${clock.now() + 300_000}`);

    // Re-rendering with nothing changed reads the same snapshot: React bails out of nothing.
    const rendersBefore = renders;
    await act(async () => root.render(createElement(SessionBadge, { session })));
    expect(renders).toBe(rendersBefore + 1);
    expect(text()).toBe(`active, token until ${clock.now() + 300_000}`);

    // A refresh: a new token set, a new expiry on screen.
    await act(() => session.refresh());
    expect(text()).toBe(`active, token until ${clock.now() + 600_000}`);

    // The refresh token dies: the prompt shows; the user signs in again.
    refreshIsDead = true;
    await act(async () => {
      void session.refresh().catch(() => {});
      await clock.advance(0);
    });
    expect(text()).toMatch(/^reauthenticating, /);
    await act(async () => {
      answerPrompt(tokens(900));
      await clock.advance(0);
    });
    expect(text()).toBe(`active, token until ${clock.now() + 900_000}`);

    // Sign-out.
    await act(() => session.signOut());
    expect(text()).toBe('signed out');
    session.dispose();
  });
});
