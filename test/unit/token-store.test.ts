/**
 * The token stores: the in-memory default (copies, notices on a microtask) and the Web
 * Storage one (JSON under a key, the `storage` event), on a stubbed storage and window.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { MemoryTokenStore, WebStorageTokenStore, type StorageLike } from '../../src/ports/token-store.ts';
import { flushMicrotasks } from '../../src/testing.ts';
import type { StoredSession } from '../../src/types.ts';
import { NOW } from './builders.ts';

const session = (refreshToken = 'r1'): StoredSession => ({
  version: 1,
  refreshToken,
  tokenType: 'Bearer',
  accessTokenExpiresAt: NOW + 600_000,
  sessionStartedAt: NOW,
  receivedAt: NOW,
});

afterEach(() => {
  vi.unstubAllGlobals();
});

describe('MemoryTokenStore', () => {
  it('holds nothing at first', () => {
    expect(new MemoryTokenStore().load()).toBeNull();
  });

  it('loads what was saved, as a copy that does not change the stored one', () => {
    const store = new MemoryTokenStore();
    const saved = session();
    store.save(saved);
    saved.refreshToken = 'changed after save';
    const loaded = store.load()!;
    loaded.refreshToken = 'changed after load';
    expect(store.load()).toEqual(session());
  });

  it('holds nothing after a clear', () => {
    const store = new MemoryTokenStore();
    store.save(session());
    store.clear();
    expect(store.load()).toBeNull();
  });

  it('tells subscribers of a save and of a clear, on a microtask', async () => {
    const store = new MemoryTokenStore();
    let notices = 0;
    store.subscribe(() => notices++);
    store.save(session());
    store.clear();
    expect(notices).toBe(0);
    await flushMicrotasks();
    expect(notices).toBe(2);
  });

  it('stops telling a subscriber once its cleanup ran', async () => {
    const store = new MemoryTokenStore();
    let notices = 0;
    store.subscribe(() => notices++)();
    store.save(session());
    await flushMicrotasks();
    expect(notices).toBe(0);
  });
});

function memoryStorage(): StorageLike & { data: Map<string, string> } {
  const data = new Map<string, string>();
  return {
    data,
    getItem: (key) => data.get(key) ?? null,
    setItem: (key, value) => void data.set(key, value),
    removeItem: (key) => void data.delete(key),
  };
}

describe('WebStorageTokenStore', () => {
  it('refuses to start without a storage where there is no localStorage', () => {
    vi.stubGlobal('localStorage', undefined);
    expect(() => new WebStorageTokenStore()).toThrow(new TypeError('No localStorage: pass a storage'));
  });

  it('uses localStorage by default, under the key session-keeper', () => {
    const storage = memoryStorage();
    vi.stubGlobal('localStorage', storage);
    new WebStorageTokenStore().save(session());
    expect(JSON.parse(storage.data.get('session-keeper')!)).toEqual(session());
  });

  it('saves JSON under its key and loads it back', () => {
    const storage = memoryStorage();
    const store = new WebStorageTokenStore({ storage, key: 'app-session' });
    store.save(session('r2'));
    expect([...storage.data.keys()]).toEqual(['app-session']);
    expect(store.load()).toEqual(session('r2'));
  });

  it('loads null when nothing is stored', () => {
    expect(new WebStorageTokenStore({ storage: memoryStorage() }).load()).toBeNull();
  });

  it('loads garbled JSON as a value the manager will refuse, instead of throwing', () => {
    const storage = memoryStorage();
    storage.setItem('session-keeper', '{"version":1,"refre');
    expect(new WebStorageTokenStore({ storage }).load()).toEqual({ corrupt: true });
  });

  it('removes its key on clear, and only its key', () => {
    const storage = memoryStorage();
    storage.setItem('other', 'kept');
    const store = new WebStorageTokenStore({ storage });
    store.save(session());
    store.clear();
    expect([...storage.data.keys()]).toEqual(['other']);
  });

  it('does not subscribe where there is no window (Node.js)', () => {
    vi.stubGlobal('window', undefined);
    const store = new WebStorageTokenStore({ storage: memoryStorage() });
    expect(() => store.subscribe(() => {})()).not.toThrow();
  });

  describe('subscribe, with a window', () => {
    /** The store's subscription on a stubbed window; `change(key)` plays another tab's write. */
    function subscribed() {
      const target = new EventTarget();
      vi.stubGlobal('window', target);
      const store = new WebStorageTokenStore({ storage: memoryStorage(), key: 'app-session' });
      const notices = { count: 0 };
      const stop = store.subscribe(() => notices.count++);
      const change = (key: string | null) => target.dispatchEvent(Object.assign(new Event('storage'), { key }));
      return { notices, stop, change };
    }

    it("calls back on another tab's change of its key", () => {
      const { notices, change } = subscribed();
      change('app-session');
      expect(notices.count).toBe(1);
    });

    it('calls back when another tab cleared the whole storage', () => {
      const { notices, change } = subscribed();
      change(null);
      expect(notices.count).toBe(1);
    });

    it("ignores another tab's change of another key", () => {
      const { notices, change } = subscribed();
      change('another-key');
      expect(notices.count).toBe(0);
    });

    it('stops calling back once its cleanup ran', () => {
      const { notices, stop, change } = subscribed();
      stop();
      change('app-session');
      expect(notices.count).toBe(0);
    });
  });
});

describe('WebStorageTokenStore: its id', () => {
  it('names the storage key, so stores on one key share a lock and a channel', () => {
    expect(new WebStorageTokenStore({ storage: memoryStorage() }).id).toBe('web-storage:session-keeper');
    expect(new WebStorageTokenStore({ storage: memoryStorage(), key: 'app' }).id).toBe('web-storage:app');
  });
});
