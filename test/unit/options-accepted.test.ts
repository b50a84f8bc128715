/**
 * Good options are accepted: plain http on loopback (or anywhere with allowInsecureHttp),
 * replaced ports with or without their optional methods, the smallest durations.
 */
import { describe, expect, it } from 'vitest';
import { resolve, noop, STORE, CLOCK, LOGGER } from './options-setup.ts';

describe('a good option is accepted', () => {
  it.each<[string, Record<string, unknown>]>([
    ['a token endpoint on localhost over plain http', { tokenEndpoint: 'http://localhost:4000/token' }],
    ['a token endpoint on 127.0.0.1 over plain http', { tokenEndpoint: 'http://127.0.0.1/token' }],
    ['a revocation endpoint on loopback over plain http', { revocationEndpoint: 'http://[::1]:4000/revoke' }],
    [
      'plain http endpoints on the LAN with allowInsecureHttp',
      {
        tokenEndpoint: 'http://192.168.1.20/token',
        revocationEndpoint: 'http://192.168.1.20/revoke',
        allowInsecureHttp: true,
      },
    ],
    ['every port replaced', { store: STORE, clock: CLOCK, lock: { run: noop }, logger: LOGGER }],
    [
      'ports with their optional methods',
      { store: { ...STORE, subscribe: noop }, lock: { run: noop, holdShared: noop, isHeld: noop } },
    ],
    ['a network with isOnline', { network: { subscribe: noop, isOnline: noop } }],
    ['a biometric provider', { biometric: { isAvailable: noop, getAssertion: noop } }],
    ['a broadcast port', { broadcast: { post: noop, subscribe: noop } }],
    ['broadcast turned off', { broadcast: false }],
    ['persistAccessToken false', { persistAccessToken: false }],
    ['functions', { signInPrompt: noop, refreshTokens: noop, fetch: noop, random: noop }],
    ['zero margins', { refreshMargin: 0, sessionWarning: 0 }],
    [
      'one-ms timeouts and backoff',
      { refreshTimeout: 1, tokenWaitTimeout: 1, backoff: { initialDelay: 1, maxDelay: 1 } },
    ],
    ['fractional timeouts above one ms', { refreshTimeout: 1.5, tokenWaitTimeout: 2.5 }],
    ['an equal initial and maximum backoff', { backoff: { initialDelay: 5000, maxDelay: 5000 } }],
  ])('%s', (_name, options) => {
    expect(() => resolve(options)).not.toThrow();
  });
});
