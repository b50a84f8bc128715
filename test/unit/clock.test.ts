/**
 * The clock port: the system clock's timer bounds, `unrefTimer`, and `sleep` (its wake-ups,
 * its abort and its cleanups), the latter on a manual clock.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { sleep, systemClock, unrefTimer } from '../../src/ports/clock.ts';
import { ManualClock } from '../../src/testing.ts';
import { NOW } from './builders.ts';

afterEach(() => {
  vi.useRealTimers();
});

describe('systemClock', () => {
  it('tells the system time', () => {
    vi.useFakeTimers({ now: NOW });
    expect(systemClock.now()).toBe(NOW);
  });

  it('fires a timer after its delay, not before', () => {
    vi.useFakeTimers({ now: NOW });
    let fired = 0;
    systemClock.setTimeout(() => fired++, 1000);
    vi.advanceTimersByTime(999);
    expect(fired).toBe(0);
    vi.advanceTimersByTime(1);
    expect(fired).toBe(1);
  });

  it('reads a negative delay as none', () => {
    vi.useFakeTimers({ now: NOW });
    let fired = 0;
    systemClock.setTimeout(() => fired++, -1000);
    vi.advanceTimersByTime(0);
    expect(fired).toBe(1);
  });

  it('waits the longest delay a timer can take instead of firing a longer one at once', () => {
    vi.useFakeTimers({ now: NOW });
    let fired = 0;
    systemClock.setTimeout(() => fired++, 30 * 24 * 3600 * 1000);
    vi.advanceTimersByTime(2_147_483_646);
    expect(fired).toBe(0);
    vi.advanceTimersByTime(1);
    expect(fired).toBe(1);
  });

  it('cancels a timer', () => {
    vi.useFakeTimers({ now: NOW });
    let fired = 0;
    systemClock.clearTimeout(systemClock.setTimeout(() => fired++, 10));
    vi.advanceTimersByTime(100);
    expect(fired).toBe(0);
  });
});

describe('unrefTimer', () => {
  it('unrefs a handle that can be', () => {
    let unrefs = 0;
    unrefTimer({ unref: () => unrefs++ });
    expect(unrefs).toBe(1);
  });

  it.each([
    ['a number', 7],
    ['null', null],
    ['an object without unref', {}],
  ])('leaves %s alone', (_, handle) => {
    expect(() => unrefTimer(handle)).not.toThrow();
  });
});

describe('sleep', () => {
  it('resolves after ms on the clock, not before', async () => {
    const clock = new ManualClock(NOW);
    let done = false;
    const slept = sleep(clock, 1000).then(() => (done = true));
    await clock.advance(999);
    expect(done).toBe(false);
    await clock.advance(1);
    await slept;
    expect(done).toBe(true);
  });

  it('resolves early when woken, leaving no timer and no wake-up subscription behind', async () => {
    const clock = new ManualClock(NOW);
    let wakeUp = () => {};
    let unsubscribed = 0;
    const slept = sleep(clock, 60_000, {
      wake: (callback) => {
        wakeUp = callback;
        return () => unsubscribed++;
      },
    });
    wakeUp();
    await expect(slept).resolves.toBeUndefined();
    expect(clock.pendingTimers).toBe(0);
    expect(unsubscribed).toBe(1);
  });

  it('stops listening for wake-ups when its time is up', async () => {
    const clock = new ManualClock(NOW);
    let unsubscribed = 0;
    const slept = sleep(clock, 10, { wake: () => () => unsubscribed++ });
    await clock.advance(10);
    await slept;
    expect(unsubscribed).toBe(1);
  });

  it('rejects with the reason when its signal aborts, leaving no timer behind', async () => {
    const clock = new ManualClock(NOW);
    const controller = new AbortController();
    const reason = new Error('disposed');
    const slept = sleep(clock, 60_000, { signal: controller.signal });
    controller.abort(reason);
    await expect(slept).rejects.toBe(reason);
    expect(clock.pendingTimers).toBe(0);
  });

  it('rejects at once, arming nothing, when its signal has already aborted', async () => {
    const clock = new ManualClock(NOW);
    const reason = new Error('gone');
    let subscribed = 0;
    await expect(
      sleep(clock, 60_000, { signal: AbortSignal.abort(reason), wake: () => (subscribed++, () => {}) }),
    ).rejects.toBe(reason);
    expect(clock.pendingTimers).toBe(0);
    expect(subscribed).toBe(0);
  });

  it('stops listening to its signal once it resolved', async () => {
    const clock = new ManualClock(NOW);
    const controller = new AbortController();
    const removed: string[] = [];
    const remove = controller.signal.removeEventListener.bind(controller.signal);
    controller.signal.removeEventListener = ((type: string, listener: EventListener) => {
      removed.push(type);
      remove(type, listener);
    }) as typeof controller.signal.removeEventListener;
    const slept = sleep(clock, 10, { signal: controller.signal });
    await clock.advance(10);
    await slept;
    expect(removed).toEqual(['abort']);
  });
});
