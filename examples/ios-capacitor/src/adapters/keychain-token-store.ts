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
/** Set once a session was saved to the Keychain, removed when it is cleared. */
const SAVED_MARKER = 'session-keeper:keychain-has-session';

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
 * Failures, and what the SDK makes of them:
 * - The native plugin cannot tell a missing item from a failed read: it answers `null` for
 *   ANY Keychain error, e.g. `errSecInteractionNotAllowed` while the device is locked. So the
 *   store keeps a marker in the WebView's storage while it holds a session (set after a save,
 *   removed on clear and by the reinstall wipe), and a `null` read while the marker is set
 *   throws. The SDK wraps that in `StoreError` and keeps the session: a refresh goes on from
 *   memory, `restore()` rejects (the app tries again in the foreground). Without the marker,
 *   a locked device would read as "signed out elsewhere" and sign the user out.
 * - Data that is there but unreadable is handed to the SDK as a garbled session, which it clears.
 * - Other failing plugin calls throw, and the SDK wraps them in `StoreError` as above.
 */
export async function createKeychainTokenStore(options: KeychainTokenStoreOptions = {}): Promise<TokenStore> {
  const key = options.key ?? 'session';
  // The prefix and defaults are process-wide settings of the plugin: set them once, at launch.
  await SecureStorage.setKeyPrefix(options.prefix ?? 'session-keeper_');
  await SecureStorage.setSynchronize(false);
  await SecureStorage.setDefaultKeychainAccess(KeychainAccess.whenUnlockedThisDeviceOnly);
  if ((options.clearAfterReinstall ?? true) && localStorage.getItem(INSTALL_MARKER) === null) {
    await SecureStorage.remove(key, false);
    localStorage.removeItem(SAVED_MARKER);
    localStorage.setItem(INSTALL_MARKER, '1');
  }

  return {
    async load(): Promise<unknown> {
      try {
        // convertDate false: the session is plain JSON; sync false: the local Keychain only.
        const value = await SecureStorage.get(key, false, false);
        if (value === null && localStorage.getItem(SAVED_MARKER) !== null) {
          // This app saved a session and has not cleared it: null is a read that failed.
          throw new Error('The Keychain item could not be read (is the device locked?)');
        }
        return value;
      } catch (error) {
        if (error instanceof StorageError && error.code === StorageErrorType.invalidData) {
          return { corrupt: true }; // the SDK sees an unreadable session and clears it
        }
        throw error;
      }
    },
    async save(session: StoredSession): Promise<void> {
      await SecureStorage.set(key, { ...session }, false, false, KeychainAccess.whenUnlockedThisDeviceOnly);
      localStorage.setItem(SAVED_MARKER, '1');
    },
    async clear(): Promise<void> {
      await SecureStorage.remove(key, false);
      localStorage.removeItem(SAVED_MARKER);
    },
  };
}
