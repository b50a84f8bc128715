import { systemClock } from '../ports/clock.ts';
import { inProcessLock } from '../ports/lock.ts';
import { silentLogger } from '../ports/logger.ts';
import { isNonceChallenge } from './challenge.ts';
import { checkKeyOptions } from '../dpop-option.ts';
import { keyStoreSource, signerSource, type KeySource } from './key-source.ts';
import { defaultKeyStore } from './key-store.ts';
import type { DpopKey } from './keys.ts';
import { NonceCache } from './nonces.ts';
import { athOf, createProof } from './proof.ts';
import { ServerClock } from './server-clock.ts';
import type { Dpop, DpopContext, DpopOptions, DpopPort } from './types.ts';

/** Used until a manager binds the handle (the app may sign its sign-in request first). */
const UNBOUND: DpopContext = {
  clock: systemClock,
  lock: inProcessLock(),
  lockName: 'session-keeper',
  logger: silentLogger,
};

/**
 * DPoP (RFC 9449) for a session: a P-256 key pair (private key non-extractable) kept in a key
 * store, proofs signed with it, the servers' nonces and clocks learned from their answers.
 * Pass it as the `dpop` option of `SessionManager` (or pass `dpop: true`, which loads this code
 * on first use); sign the app's own sign-in token request with {@link Dpop.proof}.
 *
 * @example
 * import { dpop } from 'session-keeper/dpop';
 * const proofs = dpop();
 * const session = new SessionManager({ tokenEndpoint, clientId, dpop: proofs });
 * // The sign-in's code exchange, bound to the same key:
 * const response = await fetch(tokenEndpoint, {
 *   method: 'POST',
 *   headers: { DPoP: await proofs.proof('POST', tokenEndpoint) },
 *   body,
 * });
 */
export function dpop(options: DpopOptions = {}): Dpop {
  checkKeyOptions(options);
  let context = UNBOUND;
  let nonces = new NonceCache();
  let serverClock = new ServerClock(context.clock);
  /** The key in use, once known (a promise: concurrent proofs share one load). */
  let loaded: Promise<DpopKey | undefined> | undefined;
  /** A key being created (concurrent proofs share one). */
  let creating: Promise<DpopKey> | undefined;
  /** The `ath` of the access token of the last resource proof (forgotten with the key). */
  let lastAth: { token: string; ath: Promise<string> } | undefined;
  /** Where the key lives: a native signer, or a key store (the default one is named after the session's lock, so tabs share it). */
  let keys: KeySource | undefined;
  const source = () =>
    (keys ??= options.signer
      ? signerSource(options.signer)
      : keyStoreSource(options.keyStore ?? defaultKeyStore(`${context.lockName}:dpop`), () => context.logger));

  /**
   * Creates the key under a lock named after the session's (not the refresh lock itself: the
   * refresher holds that one when it asks, and locks are not re-entrant), after a second look
   * in the store: two tabs never make two keys.
   */
  const create = () =>
    context.lock.run(`${context.lockName}:dpop`, async () => (await source().load()) ?? source().create());

  const key = async (mayCreate: boolean): Promise<DpopKey | undefined> => {
    // A load that failed (a keystore that cannot be read now) is tried again next time.
    const found = await (loaded ??= source()
      .load()
      .catch((error: unknown) => {
        loaded = undefined;
        throw error;
      }));
    if (found) return found;
    loaded = undefined; // none yet: look again next time (another context may create it)
    if (!mayCreate) return undefined;
    const made = await (creating ??= create().finally(() => (creating = undefined)));
    loaded = Promise.resolve(made);
    return made;
  };

  const proof: DpopPort['proof'] = async (method, url, { accessToken, ifKeyExists = false } = {}) => {
    // Token-endpoint proofs (rare) read the store again: another tab may have signed in anew
    // with a new key since this one loaded its key, and its refresh token is bound to that one.
    if (accessToken === undefined) loaded = undefined;
    const signer = await key(!ifKeyExists);
    if (signer === undefined) return undefined;
    // Every request of a token generation hashes the same token: hash it once.
    let ath: string | undefined;
    if (accessToken !== undefined) {
      if (lastAth?.token !== accessToken) lastAth = { token: accessToken, ath: athOf(accessToken) };
      ath = await lastAth.ath;
    }
    return createProof(signer, { method, url, now: serverClock.now(url), nonce: nonces.get(url), ath });
  };

  const observe: DpopPort['observe'] = (url, response) => {
    nonces.update(url, response);
    serverClock.update(url, response);
  };

  const authorize: Dpop['authorize'] = async (request, accessToken) => {
    request.headers.set('authorization', `DPoP ${accessToken}`);
    request.headers.set('dpop', (await proof(request.method, request.url, { accessToken }))!);
  };

  const handle: Dpop = {
    bind(next) {
      if (context !== next) {
        context = next;
        nonces = new NonceCache();
        serverClock = new ServerClock(next.clock);
      }
      return handle;
    },
    proof,
    observe,
    isNonceChallenge,
    authorize,
    async thumbprint() {
      return (await key(true))!.thumbprint;
    },
    async send(request, init, fetch) {
      const accessToken = request.headers.get('authorization')?.replace(/^(?:Bearer|DPoP) /i, '') ?? '';
      // A request with a body can be sent only once: keep a copy for the nonce retry.
      const spare = request.body === null ? request : request.clone();
      await authorize(request, accessToken);
      const response = await fetch(request, init);
      observe(request.url, response);
      if (!isNonceChallenge(response)) return response;
      await response.body?.cancel();
      await authorize(spare, accessToken);
      const retried = await fetch(spare, init);
      observe(spare.url, retried);
      return retried;
    },
    async forgetKey() {
      loaded = undefined;
      lastAth = undefined;
      try {
        await source().clear();
      } catch (error) {
        context.logger.warn('DPoP key store failed to clear', { error });
      }
    },
  };
  return handle;
}
