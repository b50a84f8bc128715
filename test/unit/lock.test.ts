/**
 * The lock port: the in-process mutex, and `webLock` over a stubbed `navigator.locks` (how it
 * asks for the lock, its bounded wait, what it does with failures). Real Web Locks are tested
 * in Node.js and Chromium elsewhere.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { inProcessLock, webLock, type LockContext } from '../../src/ports/lock.ts';
import { flushMicrotasks } from '../../src/testing.ts';

afterEach(() => {
  vi.unstubAllGlobals();
});

describe('inProcessLock', () => {
  it('does not make tasks of different names wait for each other', async () => {
    const lock = inProcessLock();
    void lock.run('a', () => new Promise<void>(() => {}));
    await expect(lock.run('b', async () => 'b ran')).resolves.toBe('b ran');
  });

  it('is held while a task runs or waits, and free once the last one ended', async () => {
    const lock = inProcessLock();
    let release = () => {};
    const first = lock.run('a', () => new Promise<void>((resolve) => (release = resolve)));
    const second = lock.run('a', async () => {});
    expect(await lock.isHeld!('a')).toBe(true);
    release();
    await Promise.all([first, second]);
    expect(await lock.isHeld!('a')).toBe(false);
  });

  it('is free once a single task ended', async () => {
    const lock = inProcessLock();
    await lock.run('a', async () => {});
    expect(await lock.isHeld!('a')).toBe(false);
  });

  it('makes a task that comes after an ended one wait for the one still running', async () => {
    const lock = inProcessLock();
    const order: string[] = [];
    let releaseFirst = () => {};
    let releaseSecond = () => {};
    const first = lock.run('a', () => new Promise<void>((resolve) => (releaseFirst = resolve)));
    const second = lock.run('a', () =>
      new Promise<void>((resolve) => (releaseSecond = resolve)).then(() => void order.push('second')),
    );
    await flushMicrotasks();
    releaseFirst();
    await first;
    expect(await lock.isHeld!('a')).toBe(true);
    const third = lock.run('a', async () => void order.push('third'));
    await flushMicrotasks();
    releaseSecond();
    await Promise.all([second, third]);
    expect(order).toEqual(['second', 'third']);
  });

  it('is still held while one of two shared holds lasts', async () => {
    const lock = inProcessLock();
    let endFirst = () => {};
    lock.holdShared!('a', new Promise<void>((resolve) => (endFirst = resolve)));
    lock.holdShared!('a', new Promise<void>(() => {}));
    endFirst();
    await flushMicrotasks();
    expect(await lock.isHeld!('a')).toBe(true);
  });

  it('passes the task no context', async () => {
    await expect(inProcessLock().run('a', async (context) => context)).resolves.toBeUndefined();
  });
});

/** A `navigator.locks` that records each request and grants it as the test says. */
function stubLocks(grant: (options: Record<string, unknown>) => 'free' | 'taken' | 'wait' | Error) {
  const requests: { name: string; options: Record<string, unknown> }[] = [];
  const locks = {
    query: async () => ({ held: [{ name: 'other' }, { name: 'session-keeper:app' }] }),
    request(name: string, options: Record<string, unknown>, task: (lock: unknown) => unknown) {
      requests.push({ name, options });
      const answer = grant(options);
      if (answer instanceof Error) return Promise.reject(answer);
      if (answer === 'wait') {
        const signal = options.signal as AbortSignal;
        return new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason)));
      }
      return Promise.resolve(task(answer === 'free' ? { name } : null));
    },
  };
  vi.stubGlobal('navigator', { locks });
  return requests;
}

