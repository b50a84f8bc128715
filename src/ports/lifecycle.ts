/**
 * "The app came to the foreground." The session manager checks the token then and refreshes
 * it if it expires within the margin.
 */
export interface LifecyclePort {
  /** Calls `onForeground` each time the app becomes visible; returns the cleanup. */
  subscribe(onForeground: () => void): () => void;
}

/**
 * A lifecycle port from a setup function, in the style of TanStack Query's focusManager:
 * `setup` receives the callback and returns its cleanup.
 * @example
 * // Capacitor: one signal, awaited before relying on it
 * createLifecycle((foreground) => {
 *   const handle = App.addListener('appStateChange', ({ isActive }) => isActive && foreground());
 *   return () => void handle.then((h) => h.remove());
 * });
 */
export function createLifecycle(setup: (onForeground: () => void) => () => void): LifecyclePort {
  return { subscribe: setup };
}

/**
 * The default: `visibilitychange` on `document` where there is one (browsers, WebViews);
 * nothing elsewhere (Node.js has no foreground).
 */
export const visibilityLifecycle: LifecyclePort = createLifecycle((onForeground) => {
  const doc = (globalThis as { document?: Document }).document;
  if (!doc?.addEventListener) return () => {};
  const listener = () => {
    if (doc.visibilityState === 'visible') onForeground();
  };
  doc.addEventListener('visibilitychange', listener);
  return () => doc.removeEventListener('visibilitychange', listener);
});
