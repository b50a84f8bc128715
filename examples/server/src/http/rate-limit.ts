import { OAuthError } from './errors.ts';

const WINDOW_MS = 60_000;

/**
 * A sliding-window rate limiter (two fixed windows, the previous one weighted by how much
 * of it still overlaps the last minute), per key, in process memory, on the injected
 * clock. Several processes each enforce their own limit: a shared limit needs a shared
 * store (Redis, or the load balancer).
 */
export class RateLimiter {
  readonly #limit: number;
  readonly #now: () => number;
  readonly #windows = new Map<string, { start: number; count: number; previous: number }>();

  constructor(limitPerMinute: number, now: () => number) {
    this.#limit = limitPerMinute;
    this.#now = now;
  }

  /** Counts one request for `key`; throws 429 `slow_down` with `Retry-After` when over the limit. */
  hit(key: string): void {
    this.check(key);
    this.add(key);
  }

  /** Throws 429 `slow_down` with `Retry-After` when one more request for `key` would be over the limit. */
  check(key: string): void {
    if (this.#limit <= 0) return;
    const now = this.#now();
    const window = this.#window(key, now);
    const overlap = 1 - (now - window.start) / WINDOW_MS;
    const estimate = window.previous * overlap + window.count;
    if (estimate + 1 > this.#limit) {
      // When this window would be enough on its own, wait for the next; else for the
      // previous window's weight to fade enough.
      const retryMs =
        window.count + 1 > this.#limit
          ? window.start + WINDOW_MS - now
          : Math.max(1000, (1 - (this.#limit - 1 - window.count) / window.previous) * WINDOW_MS - (now - window.start));
      throw new OAuthError(429, 'slow_down', 'Too many requests; retry later.', {
        'Retry-After': String(Math.max(1, Math.ceil(retryMs / 1000))),
      });
    }
  }

  /** Counts one request for `key` without checking. */
  add(key: string): void {
    if (this.#limit <= 0) return;
    this.#window(key, this.#now()).count += 1;
  }

  /**
   * Checks and counts one attempt for `key` now, before the work it limits, so that
   * concurrent attempts cannot all pass the check before any of them is counted (a burst of
   * parallel password guesses). Returns a function that gives the slot back (the attempt did
   * not count after all, for example a successful login); calling it more than once, or after
   * the slot's window has left the sliding window, does nothing.
   */
  reserve(key: string): () => void {
    this.check(key);
    if (this.#limit <= 0) return () => {};
    const window = this.#window(key, this.#now());
    const start = window.start;
    window.count += 1;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const current = this.#windows.get(key);
      if (!current) return;
      if (current.start === start) current.count = Math.max(0, current.count - 1);
      else if (current.start === start + WINDOW_MS) current.previous = Math.max(0, current.previous - 1);
    };
  }

  #window(key: string, now: number): { start: number; count: number; previous: number } {
    const start = now - (now % WINDOW_MS);
    let window = this.#windows.get(key);
    if (!window || window.start !== start) {
      const previous = window && window.start === start - WINDOW_MS ? window.count : 0;
      window = { start, count: 0, previous };
      this.#windows.set(key, window);
      if (this.#windows.size > 10_000) this.#sweep(start);
    }
    return window;
  }

  #sweep(currentStart: number): void {
    for (const [key, window] of this.#windows) {
      if (window.start < currentStart - WINDOW_MS) this.#windows.delete(key);
    }
  }
}
