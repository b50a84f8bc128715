import type { StoredSession, TokenResponse } from '../../src/types.ts';
import { MemoryTokenStore } from '../../src/ports/token-store.ts';

const base64url = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

/** An unsigned JWT with `claims`: the SDK decodes JWTs, it never verifies them. */
export const unsignedJwt = (claims: object): string => `${base64url({ alg: 'ES256' })}.${base64url(claims)}.sig`;

/** Two users' sign-ins (JWTs say whose they are); the fake server knows neither refresh token. */
export const ALICE: TokenResponse = {
  access_token: unsignedJwt({ sub: 'alice' }),
  expires_in: 3600,
  refresh_token: 'rt-alice-unknown',
};
export const CAROL: TokenResponse = {
  access_token: unsignedJwt({ sub: 'carol' }),
  expires_in: 3600,
  refresh_token: 'rt-carol',
};

/** 'sent', or 'failed: <error name>'. */
export const outcomeOf = (request: Promise<unknown>): Promise<string> =>
  request.then(
    () => 'sent',
    (error: unknown) => `failed: ${(error as Error).name}`,
  );

/**
 * The one controllable store: a MemoryTokenStore with switches. The next save throws (or every
 * save), loads wait for `release()`; `notify()` is a change notice without a change (a
 * `storage` event can be one).
 */
export function controllableStore() {
  const inner = new MemoryTokenStore();
  const listeners = new Set<() => void>();
  const state = {
    failNextSave: false,
    failAllSaves: false,
    slowLoads: false,
    release: () => {},
    notify: () => listeners.forEach((listener) => listener()),
  };
  const store = {
    load: () =>
      state.slowLoads ? new Promise<unknown>((resolve) => (state.release = () => resolve(inner.load()))) : inner.load(),
    save: (session: StoredSession) => {
      if (state.failNextSave || state.failAllSaves) {
        state.failNextSave = false;
        throw new Error('keychain locked');
      }
      inner.save(session);
    },
    clear: () => inner.clear(),
    subscribe: (listener: () => void) => {
      listeners.add(listener);
      const off = inner.subscribe(listener);
      return () => {
        listeners.delete(listener);
        off();
      };
    },
  };
  return { state, store, inner };
}
