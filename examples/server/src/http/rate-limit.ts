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

  /** Counts one request for `key` without checking (for example: a failed login). */
  add(key: string): void {
    if (this.#limit <= 0) return;
    this.#window(key, this.#now()).count += 1;
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
