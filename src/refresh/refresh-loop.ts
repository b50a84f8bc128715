import { isTransientError } from '../errors.ts';
import type { ResolvedOptions } from '../options.ts';
import { sleep } from '../ports/clock.ts';
import type { SessionStorage } from '../session/storage.ts';
import type { ReauthReason, SessionTokens } from '../types.ts';
import { backoffDelay } from './backoff.ts';
import type { HttpContext } from './grant.ts';
import { REAUTH_HANDOFF_MS, ReauthNeeded, refreshOnce } from './refresher.ts';

/** How a refresh ended, for the session manager to act on. */
export type LoopOutcome =
  | { kind: 'refreshed' | 'adopted'; tokens: SessionTokens }
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
  /** Subscribes to changes another context makes to the store; returns the cleanup. */
  onOtherContext(listener: () => void): () => void;
}

/**
 * Refreshes until it succeeds, the refresh token proves dead, another context ends the session,
 * or `signal` aborts. Transient failures wait with backoff and jitter (the server's
 * `Retry-After` wins); coming back online, or another context changing the store, ends a wait
 * early, since the next attempt re-reads the store under the lock.
 */
export async function refreshUntilSettled(
  options: ResolvedOptions,
  http: HttpContext,
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
      const outcome = await refreshOnce(options, http, storage, current, rejectedAccessToken, signal);
      if (signal.aborted) return { kind: 'aborted' };
      if (outcome.kind !== 'reauthElsewhere') return outcome;
      hooks.waitingForOtherContext();
      waitMs = REAUTH_HANDOFF_MS;
    } catch (error) {
      if (signal.aborted) return { kind: 'aborted' };
      if (error instanceof ReauthNeeded) return { kind: 'reauth', reason: error.reason };
      if (!isTransientError(error)) logger.error('unexpected refresh failure; retrying', { error });
      const retryAfterMs = (error as { retryAfterMs?: number }).retryAfterMs;
      waitMs = backoffDelay(attempt, backoff, Math.random(), retryAfterMs);
      wakeWhenOnline = retryAfterMs === undefined; // a server's Retry-After holds even online
      hooks.failed(error as Error, attempt, waitMs);
      logger.info('refresh failed; will retry', { attempt, retryInMs: waitMs, error });
    }
    const wake = (onWake: () => void) => {
      const offStore = hooks.onOtherContext(onWake);
      const offNetwork = wakeWhenOnline ? network.subscribe(onWake) : undefined;
      return () => {
        offStore();
        offNetwork?.();
      };
    };
    try {
      await sleep(clock, waitMs, { signal, wake });
    } catch {
      return { kind: 'aborted' }; // the session ended while we waited
    }
  }
}
