import { KeychainAccess, SecureStorage, StorageError, StorageErrorType } from '@aparajita/capacitor-secure-storage';
import type { StoredSession, TokenStore } from 'session-keeper';

/** Options of {@link createKeychainTokenStore}. */
export interface KeychainTokenStoreOptions {
  /** The Keychain item's name (after the prefix). Default `session`. */
  key?: string;
  /** The plugin's key prefix, which namespaces this app's items. Default `session-keeper_`. */
  prefix?: string;
  /**
   * Keychain items outlive the app: deleting and reinstalling it would bring the old refresh
   * token back. With this on (the default), the first launch after an install, recognised by a
   * marker in the WebView's own storage (which is deleted with the app), clears the item.
   */
  clearAfterReinstall?: boolean;
}

const INSTALL_MARKER = 'session-keeper:installed';

/**
 * A session-keeper `TokenStore` in the iOS Keychain, through
 * `@aparajita/capacitor-secure-storage`.
 *
 * - What it holds: the refresh token and the session's timestamps. Pair it with the
 *   `SessionManager` option `persistAccessToken: false`: the short-lived access token then lives
 *   in memory only, and a relaunch costs one refresh.
 * - Accessibility `whenUnlockedThisDeviceOnly`: readable only while the device is unlocked, never
 *   synced to iCloud Keychain, never restored from a backup onto another device. The app only
 *   refreshes in the foreground, so it needs nothing looser (`afterFirstUnlock...` is for
 *   background refreshes).
 * - On the web (the browser preview and its tests) the plugin falls back to plain,
 *   unencrypted `localStorage`: fine for development, never for production.
 *
 * Unreadable data is handed to the SDK as a garbled session, which it clears; a failing
 * Keychain call throws, and the SDK wraps it in `StoreError` without losing the session.
 */
export async function createKeychainTokenStore(options: KeychainTokenStoreOptions = {}): Promise<TokenStore> {
  const key = options.key ?? 'session';
  // The prefix and defaults are process-wide settings of the plugin: set them once, at launch.
  await SecureStorage.setKeyPrefix(options.prefix ?? 'session-keeper_');
  await SecureStorage.setSynchronize(false);
  await SecureStorage.setDefaultKeychainAccess(KeychainAccess.whenUnlockedThisDeviceOnly);
  if ((options.clearAfterReinstall ?? true) && localStorage.getItem(INSTALL_MARKER) === null) {
    await SecureStorage.remove(key, false);
    localStorage.setItem(INSTALL_MARKER, '1');
  }

  return {
    async load(): Promise<unknown> {
      try {
        // convertDate false: the session is plain JSON; sync false: the local Keychain only.
        return await SecureStorage.get(key, false, false);
      } catch (error) {
        if (error instanceof StorageError && error.code === StorageErrorType.invalidData) {
          return { corrupt: true }; // the SDK sees an unreadable session and clears it
        }
        throw error;
      }
    },
    async save(session: StoredSession): Promise<void> {
      await SecureStorage.set(
        key,
        { ...session },
        false,
        false,
        KeychainAccess.whenUnlockedThisDeviceOnly,
      );
    },
    async clear(): Promise<void> {
      await SecureStorage.remove(key, false);
    },
  };
}
