/**
 * The session's scope: which session the work in flight belongs to, and the one refresh (or
 * re-authentication) running for it. Replacing the scope (a sign-in, a sign-out, another
 * context's session adopted) aborts its signal, which stops the old session's loops, and
 * forgets its flight, so the next refresh is the new session's own.
 */
export class SessionScope {
  #controller = new AbortController();
  #inflight: Promise<void> | undefined;
  #closed = false;

  /** Aborts when this session ends or is replaced. */
  get signal(): AbortSignal {
    return this.#controller.signal;
  }

  /** Whether `signal` is still the current session's: nothing replaced it meanwhile. */
  isCurrent(signal: AbortSignal): boolean {
    return signal === this.#controller.signal && !signal.aborted;
  }

  /** Ends the current session's work and starts a new scope. */
  replace(reason?: unknown): void {
    if (this.#closed) return;
    this.#controller.abort(reason);
    this.#controller = new AbortController();
    this.#inflight = undefined;
  }

  /** Ends the current session's work for good: nothing starts in this scope again. */
  close(reason: unknown): void {
    this.#controller.abort(reason);
    this.#inflight = undefined;
    this.#closed = true;
  }

  /** The flight running, if any. */
  get inflight(): Promise<void> | undefined {
    return this.#inflight;
  }

  /**
   * Single flight: runs `task` with the scope's signal unless one runs already (then joins
   * it). A task that throws is reported to `onError`, never left as an unhandled rejection.
   */
  exclusive(task: (signal: AbortSignal) => Promise<void>, onError: (error: unknown) => void): Promise<void> {
    if (this.#inflight) return this.#inflight;
    if (this.#closed) return Promise.resolve();
    const run = task(this.#controller.signal)
      .catch(onError)
      .finally(() => {
        if (this.#inflight === run) this.#inflight = undefined;
      });
    this.#inflight = run;
    return run;
  }
}
