/**
 * A token store that fails to save: the session goes on in memory and the store is caught up; nothing it holds is presented again.
 */
import { describe, expect, it, vi } from 'vitest';
import { recordEvents, useFakeAuth } from './helpers/setup.ts';
import { ALICE, CAROL, controllableStore } from './helpers/tokens.ts';

const ctx = useFakeAuth();
const MINUTE = 60_000;

describe('a store that failed to save', () => {
  it('the next refresh presents the rotated refresh token in memory, not the retired one still stored', async () => {
    const { state, store, inner } = controllableStore();
    const session = ctx.manager({ store });
    const events = recordEvents(session);
    await session.setTokens(ctx.server.issue());
    state.failNextSave = true; // the iOS keychain is locked during a background refresh
    await ctx.clock.advance(56 * MINUTE); // rotation rt-1 -> rt-2; saving it fails
    expect(ctx.server.refreshCalls).toBe(1);
    expect(session.state).toBe('active');
    await ctx.clock.advance(56 * MINUTE); // must present rt-2
    expect(ctx.server.refreshCalls).toBe(2);
    expect(events.types()).not.toContain('reauthRequired');
    expect(session.state).toBe('active');
    // The store caught up: a relaunch gets the live refresh token.
    const relaunched = ctx.manager({ store: { ...store, load: () => inner.load() } });
    expect(await relaunched.restore()).toBe('active');
  });

  it('a store notice does not make the manager adopt the older set the store still holds', async () => {
    const { state, store } = controllableStore();
    const a = ctx.manager({ store, broadcast: false });
    await a.setTokens(ctx.server.issue());
    await ctx.clock.advance(10 * MINUTE);
    state.failNextSave = true;
    await a.refresh(); // rotated in memory, the store keeps the previous set
    const current = await a.getAccessToken();
    state.notify(); // A reads the store: the set there is older than its own
    await ctx.clock.advance(0);
    expect(await a.getAccessToken()).toBe(current);
  });

  it('an account switch whose save failed is not undone by a store notice (the store holds the previous user)', async () => {
    const { state, store } = controllableStore();
    const session = ctx.manager({ store, broadcast: false });
    await session.setTokens(ALICE);
    state.failNextSave = true;
    await session.setTokens(CAROL); // in use from memory; the store still holds Alice's session
    state.notify();
    await ctx.clock.advance(0);
    expect(await session.getAccessToken()).toBe(CAROL.access_token);
  });

  it('a sign-in whose save failed, after following a sign-out elsewhere, is not taken for signed out elsewhere', async () => {
    const { state, store } = controllableStore();
    const a = ctx.manager({ store, broadcast: false });
    const b = ctx.manager({ store, broadcast: false });
    await b.setTokens(ctx.server.issue());
    await ctx.clock.advance(0);
    await b.signOut(); // A follows: the store holds no session of A's now
    await ctx.clock.advance(0);
    expect(a.state).toBe('signedOut');
    state.failNextSave = true;
    await a.setTokens(ctx.server.issue()); // in use from memory; the store stays empty
    state.notify();
    await ctx.clock.advance(0);
    expect(a.state).toBe('active');
  });

  it('a device clock set back does not make a tab discard, or overwrite, the rotation another tab made', async () => {
    const signInPrompt = vi.fn(async () => null);
    const a = ctx.manager({ signInPrompt, broadcast: false });
    const b = ctx.manager({ signInPrompt, broadcast: false });
    await a.setTokens(ctx.server.issue());
    await ctx.clock.advance(0);
    expect(await b.restore()).toBe('active');
    await ctx.clock.advance(10 * MINUTE);
    await a.refresh(); // rt-1 -> rt-2 at T+10 min; B follows
    await ctx.clock.advance(0);
    expect(await b.getAccessToken()).toBe(await a.getAccessToken());
    ctx.clock.set(ctx.clock.now() - 30 * MINUTE); // NTP / the user corrects a fast clock
    await b.refresh(); // rt-2 -> rt-3, receivedAt now reads "older" than A's set
    await ctx.clock.advance(0);
    const events = recordEvents(a);
    await a.refresh().catch(() => {}); // A should adopt rt-3 from the store
    await ctx.clock.advance(0);
    expect(events.types()).not.toContain('reauthRequired');
    expect(signInPrompt).not.toHaveBeenCalled();
    expect([a.state, b.state]).toEqual(['active', 'active']);
    expect(await a.getAccessToken()).toBe(await b.getAccessToken());
  });

  it('a store that keeps failing to save never has the set it holds presented, however many rotations later', async () => {
    const { state, store } = controllableStore();
    const session = ctx.manager({ store, broadcast: false });
    const events = recordEvents(session);
    await session.setTokens(ctx.server.issue()); // rt-1 saved
    state.failAllSaves = true; // localStorage full (quota) from now on
    for (let i = 0; i < 12; i++) {
      await ctx.clock.advance(10 * MINUTE);
      await session.refresh().catch(() => {});
    }
    expect(events.types()).not.toContain('reauthRequired');
    expect(session.state).toBe('active');
    expect(ctx.server.refreshCalls).toBe(12);
  });

  it('restore() again (on resume) after a failed save keeps the live set in memory and catches the store up', async () => {
    const { state, store, inner } = controllableStore();
    const session = ctx.manager({ store, broadcast: false });
    const events = recordEvents(session);
    await session.setTokens(ctx.server.issue()); // rt-1
    await ctx.clock.advance(10 * MINUTE);
    state.failNextSave = true;
    await session.refresh(); // rt-1 -> rt-2 in memory; the store keeps rt-1
    const live = await session.getAccessToken();
    expect(inner.load()?.accessToken).not.toBe(live);
    await session.restore(); // the app calls restore() again on resume
    expect(inner.load()?.accessToken).toBe(live); // caught up at once
    await ctx.clock.advance(10 * MINUTE);
    await session.refresh().catch(() => {});
    expect(events.types()).not.toContain('reauthRequired');
    expect(session.state).toBe('active');
  });

  it("persistAccessToken false: a token refreshed from another tab's stored set is never presented again after a failed save", async () => {
    const { state, store } = controllableStore();
    const a = ctx.manager({ store, persistAccessToken: false, broadcast: false });
    const b = ctx.manager({ store, persistAccessToken: false, broadcast: false });
    await a.setTokens(ctx.server.issue()); // rt-1 (stored without its access token)
    await ctx.clock.advance(0);
    expect(await b.restore()).toBe('active'); // B has no access token: refreshes rt-1 -> rt-2, saved
    await ctx.clock.advance(0);
    const events = recordEvents(a);
    await ctx.clock.advance(10 * MINUTE);
    state.failNextSave = true;
    await a.refresh(); // A refreshes from the store's rt-2 -> rt-3; saving rt-3 fails, the store keeps rt-2
    expect(ctx.server.refreshCalls).toBe(2);
    await ctx.clock.advance(10 * MINUTE);
    await a.refresh().catch(() => {}); // must present rt-3 (memory), not rt-2 (spent by A itself)
    await ctx.clock.advance(0);
    expect(events.types()).not.toContain('reauthRequired');
    expect(a.state).toBe('active');
  });
});
