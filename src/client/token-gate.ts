import PQueue from 'p-queue';
import { TokenWaitTimeoutError } from '../errors.ts';
import type { Clock } from '../ports/clock.ts';

/**
 * Where requests wait while the session has no usable token (a refresh or a re-authentication
 * is in flight). A paused p-queue: `hold()` when a refresh starts, `release()` when it settles,
 * either way; each waiting task then reads the outcome (a token, or the session-expired error).
 */
export class TokenGate {
  readonly #queue = new PQueue({ autoStart: false });
  readonly #clock: Clock;
  readonly #read: () => string;
  readonly #mayTimeOut: () => boolean;

  /**
   * @param read - returns the token to use, or throws why there is none
   * @param mayTimeOut - whether a wait that reached its timeout should fail now (waiting
   *   through a re-authentication, the user is at the prompt: the timer is re-armed)
   */
  constructor(clock: Clock, read: () => string, mayTimeOut: () => boolean) {
    this.#clock = clock;
    this.#read = read;
    this.#mayTimeOut = mayTimeOut;
  }

  /** Requests wait from now on. */
  hold(): void {
    this.#queue.pause();
  }

  /** Every waiting request reads the outcome. */
  release(): void {
    this.#queue.start();
  }

  /** How many requests are waiting. */
  get size(): number {
    return this.#queue.size;
  }

  /** Waits for the gate to open, for `timeoutMs` at most, or until `signal` aborts. */
  wait(timeoutMs: number, signal?: AbortSignal): Promise<string> {
    const controller = new AbortController();
    let timer: unknown;
    const arm = () => {
      timer = this.#clock.setTimeout(() => {
        if (this.#mayTimeOut()) controller.abort(new TokenWaitTimeoutError(timeoutMs));
        else arm();
      }, timeoutMs);
    };
    arm();
    const onAbort = () => controller.abort(signal?.reason);
    if (signal?.aborted) onAbort();
    else signal?.addEventListener('abort', onAbort, { once: true });
    return this.#queue.add(() => this.#read(), { signal: controller.signal }).finally(() => {
      this.#clock.clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
    });
  }
}
