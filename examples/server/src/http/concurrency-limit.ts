import { OAuthError } from './errors.ts';

/**
 * At most `concurrency` tasks at once, at most `queue` more waiting (first come, first
 * served); past that, 503 `temporarily_unavailable` with `Retry-After` at once, before any
 * work. It bounds what a flood of sign-ins can take: each one is a password hash, CPU-heavy
 * work on libuv's thread pool, and without a bound a flood would take every core and every
 * pool thread from the refresh grants.
 */
export class ConcurrencyLimit {
  readonly #concurrency: number;
  readonly #queue: number;
  readonly #waiting: Array<() => void> = [];
  #running = 0;

  constructor(options: { concurrency: number; queue: number }) {
    this.#concurrency = options.concurrency;
    this.#queue = options.queue;
  }

  /** Tasks running now. */
  get running(): number {
    return this.#running;
  }

  /** Runs `task` when a slot is free; throws the 503 when the queue is full too. */
  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.#running >= this.#concurrency) {
      if (this.#waiting.length >= this.#queue) {
        throw new OAuthError(503, 'temporarily_unavailable', 'Too many sign-ins at once; retry shortly.', {
          'Retry-After': '1',
        });
      }
      await new Promise<void>((resolve) => this.#waiting.push(resolve));
    } else {
      this.#running += 1;
    }
    try {
      return await task();
    } finally {
      const next = this.#waiting.shift();
      // The slot passes straight to the next waiter (the running count stays), or frees up.
      if (next) next();
      else this.#running -= 1;
    }
  }
}
