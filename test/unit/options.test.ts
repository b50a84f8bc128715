/**
 * Option validation and defaults (`resolveOptions`): every bad option is refused with a
 * ConfigurationError whose message names it and says what it must be; every default lives in
 * one place and a given value always wins over it.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ConfigurationError } from '../../src/errors.ts';
import { resolveOptions, type SessionManagerOptions } from '../../src/options.ts';
import type { DpopContext, DpopPort } from '../../src/dpop/types.ts';
import { systemClock } from '../../src/ports/clock.ts';
import { visibilityLifecycle } from '../../src/ports/lifecycle.ts';
import { inProcessLock } from '../../src/ports/lock.ts';
import { browserNetwork } from '../../src/ports/network.ts';
import { MemoryTokenStore } from '../../src/ports/token-store.ts';
import { ManualClock, ManualLifecycle, ManualNetwork } from '../../src/testing.ts';
import { recordingLogger } from './builders.ts';

const REQUIRED = { tokenEndpoint: 'https://auth.example.com/token', clientId: 'app' };

const resolve = (options: Record<string, unknown>) =>
  resolveOptions({ ...REQUIRED, ...options } as SessionManagerOptions);

/** The message of the ConfigurationError that resolving `options` throws. */
function refusal(options: unknown): string {
  try {
    resolveOptions(options as SessionManagerOptions);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigurationError);
    expect((error as ConfigurationError).code).toBe('ERR_CONFIG');
    return (error as Error).message;
  }
  throw new Error('the options were accepted');
}

const noop = () => {};
const STORE = { load: noop, save: noop, clear: noop };
const CLOCK = { now: () => 0, setTimeout: noop, clearTimeout: noop };
const LOGGER = { debug: noop, info: noop, warn: noop, error: noop };
const HTTPS_ONLY = 'an https: URL (plain http: only on a loopback host, or with allowInsecureHttp for development)';

afterEach(() => {
  vi.restoreAllMocks();
  vi.unstubAllGlobals();
});

