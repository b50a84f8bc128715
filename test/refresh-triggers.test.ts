/**
 * What starts a proactive refresh: its timer, the app coming back to the foreground, the network
 * coming back. A suspended app's timers do not run while its clock moves on.
 */
import { describe, expect, it } from 'vitest';
import type { Clock } from '../src/ports/clock.ts';
import { MemoryTokenStore } from '../src/ports/token-store.ts';
import { flushMicrotasks, type ManualClock } from '../src/testing.ts';
import type { StoredSession } from '../src/types.ts';
import { captureLogs, recordEvents, useFakeAuth } from './helpers/setup.ts';

const ctx = useFakeAuth();
const MINUTE = 60_000;

/** A clock over `manual` whose time can jump while its timers stand still (a suspended app). */
function suspendable(manual: ManualClock) {
  let asleep = 0;
  const clock: Clock = {
    now: () => manual.now() + asleep,
    setTimeout: (callback, ms) => manual.setTimeout(callback, ms),
    clearTimeout: (handle) => manual.clearTimeout(handle),
  };
  return { clock, suspend: (ms: number) => void (asleep += ms) };
}

/** The triggers of the `refresh due` debug lines, in order. */
const triggers = (lines: unknown[]) =>
  lines.filter((_, i) => lines[i - 1] === 'refresh due').map((fields) => (fields as { trigger: string }).trigger);

describe('the app back in the foreground', () => {
  it('with timers frozen in the background and no refresh due yet, re-arms them from the clock', async () => {
    const { clock, suspend } = suspendable(ctx.clock);
    const session = ctx.manager({ clock });
    await session.setTokens(ctx.server.issue()); // due in 55 minutes
    suspend(30 * MINUTE); // 30 minutes in the background: the timer did not move
    ctx.lifecycle.foreground(); // due in 25 minutes now, not in 55
    await ctx.clock.advance(25 * MINUTE - 1);
    expect(ctx.server.refreshCalls).toBe(0);
    await ctx.clock.advance(1);
    expect(ctx.server.refreshCalls).toBe(1);
    expect(session.state).toBe('active');
  });

  it('with a refresh due, refreshes and says the foreground started it', async () => {
    const { lines, logger } = captureLogs();
    const { clock, suspend } = suspendable(ctx.clock);
    const session = ctx.manager({ clock, logger });
    await session.setTokens(ctx.server.issue());
    suspend(57 * MINUTE);
    ctx.lifecycle.foreground();
    await ctx.clock.advance(0);
    expect(ctx.server.refreshCalls).toBe(1);
    expect(triggers(lines)).toEqual(['foreground']);
  });
});

describe('the app back in the foreground during an account switch', () => {
  it('re-arms nothing of the session being replaced: no warning of its end', async () => {
    const memory = new MemoryTokenStore();
    const held: (() => void)[] = [];
    let slow = false;
    const store = {
      load: () => memory.load(),
      save: (session: StoredSession) =>
        slow
          ? new Promise<void>((resolve) => held.push(() => (memory.save(session), resolve())))
          : memory.save(session),
      clear: () => memory.clear(),
    };
    const session = ctx.manager({ store });
    const events = recordEvents(session);
    await session.setTokens({ ...ctx.server.issue(), session_expires_in: 120 }); // ends in 2 minutes
    await ctx.clock.advance(0);
    expect(events.types()).toContain('sessionExpiring');
    slow = true;
    const signIn = session.setTokens(ctx.server.issue()); // another user; the keychain is slow
    await flushMicrotasks();
    ctx.lifecycle.foreground();
    await ctx.clock.advance(0);
    held.splice(0).forEach((save) => save());
    await signIn;
    expect(events.types().filter((type) => type === 'sessionExpiring')).toHaveLength(1);
  });
});

describe('the network back online', () => {
  it('with a refresh due, refreshes at once and says the network started it', async () => {
    const { lines, logger } = captureLogs();
    const { clock, suspend } = suspendable(ctx.clock);
    const session = ctx.manager({ clock, logger });
    await session.setTokens(ctx.server.issue());
    ctx.network.goOffline();
    suspend(57 * MINUTE); // the refresh timer has not run yet
    ctx.network.goOnline();
    await ctx.clock.advance(0);
    expect(ctx.server.refreshCalls).toBe(1);
    expect(triggers(lines)).toEqual(['online']);
    expect(session.state).toBe('active');
  });
});

describe('the refresh timer', () => {
  it('says it started the refresh', async () => {
    const { lines, logger } = captureLogs();
    const session = ctx.manager({ logger });
    await session.setTokens(ctx.server.issue());
    await ctx.clock.advance(55 * MINUTE);
    expect(ctx.server.refreshCalls).toBe(1);
    expect(triggers(lines)).toEqual(['timer']);
  });
});

describe('without a session', () => {
  it('the foreground and the network coming back do nothing', async () => {
    ctx.manager();
    expect(() => ctx.lifecycle.foreground()).not.toThrow();
    expect(() => ctx.network.goOnline()).not.toThrow();
    await ctx.clock.advance(0);
    expect(ctx.server.refreshCalls).toBe(0);
  });
});
