import { StoreError } from '../errors.ts';
import type { Logger } from '../ports/logger.ts';
import type { TokenStore } from '../ports/token-store.ts';
import { fromStoredSession, toStoredSession } from '../token-set.ts';
import type { SessionTokens } from '../types.ts';

/** What the store held. */
export type Loaded = { kind: 'empty' } | { kind: 'garbled' } | { kind: 'ok'; tokens: SessionTokens };

/**
 * The manager's view of its `TokenStore`: validates what it loads, wraps the store's own
 * failures in {@link StoreError}, and remembers whether this manager has saved a session
 * (an empty store then means another context signed out).
 */
export class SessionStorage {
  readonly #store: TokenStore;
  readonly #persistAccessToken: boolean;
  readonly #logger: Logger;
  /** Whether the store holds (as far as we know) the session this manager saved. */
  saved = false;

  readonly #onChange: () => void;

  /** @param onChange - called after this manager changed the store (to tell other contexts) */
  constructor(store: TokenStore, persistAccessToken: boolean, logger: Logger, onChange: () => void = () => {}) {
    this.#store = store;
    this.#onChange = onChange;
    this.#persistAccessToken = persistAccessToken;
    this.#logger = logger;
  }

  /** @throws StoreError - the store threw; nothing was changed */
  async load(): Promise<Loaded> {
    let value: unknown;
    try {
      value = await this.#store.load();
    } catch (error) {
      throw new StoreError('load', error);
    }
    if (value === null || value === undefined) return { kind: 'empty' };
    const tokens = fromStoredSession(value);
    return tokens === null ? { kind: 'garbled' } : { kind: 'ok', tokens };
  }

  /**
   * Saves; a failing store is logged, not thrown: the new tokens stay usable in memory (the
   * server has already retired the previous refresh token, so dropping them would be worse).
   */
  async save(tokens: SessionTokens): Promise<void> {
    try {
      await this.#store.save(toStoredSession(tokens, this.#persistAccessToken));
      this.saved = true;
      this.#onChange();
    } catch (error) {
      this.#logger.error('token store failed to save; the session lives in memory only', {
        error: new StoreError('save', error),
      });
    }
  }

  async clear(): Promise<void> {
    this.saved = false;
    try {
      await this.#store.clear();
      this.#onChange();
    } catch (error) {
      this.#logger.error('token store failed to clear', { error: new StoreError('clear', error) });
    }
  }

  subscribe(listener: () => void): () => void {
    return this.#store.subscribe?.(listener) ?? (() => {});
  }
}