describe('webLock', () => {
  it('falls back to the in-process lock where there is no navigator', async () => {
    vi.stubGlobal('navigator', undefined);
    await expect(webLock().run('a', async () => 'ran')).resolves.toBe('ran');
  });

  it('falls back to the in-process lock where there is no Web Locks', async () => {
    vi.stubGlobal('navigator', {});
    const lock = webLock();
    let release = () => {};
    const order: string[] = [];
    const first = lock.run('a', () =>
      new Promise<void>((resolve) => (release = resolve)).then(() => void order.push('first')),
    );
    const second = lock.run('a', async () => void order.push('second'));
    await flushMicrotasks();
    expect(order).toEqual([]);
    release();
    await Promise.all([first, second]);
    expect(order).toEqual(['first', 'second']);
  });

  it('takes a free lock without waiting and tells the task so', async () => {
    const requests = stubLocks(() => 'free');
    const contexts: (LockContext | undefined)[] = [];
    await expect(
      webLock().run('session-keeper:app', async (context) => (contexts.push(context), 'done')),
    ).resolves.toBe('done');
    expect(contexts).toEqual([{ waited: false }]);
    expect(requests).toEqual([{ name: 'session-keeper:app', options: { ifAvailable: true } }]);
  });

  it('waits, with a deadline, for a lock another context holds, and tells the task it waited', async () => {
    const requests = stubLocks((options) => (options.ifAvailable ? 'taken' : 'free'));
    const contexts: (LockContext | undefined)[] = [];
    await webLock().run('session-keeper:app', async (context) => void contexts.push(context));
    expect(contexts).toEqual([{ waited: true }]);
    expect(requests).toHaveLength(2);
    expect(requests[1]!.options.signal).toBeInstanceOf(AbortSignal);
  });

  it('runs the task without the lock once the wait passes maxWaitMs, and logs it', async () => {
    stubLocks((options) => (options.ifAvailable ? 'taken' : 'wait'));
    const warnings: unknown[][] = [];
    const logger = { debug() {}, info() {}, error() {}, warn: (...line: unknown[]) => void warnings.push(line) };
    const contexts: (LockContext | undefined)[] = [];
    await webLock({ maxWaitMs: 1, logger }).run('session-keeper:app', async (context) => void contexts.push(context));
    expect(contexts).toEqual([{ waited: true }]);
    expect(warnings).toEqual([
      ['lock wait timed out; refreshing without it', { lock: 'session-keeper:app', maxWaitMs: 1 }],
    ]);
  });

  it('hands on a failure of the task once, without running it again', async () => {
    stubLocks((options) => (options.ifAvailable ? 'taken' : 'free'));
    let runs = 0;
    const failure = new Error('grant failed');
    await expect(
      webLock().run('session-keeper:app', async () => {
        runs++;
        throw failure;
      }),
    ).rejects.toBe(failure);
    expect(runs).toBe(1);
  });

  it('hands on a failure of a task that ran past maxWaitMs, without running it again', async () => {
    let waitSignal: AbortSignal | undefined;
    stubLocks((options) => {
      if (options.ifAvailable) return 'taken';
      waitSignal = options.signal as AbortSignal;
      return 'free';
    });
    let runs = 0;
    const failure = new Error('grant failed late');
    const task = async () => {
      runs++;
      // Still running when the wait's deadline passes.
      if (!waitSignal!.aborted) await new Promise((resolve) => waitSignal!.addEventListener('abort', resolve));
      throw failure;
    };
    await expect(webLock({ maxWaitMs: 1 }).run('session-keeper:app', task)).rejects.toBe(failure);
    expect(runs).toBe(1);
  });

  it('hands on a failure of the lock manager itself, without running the task', async () => {
    const broken = new Error('locks broken');
    stubLocks(() => broken);
    let runs = 0;
    await expect(webLock().run('session-keeper:app', async () => void runs++)).rejects.toBe(broken);
    expect(runs).toBe(0);
  });

  it('tells whether some context holds a lock of the name', async () => {
    stubLocks(() => 'free');
    const lock = webLock();
    expect(await lock.isHeld!('session-keeper:app')).toBe(true);
    expect(await lock.isHeld!('session-keeper:another')).toBe(false);
  });

  it('reads a lock manager that lists no held locks as nothing held', async () => {
    stubLocks(() => 'free');
    (globalThis.navigator as unknown as { locks: { query: () => Promise<object> } }).locks.query = async () => ({});
    expect(await webLock().isHeld!('session-keeper:app')).toBe(false);
  });

  it('holds a shared lock until the promise settles, whether it resolves or rejects', async () => {
    const requests = stubLocks(() => 'free');
    const lock = webLock();
    lock.holdShared!('session-keeper:app', Promise.resolve());
    lock.holdShared!('session-keeper:app', Promise.reject(new Error('re-authentication failed')));
    await flushMicrotasks();
    expect(requests.map((r) => r.options)).toEqual([{ mode: 'shared' }, { mode: 'shared' }]);
  });

  it('swallows a failure to take a shared hold (vitest fails a test on an unhandled rejection)', async () => {
    const requests = stubLocks(() => new Error('locks broken'));
    webLock().holdShared!('session-keeper:app', new Promise(() => {}));
    await flushMicrotasks();
    expect(requests).toHaveLength(1);
  });
});
