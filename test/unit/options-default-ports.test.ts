/**
 * The default logger, fetch, lock and lock name, and given ones over them: the logger is
 * wrapped (redacted) and reaches the default lock too, fetch is read at call time, the lock
 * name derives from the client id and the store.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { inProcessLock } from '../../src/ports/lock.ts';
import { recordingLogger } from './builders.ts';
import { resolve, noop, STORE } from './options-setup.ts';

afterEach(() => {
  vi.restoreAllMocks();
  vi.unstubAllGlobals();
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
