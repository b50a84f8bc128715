import type { ResolvedOptions } from '../options.ts';
import { unrefTimer } from '../ports/clock.ts';
import type { SessionTokens } from '../types.ts';

/**
 * When the access token is due for a proactive refresh: `refreshMargin` before expiry, but
 * never earlier than halfway through its lifetime (a 60-second token with a 5-minute margin
 * would otherwise be refreshed in a loop). `null` when its expiry is unknown.
 */
export function refreshDueAt(tokens: SessionTokens, refreshMargin: number): number | null {
  if (tokens.accessTokenExpiresAt === null) return null;
  const lifetime = Math.max(0, tokens.accessTokenExpiresAt - tokens.receivedAt);
  return tokens.accessTokenExpiresAt - Math.min(refreshMargin, lifetime / 2);
}

/**
 * The session's two background timers: the proactive refresh and the warning before the
 * absolute session end. A timer that fires early (long delays are clamped) re-arms itself; one
 * that fires late (a suspended tab or app) acts at once.
 */
export interface SessionScheduler {
  /** (Re)arms both timers for `tokens`. */
  schedule(tokens: SessionTokens): void;
  /** Cancels both timers. */
  cancel(): void;
  /** Cancels the timers and forgets which session end was announced (a new sign-in). */
  reset(): void;
}

export function createScheduler(
  { clock, refreshMargin, sessionWarning }: Pick<ResolvedOptions, 'clock' | 'refreshMargin' | 'sessionWarning'>,
  onRefreshDue: () => void,
  onSessionExpiring: (sessionExpiresAt: number) => void,
): SessionScheduler {
  let cancels: (() => void)[] = [];
  let warnedFor: number | undefined;

  /** Runs `action` at `instant` on the clock; returns the cancel. */
  const at = (instant: number, action: () => void) => {
    let handle: unknown;
    const arm = () => {
      handle = clock.setTimeout(fire, Math.max(0, instant - clock.now()));
      unrefTimer(handle);
    };
    const fire = () => (clock.now() < instant ? arm() : action());
    arm();
    return () => clock.clearTimeout(handle);
  };

  const scheduler: SessionScheduler = {
    schedule(tokens) {
      scheduler.cancel();
      const due = refreshDueAt(tokens, refreshMargin);
      if (due !== null) cancels.push(at(due, onRefreshDue));
      const end = tokens.sessionExpiresAt;
      if (end !== undefined && warnedFor !== end) {
        cancels.push(
          at(end - sessionWarning, () => {
            warnedFor = end;
            onSessionExpiring(end);
          }),
        );
      }
    },
    cancel() {
      for (const cancel of cancels) cancel();
      cancels = [];
    },
    reset() {
      scheduler.cancel();
      warnedFor = undefined;
    },
  };
  return scheduler;
}
