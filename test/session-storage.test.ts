import { describe, expect, it, vi } from 'vitest';
import { StoreError } from '../src/errors.ts';
import type { BroadcastPort } from '../src/ports/broadcast.ts';
import { inProcessLock } from '../src/ports/lock.ts';
import { MemoryTokenStore, type TokenStore } from '../src/ports/token-store.ts';
import { createPersistence } from '../src/session/persistence.ts';
import { createSessionStorage } from '../src/session/storage.ts';
import { toStoredSession } from '../src/token-set.ts';
import { flushMicrotasks } from '../src/testing.ts';
import { captureLogs } from './helpers/setup.ts';
import { tokens } from './helpers/records.ts';

/** A broadcast port that records what was posted and lets the test play another context's notice. */
function recordingBroadcast() {
  const posted: number[] = [];
  const listeners = new Set<(version: number | undefined) => void>();
  const port: BroadcastPort = {
    post: (version) => void posted.push(version),
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
  return {
    port,
    posted,
    announce: (version: number | undefined) => listeners.forEach((listener) => listener(version)),
  };
}

function setup(store: TokenStore = new MemoryTokenStore(), persistAccessToken = true) {
  const logs = captureLogs();
  const broadcast = recordingBroadcast();
  const storage = createSessionStorage({ store, persistAccessToken, logger: logs.logger, broadcast: broadcast.port });
  return { store, storage, logs, broadcast };
}

const failing = (operation: 'load' | 'save' | 'clear'): TokenStore => ({
  load: () => {
    if (operation === 'load') throw new Error('locked keychain');
    return null;
  },
  save: () => {
    if (operation === 'save') throw new Error('quota exceeded');
  },
  clear: () => {
    if (operation === 'clear') throw new Error('read-only');
  },
});

describe('the session storage', () => {
  it('an empty store loads as empty, a foreign value as garbled', async () => {
    const store = new MemoryTokenStore();
    const { storage } = setup(store);
    await expect(storage.load()).resolves.toEqual({ kind: 'empty' });
    const garbled = setup({ load: () => ({ version: 99 }), save() {}, clear() {} });
    await expect(garbled.storage.load()).resolves.toEqual({ kind: 'garbled' });
    const undefinedStore = setup({ load: () => undefined, save() {}, clear() {} });
    await expect(undefinedStore.storage.load()).resolves.toEqual({ kind: 'empty' });
  });

  it('a save is stamped with a revision above everything seen, and announced', async () => {
    const { storage, store, broadcast } = setup();
    await storage.save(tokens());
    await storage.save(tokens({ refreshToken: 'rt-2' }));
    expect(broadcast.posted).toEqual([1, 2]);
    expect((store.load() as { revision: number }).revision).toBe(2);
    await expect(storage.load()).resolves.toMatchObject({ kind: 'ok', tokens: { refreshToken: 'rt-2', revision: 2 } });
  });

  it('a load raises the next revision above what it read', async () => {
    const store = new MemoryTokenStore();
    store.save(toStoredSession(tokens(), true, 41));
    const { storage, broadcast } = setup(store);
    await storage.load();
    await storage.save(tokens());
    expect(broadcast.posted).toEqual([42]);
  });

  it('a load older than an announced write is stale; one as new is not', async () => {
    const store = new MemoryTokenStore();
    store.save(toStoredSession(tokens(), true, 3));
    const { storage, broadcast } = setup(store);
    storage.subscribe(() => {});
    const loaded = await storage.load();
    expect(storage.isStale(loaded)).toBe(false);
    broadcast.announce(4);
    expect(storage.isStale(loaded)).toBe(true);
    expect(storage.isStale({ kind: 'empty' })).toBe(false);
    await storage.save(tokens());
    expect(broadcast.posted).toEqual([5]);
  });

  it('a set saved without a revision counts as revision 0', async () => {
    const store = new MemoryTokenStore();
    const { revision: _none, ...unversioned } = toStoredSession(tokens(), true, 1);
    store.save(unversioned as never);
    const { storage, broadcast } = setup(store);
    storage.subscribe(() => {});
    const loaded = await storage.load();
    expect(storage.isStale(loaded)).toBe(false);
    broadcast.announce(1);
    expect(storage.isStale(loaded)).toBe(true);
  });

  it('a notice without a version still tells the listener, and moves nothing', async () => {
    const { storage, broadcast } = setup();
    const listener = vi.fn();
    storage.subscribe(listener);
    broadcast.announce(undefined);
    expect(listener).toHaveBeenCalledTimes(1);
    await storage.save(tokens());
    expect(broadcast.posted).toEqual([1]);
  });

  it('the store own change events and the broadcast both reach the listener, until the cleanup', async () => {
    const { storage, store, broadcast } = setup();
    const listener = vi.fn();
    const off = storage.subscribe(listener);
    (store as MemoryTokenStore).save(toStoredSession(tokens(), true, 1));
    await flushMicrotasks();
    broadcast.announce(2);
    expect(listener).toHaveBeenCalledTimes(2);
    off();
    (store as MemoryTokenStore).clear();
    broadcast.announce(3);
    await flushMicrotasks();
    expect(listener).toHaveBeenCalledTimes(2);
  });

  it('the access token stays out of the store when it is kept in memory only', async () => {
    const { storage, store } = setup(new MemoryTokenStore(), false);
    await storage.save(tokens());
    expect(store.load()).not.toHaveProperty('accessToken');
    await expect(storage.load()).resolves.toMatchObject({ tokens: { accessToken: '' } });
  });

  it('holds our session after a save or a follow, not after a clear or a forget', async () => {
    const { storage } = setup();
    expect(storage.holdsOurs).toBe(false);
    await storage.save(tokens());
    expect(storage.holdsOurs).toBe(true);
    storage.forget();
    expect(storage.holdsOurs).toBe(false);
    storage.followed();
    expect(storage.holdsOurs).toBe(true);
    await storage.clear();
    expect(storage.holdsOurs).toBe(false);
  });

  it('a clear is announced with the next revision', async () => {
    const { storage, store, broadcast } = setup();
    await storage.save(tokens());
    await storage.clear();
    expect(store.load()).toBeNull();
    expect(broadcast.posted).toEqual([1, 2]);
  });

  it('a failing save is logged, not thrown, and does not claim the store', async () => {
    const { storage, logs, broadcast } = setup(failing('save'));
    await expect(storage.save(tokens())).resolves.toBeUndefined();
    expect(storage.holdsOurs).toBe(false);
    expect(broadcast.posted).toEqual([]);
    expect(logs.lines[0]).toMatch(/failed to save/);
    const { error } = logs.lines[1] as { error: StoreError };
    expect(error).toBeInstanceOf(StoreError);
    expect(error.message).toBe('Token store failed to save');
  });

  it('a failing clear is logged, not thrown, and not announced', async () => {
    const { storage, logs, broadcast } = setup(failing('clear'));
    await expect(storage.clear()).resolves.toBeUndefined();
    expect(broadcast.posted).toEqual([]);
    expect(logs.lines[0]).toMatch(/failed to clear/);
    const { error } = logs.lines[1] as { error: StoreError };
    expect(error).toBeInstanceOf(StoreError);
    expect(error.message).toBe('Token store failed to clear');
  });

  it('a broadcast channel that throws loses only the notice: the save and the clear stand', async () => {
    const store = new MemoryTokenStore();
    const logs = captureLogs();
    const broken: BroadcastPort = {
      post: () => {
        throw new Error('channel closed');
      },
      subscribe: () => () => {},
    };
    const storage = createSessionStorage({ store, persistAccessToken: true, logger: logs.logger, broadcast: broken });
    await expect(storage.save(tokens())).resolves.toBeUndefined();
    expect(storage.holdsOurs).toBe(true);
    expect(store.load()).toMatchObject({ refreshToken: tokens().refreshToken, revision: 1 });
    await storage.save(tokens({ refreshToken: 'rt-2' }));
    expect(store.load()).toMatchObject({ refreshToken: 'rt-2', revision: 2 });
    await expect(storage.clear()).resolves.toBeUndefined();
    expect(store.load()).toBeNull();
    expect(logs.lines.filter((line) => typeof line === 'string')).toEqual([
      'could not tell other contexts about a store change',
      'could not tell other contexts about a store change',
      'could not tell other contexts about a store change',
    ]);
    expect(logs.lines.some((line) => typeof line === 'string' && /failed/.test(line))).toBe(false);
    // Each warning says what the channel threw.
    expect(String((logs.lines[1] as { error?: unknown }).error)).toContain('channel closed');
  });

  it('a failing load rejects with a StoreError wrapping the store error', async () => {
    const { storage } = setup(failing('load'));
    const error = await storage.load().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StoreError);
    expect((error as StoreError).message).toBe('Token store failed to load');
    expect((error as StoreError).cause).toEqual(new Error('locked keychain'));
  });

  it('works without a broadcast port and with a store that cannot tell of changes', async () => {
    let value: unknown = null;
    const plain: TokenStore = {
      load: () => value,
      save: (session) => void (value = session),
      clear: () => void (value = null),
    };
    const logs = captureLogs();
    const storage = createSessionStorage({
      store: plain,
      persistAccessToken: true,
      logger: logs.logger,
      broadcast: undefined,
    });
    const off = storage.subscribe(() => {});
    await storage.save(tokens());
    expect(storage.holdsOurs).toBe(true);
    await storage.clear();
    expect(value).toBeNull();
    expect(logs.lines).toEqual([]); // nothing failed
    off();
  });
});

