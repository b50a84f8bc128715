import type { Logger } from '../ports/logger.ts';
import { describeKey, describeSigner, generateDpopKeys, isKeyPair, type DpopKey } from './keys.ts';
import type { DpopKeyStore, DpopSignerStore } from './types.ts';

/** Where the proofs' key comes from, as `dpop()` uses it: a key store or a native signer. */
export interface KeySource {
  /** The key, or `undefined` when there is none yet. */
  load(): Promise<DpopKey | undefined>;
  /** A new key, kept for later (called under the DPoP lock, after a second `load`). */
  create(): Promise<DpopKey>;
  clear(): Promise<void> | void;
}

/**
 * A WebCrypto key pair in a key store, made here when there is none. A store that fails is
 * logged and read as empty, as before a first sign-in; a failed save leaves this context
 * signing with its new key (after a relaunch the user signs in again).
 */
export function keyStoreSource(store: DpopKeyStore, logger: () => Logger): KeySource {
  return {
    async load() {
      try {
        const stored = await store.load();
        return isKeyPair(stored) ? await describeKey(stored) : undefined;
      } catch (error) {
        logger().warn('DPoP key store failed to load', { error });
        return undefined;
      }
    },
    async create() {
      const keys = await generateDpopKeys();
      try {
        await store.save(keys);
      } catch (error) {
        logger().warn('DPoP key store failed to save the new key', { error });
      }
      return describeKey(keys);
    },
    clear: () => store.clear(),
  };
}

/**
 * A key the platform keeps and signs with. A failed load is not read as "no key": making a new
 * key would lose the tokens bound to the one the keystore could not read just now.
 */
export function signerSource(signers: DpopSignerStore): KeySource {
  return {
    async load() {
      const signer = await signers.load();
      return signer === null || signer === undefined ? undefined : describeSigner(signer);
    },
    create: async () => describeSigner(await signers.create()),
    clear: () => signers.clear(),
  };
}