describe('a bad option is refused with a ConfigurationError that names it', () => {
  it.each<[string, Record<string, unknown>, string]>([
    ['a string as allowInsecureHttp', { allowInsecureHttp: 'yes' }, '"allowInsecureHttp" must be a boolean'],
    ['a relative token endpoint', { tokenEndpoint: '/token' }, '"tokenEndpoint" must be an absolute URL, got "/token"'],
    ['no token endpoint', { tokenEndpoint: undefined }, '"tokenEndpoint" must be an absolute URL, got undefined'],
    [
      'a plain http token endpoint off loopback',
      { tokenEndpoint: 'http://auth.example.com/token' },
      `"tokenEndpoint" must be ${HTTPS_ONLY}`,
    ],
    [
      'a plain http token endpoint with allowInsecureHttp false',
      { tokenEndpoint: 'http://192.168.1.20/token', allowInsecureHttp: false },
      `"tokenEndpoint" must be ${HTTPS_ONLY}`,
    ],
    [
      'a token endpoint of another scheme',
      { tokenEndpoint: 'ftp://auth.example.com/token' },
      `"tokenEndpoint" must be ${HTTPS_ONLY}`,
    ],
    [
      'a relative revocation endpoint',
      { revocationEndpoint: 'revoke' },
      '"revocationEndpoint" must be an absolute URL, got "revoke"',
    ],
    [
      'a plain http revocation endpoint off loopback',
      { revocationEndpoint: 'http://auth.example.com/revoke' },
      `"revocationEndpoint" must be ${HTTPS_ONLY}`,
    ],
    ['an empty clientId', { clientId: '' }, '"clientId" must be a non-empty string'],
    ['a number as clientId', { clientId: 1 }, '"clientId" must be a non-empty string'],
    ['no clientId', { clientId: undefined }, '"clientId" must be a non-empty string'],
    ['a number as store', { store: 42 }, '"store" must be an object with load, save, clear()'],
    ['null as store', { store: null }, '"store" must be an object with load, save, clear()'],
    ['an empty store', { store: {} }, '"store" must be an object with load, save, clear(); "load" is missing'],
    [
      'a store without clear',
      { store: { load: noop, save: noop } },
      '"store" must be an object with load, save, clear(); "clear" is missing',
    ],
    [
      'a store whose subscribe is not a function',
      { store: { ...STORE, subscribe: 1 } },
      '"store.subscribe" must be a function',
    ],
    [
      'an empty clock',
      { clock: {} },
      '"clock" must be an object with now, setTimeout, clearTimeout(); "now" is missing',
    ],
    [
      'a clock without clearTimeout',
      { clock: { now: noop, setTimeout: noop } },
      '"clock" must be an object with now, setTimeout, clearTimeout(); "clearTimeout" is missing',
    ],
    ['an empty lock', { lock: {} }, '"lock" must be an object with run(); "run" is missing'],
    [
      'a lock whose holdShared is not a function',
      { lock: { run: noop, holdShared: 1 } },
      '"lock.holdShared" must be a function',
    ],
    [
      'a lock whose isHeld is not a function',
      { lock: { run: noop, isHeld: true } },
      '"lock.isHeld" must be a function',
    ],
    ['a string as logger', { logger: 'console' }, '"logger" must be an object with debug, info, warn, error()'],
    [
      'a logger without error',
      { logger: { debug: noop, info: noop, warn: noop } },
      '"logger" must be an object with debug, info, warn, error(); "error" is missing',
    ],
    ['a string as biometric', { biometric: 'yes' }, '"biometric" must be an object with isAvailable, getAssertion()'],
    [
      'a biometric provider without getAssertion',
      { biometric: { isAvailable: noop } },
      '"biometric" must be an object with isAvailable, getAssertion(); "getAssertion" is missing',
    ],
    ['an empty lifecycle', { lifecycle: {} }, '"lifecycle" must be an object with subscribe(); "subscribe" is missing'],
    ['an empty network', { network: {} }, '"network" must be an object with subscribe(); "subscribe" is missing'],
    [
      'a network whose isOnline is not a function',
      { network: { subscribe: noop, isOnline: true } },
      '"network.isOnline" must be a function',
    ],
    [
      'an empty broadcast',
      { broadcast: {} },
      '"broadcast" must be an object with post, subscribe(); "post" is missing',
    ],
    [
      'a broadcast without subscribe',
      { broadcast: { post: noop } },
      '"broadcast" must be an object with post, subscribe(); "subscribe" is missing',
    ],
    ['true as broadcast', { broadcast: true }, '"broadcast" must be an object with post, subscribe()'],
    ['a string as persistAccessToken', { persistAccessToken: 'no' }, '"persistAccessToken" must be a boolean'],
    ['a number as lockName', { lockName: 7 }, '"lockName" must be a non-empty string'],
    ['an empty lockName', { lockName: '' }, '"lockName" must be a non-empty string'],
    [
      'a string as backoff',
      { backoff: 'fast' },
      '"backoff" must be an object like { initialDelay: 1000, maxDelay: 60000 }',
    ],
    ['null as backoff', { backoff: null }, '"backoff" must be an object like { initialDelay: 1000, maxDelay: 60000 }'],
    ['an object as signInPrompt', { signInPrompt: {} }, '"signInPrompt" must be a function'],
    ['an object as refreshTokens', { refreshTokens: {} }, '"refreshTokens" must be a function'],
    ['a string as fetch', { fetch: 'fetch' }, '"fetch" must be a function'],
    ['a number as random', { random: 1 }, '"random" must be a function'],
    ['a negative refreshMargin', { refreshMargin: -1 }, '"refreshMargin" must be a number of ms >= 0'],
    ['a string as refreshMargin', { refreshMargin: '5000' }, '"refreshMargin" must be a number of ms >= 0'],
    ['NaN as refreshMargin', { refreshMargin: Number.NaN }, '"refreshMargin" must be a number of ms >= 0'],
    ['an infinite sessionWarning', { sessionWarning: Infinity }, '"sessionWarning" must be a number of ms >= 0'],
    ['a negative sessionWarning', { sessionWarning: -0.5 }, '"sessionWarning" must be a number of ms >= 0'],
    ['a zero refreshTimeout', { refreshTimeout: 0 }, '"refreshTimeout" must be a number of ms > 0'],
    ['a fraction of a ms as refreshTimeout', { refreshTimeout: 0.5 }, '"refreshTimeout" must be a number of ms > 0'],
    ['a string as refreshTimeout', { refreshTimeout: '15s' }, '"refreshTimeout" must be a number of ms > 0'],
    ['a zero tokenWaitTimeout', { tokenWaitTimeout: 0 }, '"tokenWaitTimeout" must be a number of ms > 0'],
    ['an infinite tokenWaitTimeout', { tokenWaitTimeout: Infinity }, '"tokenWaitTimeout" must be a number of ms > 0'],
    ['a zero initial backoff', { backoff: { initialDelay: 0 } }, '"backoff.initialDelay" must be a number of ms > 0'],
    [
      'a string as initial backoff',
      { backoff: { initialDelay: '1s' } },
      '"backoff.initialDelay" must be a number of ms > 0',
    ],
    ['a zero maximum backoff', { backoff: { maxDelay: 0 } }, '"backoff.maxDelay" must be a number of ms > 0'],
    [
      'a maximum backoff below the initial one',
      { backoff: { initialDelay: 5000, maxDelay: 4999 } },
      '"backoff.maxDelay" must be at least backoff.initialDelay',
    ],
    [
      'a maximum backoff below the default initial one',
      { backoff: { maxDelay: 999 } },
      '"backoff.maxDelay" must be at least backoff.initialDelay',
    ],
  ])('%s', (_name, options, message) => {
    expect(refusal({ ...REQUIRED, ...options })).toBe(message);
  });

  it.each([
    ['undefined', undefined],
    ['null', null],
    ['a string', 'https://auth.example.com/token'],
  ])('no options object (%s)', (_name, options) => {
    expect(refusal(options)).toBe('Options are required');
  });
});

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