describe('retired refresh tokens', () => {
  it('a retired refresh token is recognised; others and a set without one are not', () => {
    const { storage } = setup();
    storage.retire('rt-0');
    storage.retire(undefined);
    expect(storage.isRetired(tokens({ refreshToken: 'rt-0' }))).toBe(true);
    expect(storage.isRetired(tokens({ refreshToken: 'rt-1' }))).toBe(false);
    expect(storage.isRetired(tokens({ refreshToken: undefined }))).toBe(false);
  });

  it('retiring a set without a refresh token takes no place among the retired', async () => {
    const { storage } = setup();
    for (let i = 0; i < 8; i++) storage.retire(`rt-${i}`);
    storage.retire(undefined);
    await storage.save(tokens({ refreshToken: 'rt-8' }));
    expect(storage.isRetired(tokens({ refreshToken: 'rt-0' }))).toBe(true);
  });

  it('a store that keeps failing never forgets what it holds', async () => {
    const { storage } = setup(failing('save'));
    for (let i = 0; i < 20; i++) {
      storage.retire(`rt-${i}`);
      await storage.save(tokens({ refreshToken: `rt-${i + 1}` }));
    }
    expect(storage.isRetired(tokens({ refreshToken: 'rt-0' }))).toBe(true);
  });

  it.each([
    { name: 'a successful save keeps the 8 newest retired tokens', index: 2, retired: true },
    { name: 'a successful save forgets the older ones', index: 1, retired: false },
  ])('$name', async ({ index, retired }) => {
    const { storage } = setup();
    for (let i = 0; i < 10; i++) storage.retire(`rt-${i}`); // rt-2 … rt-9 are the 8 newest
    storage.retire('rt-5'); // already retired: not added twice
    await storage.save(tokens({ refreshToken: 'rt-10' }));
    expect(storage.isRetired(tokens({ refreshToken: `rt-${index}` }))).toBe(retired);
    expect(storage.isRetired(tokens({ refreshToken: 'rt-9' }))).toBe(true);
  });
});

