import { whenAborted } from '../utils/listeners.ts';

/** An opaque timer handle, as returned by {@link Clock.setTimeout}. */
export type TimerHandle = unknown;

/**
 * Time, as the session manager sees it. Every time-based path (expiry, proactive refresh,
 * backoff, waits) goes through this port, so tests drive it with a manual clock instead of
 * sleeping, and a host can bring its own.
 */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  /** Calls `callback` once, `ms` milliseconds from now; returns a handle for {@link Clock.clearTimeout}. */
  setTimeout(callback: () => void, ms: number): TimerHandle;
  /** Cancels a timer that has not fired yet; a no-op for one that has. */
  clearTimeout(handle: TimerHandle): void;
}

// setTimeout's delay is a signed 32-bit integer; longer delays fire at once.
const MAX_DELAY = 2_147_483_647;

/** The default clock: `Date.now()` and the global timers. */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (callback, ms) => globalThis.setTimeout(callback, Math.min(Math.max(0, ms), MAX_DELAY)),
  clearTimeout: (handle) => globalThis.clearTimeout(handle as ReturnType<typeof globalThis.setTimeout>),
};

/**
 * Lets a background timer (proactive refresh, session warning) not keep a Node.js process
 * alive. Harmless for handles without `unref` (browsers, manual clocks).
 */
export function unrefTimer(handle: TimerHandle): void {
  (handle as { unref?: () => void } | null)?.unref?.();
}

/**
 * Resolves after `ms` on `clock`, or early when `wake` fires (for example: the network came
 * back) or `signal` aborts (rejecting with its reason).
 */
export function sleep(
  clock: Clock,
  ms: number,
  options: { signal?: AbortSignal | undefined; wake?: ((wakeUp: () => void) => () => void) | undefined } = {},
): Promise<void> {
  const { signal, wake } = options;
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const done = (error?: unknown) => {
      clock.clearTimeout(timer);
      stopWaking?.();
      stopAborting();
      if (error === undefined) resolve();
      else reject(error);
    };
    const timer = clock.setTimeout(() => done(), ms);
    const stopWaking = wake?.(() => done());
    const stopAborting = whenAborted(signal, () => done(signal?.reason));
  });
}
