/** Retry timing for transient refresh failures. */
export interface BackoffOptions {
  /** First delay in ms (default 1000). */
  initialDelay: number;
  /** Upper bound of any delay in ms (default 60 000). */
  maxDelay: number;
}

export const defaultBackoff: BackoffOptions = { initialDelay: 1000, maxDelay: 60_000 };

/**
 * Capped exponential backoff with "equal jitter": half the delay is fixed, half random, so
 * many clients that failed together spread out but none retries at once. A server's
 * `Retry-After` lengthens the wait (capped at `maxDelay`), never shortens it: `Retry-After: 0`,
 * or a date already past on a device clock that runs fast, is no reason to hammer a server
 * that said it is overloaded.
 * @param attempt - 1 for the first retry
 * @param random - a number in [0, 1)
 */
export function backoffDelay(attempt: number, options: BackoffOptions, random: number, retryAfterMs = 0): number {
  const exponential = Math.min(options.maxDelay, options.initialDelay * 2 ** Math.max(0, attempt - 1));
  return Math.min(options.maxDelay, Math.max(retryAfterMs, exponential / 2 + (exponential / 2) * random));
}
