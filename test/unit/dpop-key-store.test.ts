/**
 * The DPoP key stores (src/dpop/key-store.ts): memory, shared by name within the process;
 * IndexedDB (here fake-indexeddb, a fresh database per test), which keeps the CryptoKey objects,
 * closes its connection after each call and rejects with the database's error; and the default,
 * IndexedDB where there is one.
 */
import { IDBFactory } from 'fake-indexeddb';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { defaultKeyStore, indexedDbKeyStore, memoryKeyStore } from '../../src/dpop/key-store.ts';
import { generateDpopKeys } from '../../src/dpop/keys.ts';

afterEach(() => void vi.unstubAllGlobals());

let names = 0;
const name = () => `key-store-${++names}`;

/** Resolves `blocked` or `deleted`: an open connection blocks the deletion. */
const deletion = (factory: IDBFactory) =>
  new Promise<string>((resolve, reject) => {
    const request = factory.deleteDatabase('session-keeper-dpop');
    request.onblocked = () => resolve('blocked');
    request.onsuccess = () => resolve('deleted');
    request.onerror = () => reject(request.error);
  });

/**
 * `real`, except that every transaction is aborted right after its request was made, as the
 * browser does when the disk is full or the origin's quota is used up.
 */
function failingTransactions(real: IDBFactory): IDBFactory {
  const forward = <T extends object>(target: T, get: (key: PropertyKey) => unknown = () => undefined): T =>
    new Proxy(target, {
      get(object, key) {
        const replaced = get(key);
        if (replaced !== undefined) return replaced;
        const value = Reflect.get(object, key, object) as unknown;
        return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(object) : value;
      },
      set: (object, key, value) => Reflect.set(object, key, value, object),
    });
  const database = (db: IDBDatabase) =>
    forward(db, (key) =>
      key === 'transaction'
        ? (...args: Parameters<IDBDatabase['transaction']>) => {
            const transaction = db.transaction(...args);
            queueMicrotask(() => transaction.abort());
            return transaction;
          }
        : undefined,
    );
  return forward(real, (key) =>
    key === 'open'
      ? (name: string, version?: number) => {
          const request = real.open(name, version);
          return forward(request, (k) => (k === 'result' ? database(request.result) : undefined));
        }
      : undefined,
  );
}

describe('memoryKeyStore', () => {
  it('keeps a pair per name, shared by every store of that name, until cleared', async () => {
    const keys = await generateDpopKeys();
    const a = name();
    expect(memoryKeyStore(a).load()).toBeUndefined();
    expect(memoryKeyStore(a).save(keys)).toBeUndefined();
    expect(memoryKeyStore(a).load()).toBe(keys);
    expect(memoryKeyStore(name()).load()).toBeUndefined();
    expect(memoryKeyStore(a).clear()).toBeUndefined();
    expect(memoryKeyStore(a).load()).toBeUndefined();
  });
});

describe('indexedDbKeyStore', () => {
  it('keeps a pair per name in the database session-keeper-dpop, store keys, until cleared', async () => {
    const factory = new IDBFactory();
    const keys = await generateDpopKeys();
    const store = indexedDbKeyStore('a', factory);
    expect(await store.load()).toBeUndefined();
    await store.save(keys);
    const loaded = await indexedDbKeyStore('a', factory).load();
    expect(loaded?.privateKey).toMatchObject({ type: 'private', extractable: false });
    expect(loaded?.publicKey.type).toBe('public');
    expect(await indexedDbKeyStore('b', factory).load()).toBeUndefined();
    const names = await new Promise<string[]>((resolve) => {
      const open = factory.open('session-keeper-dpop');
      open.onsuccess = () => {
        resolve([...open.result.objectStoreNames]);
        open.result.close();
      };
    });
    expect(names).toEqual(['keys']);
    await expect(store.clear()).resolves.toBeUndefined();
    expect(await store.load()).toBeUndefined();
  });

  it('closes its connection after each call: nothing blocks deleting the database', async () => {
    const factory = new IDBFactory();
    const store = indexedDbKeyStore('a', factory);
    await store.save(await generateDpopKeys());
    await store.load();
    await store.clear();
    expect(await deletion(factory)).toBe('deleted');
  });

  it('rejects, and closes its connection, when the transaction fails (a full disk, a quota)', async () => {
    const real = new IDBFactory();
    const failing = failingTransactions(real);
    const store = indexedDbKeyStore('a', failing);
    await expect(store.save(await generateDpopKeys())).rejects.toMatchObject({ name: 'AbortError' });
    await expect(store.load()).rejects.toMatchObject({ name: 'AbortError' });
    expect(await deletion(real)).toBe('deleted');
  });

  it('rejects with the error of a database it cannot open', async () => {
    const factory = new IDBFactory();
    await new Promise<void>((resolve) => {
      const open = factory.open('session-keeper-dpop', 2); // a newer version than the store's 1
      open.onsuccess = () => (open.result.close(), resolve());
    });
    await expect(indexedDbKeyStore('a', factory).load()).rejects.toMatchObject({ name: 'VersionError' });
  });
});

describe('defaultKeyStore', () => {
  it('is IndexedDB where there is one', async () => {
    const factory = new IDBFactory();
    vi.stubGlobal('indexedDB', factory);
    const keys = await generateDpopKeys();
    const n = name();
    await defaultKeyStore(n).save(keys);
    expect((await indexedDbKeyStore(n, factory).load())?.privateKey.type).toBe('private');
    expect(memoryKeyStore(n).load()).toBeUndefined();
  });

  it('is memory without IndexedDB (Node.js)', async () => {
    vi.stubGlobal('indexedDB', undefined);
    const keys = await generateDpopKeys();
    const n = name();
    await defaultKeyStore(n).save(keys);
    expect(memoryKeyStore(n).load()).toBe(keys);
  });

  it('indexedDbKeyStore defaults to the global IndexedDB', async () => {
    const factory = new IDBFactory();
    vi.stubGlobal('indexedDB', factory);
    await indexedDbKeyStore('g').save(await generateDpopKeys());
    expect((await indexedDbKeyStore('g', factory).load())?.publicKey.type).toBe('public');
  });
});
