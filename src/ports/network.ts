/** "Is the network up?" and "the network is back", so a failed refresh retries at once. */
export interface NetworkPort {
  /** Whether the device believes it is online now (a hint: a request may still fail). */
  isOnline(): boolean;
  /** Calls `onOnline` each time connectivity returns; returns the cleanup. */
  subscribe(onOnline: () => void): () => void;
}

/** A network port from a status getter and a setup function (see {@link createLifecycle}). */
export function createNetwork(isOnline: () => boolean, setup: (onOnline: () => void) => () => void): NetworkPort {
  return { isOnline, subscribe: setup };
}

/**
 * The default: the `online` event on `window` and `navigator.onLine` where present; in
 * Node.js, always online (a failed request says otherwise).
 */
export const browserNetwork: NetworkPort = createNetwork(
  () => (globalThis as { navigator?: { onLine?: boolean } }).navigator?.onLine !== false,
  (onOnline) => {
    const target = (globalThis as { window?: Window }).window;
    if (!target?.addEventListener) return () => {};
    target.addEventListener('online', onOnline);
    return () => target.removeEventListener('online', onOnline);
  },
);
