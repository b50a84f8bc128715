import { unrefTimer, type Clock } from '../ports/clock.ts';
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

type Cancel = () => void;

/**
 * The session's two background timers: the proactive refresh and the warning before the
 * absolute session end. A timer that fires early (long delays are clamped) re-arms itself; one
 * that fires late (a suspended tab or app) acts at once.
 */
export class SessionScheduler {
  readonly #clock: Clock;
  readonly #onRefreshDue: () => void;
  readonly #onSessionExpiring: (sessionExpiresAt: number) => void;
  #cancels: Cancel[] = [];
  #warnedFor: number | undefined;

  constructor(clock: Clock, onRefreshDue: () => void, onSessionExpiring: (sessionExpiresAt: number) => void) {
    this.#clock = clock;
    this.#onRefreshDue = onRefreshDue;
    this.#onSessionExpiring = onSessionExpiring;
  }

  /** (Re)arms both timers for `tokens`. */
  schedule(tokens: SessionTokens, refreshMargin: number, sessionWarning: number): void {
    this.cancel();
    const due = refreshDueAt(tokens, refreshMargin);
    if (due !== null) this.#cancels.push(this.#at(due, this.#onRefreshDue));
    const end = tokens.sessionExpiresAt;
    if (end !== undefined && this.#warnedFor !== end) {
      this.#cancels.push(
        this.#at(end - sessionWarning, () => {
          this.#warnedFor = end;
          this.#onSessionExpiring(end);
        }),
      );
    }
  }

  cancel(): void {
    for (const cancel of this.#cancels) cancel();
    this.#cancels = [];
  }

  /** Cancels the timers and forgets which session end was announced (a new sign-in). */
  reset(): void {
    this.cancel();
    this.#warnedFor = undefined;
  }

  #at(instant: number, action: () => void): Cancel {
    let handle: unknown;
    const arm = () => {
      handle = this.#clock.setTimeout(fire, Math.max(0, instant - this.#clock.now()));
      unrefTimer(handle);
    };
    const fire = () => (this.#clock.now() < instant ? arm() : action());
    arm();
    return () => this.#clock.clearTimeout(handle);
  }
}
