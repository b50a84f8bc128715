import type { ResolvedOptions } from '../options.ts';
import { unrefTimer } from '../ports/clock.ts';
import type { SessionTokens } from '../types.ts';
import { refreshDueAt } from './tokens.ts';

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