describe('defaults, and given values over them', () => {
  it('the session lives in memory, access token included', () => {
    const resolved = resolve({});
    expect(resolved.store).toBeInstanceOf(MemoryTokenStore);
    expect(resolved.persistAccessToken).toBe(true);
    const store = new MemoryTokenStore();
    expect(resolve({ store, persistAccessToken: false })).toMatchObject({ store, persistAccessToken: false });
  });

  it('the system clock, visibility and online events', () => {
    expect(resolve({})).toMatchObject({
      clock: systemClock,
      lifecycle: visibilityLifecycle,
      network: browserNetwork,
    });
    const clock = new ManualClock();
    const lifecycle = new ManualLifecycle();
    const network = new ManualNetwork();
    const resolved = resolve({ clock, lifecycle, network });
    expect(resolved.clock).toBe(clock);
    expect(resolved.lifecycle).toBe(lifecycle);
    expect(resolved.network).toBe(network);
  });

  it('margins of five minutes, a 15 s grant timeout, a 30 s token wait', () => {
    expect(resolve({})).toMatchObject({
      refreshMargin: 300_000,
      sessionWarning: 300_000,
      refreshTimeout: 15_000,
      tokenWaitTimeout: 30_000,
    });
    expect(resolve({ refreshMargin: 0, sessionWarning: 1, refreshTimeout: 2, tokenWaitTimeout: 3 })).toMatchObject({
      refreshMargin: 0,
      sessionWarning: 1,
      refreshTimeout: 2,
      tokenWaitTimeout: 3,
    });
  });

  it('backoff from one second to one minute; a partial backoff keeps the other default', () => {
    expect(resolve({}).backoff).toEqual({ initialDelay: 1000, maxDelay: 60_000 });
    expect(resolve({ backoff: { initialDelay: 10 } }).backoff).toEqual({ initialDelay: 10, maxDelay: 60_000 });
    expect(resolve({ backoff: { maxDelay: 2000 } }).backoff).toEqual({ initialDelay: 1000, maxDelay: 2000 });
  });

  it('jitter from Math.random, unless given', () => {
    expect(resolve({}).random).toBe(Math.random);
    const random = () => 0.25;
    expect(resolve({ random }).random).toBe(random);
  });

  it('no trusted origins', () => {
    expect(resolve({}).trustedOrigins).toEqual([]);
    const trustedOrigins = ['https://api.example.com'];
    expect(resolve({ trustedOrigins }).trustedOrigins).toBe(trustedOrigins);
  });

  it('plain http only on loopback', () => {
    expect(resolve({}).allowInsecureHttp).toBe(false);
    expect(resolve({ tokenEndpoint: 'http://10.0.0.2/token', allowInsecureHttp: true }).allowInsecureHttp).toBe(true);
  });

  it('broadcast on a channel, unless turned off or given', () => {
    const resolved = resolve({});
    expect(typeof resolved.broadcast?.post).toBe('function');
    expect(typeof resolved.broadcast?.subscribe).toBe('function');
    expect(resolve({ broadcast: false }).broadcast).toBeUndefined();
    const broadcast = { post: noop, subscribe: () => noop };
    expect(resolve({ broadcast }).broadcast).toBe(broadcast);
  });

  it('no DPoP, unless asked for', () => {
    expect(resolve({}).dpop).toBeUndefined();
    expect(resolve({ dpop: false }).dpop).toBeUndefined();
  });

  it('a DPoP handle is bound to the session: its clock, lock, lock name and logger', () => {
    const port = {} as DpopPort;
    const contexts: DpopContext[] = [];
    const clock = new ManualClock();
    const lock = inProcessLock();
    const { logger, lines } = recordingLogger();
    const resolved = resolve({
      clock,
      lock,
      logger,
      lockName: 'the-session',
      dpop: {
        bind: (context: DpopContext) => {
          contexts.push(context);
          return port;
        },
      },
    });
    expect(resolved.dpop).toBe(port);
    expect(contexts).toHaveLength(1);
    expect(contexts[0]).toMatchObject({ clock, lock, lockName: 'the-session' });
    contexts[0]!.logger.warn('from the handle', { access_token: 'secret' });
    expect(lines).toEqual([['warn', 'from the handle', { access_token: '[redacted]' }]]);
  });

  it('the other options are passed on as given', () => {
    const signInPrompt = async () => null;
    const refreshTokens = async () => ({ access_token: 'a' });
    const biometric = { isAvailable: async () => false, getAssertion: async () => null };
    const resolved = resolve({
      signInPrompt,
      refreshTokens,
      biometric,
      revocationEndpoint: 'https://auth.example.com/revoke',
    });
    expect(resolved).toMatchObject({
      ...REQUIRED,
      signInPrompt,
      refreshTokens,
      biometric,
      revocationEndpoint: 'https://auth.example.com/revoke',
    });
  });
});

