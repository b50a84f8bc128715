import type { ResolvedOptions } from '../options.ts';
import type { SessionTokens } from '../types.ts';
import type { SessionStorage } from './storage.ts';

/**
 * Writes of the app's own sign-ins and sign-outs, made under the refresh lock: a refresh in
 * flight (here or in another context) lands first, and cannot write over them afterwards.
 */
export interface Persistence {
  /** Saves a sign-in. */
  saveSignIn(tokens: SessionTokens): Promise<void>;
  /**
   * Clears the store, unless `stillCurrent()` says a new session started while this waited
   * for the lock (a `setTokens` made meanwhile is not cleared).
   * @returns the refresh token the store held when it was cleared: a refresh another context
   *   saved while this one waited, to be revoked too
   */
  clearSignOut(stillCurrent: () => boolean): Promise<string | undefined>;
}

export function createPersistence(
  { lock, lockName }: Pick<ResolvedOptions, 'lock' | 'lockName'>,
  storage: SessionStorage,
): Persistence {
  return {
    saveSignIn: (tokens) => lock.run(lockName, () => storage.save(tokens)),
    clearSignOut: (stillCurrent) =>
      lock.run(lockName, async () => {
        if (!stillCurrent()) return undefined;
        const stored = await storage.load().catch(() => undefined);
        await storage.clear();
        return stored?.kind === 'ok' ? stored.tokens.refreshToken : undefined;
      }),
  };
}
