/**
 * Calls `listener` once when `signal` aborts, at once when it already has. Returns the cleanup,
 * which is safe to call after the listener ran. Without a signal, nothing happens.
 */
export function whenAborted(signal: AbortSignal | undefined, listener: () => void): () => void {
  if (signal?.aborted) listener();
  else signal?.addEventListener('abort', listener, { once: true });
  return () => signal?.removeEventListener('abort', listener);
}

/** One cleanup for several subscriptions (an absent one is skipped). */
export function combineCleanups(...cleanups: ((() => void) | undefined)[]): () => void {
  return () => {
    for (const cleanup of cleanups) cleanup?.();
  };
}
