/**
 * Test doubles for the ports, for the SDK's own tests and for apps testing their integration:
 * `import { ManualClock } from 'session-keeper/testing'`.
 * @packageDocumentation
 * @module session-keeper/testing
 */
import type { Clock, TimerHandle } from './ports/clock.ts';
import type { LifecyclePort } from './ports/lifecycle.ts';
import type { NetworkPort } from './ports/network.ts';

interface Timer {
  id: number;
  at: number;
  callback: () => void;
}

/** Options of a {@link ManualClock}. */
export interface ManualClockOptions {
  /**
   * The most timers one {@link ManualClock.advance} fires before it gives up with an error:
   * a timer that keeps scheduling another one due at once would otherwise never let it
   * return, and the test would hang until its timeout. Default 1,000: far more than any of
   * the SDK's own tests fires in one advance, and reached in a few seconds of real time (each
   * timer is followed by a flush of pending promise callbacks).
   */
  loopLimit?: number;
}

/**
 * A clock that only moves when told. `advance` fires due timers in order, letting promise
 * callbacks run between them, so code waiting on timers and promises behaves as in real time.
 */
export class ManualClock implements Clock {
  #now: number;
  #nextId = 1;
  #timers: Timer[] = [];
  readonly #loopLimit: number;

  constructor(start = Date.UTC(2026, 0, 1), options: ManualClockOptions = {}) {
    this.#now = start;
    this.#loopLimit = options.loopLimit ?? 1000;
  }

  now(): number {
    return this.#now;
  }

  /** Schedules `callback` at `now() + ms`; it fires during {@link ManualClock.advance}. */
  setTimeout(callback: () => void, ms: number): TimerHandle {
    const timer = { id: this.#nextId++, at: this.#now + Math.max(0, ms), callback };
    this.#timers.push(timer);
    return timer.id;
  }

  /** Cancels a pending timer. */
  clearTimeout(handle: TimerHandle): void {
    this.#timers = this.#timers.filter((timer) => timer.id !== handle);
  }

  /** Timers not yet fired. */
  get pendingTimers(): number {
    return this.#timers.length;
  }

  /** Sets the time without firing timers (a device clock change, or a suspended app). */
  set(now: number): void {
    this.#now = now;
  }

  /**
   * Moves time forward by `ms`, firing every timer that falls due, in order.
   * @throws Error - when more than `loopLimit` timers fall due (a runaway timer loop); the
   *   clock stays at the time of the last timer it fired.
   */
  async advance(ms: number): Promise<void> {
    const target = this.#now + ms;
    for (let fired = 0; ; fired++) {
      await flushMicrotasks();
      const next = this.#timers.filter((t) => t.at <= target).sort((a, b) => a.at - b.at || a.id - b.id)[0];
      if (!next) break;
      if (fired === this.#loopLimit) {
        throw new Error(
          `ManualClock.advance(${ms}) fired ${this.#loopLimit} timers and more keep falling due: a runaway timer loop? ` +
            `(raise loopLimit if the test means it)`,
        );
      }
      this.#timers = this.#timers.filter((t) => t !== next);
      this.#now = Math.max(this.#now, next.at);
      next.callback();
    }
    this.#now = target;
    await flushMicrotasks();
  }
}

/**
 * Yields one macrotask: `setImmediate` where there is one (Node.js: after pending I/O, with no
 * 1 ms clamp), else a zero-delay timer.
 */
const nextMacrotask: () => Promise<void> =
  typeof (globalThis as { setImmediate?: unknown }).setImmediate === 'function'
    ? () =>
        new Promise<void>((resolve) =>
          (globalThis as unknown as { setImmediate(fn: () => void): void }).setImmediate(resolve),
        )
    : () => new Promise<void>((resolve) => globalThis.setTimeout(resolve, 0));

/** Lets pending promise callbacks (and a macrotask's worth of I/O callbacks) run. */
export async function flushMicrotasks(): Promise<void> {
  for (let i = 0; i < 5; i++) await nextMacrotask();
}

/** A lifecycle port driven by the test: `foreground()` plays "the app came back". */
export class ManualLifecycle implements LifecyclePort {
  readonly #listeners = new Set<() => void>();
  subscribe(onForeground: () => void): () => void {
    this.#listeners.add(onForeground);
    return () => this.#listeners.delete(onForeground);
  }
  /** Plays "the app came to the foreground": calls every subscriber. */
  foreground(): void {
    for (const listener of this.#listeners) listener();
  }
}

/** A network port driven by the test: `goOffline()`, `goOnline()`. */
export class ManualNetwork implements NetworkPort {
  readonly #listeners = new Set<() => void>();
  #online = true;
  /** The state set by {@link ManualNetwork.goOffline} / {@link ManualNetwork.goOnline}; initially online. */
  isOnline(): boolean {
    return this.#online;
  }
  subscribe(onOnline: () => void): () => void {
    this.#listeners.add(onOnline);
    return () => this.#listeners.delete(onOnline);
  }
  /** Marks the network as down (no event: the SDK learns of it from failed requests). */
  goOffline(): void {
    this.#online = false;
  }
  /** Marks the network as up and calls every subscriber. */
  goOnline(): void {
    this.#online = true;
    for (const listener of [...this.#listeners]) listener();
  }
}
