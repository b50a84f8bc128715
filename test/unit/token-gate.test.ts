/**
 * The token gate: where requests wait while a refresh or a re-authentication runs. Held, it
 * queues; released, every waiting request reads the outcome.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import { createTokenGate, type TokenGate } from '../../src/client/token-gate.ts';
import { ManualClock, flushMicrotasks } from '../../src/testing.ts';
import { NOW } from './builders.ts';

let clock: ManualClock;
let token: string | undefined;
let reads: number;
let mayTimeOut: boolean;
let gate: TokenGate;

beforeEach(() => {
  clock = new ManualClock(NOW);
  token = 'access-1';
  reads = 0;
  mayTimeOut = true;
  gate = createTokenGate(
    clock,
    () => {
      reads++;
      return token;
    },
    () => mayTimeOut,
  );
});

/** Follows `promise` from now on: `state()` is 'pending', or how it settled (after pending callbacks ran). */
function watch(promise: Promise<unknown>): { promise: Promise<unknown>; state(): Promise<string> } {
  let state = 'pending';
  promise.then(
    (value) => (state = `resolved: ${String(value)}`),
    (error: unknown) => (state = `rejected: ${(error as Error).name}`),
  );
  return {
    promise,
    async state() {
      await flushMicrotasks();
      return state;
    },
  };
}

describe('an open gate', () => {
  it('reads the outcome at once', async () => {
    await expect(gate.wait(1000)).resolves.toBe('access-1');
    expect(reads).toBe(1);
  });

  it('passes on an undefined outcome (decide again) and what the read throws', async () => {
    token = undefined;
    await expect(gate.wait(1000)).resolves.toBeUndefined();
    const failure = new Error('signed out');
    const failing = createTokenGate(
      clock,
      () => {
        throw failure;
      },
      () => true,
    );
    await expect(failing.wait(1000)).rejects.toBe(failure);
  });

  it('leaves no timer behind once read', async () => {
    await gate.wait(1000);
    expect(clock.pendingTimers).toBe(0);
  });

  it('has nobody waiting', async () => {
    expect(gate.size).toBe(0);
    await gate.wait(1000);
    expect(gate.size).toBe(0);
  });

  it('held and released before anyone waited, is open', async () => {
    gate.hold();
    gate.release();
    await expect(gate.wait(1000)).resolves.toBe('access-1');
  });

  it('can be released, and held, before anyone ever waited', async () => {
    expect(() => gate.release()).not.toThrow();
    expect(() => gate.hold()).not.toThrow();
    expect(gate.size).toBe(0);
  });
});

describe('a held gate', () => {
  it('keeps a request waiting, without reading, until released', async () => {
    gate.hold();
    const waiting = watch(gate.wait(10_000));
    expect(await waiting.state()).toBe('pending');
    expect(reads).toBe(0);
    token = 'access-2';
    gate.release();
    await expect(waiting.promise).resolves.toBe('access-2');
    expect(reads).toBe(1);
  });

  it('holds again after it was open and used', async () => {
    await expect(gate.wait(1000)).resolves.toBe('access-1');
    gate.hold();
    const waiting = watch(gate.wait(10_000));
    expect(await waiting.state()).toBe('pending');
    gate.release();
    await expect(waiting.promise).resolves.toBe('access-1');
  });

  it('counts the requests waiting, and none once released', async () => {
    gate.hold();
    const waiting = [gate.wait(10_000), gate.wait(10_000), gate.wait(10_000)];
    await flushMicrotasks();
    expect(gate.size).toBe(3);
    gate.release();
    await expect(Promise.all(waiting)).resolves.toEqual(['access-1', 'access-1', 'access-1']);
    expect(gate.size).toBe(0);
  });

  it('lets every waiting request read the outcome on release', async () => {
    gate.hold();
    const waiting = Array.from({ length: 5 }, () => gate.wait(10_000));
    await flushMicrotasks();
    token = 'after-refresh';
    gate.release();
    await expect(Promise.all(waiting)).resolves.toEqual(Array(5).fill('after-refresh'));
    expect(reads).toBe(5);
    expect(clock.pendingTimers).toBe(0);
  });
});
