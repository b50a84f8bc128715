import type { ResolvedOptions } from '../options.ts';
import { TransientRefreshError } from '../errors.ts';
import { sleep } from '../ports/clock.ts';
import { backoffDelay } from './backoff.ts';

/** What one attempt of a retried task came to. */
export type Attempt<T> =
  | { kind: 'settled'; value: T }
  /**
   * A transient failure: try again after the backoff (the server's `Retry-After`, which a
   * {@link TransientRefreshError} carries, lengthens it).
   */
  | { kind: 'failed'; error: Error }
  /** Nothing failed, but try again after `ms` (or as soon as `wake` fires). */
  | { kind: 'later'; ms: number };

/** Subscribes to a signal worth waking up for; returns the cleanup. */
export type Wake = (wakeUp: () => void) => () => void;

/**
 * The one retry loop, for the refresh and for re-authentication: runs `attempt` until it
 * settles or `signal` aborts (then resolves `undefined`). Transient failures wait with
 * backoff and jitter; `wake` ends a wait early (the network is back, another context changed
 * the store), except a wait the server asked for with `Retry-After`, which only `wakeAlways` ends.
 * @param failed - told of each transient failure, with the wait before the next attempt
 */
export async function retryUntilSettled<T>(
  { clock, backoff, random }: Pick<ResolvedOptions, 'clock' | 'backoff' | 'random'>,
  attempt: (number: number) => Promise<Attempt<T>>,
  wakes: { wake: Wake; wakeAlways?: Wake | undefined },
  failed: (error: Error, attempt: number, retryInMs: number) => void,
  signal: AbortSignal,
): Promise<T | undefined> {
  for (let number = 1; ; number++) {
    if (signal.aborted) return undefined;
    const result = await attempt(number);
    if (signal.aborted) return undefined;
    if (result.kind === 'settled') return result.value;
    let ms: number;
    let wake = wakes.wake;
    if (result.kind === 'later') ms = result.ms;
    else {
      const retryAfterMs = result.error instanceof TransientRefreshError ? result.error.retryAfterMs : undefined;
      ms = backoffDelay(number, backoff, random(), retryAfterMs);
      // A server's Retry-After holds even when the network comes back.
      if (retryAfterMs !== undefined) wake = wakes.wakeAlways ?? (() => () => {});
      failed(result.error, number, ms);
    }
    try {
      await sleep(clock, ms, { signal, wake });
    } catch {
      return undefined; // the session ended while we waited
    }
  }
}
