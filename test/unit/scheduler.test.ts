/** The session's two background timers: the proactive refresh and the warning before the session's end. */
import { describe, expect, it, vi } from 'vitest';
import type { Clock } from '../../src/ports/clock.ts';
import { createScheduler } from '../../src/session/scheduler.ts';
import { ManualClock } from '../../src/testing.ts';
import type { SessionTokens } from '../../src/types.ts';
import { NOW } from './builders.ts';

const MINUTE = 60_000;

/** An hour-long token received now: its refresh is due 5 minutes before it expires. */
function tokens(overrides: Partial<SessionTokens> = {}): SessionTokens {
  return {
    accessToken: 'at-1',
    refreshToken: 'rt-1',
    tokenType: 'Bearer',
    accessTokenExpiresAt: NOW + 60 * MINUTE,
    refreshTokenExpiresAt: undefined,
    sessionExpiresAt: undefined,
    sessionStartedAt: NOW,
    receivedAt: NOW,
    scope: undefined,
    ...overrides,
  };
}

function setup(clock: Clock = new ManualClock(NOW)) {
  const due = vi.fn();
  const expiring = vi.fn();
  const scheduler = createScheduler({ clock, refreshMargin: 5 * MINUTE, sessionWarning: 10 * MINUTE }, due, expiring);
  return { scheduler, due, expiring };
}

/** A clock over `manual` that records each timer's delay and hands out handles with `unref`. */
function recordingClock(manual: ManualClock, maxDelay = Infinity) {
  const delays: number[] = [];
  const handles: { id: unknown; unref: () => void }[] = [];
  const clock: Clock = {
    now: () => manual.now(),
    setTimeout(callback, ms) {
      delays.push(ms);
      // Like a browser, which fires a longer delay than it can hold early.
      const handle = { id: manual.setTimeout(callback, Math.min(ms, maxDelay)), unref: vi.fn() };
      handles.push(handle);
      return handle;
    },
    clearTimeout: (handle) => manual.clearTimeout((handle as { id: unknown }).id as never),
  };
  return { clock, delays, handles };
}

describe('the proactive refresh timer', () => {
  it('fires once, refreshMargin before the access token expires', async () => {
    const clock = new ManualClock(NOW);
    const { scheduler, due } = setup(clock);
    scheduler.schedule(tokens());
    await clock.advance(55 * MINUTE - 1);
    expect(due).not.toHaveBeenCalled();
    await clock.advance(1);
    expect(due).toHaveBeenCalledOnce();
    await clock.advance(60 * MINUTE);
    expect(due).toHaveBeenCalledOnce();
  });

  it('is not armed for a token whose expiry is unknown', () => {
    const clock = new ManualClock(NOW);
    const { scheduler } = setup(clock);
    scheduler.schedule(tokens({ accessTokenExpiresAt: null, sessionExpiresAt: NOW + 120 * MINUTE }));
    expect(clock.pendingTimers).toBe(1); // the session warning's
  });

  it('fires at once for a token already past its refresh time', () => {
    const manual = new ManualClock(NOW + 58 * MINUTE);
    const { clock, delays } = recordingClock(manual);
    setup(clock).scheduler.schedule(tokens());
    expect(delays).toEqual([0]);
  });

  it('that fires early (a delay clamped by the platform) waits again, then fires on time', async () => {
    const manual = new ManualClock(NOW);
    const { clock, delays } = recordingClock(manual, 20 * MINUTE);
    const { scheduler, due } = setup(clock);
    scheduler.schedule(tokens());
    await manual.advance(55 * MINUTE - 1);
    expect(due).not.toHaveBeenCalled();
    await manual.advance(1);
    expect(due).toHaveBeenCalledOnce();
    expect(delays).toEqual([55 * MINUTE, 35 * MINUTE, 15 * MINUTE]);
  });

  it('does not keep a Node.js process alive', () => {
    const { clock, handles } = recordingClock(new ManualClock(NOW));
    setup(clock).scheduler.schedule(tokens({ sessionExpiresAt: NOW + 120 * MINUTE }));
    expect(handles).toHaveLength(2);
    for (const handle of handles) expect(handle.unref).toHaveBeenCalledOnce();
  });
});

