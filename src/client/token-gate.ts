import PQueue from 'p-queue';
import { TokenWaitTimeoutError } from '../errors.ts';
import type { Clock } from '../ports/clock.ts';
import { whenAborted } from '../utils/listeners.ts';

/**
 * Where requests wait while the session has no usable token (a refresh or a re-authentication
 * is in flight). A paused p-queue: `hold()` when a refresh starts, `release()` when it settles,
 * either way; each waiting task then reads the outcome (a token, or the session-expired error).
 */
export interface TokenGate {
  /** Requests wait from now on. */
  hold(): void;
  /** Every waiting request reads the outcome. */
  release(): void;
  /** How many requests are waiting. */
  readonly size: number;
  /**
   * Waits for the gate to open, for `timeoutMs` at most, or until `signal` aborts; then reads
   * the outcome: a token, or `undefined` when the session needs another decision.
   */
  wait(timeoutMs: number, signal?: AbortSignal): Promise<string | undefined>;
}

/**
 * @param read - returns the token to use, `undefined` to decide again, or throws why there is none
 * @param mayTimeOut - whether a wait that reached its timeout should fail now (waiting
 *   through a re-authentication, the user is at the prompt: the timer is re-armed)
 */
export function createTokenGate(clock: Clock, read: () => string | undefined, mayTimeOut: () => boolean): TokenGate {
  // Made on the first wait: most sessions never queue a request, and p-queue (an EventTarget)
  // cannot be constructed under DOM shims such as happy-dom or jsdom.
  let queue: PQueue | undefined;
  let held = false;
  const open = () => {
    if (!queue) {
      queue = new PQueue({ autoStart: false });
      if (!held) queue.start();
    }
    return queue;
  };
  return {
    hold() {
      held = true;
      queue?.pause();
    },
    release() {
      held = false;
      queue?.start();
    },
    get size() {
      return queue?.size ?? 0;
    },
    wait(timeoutMs, signal) {
      const controller = new AbortController();
      let timer: unknown;
      const arm = () => {
        timer = clock.setTimeout(() => {
          if (mayTimeOut()) controller.abort(new TokenWaitTimeoutError(timeoutMs));
          else arm();
        }, timeoutMs);
      };
      arm();
      const stopFollowing = whenAborted(signal, () => controller.abort(signal?.reason));
      return open()
        .add(read, { signal: controller.signal })
        .finally(() => {
          clock.clearTimeout(timer);
          stopFollowing();
        });
    },
  };
}
