import type { SessionEvents, SessionInfo, SessionState } from './types.ts';

/**
 * The events after which UI bindings read the session again: the state moved, or a new token
 * set is in use (sign-in, restore, refresh, re-authentication, adoption). The one list to
 * change when the session's events are renamed.
 */
export const SNAPSHOT_EVENTS = ['stateChange', 'tokensChanged'] as const satisfies readonly (keyof SessionEvents)[];

/**
 * What a UI shows of the session: never a token. The same object until something changes,
 * so that React's `useSyncExternalStore` re-renders only then.
 */
export interface SessionSnapshot {
  /** The session's state. */
  readonly state: SessionState;
  /** Its instants (see {@link SessionInfo}); `null` when signed out. No age: it would change every millisecond. */
  readonly info: Readonly<Omit<SessionInfo, 'state' | 'ageMs'>> | null;
}

/** A `subscribe` / `getSnapshot` pair, the shape `useSyncExternalStore` takes. */
export interface SessionBindings {
  /**
   * Calls `listener` (with the new snapshot) after every change; returns the unsubscribe.
   * A listener that throws does not keep the others from being called.
   */
  subscribe(listener: (snapshot: SessionSnapshot) => void): () => void;
  /** The current snapshot: the same object until the state or the token set changes. */
  getSnapshot(): SessionSnapshot;
}

/** What the bindings read from the session. {@link SessionManager} is one. */
export interface SnapshotSource {
  readonly state: SessionState;
  readonly info: SessionInfo | null;
  on<K extends (typeof SNAPSHOT_EVENTS)[number]>(type: K, handler: (event: SessionEvents[K]) => void): () => void;
}

function read(source: SnapshotSource): SessionSnapshot {
  const current = source.info;
  const info = current && {
    startedAt: current.startedAt,
    accessTokenExpiresAt: current.accessTokenExpiresAt,
    refreshTokenExpiresAt: current.refreshTokenExpiresAt,
    sessionExpiresAt: current.sessionExpiresAt,
  };
  return Object.freeze({ state: source.state, info: info && Object.freeze(info) });
}

/**
 * Bindings over `source` for UI frameworks (each wraps them in a few lines; see the README):
 * React: `useSyncExternalStore(session.subscribe, session.getSnapshot)`.
 */
export function createSessionBindings(source: SnapshotSource): SessionBindings {
  const listeners = new Set<(snapshot: SessionSnapshot) => void>();
  let snapshot: SessionSnapshot | undefined;
  const getSnapshot = (): SessionSnapshot => {
    // The state check also covers a change no event announced (handlers are cleared by dispose()).
    if (snapshot === undefined || snapshot.state !== source.state) snapshot = read(source);
    return snapshot;
  };
  const changed = (): void => {
    snapshot = undefined;
    let failure: { error: unknown } | undefined;
    for (const listener of [...listeners]) {
      try {
        listener(getSnapshot());
      } catch (error) {
        failure ??= { error };
      }
    }
    if (failure) throw failure.error;
  };
  for (const type of SNAPSHOT_EVENTS) source.on(type, changed);
  return {
    subscribe(listener) {
      const entry = (next: SessionSnapshot) => listener(next);
      listeners.add(entry);
      return () => void listeners.delete(entry);
    },
    getSnapshot,
  };
}