describe('the session warning timer', () => {
  it('fires sessionWarning before the absolute end, with that end', async () => {
    const clock = new ManualClock(NOW);
    const { scheduler, expiring } = setup(clock);
    scheduler.schedule(tokens({ sessionExpiresAt: NOW + 120 * MINUTE }));
    await clock.advance(110 * MINUTE - 1);
    expect(expiring).not.toHaveBeenCalled();
    await clock.advance(1);
    expect(expiring).toHaveBeenCalledExactlyOnceWith(NOW + 120 * MINUTE);
  });

  it('is not armed for a session without an absolute end', () => {
    const clock = new ManualClock(NOW);
    const { scheduler } = setup(clock);
    scheduler.schedule(tokens());
    expect(clock.pendingTimers).toBe(1); // the refresh's
  });

  it('warns once per session end: a refreshed set with the same end is not warned again', async () => {
    const clock = new ManualClock(NOW);
    const { scheduler, expiring } = setup(clock);
    const end = NOW + 120 * MINUTE;
    scheduler.schedule(tokens({ sessionExpiresAt: end }));
    await clock.advance(110 * MINUTE);
    scheduler.schedule(tokens({ sessionExpiresAt: end, receivedAt: clock.now() }));
    await clock.advance(5 * MINUTE);
    expect(expiring).toHaveBeenCalledOnce();
    scheduler.schedule(tokens({ sessionExpiresAt: end + 60 * MINUTE, receivedAt: clock.now() }));
    await clock.advance(60 * MINUTE);
    expect(expiring).toHaveBeenCalledTimes(2);
  });

  it('is not armed for a set without an absolute end after the warning of another', async () => {
    const clock = new ManualClock(NOW);
    const { scheduler, expiring } = setup(clock);
    scheduler.schedule(tokens({ sessionExpiresAt: NOW + 120 * MINUTE }));
    await clock.advance(110 * MINUTE); // warned
    scheduler.schedule(tokens({ receivedAt: clock.now(), accessTokenExpiresAt: clock.now() + 60 * MINUTE }));
    expect(clock.pendingTimers).toBe(1); // the refresh's
    expect(expiring).toHaveBeenCalledOnce();
  });

  it('after reset() (a new sign-in) warns again for the same end', async () => {
    const clock = new ManualClock(NOW);
    const { scheduler, expiring } = setup(clock);
    const end = NOW + 120 * MINUTE;
    scheduler.schedule(tokens({ sessionExpiresAt: end }));
    await clock.advance(110 * MINUTE);
    scheduler.reset();
    scheduler.schedule(tokens({ sessionExpiresAt: end, receivedAt: clock.now() }));
    await clock.advance(0);
    expect(expiring).toHaveBeenCalledTimes(2);
  });
});

describe('cancelling', () => {
  it('cancel() stops both timers', async () => {
    const clock = new ManualClock(NOW);
    const { scheduler, due, expiring } = setup(clock);
    scheduler.schedule(tokens({ sessionExpiresAt: NOW + 120 * MINUTE }));
    expect(clock.pendingTimers).toBe(2);
    scheduler.cancel();
    expect(clock.pendingTimers).toBe(0);
    await clock.advance(180 * MINUTE);
    expect(due).not.toHaveBeenCalled();
    expect(expiring).not.toHaveBeenCalled();
  });

  it('reset() stops both timers too', () => {
    const clock = new ManualClock(NOW);
    const { scheduler } = setup(clock);
    scheduler.schedule(tokens({ sessionExpiresAt: NOW + 120 * MINUTE }));
    scheduler.reset();
    expect(clock.pendingTimers).toBe(0);
  });

  it('schedule() replaces the timers of the previous set', async () => {
    const clock = new ManualClock(NOW);
    const { scheduler, due } = setup(clock);
    scheduler.schedule(tokens({ sessionExpiresAt: NOW + 120 * MINUTE }));
    scheduler.schedule(tokens({ accessTokenExpiresAt: NOW + 30 * MINUTE, sessionExpiresAt: NOW + 120 * MINUTE }));
    expect(clock.pendingTimers).toBe(2);
    await clock.advance(25 * MINUTE); // the new set's due time
    expect(due).toHaveBeenCalledOnce();
    await clock.advance(60 * MINUTE);
    expect(due).toHaveBeenCalledOnce();
  });

  it('a cancelled timer that fired early does not come back', async () => {
    const manual = new ManualClock(NOW);
    const { clock } = recordingClock(manual, 20 * MINUTE);
    const { scheduler, due } = setup(clock);
    scheduler.schedule(tokens());
    await manual.advance(20 * MINUTE); // fired early, armed again
    scheduler.cancel();
    expect(manual.pendingTimers).toBe(0);
    await manual.advance(60 * MINUTE);
    expect(due).not.toHaveBeenCalled();
  });
});
