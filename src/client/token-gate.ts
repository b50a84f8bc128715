import { TokenWaitTimeoutError } from '../errors.ts';
import type { Clock } from '../ports/clock.ts';
import { whenAborted } from '../utils/listeners.ts';

/**
 * Where requests wait while the session has no usable token (a refresh or a re-authentication
 * is in flight): `hold()` when a refresh starts, `release()` when it settles, either way; each
 * waiting request then reads the outcome (a token, or the session-expired error).
 *
 * A list of waiters rather than a paused p-queue: the gate never runs tasks, it only lets
 * readers through, and p-queue cost 3.5 kB of the fetch path's 11 kB budget. It also could
 * not be constructed under jsdom or happy-dom (p-queue extends the global `EventTarget`, then
 * hands itself to Node's `setMaxListeners`, which refuses a DOM shim's), where apps test.
 */
export interface TokenGate {
  /** Requests wait from now on. */
  hold(): void;
  /** Every waiting request reads the outcome. */
  release(): void;
  /** How many requests are waiting. */
  readonly size: number;
  /** Waits for the gate to open, for `timeoutMs` at most, or until `signal` aborts. */
  wait(timeoutMs: number, signal?: AbortSignal): Promise<string>;
}

/**
 * How many microtasks after the gate opens a waiting request learns the outcome: as many as
 * with the p-queue this replaced. The core's ordering rests on it (a sign-out, with the
 * in-process lock and a synchronous store, has cleared the store and emitted `signedOut`
 * before its waiting requests reject); the core's state machine should make that explicit.
 */
const HOPS = 6;

function later(deliver: () => void): void {
  let chain = Promise.resolve();
  for (let hop = 0; hop < HOPS; hop++) chain = chain.then();
  void chain.then(deliver);
}

/**
 * @param read - returns the token to use, or throws why there is none
 * @param mayTimeOut - whether a wait that reached its timeout should fail now (waiting
 *   through a re-authentication, the user is at the prompt: the timer is re-armed)
 */
export function createTokenGate(clock: Clock, read: () => string, mayTimeOut: () => boolean): TokenGate {
  let held = false;
  /** Each waiter's "the gate opened": in arrival order. */
  const waiters = new Set<() => void>();
  return {
    hold: () => void (held = true),
    release() {
      held = false;
      for (const open of [...waiters]) open();
    },
    get size() {
      return waiters.size;
    },
    wait(timeoutMs, signal) {
      return new Promise<string>((resolve, reject) => {
        let timer: unknown;
        const settle = (outcome: () => void) => {
          waiters.delete(open);
          clock.clearTimeout(timer);
          stopFollowing();
          outcome();
        };
        // Read now, deliver a few microtasks later, as the p-queue this replaced did (see HOPS).
        const open = () =>
          settle(() => {
            let outcome: () => void;
            try {
              const token = read();
              outcome = () => resolve(token);
            } catch (error) {
              outcome = () => reject(error);
            }
            later(outcome);
          });
        const arm = () => {
          timer = clock.setTimeout(() => {
            if (mayTimeOut()) settle(() => reject(new TokenWaitTimeoutError(timeoutMs)));
            else arm();
          }, timeoutMs);
        };
        let stopFollowing = () => {};
        if (signal?.aborted) return reject(signal.reason);
        if (!held) return open();
        waiters.add(open);
        arm();
        stopFollowing = whenAborted(signal, () => settle(() => reject(signal?.reason)));
      });
    },
  };
}
