import { afterEach, describe, expect, expectTypeOf, it } from 'vitest';
import { ConfigurationError } from '../src/errors.ts';
import type { SessionManagerOptions } from '../src/options.ts';
import { inProcessLock } from '../src/ports/lock.ts';
import { silentLogger } from '../src/ports/logger.ts';
import { MemoryTokenStore } from '../src/ports/token-store.ts';
import { SessionManager } from '../src/index.ts';
import { ManualClock, ManualLifecycle, ManualNetwork } from '../src/testing.ts';
import type { SessionEvents, TokenEvent } from '../src/types.ts';

const REQUIRED = { tokenEndpoint: 'https://auth.example.com/token', clientId: 'app' };

const made: SessionManager[] = [];
afterEach(() => {
  for (const manager of made.splice(0)) manager.dispose();
});

function make(options: Record<string, unknown>): SessionManager {
  const manager = new SessionManager({ ...REQUIRED, ...options } as SessionManagerOptions);
  made.push(manager);
  return manager;
}

function configurationError(options: Record<string, unknown>): ConfigurationError {
  try {
    make(options);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigurationError);
    return error as ConfigurationError;
  }
  throw new Error('the options were accepted');
}

describe('bad options are refused with a ConfigurationError naming them', () => {
  it.each<[string, Record<string, unknown>, string]>([
    ['an empty store', { store: {} }, 'store'],
    ['a number as store', { store: 42 }, 'store'],
    [
      'a store whose subscribe is not a function',
      { store: { load() {}, save() {}, clear() {}, subscribe: 1 } },
      'store.subscribe',
    ],
    ['an empty clock', { clock: {} }, 'clock'],
    ['an empty lock', { lock: {} }, 'lock'],
    ['a lock whose isHeld is not a function', { lock: { run() {}, isHeld: true } }, 'lock.isHeld'],
    ['a string as logger', { logger: 'console' }, 'logger'],
    ['a string as biometric', { biometric: 'yes' }, 'biometric'],
    ['a string as persistAccessToken', { persistAccessToken: 'no' }, 'persistAccessToken'],
    ['a number as lockName', { lockName: 7 }, 'lockName'],
    ['an empty lockName', { lockName: '' }, 'lockName'],
    ['a string as backoff', { backoff: 'fast' }, 'backoff'],
    ['a zero initial backoff', { backoff: { initialDelay: 0 } }, 'backoff.initialDelay'],
    ['a zero maximum backoff', { backoff: { maxDelay: 0 } }, 'backoff.maxDelay'],
    [
      'a maximum backoff below the initial one',
      { backoff: { initialDelay: 5000, maxDelay: 1000 } },
      'backoff.maxDelay',
    ],
    ['a zero refreshTimeout', { refreshTimeout: 0 }, 'refreshTimeout'],
    ['a zero tokenWaitTimeout', { tokenWaitTimeout: 0 }, 'tokenWaitTimeout'],
    ['a negative refreshMargin', { refreshMargin: -1 }, 'refreshMargin'],
    ['an infinite sessionWarning', { sessionWarning: Infinity }, 'sessionWarning'],
    ['an empty lifecycle', { lifecycle: {} }, 'lifecycle'],
    ['an empty network', { network: {} }, 'network'],
    ['a network whose isOnline is not a function', { network: { subscribe() {}, isOnline: true } }, 'network.isOnline'],
    ['an empty broadcast', { broadcast: {} }, 'broadcast'],
    ['a number as random', { random: 1 }, 'random'],
    ['a string as fetch', { fetch: 'fetch' }, 'fetch'],
    ['an object as signInPrompt', { signInPrompt: {} }, 'signInPrompt'],
    ['an object as refreshTokens', { refreshTokens: {} }, 'refreshTokens'],
    ['a plain http token endpoint off loopback', { tokenEndpoint: 'http://auth.example.com/token' }, 'tokenEndpoint'],
    ['a relative token endpoint', { tokenEndpoint: '/token' }, 'tokenEndpoint'],
    ['no token endpoint', { tokenEndpoint: undefined }, 'tokenEndpoint'],
    [
      'a plain http revocation endpoint off loopback',
      { revocationEndpoint: 'http://auth.example.com/revoke' },
      'revocationEndpoint',
    ],
    ['an empty clientId', { clientId: '' }, 'clientId'],
    ['a number as clientId', { clientId: 1 }, 'clientId'],
  ])('%s', (_name, options, named) => {
    expect(configurationError(options).message).toContain(`"${named}"`);
  });

  it('no options at all', () => {
    expect(() => new SessionManager(undefined as unknown as SessionManagerOptions)).toThrow(ConfigurationError);
  });
});

