/**
 * Where a Secure Enclave key plugs into DPoP. session-keeper signs each DPoP proof with a key
 * it is given; by default (and in this example as it runs) that is a non-extractable WebCrypto
 * P-256 key in the WebView's IndexedDB. A Secure Enclave key is P-256 too, but it never leaves
 * the hardware, not even as a `CryptoKey`: the SDK can only ask it to sign. That is the
 * SDK's signer port, `dpop({ signer })`, and this file is its adapter over a native plugin.
 *
 * The plugin itself is NOT part of this example: only its interface is declared here. The
 * README shows the Swift side in outline. Until an app registers a native plugin named
 * `SecureEnclaveDpop`, `dpopKeyOption()` picks the WebCrypto default, on iOS as in a browser.
 */
import { Capacitor, registerPlugin } from '@capacitor/core';
import type { DpopOptions, DpopSigner, DpopSignerStore } from 'session-keeper/dpop';

/** The public half of the enclave key, as the plugin reports it. */
export interface EnclavePublicKey {
  /** base64url of the 32-byte X coordinate (CryptoKit: `publicKey.rawRepresentation` bytes 0..<32). */
  x: string;
  /** base64url of the 32-byte Y coordinate (bytes 32..<64). */
  y: string;
}

/**
 * The native plugin's interface (a Capacitor plugin in the app target, `jsName`
 * `SecureEnclaveDpop`). The key is made with `.privateKeyUsage` access control and no biometry
 * flag: DPoP signs every request, so a key that asked for Face ID at each use would prompt at
 * each API call. (Face ID stays the gate of the re-authentication key, see device-key.ts.)
 */
export interface SecureEnclaveDpopPlugin {
  /** The key kept in the Keychain (its enclave-wrapped blob), or `key: null` when there is none. */
  getKey(): Promise<{ key: EnclavePublicKey | null }>;
  /** Makes a new enclave key, keeps it (replacing any earlier one), returns its public half. */
  createKey(): Promise<{ key: EnclavePublicKey }>;
  /**
   * ES256 over `data` (base64url) with the enclave key: CryptoKit's
   * `signature(for:).rawRepresentation`, the 64-byte r || s, in base64url. Rejects when the key
   * is gone or the Keychain cannot be read (the device is locked).
   */
  sign(options: { data: string }): Promise<{ signature: string }>;
  /** Deletes the key (sign-out). */
  deleteKey(): Promise<void>;
}

/** The name the native side registers (`jsName`). */
export const SECURE_ENCLAVE_DPOP = 'SecureEnclaveDpop';

/** The plugin's JavaScript proxy: every call goes to the native side (there is no web version). */
export const SecureEnclaveDpop = registerPlugin<SecureEnclaveDpopPlugin>(SECURE_ENCLAVE_DPOP);

function toBase64url(bytes: Uint8Array): string {
  let binary = '';
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

function fromBase64url(text: string): Uint8Array {
  const binary = atob(text.replace(/-/g, '+').replace(/_/g, '/'));
  return Uint8Array.from(binary, (char) => char.charCodeAt(0));
}

/** One enclave key as the SDK's `DpopSigner`: the public JWK, and signing through the plugin. */
function enclaveSigner(plugin: SecureEnclaveDpopPlugin, { x, y }: EnclavePublicKey): DpopSigner {
  return {
    publicJwk: { kty: 'EC', crv: 'P-256', x, y },
    sign: async (data) => fromBase64url((await plugin.sign({ data: toBase64url(data) })).signature),
  };
}

/**
 * The SDK's signer port (`dpop({ signer })`) over the plugin. A `getKey` that rejects (a locked
 * Keychain) is passed on as a failure, never read as "no key": the SDK then retries, rather
 * than make a new key and lose the session bound to the old one.
 */
export function secureEnclaveSigner(plugin: SecureEnclaveDpopPlugin = SecureEnclaveDpop): DpopSignerStore {
  return {
    async load() {
      const { key } = await plugin.getKey();
      return key === null ? null : enclaveSigner(plugin, key);
    },
    async create() {
      return enclaveSigner(plugin, (await plugin.createKey()).key);
    },
    clear: () => plugin.deleteKey(),
  };
}

/**
 * The app's `dpop` option: the Secure Enclave signer when the native plugin is there, else
 * `{}`, the SDK's default (a WebCrypto key in IndexedDB). This example ships no plugin, so it
 * runs the default everywhere; registering one in the app target switches to the enclave.
 */
export function dpopKeyOption(
  isPluginAvailable: (name: string) => boolean = (name) => Capacitor.isPluginAvailable(name),
): DpopOptions {
  return isPluginAvailable(SECURE_ENCLAVE_DPOP) ? { signer: secureEnclaveSigner() } : {};
}
