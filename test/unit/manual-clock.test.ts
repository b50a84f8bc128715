/**
 * The test doubles of `session-keeper/testing`: the manual clock (timer order, time while
 * timers fire, the guard against a runaway timer loop), the manual lifecycle and network.
 */
import { describe, expect, it } from 'vitest';
import { flushMicrotasks, ManualClock, ManualLifecycle, ManualNetwork } from '../../src/testing.ts';
import { NOW } from './builders.ts';

describe('ManualClock', () => {
  it('starts at 2026-01-01T00:00:00Z unless told otherwise', () => {
    expect(new ManualClock().now()).toBe(Date.UTC(2026, 0, 1));
    expect(new ManualClock(5).now()).toBe(5);
  });

  it('fires a timer once its delay has passed, not before', async () => {
    const clock = new ManualClock(NOW);
    const fired: number[] = [];
    clock.setTimeout(() => fired.push(clock.now()), 1000);
    await clock.advance(999);
    expect(fired).toEqual([]);
    await clock.advance(1);
    expect(fired).toEqual([NOW + 1000]);
    await clock.advance(5000);
    expect(fired).toHaveLength(1);
  });

  it('fires due timers in order of due time, then of creation', async () => {
    const clock = new ManualClock(NOW);
    const fired: string[] = [];
    clock.setTimeout(() => fired.push('c@200'), 200);
    clock.setTimeout(() => fired.push('a@100'), 100);
    clock.setTimeout(() => fired.push('b@100'), 100);
    await clock.advance(300);
    expect(fired).toEqual(['a@100', 'b@100', 'c@200']);
  });

  it('shows each timer the time it was due, and ends at the target time', async () => {
    const clock = new ManualClock(NOW);
    const seen: number[] = [];
    clock.setTimeout(() => seen.push(clock.now()), 100);
    clock.setTimeout(() => seen.push(clock.now()), 250);
    await clock.advance(1000);
    expect(seen).toEqual([NOW + 100, NOW + 250]);
    expect(clock.now()).toBe(NOW + 1000);
  });

  it('reads a negative delay as none', async () => {
    const clock = new ManualClock(NOW);
    const seen: number[] = [];
    clock.setTimeout(() => seen.push(clock.now()), -500);
    await clock.advance(0);
    expect(seen).toEqual([NOW]);
  });

  it('fires a timer scheduled by another during the same advance when it falls due in it', async () => {
    const clock = new ManualClock(NOW);
    const seen: number[] = [];
    clock.setTimeout(() => clock.setTimeout(() => seen.push(clock.now()), 100), 100);
    await clock.advance(200);
    expect(seen).toEqual([NOW + 200]);
  });

  it('lets promise callbacks run between timers', async () => {
    const clock = new ManualClock(NOW);
    const seen: number[] = [];
    clock.setTimeout(() => {
      void Promise.resolve().then(() => clock.setTimeout(() => seen.push(clock.now()), 0));
    }, 100);
    await clock.advance(100);
    expect(seen).toEqual([NOW + 100]);
  });

  it('cancels a pending timer, and ignores a handle it does not know', async () => {
    const clock = new ManualClock(NOW);
    const fired: string[] = [];
    const first = clock.setTimeout(() => fired.push('first'), 100);
    clock.setTimeout(() => fired.push('second'), 100);
    clock.clearTimeout(first);
    clock.clearTimeout('unknown');
    expect(clock.pendingTimers).toBe(1);
    await clock.advance(100);
    expect(fired).toEqual(['second']);
    expect(clock.pendingTimers).toBe(0);
  });

  it('gives each timer its own handle', () => {
    const clock = new ManualClock(NOW);
    expect(clock.setTimeout(() => {}, 0)).not.toBe(clock.setTimeout(() => {}, 0));
  });

  it('set() moves the time without firing timers; the next advance fires what is overdue at the new time', async () => {
    const clock = new ManualClock(NOW);
    const seen: number[] = [];
    clock.setTimeout(() => seen.push(clock.now()), 500);
    clock.set(NOW + 10_000);
    expect(seen).toEqual([]);
    expect(clock.now()).toBe(NOW + 10_000);
    await clock.advance(0);
    expect(seen).toEqual([NOW + 10_000]);
  });

  it('refuses a runaway timer loop with an error naming it, instead of hanging', async () => {
    const clock = new ManualClock(NOW, { loopLimit: 50 });
    const again = () => void clock.setTimeout(again, 0);
    again();
    await expect(clock.advance(1000)).rejects.toThrow(
      'ManualClock.advance(1000) fired 50 timers and more keep falling due: a runaway timer loop? (raise loopLimit if the test means it)',
    );
  });

  it('fires exactly loopLimit timers in one advance without complaint', async () => {
    const clock = new ManualClock(NOW, { loopLimit: 3 });
    let fired = 0;
    for (const ms of [1, 2, 3]) clock.setTimeout(() => fired++, ms);
    await clock.advance(10);
    expect(fired).toBe(3);
    clock.setTimeout(() => fired++, 1);
    await clock.advance(10);
    expect(fired).toBe(4);
  });

  it('stops at the timer after loopLimit, leaving it pending', async () => {
    const clock = new ManualClock(NOW, { loopLimit: 3 });
    let fired = 0;
    for (const ms of [1, 2, 3, 4]) clock.setTimeout(() => fired++, ms);
    await expect(clock.advance(10)).rejects.toThrow('runaway timer loop');
    expect(fired).toBe(3);
    expect(clock.pendingTimers).toBe(1);
    expect(clock.now()).toBe(NOW + 3);
  });

  it('fires up to 1,000 timers in one advance by default', async () => {
    const clock = new ManualClock(NOW);
    let fired = 0;
    for (let i = 0; i < 1001; i++) clock.setTimeout(() => fired++, 1);
    await expect(clock.advance(1)).rejects.toThrow('fired 1000 timers');
    expect(fired).toBe(1000);
  });
});

