import { isTransientError } from '../errors.ts';
import type { ResolvedOptions } from '../options.ts';
import { sleep } from '../ports/clock.ts';
import { combineCleanups } from '../utils/listeners.ts';
import type { SessionStorage } from '../session/storage.ts';
import type { ReauthReason, SessionTokens } from '../types.ts';
import { backoffDelay } from './backoff.ts';
import { REAUTH_HANDOFF_MS, refreshOnce } from './refresher.ts';

/** How a refresh ended, for the session manager to act on. */
export type LoopOutcome =
  | { kind: 'refreshed'; tokens: SessionTokens; source: 'refresh' | 'otherContext' }
  | { kind: 'signedOutElsewhere' }
  | { kind: 'reauth'; reason: ReauthReason }
  | { kind: 'aborted' };

/** What the loop reports while it runs. */
export interface LoopHooks {
  /** The tokens to refresh from now (they may change while the loop waits). */
  current(): SessionTokens | null;
  /** A transient failure; the next attempt comes after `retryInMs`. */
  failed(error: Error, attempt: number, retryInMs: number): void;
  /** Another context is re-authenticating the user; the loop waits for its outcome. */
  waitingForOtherContext(): void;
}

/**
 * Refreshes until it succeeds, the refresh token proves dead, another context ends the session,
 * or `signal` aborts. Transient failures wait with backoff and jitter (the server's
 * `Retry-After` wins); coming back online, or another context changing the store, ends a wait
 * early, since the next attempt re-reads the store under the lock.
 */
export async function refreshUntilSettled(
  options: ResolvedOptions,
  storage: SessionStorage,
  rejectedAccessToken: string | undefined,
  hooks: LoopHooks,
  signal: AbortSignal,
): Promise<LoopOutcome> {
  const { clock, network, backoff, logger } = options;
  for (let attempt = 1; ; attempt++) {
    const current = hooks.current();
    if (!current || signal.aborted) return { kind: 'aborted' };
    let waitMs: number;
    let wakeWhenOnline = true;
    try {
      const outcome = await refreshOnce(options, storage, current, rejectedAccessToken, signal);
      if (signal.aborted) return { kind: 'aborted' };
      if (outcome.kind !== 'reauthElsewhere') return outcome;
      hooks.waitingForOtherContext();
      waitMs = REAUTH_HANDOFF_MS;
    } catch (error) {
      if (signal.aborted) return { kind: 'aborted' };
      if (!isTransientError(error)) logger.error('unexpected refresh failure; retrying', { error });
      const retryAfterMs = (error as { retryAfterMs?: number }).retryAfterMs;
      waitMs = backoffDelay(attempt, backoff, Math.random(), retryAfterMs);
      wakeWhenOnline = retryAfterMs === undefined; // a server's Retry-After holds even online
      hooks.failed(error as Error, attempt, waitMs);
      logger.info('refresh failed; will retry', { attempt, retryInMs: waitMs, error });
    }
    const wake = (onWake: () => void) =>
      combineCleanups(storage.subscribe(onWake), wakeWhenOnline ? network.subscribe(onWake) : undefined);
    try {
      await sleep(clock, waitMs, { signal, wake });
    } catch {
      return { kind: 'aborted' }; // the session ended while we waited
    }
  }
}