describe('the logger', () => {
  it('is wrapped: every line reaches the given logger redacted', () => {
    const { logger, lines } = recordingLogger();
    const resolved = resolve({ logger });
    expect(resolved.logger).not.toBe(logger);
    resolved.logger.info('refreshed', { refresh_token: 'rt-1', attempt: 2 });
    resolved.logger.error('failed');
    expect(lines).toEqual([
      ['info', 'refreshed', { refresh_token: '[redacted]', attempt: 2 }],
      ['error', 'failed', undefined],
    ]);
  });

  it('is silent by default', () => {
    const log = vi.spyOn(console, 'log');
    const warn = vi.spyOn(console, 'warn');
    const resolved = resolve({});
    for (const level of ['debug', 'info', 'warn', 'error'] as const) {
      expect(() => resolved.logger[level]('nothing', { attempt: 1 })).not.toThrow();
    }
    expect(log).not.toHaveBeenCalled();
    expect(warn).not.toHaveBeenCalled();
  });

  it('is the one the default Web Locks lock reports a timed-out wait to', async () => {
    // A lock manager whose every contended wait times out at once.
    const locks = {
      request: async (
        _name: string,
        options: { ifAvailable?: boolean; signal?: AbortSignal },
        task: (lock: unknown) => unknown,
      ) => {
        if (options.ifAvailable) return task(null);
        throw options.signal?.reason;
      },
      query: async () => ({ held: [] }),
    };
    vi.stubGlobal('navigator', { locks });
    vi.spyOn(AbortSignal, 'timeout').mockReturnValue(AbortSignal.abort(new DOMException('timed out', 'TimeoutError')));
    const { logger, lines } = recordingLogger();
    const resolved = resolve({ logger, lockName: 'the-lock' });
    await expect(resolved.lock.run('the-lock', async (context) => context)).resolves.toEqual({ waited: true });
    expect(lines).toEqual([
      ['warn', 'lock wait timed out; refreshing without it', { lock: 'the-lock', maxWaitMs: 10_000 }],
    ]);
  });
});

