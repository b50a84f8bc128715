import { StoreError } from '../errors.ts';
import type { ResolvedOptions } from '../options.ts';
import { combineCleanups } from '../utils/listeners.ts';
import { fromStoredSession, toStoredSession } from '../token-set.ts';
import type { SessionTokens } from '../types.ts';

/** What the store held. */
export type Loaded = { kind: 'empty' } | { kind: 'garbled' } | { kind: 'ok'; tokens: SessionTokens };

/**
 * The manager's view of its `TokenStore`: validates what it loads, wraps the store's own
 * failures in {@link StoreError}, and remembers whether the store holds this manager's session
 * (an empty store then means another context signed out).
 */
export interface SessionStorage {
  /** Whether the store holds (as far as we know) the session this manager runs. */
  readonly holdsOurs: boolean;
  /** The session in use came from the store (restored, or adopted from another context). */
  followed(): void;
  /** Another context cleared the store: it no longer holds our session. */
  forget(): void;
  /** Remembers a refresh token this manager moved on from (rotated, or replaced by a newer one). */
  retire(refreshToken: string | undefined): void;
  /**
   * Whether `tokens` is a set this manager has already moved on from: the store still holds it
   * when saving the rotation failed (a locked keychain, a full `localStorage`). Not newer, then.
   */
  isRetired(tokens: SessionTokens): boolean;
  /**
   * Whether what was loaded is older than a write another context has announced: the store
   * will change in a moment (a browser shows one tab's `localStorage` write to another late).
   */
  isStale(loaded: Loaded): boolean;
  /** @throws StoreError - the store threw; nothing was changed */
  load(): Promise<Loaded>;
  /**
   * Saves; a failing store is logged, not thrown: the new tokens stay usable in memory (the
   * server has already retired the previous refresh token, so dropping them would be worse).
   */
  save(tokens: SessionTokens): Promise<void>;
  /** Clears; a failing store is logged, not thrown. */
  clear(): Promise<void>;
  /** Calls `listener` when another context may have changed the store; returns the cleanup. */
  subscribe(listener: () => void): () => void;
}

/**
 * @param options.broadcast - told after this manager changed the store; its notices from other
 *   contexts are heard like the store's own
 */
export function createSessionStorage({
  store,
  persistAccessToken,
  logger,
  broadcast,
}: Pick<ResolvedOptions, 'store' | 'persistAccessToken' | 'logger' | 'broadcast'>): SessionStorage {
  /** The newest revision written or announced: every save writes a higher one. */
  let announced = 0;
  let holdsOurs = false;
  /**
   * Refresh tokens this manager moved on from, newest last: what a failed save leaves in the
   * store. Trimmed only once a save succeeded (the store then holds our newest set), so a store
   * that keeps failing never has its content forgotten.
   */
  const retired: string[] = [];
  /** Tells other contexts; a channel that throws loses only the notice, not the write. */
  const announce = (revision: number): void => {
    try {
      broadcast?.post(revision);
    } catch (error) {
      logger.warn('could not tell other contexts about a store change', { error });
    }
  };
  const storage: SessionStorage = {
    get holdsOurs() {
      return holdsOurs;
    },
    followed: () => void (holdsOurs = true),
    forget: () => void (holdsOurs = false),
    retire(refreshToken) {
      if (refreshToken !== undefined && !retired.includes(refreshToken)) retired.push(refreshToken);
    },
    isRetired: ({ refreshToken }) => refreshToken !== undefined && retired.includes(refreshToken),
    isStale: (loaded) => loaded.kind === 'ok' && (loaded.tokens.revision ?? 0) < announced,
    async load() {
      let value: unknown;
      try {
        value = await store.load();
      } catch (error) {
        throw new StoreError('load', error);
      }
      if (value === null || value === undefined) return { kind: 'empty' };
      const tokens = fromStoredSession(value);
      if (tokens === null) return { kind: 'garbled' };
      // What we read is at least as new as this revision: the next save goes above it.
      announced = Math.max(announced, tokens.revision ?? 0);
      return { kind: 'ok', tokens };
    },
    async save(tokens) {
      const revision = announced + 1;
      try {
        await store.save(toStoredSession(tokens, persistAccessToken, revision));
        announced = Math.max(announced, revision);
        holdsOurs = true;
        retired.splice(0, retired.length - 8);
      } catch (error) {
        logger.error('token store failed to save; session kept in memory', {
          error: new StoreError('save', error),
        });
        return;
      }
      announce(revision);
    },
    async clear() {
      holdsOurs = false;
      try {
        await store.clear();
      } catch (error) {
        logger.error('token store failed to clear', { error: new StoreError('clear', error) });
        return;
      }
      announce(++announced);
    },
    subscribe: (listener) =>
      combineCleanups(
        store.subscribe?.(listener),
        broadcast?.subscribe((version) => {
          announced = Math.max(announced, version ?? 0);
          listener();
        }),
      ),
  };
  return storage;
}
