/**
 * The device key behind biometric re-authentication: a WebCrypto ECDSA P-256 key pair made
 * at sign-in. Its private half is non-extractable and kept in IndexedDB (the structured clone
 * of a `CryptoKey` keeps it non-extractable: no script, this app's included, can read its bytes,
 * only ask it to sign). Its public half is enrolled with the server at sign-in
 * (`device_public_jwk`), which answers with the key's id (`device_key_id`, the RFC 7638
 * thumbprint) that assertions carry as `kid`.
 */

/** An enrolled device key, as kept on the device. */
export interface DeviceKey {
  privateKey: CryptoKey;
  /** The server's id for the key: the `kid` of every assertion. */
  keyId: string;
  /** The user the key was enrolled for (the access tokens' `sub`): the assertion's `sub`. */
  subject: string;
  /** For the UI ("Continue as alice"). */
  username: string;
  enrolledAt: number;
}

/** A key pair made for enrollment, not yet saved. */
export interface DeviceKeyPair {
  privateKey: CryptoKey;
  publicJwk: JsonWebKey;
}

/** Makes a fresh key pair; only the public JWK ever leaves the device. */
export async function generateDeviceKeyPair(): Promise<DeviceKeyPair> {
  const pair = await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign', 'verify']);
  const { kty, crv, x, y } = await crypto.subtle.exportKey('jwk', pair.publicKey);
  return { privateKey: pair.privateKey, publicJwk: { kty, crv, x, y } as JsonWebKey };
}

/** Where the enrolled key lives. */
export interface DeviceKeyStore {
  load(): Promise<DeviceKey | null>;
  save(key: DeviceKey): Promise<void>;
  delete(): Promise<void>;
}

const DB_NAME = 'session-keeper-device-key';
const STORE = 'keys';
const RECORD = 'device-key';

function request<T>(req: IDBRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error ?? new Error('IndexedDB request failed'));
  });
}

async function open(): Promise<IDBDatabase> {
  const req = indexedDB.open(DB_NAME, 1);
  req.onupgradeneeded = () => req.result.createObjectStore(STORE);
  return request(req);
}

async function withStore<T>(mode: IDBTransactionMode, action: (store: IDBObjectStore) => IDBRequest<T>): Promise<T> {
  const db = await open();
  try {
    const tx = db.transaction(STORE, mode);
    const result = await request(action(tx.objectStore(STORE)));
    await new Promise<void>((resolve, reject) => {
      tx.oncomplete = () => resolve();
      tx.onerror = () => reject(tx.error ?? new Error('IndexedDB transaction failed'));
      tx.onabort = () => reject(tx.error ?? new Error('IndexedDB transaction aborted'));
    });
    return result;
  } finally {
    db.close();
  }
}

function isDeviceKey(value: unknown): value is DeviceKey {
  const key = value as Partial<DeviceKey> | null | undefined;
  return (
    typeof key === 'object' &&
    key !== null &&
    key.privateKey instanceof CryptoKey &&
    typeof key.keyId === 'string' &&
    typeof key.subject === 'string' &&
    typeof key.username === 'string'
  );
}

/** The device key in this WebView's IndexedDB. */
export const indexedDbDeviceKeyStore: DeviceKeyStore = {
  async load() {
    const value = await withStore('readonly', (store) => store.get(RECORD) as IDBRequest<unknown>);
    return isDeviceKey(value) ? value : null;
  },
  async save(key) {
    await withStore('readwrite', (store) => store.put(key, RECORD));
  },
  async delete() {
    await withStore('readwrite', (store) => store.delete(RECORD));
  },
};
