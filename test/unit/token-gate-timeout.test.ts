/**
 * The token gate's wait ends without a release: at its timeout (only when the session says it
 * may, else it is re-armed), or when the caller's signal aborts; either way it leaves no timer
 * and no listener behind.
 */
import { getEventListeners } from 'node:events';
import { beforeEach, describe, expect, it } from 'vitest';
import { createTokenGate, type TokenGate } from '../../src/client/token-gate.ts';
import { TokenWaitTimeoutError } from '../../src/errors.ts';
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

describe('the wait timeout', () => {
  it('rejects a request still waiting after timeoutMs with TokenWaitTimeoutError', async () => {
    gate.hold();
    const waiting = watch(gate.wait(30_000));
    await clock.advance(29_999);
    expect(await waiting.state()).toBe('pending');
    await clock.advance(1);
    const error = await waiting.promise.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TokenWaitTimeoutError);
    expect((error as Error).message).toBe('No access token within 30000 ms');
    expect(reads).toBe(0);
    expect(clock.pendingTimers).toBe(0);
  });

  it('is re-armed while the session says a timeout must not fail the request (the user is at the prompt)', async () => {
    mayTimeOut = false;
    gate.hold();
    const waiting = watch(gate.wait(1000));
    await clock.advance(5000);
    expect(await waiting.state()).toBe('pending');
    expect(clock.pendingTimers).toBe(1);
    mayTimeOut = true;
    await clock.advance(999);
    expect(await waiting.state()).toBe('pending');
    await clock.advance(1);
    expect(await waiting.state()).toBe('rejected: TokenWaitTimeoutError');
  });

  it('is re-armed, and a release then still serves the request', async () => {
    mayTimeOut = false;
    gate.hold();
    const waiting = gate.wait(1000);
    await clock.advance(3500);
    gate.release();
    await expect(waiting).resolves.toBe('access-1');
    expect(clock.pendingTimers).toBe(0);
  });

  it('times out each request by its own timeout', async () => {
    gate.hold();
    const short = watch(gate.wait(1000));
    const long = watch(gate.wait(5000));
    await clock.advance(1000);
    expect(await short.state()).toBe('rejected: TokenWaitTimeoutError');
    expect(await long.state()).toBe('pending');
    expect(gate.size).toBe(1);
    gate.release();
    await expect(long.promise).resolves.toBe('access-1');
  });
});

describe("the caller's signal", () => {
  it('rejects a waiting request with its reason when it aborts', async () => {
    gate.hold();
    const caller = new AbortController();
    const waiting = gate.wait(30_000, caller.signal);
    await flushMicrotasks();
    const reason = new Error('request cancelled');
    caller.abort(reason);
    await expect(waiting).rejects.toBe(reason);
    expect(gate.size).toBe(0);
    expect(clock.pendingTimers).toBe(0);
  });

  it('rejects at once with the reason of a signal aborted before the wait', async () => {
    const reason = new Error('already gone');
    await expect(gate.wait(30_000, AbortSignal.abort(reason))).rejects.toBe(reason);
    expect(reads).toBe(0);
  });

  it('is no longer followed once the request read its outcome', async () => {
    const caller = new AbortController();
    await expect(gate.wait(30_000, caller.signal)).resolves.toBe('access-1');
    expect(getEventListeners(caller.signal, 'abort')).toHaveLength(0);
  });

  it('is no longer followed once the request timed out', async () => {
    gate.hold();
    const caller = new AbortController();
    const waiting = gate.wait(1000, caller.signal).catch((e: unknown) => e);
    await clock.advance(1000);
    expect(await waiting).toBeInstanceOf(TokenWaitTimeoutError);
    expect(getEventListeners(caller.signal, 'abort')).toHaveLength(0);
  });
});