describe('sign-in and sign-out writes under the lock', () => {
  it('a sign-in is saved under the lock, after the task holding it', async () => {
    const lock = inProcessLock();
    const { storage, store } = setup();
    const persistence = createPersistence({ lock, lockName: 'l' }, storage);
    let release!: () => void;
    void lock.run('l', () => new Promise<void>((resolve) => (release = resolve)));
    const saved = persistence.saveSignIn(tokens());
    await flushMicrotasks();
    expect(store.load()).toBeNull();
    release();
    await saved;
    expect(store.load()).toMatchObject({ refreshToken: 'rt-1' });
  });

  it('a sign-out clears the store and names the refresh token it held', async () => {
    const { storage, store } = setup();
    await storage.save(tokens({ refreshToken: 'rt-7' }));
    const persistence = createPersistence({ lock: inProcessLock(), lockName: 'l' }, storage);
    await expect(persistence.clearSignOut(() => true)).resolves.toBe('rt-7');
    expect(store.load()).toBeNull();
  });

  it('a sign-out of an empty or unreadable store names no refresh token', async () => {
    const { storage } = setup(failing('load'));
    const persistence = createPersistence({ lock: inProcessLock(), lockName: 'l' }, storage);
    await expect(persistence.clearSignOut(() => true)).resolves.toBeUndefined();
    const empty = setup();
    await expect(
      createPersistence({ lock: inProcessLock(), lockName: 'l' }, empty.storage).clearSignOut(() => true),
    ).resolves.toBeUndefined();
  });

  it('a sign-out overtaken by a new sign-in while it waited clears nothing', async () => {
    const { storage, store } = setup();
    await storage.save(tokens());
    const persistence = createPersistence({ lock: inProcessLock(), lockName: 'l' }, storage);
    await expect(persistence.clearSignOut(() => false)).resolves.toBeUndefined();
    expect(store.load()).not.toBeNull();
  });
});
