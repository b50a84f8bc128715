/**
 * Tells the other contexts (tabs, windows, workers, app extensions) sharing a store that this
 * one changed it, so they re-read it at once: they stop using a rotated access token and follow
 * a sign-in or sign-out. The message carries only a version (the time of the write), never a
 * token: receivers re-read the store, and wait for it when it is older than the version (a
 * browser can show one tab's `localStorage` write to another a few ms late).
 */
export interface BroadcastPort {
  /** Announces a change of the stored session, made at `version` (ms on the clock). */
  post(version: number): void;
  /** Calls `listener` on another context's announcement; returns the cleanup. */
  subscribe(listener: (version: number | undefined) => void): () => void;
}

/**
 * The default: a `BroadcastChannel` named after the lock (browsers, WebViews, workers,
 * Node.js). `undefined` where there is none; the store's own change events still work.
 */
export function broadcastChannel(name: string): BroadcastPort | undefined {
  const Channel = (globalThis as { BroadcastChannel?: typeof BroadcastChannel }).BroadcastChannel;
  if (!Channel) return undefined;
  let channel: BroadcastChannel | undefined;
  const listeners = new Set<(version: number | undefined) => void>();
  const open = (): BroadcastChannel => {
    if (!channel) {
      channel = new Channel(name);
      // Node.js: an open channel must not keep the process alive.
      (channel as { unref?: () => void }).unref?.();
      channel.onmessage = ({ data }: MessageEvent<unknown>) => {
        const version = typeof data === 'number' && Number.isFinite(data) ? data : undefined;
        for (const listener of listeners) listener(version);
      };
    }
    return channel;
  };
  return {
    post: (version) => open().postMessage(version),
    subscribe(listener) {
      listeners.add(listener);
      open();
      return () => {
        listeners.delete(listener);
        if (listeners.size === 0) {
          channel?.close();
          channel = undefined;
        }
      };
    },
  };
}
