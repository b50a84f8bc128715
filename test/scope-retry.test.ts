import { describe, expect, it, vi } from 'vitest';
import { TransientRefreshError } from '../src/errors.ts';
import { retryUntilSettled, type Attempt, type Wake } from '../src/refresh/retry.ts';
import { backoffDelay } from '../src/refresh/backoff.ts';
import { SessionScope } from '../src/session/scope.ts';
import { ManualClock, flushMicrotasks } from '../src/testing.ts';

function deferred() {
  let resolve!: () => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

describe('the session scope', () => {
  it('a fresh scope signal is current and not aborted', () => {
    const scope = new SessionScope();
    expect(scope.signal.aborted).toBe(false);
    expect(scope.isCurrent(scope.signal)).toBe(true);
    expect(scope.inflight).toBeUndefined();
  });

  it('replacing the scope aborts the old signal with the reason and starts a current one', () => {
    const scope = new SessionScope();
    const old = scope.signal;
    scope.replace('signed in again');
    expect(old.aborted).toBe(true);
    expect(old.reason).toBe('signed in again');
    expect(scope.isCurrent(old)).toBe(false);
    expect(scope.signal).not.toBe(old);
    expect(scope.isCurrent(scope.signal)).toBe(true);
  });

  it('a signal of another scope is not current', () => {
    expect(new SessionScope().isCurrent(new SessionScope().signal)).toBe(false);
  });

  it('concurrent exclusive tasks share one run', async () => {
    const scope = new SessionScope();
    const gate = deferred();
    const task = vi.fn(() => gate.promise);
    const first = scope.exclusive(task, () => {});
    const second = scope.exclusive(task, () => {});
    expect(second).toBe(first);
    expect(scope.inflight).toBe(first);
    expect(task).toHaveBeenCalledTimes(1);
    expect(task).toHaveBeenCalledWith(scope.signal);
    gate.resolve();
    await first;
    expect(scope.inflight).toBeUndefined();
  });

  it('a task after the previous one settled runs again', async () => {
    const scope = new SessionScope();
    const task = vi.fn(async () => {});
    await scope.exclusive(task, () => {});
    await scope.exclusive(task, () => {});
    expect(task).toHaveBeenCalledTimes(2);
  });

  it('a task that throws is reported, and its run resolves', async () => {
    const scope = new SessionScope();
    const onError = vi.fn();
    const error = new Error('boom');
    await expect(scope.exclusive(() => Promise.reject(error), onError)).resolves.toBeUndefined();
    expect(onError).toHaveBeenCalledWith(error);
    expect(scope.inflight).toBeUndefined();
  });

  it('replacing the scope forgets its flight: the next task is the new session own', async () => {
    const scope = new SessionScope();
    const oldGate = deferred();
    const newGate = deferred();
    const old = scope.exclusive(
      () => oldGate.promise,
      () => {},
    );
    scope.replace();
    expect(scope.inflight).toBeUndefined();
    const next = scope.exclusive(
      () => newGate.promise,
      () => {},
    );
    expect(next).not.toBe(old);
    // The old flight settling does not forget the new one.
    oldGate.resolve();
    await old;
    expect(scope.inflight).toBe(next);
    newGate.resolve();
    await next;
    expect(scope.inflight).toBeUndefined();
  });

  it('a closed scope aborts its signal, forgets its flight and runs nothing again', async () => {
    const scope = new SessionScope();
    const gate = deferred();
    void scope.exclusive(
      () => gate.promise,
      () => {},
    );
    const signal = scope.signal;
    scope.close('disposed');
    expect(signal.aborted).toBe(true);
    expect(signal.reason).toBe('disposed');
    expect(scope.isCurrent(signal)).toBe(false);
    expect(scope.inflight).toBeUndefined();
    const task = vi.fn(async () => {});
    await expect(scope.exclusive(task, () => {})).resolves.toBeUndefined();
    expect(task).not.toHaveBeenCalled();
    expect(scope.inflight).toBeUndefined();
  });

  it('replacing a closed scope does not open it again', () => {
    const scope = new SessionScope();
    scope.close('disposed');
    const signal = scope.signal;
    scope.replace('later');
    expect(scope.signal).toBe(signal);
    expect(signal.reason).toBe('disposed');
  });
});

describe('the retry loop', () => {
  const backoff = { initialDelay: 1000, maxDelay: 60_000 };
  const never: Wake = () => () => {};

  /** A manual wake source: `fire()` wakes whoever subscribed. */
  function wakeSource() {
    const listeners = new Set<() => void>();
    const wake: Wake = (wakeUp) => {
      listeners.add(wakeUp);
      return () => listeners.delete(wakeUp);
    };
    return {
      wake,
      fire: () => [...listeners].forEach((listener) => listener()),
      get size() {
        return listeners.size;
      },
    };
  }

  function run<T>(
    attempts: Attempt<T>[],
    options: { wake?: Wake; wakeAlways?: Wake; signal?: AbortSignal; random?: number } = {},
  ) {
    const clock = new ManualClock();
    const failed = vi.fn();
    const attempt = vi.fn(async (_number: number) => attempts.shift() ?? ({ kind: 'later', ms: 1e9 } as Attempt<T>));
    const result = retryUntilSettled(
      { clock, backoff, random: () => options.random ?? 0.5 },
      attempt,
      { wake: options.wake ?? never, wakeAlways: options.wakeAlways },
      failed,
      options.signal ?? new AbortController().signal,
    );
    return { clock, failed, attempt, result };
  }

  it('a wake source that throws ends the loop, instead of trying again without a wait', async () => {
    const throwing: Wake = () => {
      throw new Error('subscribe failed');
    };
    const { result, attempt } = run(
      [
        { kind: 'failed', error: new Error('503') },
        { kind: 'settled', value: 'tokens' },
      ],
      { wake: throwing },
    );
    await expect(result).resolves.toBeUndefined();
    expect(attempt).toHaveBeenCalledTimes(1);
  });

  it('a first attempt that settles is the result', async () => {
    const { result, attempt, failed } = run([{ kind: 'settled', value: 'tokens' }]);
    await expect(result).resolves.toBe('tokens');
    expect(attempt).toHaveBeenCalledTimes(1);
    expect(attempt).toHaveBeenCalledWith(1);
    expect(failed).not.toHaveBeenCalled();
  });

  it('a transient failure waits the backoff, is reported with it, then tries again', async () => {
    const error = new Error('503');
    const { clock, result, attempt, failed } = run(
      [
        { kind: 'failed', error },
        { kind: 'settled', value: 'tokens' },
      ],
      {
        random: 0.5,
      },
    );
    await flushMicrotasks();
    const wait = backoffDelay(1, backoff, 0.5);
    expect(wait).toBe(750);
    expect(failed).toHaveBeenCalledWith(error, 1, wait);
    await clock.advance(wait - 1);
    expect(attempt).toHaveBeenCalledTimes(1);
    await clock.advance(1);
    await expect(result).resolves.toBe('tokens');
    expect(attempt).toHaveBeenLastCalledWith(2);
  });

  it('the backoff grows with each failure', async () => {
    const error = new Error('503');
    const { clock, result, failed } = run(
      [
        { kind: 'failed', error },
        { kind: 'failed', error },
        { kind: 'settled', value: 1 },
      ],
      { random: 0 },
    );
    await clock.advance(500);
    await clock.advance(1000);
    await expect(result).resolves.toBe(1);
    expect(failed.mock.calls.map(([, number, ms]) => [number, ms])).toEqual([
      [1, 500],
      [2, 1000],
    ]);
  });

  it('a later answer waits its time without counting as a failure', async () => {
    const { clock, result, attempt, failed } = run([
      { kind: 'later', ms: 250 },
      { kind: 'settled', value: 'x' },
    ]);
    await clock.advance(249);
    expect(attempt).toHaveBeenCalledTimes(1);
    await clock.advance(1);
    await expect(result).resolves.toBe('x');
    expect(failed).not.toHaveBeenCalled();
  });

  it('a wake ends a backoff wait early', async () => {
    const source = wakeSource();
    const { result, attempt } = run(
      [
        { kind: 'failed', error: new Error('offline') },
        { kind: 'settled', value: 'x' },
      ],
      {
        wake: source.wake,
      },
    );
    await flushMicrotasks();
    expect(source.size).toBe(1);
    source.fire();
    await expect(result).resolves.toBe('x');
    expect(attempt).toHaveBeenCalledTimes(2);
    expect(source.size).toBe(0);
  });

  it('a wake ends a later wait early', async () => {
    const source = wakeSource();
    const { result } = run(
      [
        { kind: 'later', ms: 60_000 },
        { kind: 'settled', value: 'x' },
      ],
      { wake: source.wake },
    );
    await flushMicrotasks();
    source.fire();
    await expect(result).resolves.toBe('x');
  });

  it('a Retry-After wait ignores the ordinary wake and ends only with wakeAlways', async () => {
    const source = wakeSource();
    const always = wakeSource();
    const { clock, result, attempt, failed } = run(
      [
        { kind: 'failed', error: new TransientRefreshError('429', { status: 429, retryAfterMs: 30_000 }) },
        { kind: 'settled', value: 'x' },
      ],
      { wake: source.wake, wakeAlways: always.wake },
    );
    await flushMicrotasks();
    expect(failed).toHaveBeenCalledWith(expect.any(Error), 1, 30_000);
    expect(source.size).toBe(0);
    source.fire();
    await clock.advance(29_999);
    expect(attempt).toHaveBeenCalledTimes(1);
    always.fire();
    await expect(result).resolves.toBe('x');
  });

  it('a Retry-After wait without wakeAlways lasts its full time', async () => {
    const source = wakeSource();
    const { clock, result, attempt } = run(
      [
        { kind: 'failed', error: new TransientRefreshError('429', { status: 429, retryAfterMs: 30_000 }) },
        { kind: 'settled', value: 'x' },
      ],
      { wake: source.wake },
    );
    await flushMicrotasks();
    source.fire();
    await clock.advance(29_999);
    expect(attempt).toHaveBeenCalledTimes(1);
    await clock.advance(1);
    await expect(result).resolves.toBe('x');
  });

  it('an aborted signal runs no attempt', async () => {
    const controller = new AbortController();
    controller.abort();
    const { result, attempt } = run([{ kind: 'settled', value: 'x' }], { signal: controller.signal });
    await expect(result).resolves.toBeUndefined();
    expect(attempt).not.toHaveBeenCalled();
  });

  it('an abort during an attempt drops its result', async () => {
    const controller = new AbortController();
    const clock = new ManualClock();
    const result = retryUntilSettled(
      { clock, backoff, random: () => 0 },
      async () => {
        controller.abort();
        return { kind: 'settled', value: 'x' } as const;
      },
      { wake: never },
      () => {},
      controller.signal,
    );
    await expect(result).resolves.toBeUndefined();
  });

  it('an abort during a failure report ends the loop before the next attempt', async () => {
    const controller = new AbortController();
    const clock = new ManualClock();
    const attempt = vi.fn(async () => ({ kind: 'failed', error: new Error('x') }) as const);
    const result = retryUntilSettled(
      { clock, backoff, random: () => 0 },
      attempt,
      { wake: never },
      () => controller.abort(),
      controller.signal,
    );
    await expect(result).resolves.toBeUndefined();
    expect(attempt).toHaveBeenCalledTimes(1);
  });

  it('an abort during the wait ends the loop', async () => {
    const controller = new AbortController();
    const { clock, result, attempt } = run(
      [
        { kind: 'failed', error: new Error('x') },
        { kind: 'settled', value: 'x' },
      ],
      {
        signal: controller.signal,
      },
    );
    await flushMicrotasks();
    controller.abort();
    await expect(result).resolves.toBeUndefined();
    await clock.advance(60_000);
    expect(attempt).toHaveBeenCalledTimes(1);
  });
});
