/**
 * `session.subscribe` / `session.getSnapshot`: the pair React's `useSyncExternalStore` takes as
 * it is, and the few lines that make it Svelte's store contract and a Vue `shallowRef`.
 */
import { effect, shallowRef } from '@vue/reactivity';
import { derived, get, type Readable } from 'svelte/store';
import { describe, expect, it } from 'vitest';
import type { SessionSnapshot } from '../../src/bindings.ts';
import type { SessionManager } from '../../src/index.ts';
import { captureLogs, useFakeAuth } from '../helpers/setup.ts';

const ctx = useFakeAuth();

async function signedIn() {
  const session = ctx.manager();
  const tokens = ctx.server.issue();
  await session.setTokens(tokens);
  return { session, tokens };
}

/** Svelte's store contract (the README's lines): `subscribe(run)` calls `run` at once, then on every change. */
function svelteStore(session: SessionManager): Readable<SessionSnapshot> {
  return {
    subscribe(run) {
      run(session.getSnapshot());
      return session.subscribe(run);
    },
  };
}

describe('UI bindings', () => {
  it('getSnapshot answers the same object until something changes', async () => {
    const { session } = await signedIn();
    const first = session.getSnapshot();
    expect(session.getSnapshot()).toBe(first);
    await ctx.clock.advance(60_000); // time passes: nothing the snapshot shows changes
    expect(session.getSnapshot()).toBe(first);
    expect(first).toEqual({
      state: 'active',
      info: {
        startedAt: expect.any(Number),
        accessTokenExpiresAt: expect.any(Number),
        refreshTokenExpiresAt: undefined,
        sessionExpiresAt: undefined,
      },
    });
    expect(Object.isFrozen(first)).toBe(true);
    expect(Object.isFrozen(first.info)).toBe(true);
  });

  it('after dispose(), which silences the events, getSnapshot still shows the state', async () => {
    const { session } = await signedIn();
    expect(session.getSnapshot().state).toBe('active');
    session.dispose();
    expect(session.getSnapshot()).toEqual({ state: 'signedOut', info: null });
  });

  it('a refresh, a state change and a sign-out each make a new snapshot, announced to subscribers', async () => {
    const { session } = await signedIn();
    const seen: SessionSnapshot[] = [];
    const unsubscribe = session.subscribe((snapshot) => seen.push(snapshot));
    const before = session.getSnapshot();
    await session.refresh();
    const after = session.getSnapshot();
    expect(after).not.toBe(before);
    expect(after.state).toBe('active');
    expect(seen.map((s) => s.state)).toEqual(['refreshing', 'active', 'active']); // stateChange x2, refreshed
    expect(seen.at(-1)).toBe(after);
    await session.signOut();
    expect(session.getSnapshot()).toEqual({ state: 'signedOut', info: null });
    unsubscribe();
    await session.setTokens(ctx.server.issue());
    expect(seen.at(-1)!.state).toBe('signedOut'); // no longer told
  });

  it('holds no token', async () => {
    const { session, tokens } = await signedIn();
    const text = JSON.stringify(session.getSnapshot());
    expect(text).not.toContain(tokens.access_token);
    expect(text).not.toContain(tokens.refresh_token);
  });

  it('a listener that throws does not keep the others from hearing of the change', async () => {
    const { session } = await signedIn();
    const heard: string[] = [];
    session.subscribe(() => {
      throw new Error('a broken component');
    });
    session.subscribe((snapshot) => heard.push(snapshot.state));
    await session.refresh();
    expect(heard).toEqual(['refreshing', 'active', 'active']);
    expect(session.state).toBe('active');
  });

  it("a listener's error reaches the session's logger: the first one of each change", async () => {
    const { lines, logger } = captureLogs();
    const session = ctx.manager({ logger });
    session.subscribe(() => {
      throw new Error('a broken component');
    });
    session.subscribe(() => {
      throw new Error('another broken component');
    });
    await session.setTokens(ctx.server.issue()); // one change: stateChange, then tokensChanged
    const reported = lines.filter((_, i) => lines[i - 1] === 'an event handler threw');
    expect(reported).toEqual([
      { event: 'stateChange', error: 'Error: a broken component' },
      { event: 'tokensChanged', error: 'Error: a broken component' },
    ]);
  });

  it('listeners that do not throw log nothing', async () => {
    const { lines, logger } = captureLogs();
    const session = ctx.manager({ logger });
    session.subscribe(() => {});
    await session.setTokens(ctx.server.issue());
    expect(lines).not.toContain('an event handler threw');
  });

  it('wrapped as a Svelte store, it works with svelte/store', async () => {
    const { session } = await signedIn();
    const store = svelteStore(session);
    expect(get(store).state).toBe('active');
    const states: string[] = [];
    const unsubscribe = derived(store, ($session) => $session.state).subscribe((state) => states.push(state));
    await session.refresh();
    await session.signOut();
    unsubscribe();
    // derived() skips repeats: one entry per distinct value in a row.
    expect(states).toEqual(['active', 'refreshing', 'active', 'signedOut']);
  });

  it('wrapped in a Vue shallowRef, effects re-run on each change', async () => {
    const { session } = await signedIn();
    const snapshot = shallowRef(session.getSnapshot());
    const stop = session.subscribe((next) => (snapshot.value = next));
    const states: string[] = [];
    const runner = effect(() => states.push(snapshot.value.state));
    await session.refresh();
    await session.signOut();
    stop();
    runner.effect.stop();
    expect(states).toEqual(['active', 'refreshing', 'active', 'active', 'signedOut']);
  });
});
