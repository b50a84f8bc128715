import { App } from '@capacitor/app';
import type { LifecyclePort } from 'session-keeper';

/** The SDK's lifecycle port on Capacitor's App plugin, plus a hook for the UI. */
export interface AppLifecycle extends LifecyclePort {
  /** Calls `listener` on every foreground/background change; returns the cleanup. */
  onChange(listener: (isActive: boolean) => void): () => void;
  /** Removes the native listener. */
  dispose(): Promise<void>;
}

/**
 * "The app came to the foreground" from `@capacitor/app`'s `appStateChange`, the one signal
 * this app listens to (`resume` would report the same moment twice). The native listener
 * attaches lazily, so this awaits `addListener` before anything relies on it: build the
 * `SessionManager` after this resolves. On the web the plugin derives the same event from
 * `visibilitychange`.
 */
export async function createAppLifecycle(): Promise<AppLifecycle> {
  const foreground = new Set<() => void>();
  const changes = new Set<(isActive: boolean) => void>();
  const handle = await App.addListener('appStateChange', ({ isActive }) => {
    for (const listener of changes) listener(isActive);
    if (isActive) for (const listener of foreground) listener();
  });
  return {
    subscribe(onForeground) {
      foreground.add(onForeground);
      return () => void foreground.delete(onForeground);
    },
    onChange(listener) {
      changes.add(listener);
      return () => void changes.delete(listener);
    },
    dispose: () => handle.remove(),
  };
}
