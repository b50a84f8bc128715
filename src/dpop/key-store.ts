import type { DpopKeyStore } from './types.ts';

/** Key pairs of the memory stores, one per name in this realm (as the in-process lock is). */
const memoryKeys = new Map<string, CryptoKeyPair>();

/**
 * Keeps the key pair in memory, under `name`: managers of one process that share a lock name
 * share the key (as they share the refresh token bound to it). Nothing survives a restart.
 */
export function memoryKeyStore(name: string): DpopKeyStore {
  return {
    load: () => memoryKeys.get(name),
    save: (keys) => void memoryKeys.set(name, keys),
    clear: () => void memoryKeys.delete(name),
  };
}

const DATABASE = 'session-keeper-dpop';
const OBJECT_STORE = 'keys';

/** Runs one request on the key object store; the database is opened per call (a few per session). */
function withStore<T>(
  indexedDB: IDBFactory,
  mode: IDBTransactionMode,
  operation: (store: IDBObjectStore) => IDBRequest,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const open = indexedDB.open(DATABASE, 1);
    open.onupgradeneeded = () => open.result.createObjectStore(OBJECT_STORE);
    open.onerror = () => reject(open.error);
    open.onsuccess = () => {
      const db = open.result;
      const transaction = db.transaction(OBJECT_STORE, mode);
      const request = operation(transaction.objectStore(OBJECT_STORE));
      transaction.oncomplete = () => {
        db.close();
        resolve(request.result as T);
      };
      transaction.onerror = transaction.onabort = () => {
        db.close();
        reject(transaction.error ?? request.error);
      };
    };
  });
}

/**
 * Keeps the key pair in IndexedDB under `name`: every tab of the origin reads the same
 * `CryptoKey` objects (structured clones; the private key stays non-extractable). Clearing the
 * site's data deletes it: the tokens bound to it can no longer be used (re-authentication).
 */
export function indexedDbKeyStore(name: string, indexedDB: IDBFactory = globalThis.indexedDB): DpopKeyStore {
  return {
    load: () => withStore<CryptoKeyPair | undefined>(indexedDB, 'readonly', (store) => store.get(name)),
    save: (keys) => withStore<void>(indexedDB, 'readwrite', (store) => store.put(keys, name)),
    clear: () => withStore<void>(indexedDB, 'readwrite', (store) => store.delete(name)),
  };
}

/** IndexedDB where there is one (browsers, WebViews), else memory (Node.js). */
export function defaultKeyStore(name: string): DpopKeyStore {
  const indexedDB = (globalThis as { indexedDB?: IDBFactory }).indexedDB;
  return indexedDB ? indexedDbKeyStore(name, indexedDB) : memoryKeyStore(name);
}
