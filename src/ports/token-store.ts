import type { StoredSession } from '../types.ts';

/**
 * Persists the session. The refresh token is the long-lived secret here: a host app backs
 * this port with its most protected storage (the iOS Keychain through Capacitor, for one).
 * With `persistAccessToken: false` the manager never hands the access token to the store.
 *
 * `load` may return anything: the manager validates it and clears what it cannot read.
 * Methods may be sync or async and may throw; the manager wraps failures in `StoreError`.
 */
export interface TokenStore {
  /** The stored session as it was saved, or `null`/`undefined` when there is none. */
  load(): Promise<unknown> | unknown;
  /** Replaces the stored session. */
  save(session: StoredSession): Promise<void> | void;
  /** Removes the stored session (sign-out). */
  clear(): Promise<void> | void;
  /**
   * Optional: calls `listener` when another context (tab, app extension) changed the stored
   * session, so this one adopts the new tokens or follows a sign-out. Returns the cleanup.
   */
  subscribe?(listener: () => void): () => void;
  /**
   * Optional: names the storage this store reads and writes, the same in every context that
   * opens it (for example `web-storage:<key>`). Managers derive their default lock and channel
   * name from it: contexts sharing a store coordinate, sessions that do not share one never
   * wait for each other. Without it, each store object gets a name of its own.
   */
  readonly id?: string;
}

/**
 * Keeps the session in memory (the default). One instance shared by several managers in one
 * process acts as their common store. Nothing survives a relaunch.
 */
export class MemoryTokenStore implements TokenStore {
  #value: StoredSession | null = null;
  readonly #listeners = new Set<() => void>();

  /** A copy of the stored session, or `null`. */
  load(): StoredSession | null {
    return this.#value === null ? null : structuredClone(this.#value);
  }

  /** Stores a copy and tells subscribers (on a microtask). */
  save(session: StoredSession): void {
    this.#value = structuredClone(session);
    this.#notify();
  }

  /** Forgets the session and tells subscribers. */
  clear(): void {
    this.#value = null;
    this.#notify();
  }

  subscribe(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  #notify(): void {
    for (const listener of this.#listeners) queueMicrotask(listener);
  }
}

/** The subset of the Web Storage API that {@link WebStorageTokenStore} uses. */
export interface StorageLike {
  /** The value under `key`, or `null`. */
  getItem(key: string): string | null;
  /** Stores `value` under `key`. */
  setItem(key: string, value: string): void;
  /** Removes `key`. */
  removeItem(key: string): void;
}

/**
 * Keeps the session as JSON in a `localStorage`-style storage. Tabs of one origin share it,
 * and the `storage` event tells each tab of the others' changes.
 *
 * `localStorage` is readable by any script on the page: prefer `persistAccessToken: false`
 * with it, and a platform keystore in native apps.
 */
export class WebStorageTokenStore implements TokenStore {
  readonly #storage: StorageLike;
  readonly #key: string;

  /**
   * @param options.storage - defaults to `globalThis.localStorage`
   * @param options.key - the storage key; defaults to `session-keeper`
   */
  constructor(options: { storage?: StorageLike; key?: string } = {}) {
    const storage = options.storage ?? (globalThis as { localStorage?: StorageLike }).localStorage;
    if (!storage) throw new TypeError('No localStorage: pass a storage');
    this.#storage = storage;
    this.#key = options.key ?? 'session-keeper';
  }

  /** `web-storage:<key>`: the same in every tab, so tabs sharing the key share one lock. */
  get id(): string {
    return `web-storage:${this.#key}`;
  }

  /** The parsed JSON under the key; something unreadable comes back as a value the manager rejects (and clears). */
  load(): unknown {
    const raw = this.#storage.getItem(this.#key);
    if (raw === null) return null;
    try {
      return JSON.parse(raw) as unknown;
    } catch {
      return { corrupt: true }; // the manager sees an unreadable session and clears it
    }
  }

  /** Writes the session as JSON under the key. */
  save(session: StoredSession): void {
    this.#storage.setItem(this.#key, JSON.stringify(session));
  }

  /** Removes the key. */
  clear(): void {
    this.#storage.removeItem(this.#key);
  }

  subscribe(listener: () => void): () => void {
    const target = (globalThis as { window?: Window }).window;
    if (!target?.addEventListener) return () => {};
    const onStorage = (event: StorageEvent) => {
      if (event.key === this.#key || event.key === null) listener();
    };
    target.addEventListener('storage', onStorage);
    return () => target.removeEventListener('storage', onStorage);
  }
}