describe('the fetch', () => {
  it('defaults to globalThis.fetch as it is at call time', async () => {
    const resolved = resolve({});
    const answer = new Response('ok');
    const fetch = vi.fn(async () => answer);
    vi.stubGlobal('fetch', fetch);
    const init = { method: 'POST' };
    await expect(resolved.fetch('https://auth.example.com/token', init)).resolves.toBe(answer);
    expect(fetch).toHaveBeenCalledWith('https://auth.example.com/token', init);
  });

  it('is the given one', () => {
    const fetch = vi.fn();
    expect(resolve({ fetch }).fetch).toBe(fetch);
  });
});

describe('the lock', () => {
  it('is the given one', () => {
    const lock = inProcessLock();
    expect(resolve({ lock }).lock).toBe(lock);
  });

  it('defaults to one that runs tasks', async () => {
    await expect(resolve({}).lock.run('a-lock', async () => 'ran')).resolves.toBe('ran');
  });
});

describe('the lock name', () => {
  it('is the given one', () => {
    expect(resolve({ lockName: 'mine' }).lockName).toBe('mine');
  });

  it('defaults to the client id and the store id', () => {
    const store = { ...STORE, id: 'web-storage:session' };
    expect(resolve({ store }).lockName).toBe('session-keeper:app:web-storage:session');
    expect(resolve({ store, clientId: 'other-app' }).lockName).toBe('session-keeper:other-app:web-storage:session');
  });

  it('numbers a store without an id: the same store keeps its number, another gets the next', () => {
    const first = { ...STORE };
    const second = { ...STORE };
    const numberOf = (store: object) => {
      const match = /^session-keeper:app:#([1-9]\d*)$/.exec(resolve({ store }).lockName);
      expect(match).not.toBeNull();
      return Number(match![1]);
    };
    const one = numberOf(first);
    expect(numberOf(first)).toBe(one);
    const two = numberOf(second);
    expect(two).toBeGreaterThan(one);
    expect(numberOf(second)).toBe(two);
    expect(numberOf(first)).toBe(one);
  });

  it('numbers a store whose id is empty or not a string', () => {
    expect(resolve({ store: { ...STORE, id: '' } }).lockName).toMatch(/^session-keeper:app:#[1-9]\d*$/);
    expect(resolve({ store: { ...STORE, id: 42 } }).lockName).toMatch(/^session-keeper:app:#[1-9]\d*$/);
  });

  it('the default broadcast channel is named after it', async () => {
    const resolved = resolve({ lockName: 'shared-session' });
    const listener = new BroadcastChannel('shared-session');
    try {
      const heard = new Promise((resolve) => (listener.onmessage = ({ data }) => resolve(data)));
      resolved.broadcast?.post(7);
      await expect(heard).resolves.toBe(7);
    } finally {
      listener.close();
      resolved.broadcast?.subscribe(noop)(); // the last unsubscribe closes its channel
    }
  });
});