describe('good options are accepted', () => {
  it.each([
    ['only the required ones', {}],
    ['a token endpoint on 127.0.0.1 over plain http', { tokenEndpoint: 'http://127.0.0.1:4000/token' }],
    ['a token endpoint on localhost over plain http', { tokenEndpoint: 'http://localhost/token' }],
    ['a token endpoint on [::1] over plain http', { tokenEndpoint: 'http://[::1]:8080/token' }],
    ['a revocation endpoint on 127.0.0.1 over plain http', { revocationEndpoint: 'http://127.0.0.1:4000/revoke' }],
    ['a revocation endpoint on localhost over plain http', { revocationEndpoint: 'http://localhost/revoke' }],
    ['a revocation endpoint over https', { revocationEndpoint: 'https://auth.example.com/revoke' }],
    ['broadcast turned off', { broadcast: false }],
    ['zero margins', { refreshMargin: 0, sessionWarning: 0 }],
    ['a partial backoff', { backoff: { initialDelay: 10 } }],
    [
      'every port replaced',
      {
        store: new MemoryTokenStore(),
        clock: new ManualClock(),
        lock: inProcessLock(),
        logger: silentLogger,
        lifecycle: new ManualLifecycle(),
        network: new ManualNetwork(),
        broadcast: { post() {}, subscribe: () => () => {} },
        biometric: { isAvailable: async () => false, getAssertion: async () => null },
        persistAccessToken: false,
        lockName: 'my-session',
        refreshTimeout: 1,
        tokenWaitTimeout: 1,
        backoff: { initialDelay: 1, maxDelay: 1 },
        random: () => 0.5,
        fetch: globalThis.fetch,
        signInPrompt: async () => null,
        refreshTokens: async () => ({ access_token: 'x' }),
      },
    ],
  ])('%s', (_name, options) => {
    expect(make(options).state).toBe('signedOut');
  });
});

describe('types', () => {
  it('each event handler gets its own event type', () => {
    const session = make({});
    session.on('refreshed', (event) => expectTypeOf(event).toEqualTypeOf<TokenEvent>());
    session.on('signedIn', (event) => expectTypeOf(event).toEqualTypeOf<TokenEvent>());
    session.on('tokensChanged', (event) =>
      expectTypeOf(event.cause).toEqualTypeOf<SessionEvents['tokensChanged']['cause']>(),
    );
    session.on('signedOut', (event) =>
      expectTypeOf(event.reason).toEqualTypeOf<'user' | 'reauthFailed' | 'otherContext'>(),
    );
    session.on('stateChange', (event) => expectTypeOf(event).toEqualTypeOf<SessionEvents['stateChange']>());
    expectTypeOf(session.on<'reauthenticated'>)
      .parameter(1)
      .parameter(0)
      .toHaveProperty('method');
  });

  it('an unknown event name does not compile', () => {
    const session = make({});
    // @ts-expect-error: 'nope' is not an event of the session
    const off = session.on('nope', () => {});
    off();
  });

  it('a handler of the wrong event type does not compile', () => {
    const session = make({});
    // @ts-expect-error: a refreshed event has no reason
    session.on('refreshed', (event: { reason: string }) => event.reason);
  });

  it('on() returns the unsubscribe', () => {
    const session = make({});
    expectTypeOf(session.on('refreshed', () => {})).toEqualTypeOf<() => void>();
  });

  it('the options require tokenEndpoint and clientId, and nothing else', () => {
    expectTypeOf<SessionManagerOptions['tokenEndpoint']>().toEqualTypeOf<string>();
    expectTypeOf<SessionManagerOptions['clientId']>().toEqualTypeOf<string>();
    expectTypeOf<{ tokenEndpoint: string; clientId: string }>().toExtend<SessionManagerOptions>();
    expectTypeOf<{ tokenEndpoint: string }>().not.toExtend<SessionManagerOptions>();
    expectTypeOf<{ clientId: string }>().not.toExtend<SessionManagerOptions>();
    // @ts-expect-error: clientId is required
    const noClient: SessionManagerOptions = { tokenEndpoint: 'https://auth.example.com/token' };
    // @ts-expect-error: tokenEndpoint is required
    const noEndpoint: SessionManagerOptions = { clientId: 'app' };
    expect([noClient, noEndpoint]).toHaveLength(2);
  });
});

describe('bad client options are refused with a ConfigurationError naming them', () => {
  it('trustedOrigins given as a string', () => {
    const session = make({});
    const create = () => session.createClient({}, { trustedOrigins: 'https://api.example.com' as unknown as string[] });
    expect(create).toThrow(ConfigurationError);
    expect(create).toThrow(/trustedOrigins/);
  });
});