describe('flushMicrotasks', () => {
  it('lets pending promise callbacks and pending I/O-phase callbacks run', async () => {
    const done: string[] = [];
    setImmediate(() => done.push('timer'));
    void Promise.resolve()
      .then(() => undefined)
      .then(() => done.push('chain'));
    await flushMicrotasks();
    expect(done.sort()).toEqual(['chain', 'timer']);
  });
});

describe('ManualLifecycle', () => {
  it('plays "the app came to the foreground" to every subscriber until its cleanup runs', () => {
    const lifecycle = new ManualLifecycle();
    const heard: string[] = [];
    const stopA = lifecycle.subscribe(() => heard.push('a'));
    lifecycle.subscribe(() => heard.push('b'));
    lifecycle.foreground();
    stopA();
    lifecycle.foreground();
    expect(heard).toEqual(['a', 'b', 'b']);
  });
});

describe('ManualNetwork', () => {
  it('is online at first', () => {
    expect(new ManualNetwork().isOnline()).toBe(true);
  });

  it('goes offline without telling anyone', () => {
    const network = new ManualNetwork();
    let calls = 0;
    network.subscribe(() => calls++);
    network.goOffline();
    expect(network.isOnline()).toBe(false);
    expect(calls).toBe(0);
  });

  it('comes back online and tells every subscriber until its cleanup runs', () => {
    const network = new ManualNetwork();
    const heard: string[] = [];
    const stopA = network.subscribe(() => heard.push('a'));
    network.subscribe(() => heard.push('b'));
    network.goOffline();
    network.goOnline();
    expect(network.isOnline()).toBe(true);
    stopA();
    network.goOnline();
    expect(heard).toEqual(['a', 'b', 'b']);
  });

  it('tells only the subscribers there were when the network came back', () => {
    const network = new ManualNetwork();
    const heard: string[] = [];
    network.subscribe(() => {
      heard.push('first');
      network.subscribe(() => heard.push('late'));
    });
    network.goOnline();
    expect(heard).toEqual(['first']);
  });
});
