import type { Clock } from '../ports/clock.ts';
import type { LockPort } from '../ports/lock.ts';
import type { Logger } from '../ports/logger.ts';

/**
 * Keeps the DPoP key pair of a session. `CryptoKey` objects are structured-cloneable, so a
 * browser store keeps them as they are (the private key stays non-extractable). Methods may be
 * sync or async.
 */
export interface DpopKeyStore {
  /** The stored key pair, or `undefined`/`null` when there is none. */
  load(): Promise<CryptoKeyPair | null | undefined> | CryptoKeyPair | null | undefined;
  /** Replaces the stored key pair. */
  save(keys: CryptoKeyPair): Promise<void> | void;
  /** Deletes the key pair (sign-out). */
  clear(): Promise<void> | void;
}

/**
 * A DPoP key whose private half the SDK never holds: a native keystore's key (the iOS Secure
 * Enclave, the Android Keystore, a hardware token). The SDK asks it to sign each proof.
 *
 * @example
 * // A Capacitor plugin over a Secure Enclave key (CryptoKit's ECDSASignature.rawRepresentation is r || s):
 * const signer: DpopSigner = {
 *   publicJwk: { kty: 'EC', crv: 'P-256', x, y },
 *   sign: async (data) => base64url.decode((await SecureKey.sign({ data: base64url.encode(data) })).signature),
 * };
 */
export interface DpopSigner {
  /** The public key: `kty: 'EC'`, `crv: 'P-256'` and base64url `x`, `y` (other members are ignored). */
  readonly publicJwk: { readonly kty: string; readonly crv: string; readonly x: string; readonly y: string };
  /**
   * Signs `data` (a JWS signing input) with ES256: ECDSA P-256 over SHA-256 of `data`. Returns
   * the 64-byte `r || s` signature (IEEE P1363, as WebCrypto gives it), not DER. Every request
   * is signed: a key that asks for Face ID on each use does not fit.
   */
  sign(data: Uint8Array): Promise<Uint8Array> | Uint8Array;
}

/**
 * Where a {@link DpopSigner}'s key lives, for `dpop({ signer })`: the platform creates and keeps
 * the key, the SDK only asks for it. Methods may be sync or async.
 */
export interface DpopSignerStore {
  /**
   * The key, or `undefined`/`null` when there is none. Throw when the keystore cannot be read
   * right now (a locked device): the request fails and the refresh is retried, while a `null`
   * makes a new key, and the tokens bound to the old one are lost (re-authentication).
   */
  load(): Promise<DpopSigner | null | undefined> | DpopSigner | null | undefined;
  /** Creates and keeps a new key, replacing any earlier one. Called under the session's DPoP lock. */
  create(): Promise<DpopSigner> | DpopSigner;
  /** Deletes the key (sign-out). */
  clear(): Promise<void> | void;
}

/** Options of `dpop()` from `session-keeper/dpop` (and of the `dpop` option given as an object). */
export interface DpopOptions {
  /**
   * Where the key pair lives. Default: IndexedDB where there is one (browsers, WebViews: one key
   * per session, shared by every tab), else memory (Node.js: shared by the managers of one
   * process that share a lock name).
   */
  keyStore?: DpopKeyStore | undefined;
  /**
   * A key the platform keeps and signs with (a native keystore), in place of a WebCrypto key
   * pair in `keyStore`. Give one or the other.
   */
  signer?: DpopSignerStore | undefined;
}

/** What a DPoP handle needs from the session it serves (the manager passes its own). */
export interface DpopContext {
  /** The device clock; proofs carry the server's time, estimated from responses. */
  clock: Clock;
  /** The cross-context lock: a key is created under it, so two tabs never make two keys. */
  lock: LockPort;
  /** The session's lock name; the key lock and the default key store are named after it. */
  lockName: string;
  logger: Logger;
}

/**
 * DPoP as the session core uses it. Every method is safe to call before the DPoP code has
 * loaded (with `dpop: true` it loads on first use).
 */
export interface DpopPort {
  /**
   * A proof for one request. `accessToken` adds `ath` (resource requests). With
   * `ifKeyExists`, resolves `undefined` instead of creating a key (a revocation after sign-out
   * must not create one).
   */
  proof(
    method: string,
    url: string,
    options?: { accessToken?: string; ifKeyExists?: boolean },
  ): Promise<string | undefined>;
  /** Learns the server's nonce (`DPoP-Nonce`) and clock (`Date`) from a response to `url`. */
  observe(url: string, response: Response): void;
  /** Whether `response` is a resource server's `use_dpop_nonce` challenge (a 401 that is not about the token). */
  isNonceChallenge(response: Response): boolean;
  /**
   * Sends a resource request with `Authorization: DPoP <token>` and a proof (the request comes
   * with `Authorization: Bearer <token>` from the client); a `use_dpop_nonce` challenge is
   * answered once with the new nonce.
   */
  send(request: Request, init: RequestInit | undefined, fetch: typeof globalThis.fetch): Promise<Response>;
  /** Deletes the key (sign-out). */
  forgetKey(): Promise<void>;
}

/**
 * A DPoP handle, made by `dpop()` from `session-keeper/dpop`: pass it as the `dpop` option, and use it to sign the
 * app's own sign-in token request with the same key, so that the first tokens are bound to it.
 */
export interface Dpop extends DpopPort {
  /** Connects the handle to a session (called by `SessionManager`); returns the port it uses. */
  bind(context: DpopContext): DpopPort;
  /** The key's JWK SHA-256 thumbprint (RFC 7638), for an authorization request's `dpop_jkt`. */
  thumbprint(): Promise<string>;
  /** Sets `Authorization: DPoP <accessToken>` and a fresh `DPoP` proof on `request`. */
  authorize(request: Request, accessToken: string): Promise<void>;
}
