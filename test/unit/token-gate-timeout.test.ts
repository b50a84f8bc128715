/**
 * The token gate's wait ends without a release: at its timeout (only when the session says it
 * may, else it is re-armed), or when the caller's signal aborts; either way it leaves no timer
 * and no listener behind.
 */
import { getEventListeners } from 'node:events';
import { describe, expect, it } from 'vitest';
import { TokenWaitTimeoutError } from '../../src/errors.ts';
import { flushMicrotasks } from '../../src/testing.ts';
import { useTokenGate, watch } from './token-gate-setup.ts';

const t = useTokenGate();

describe('the wait timeout', () => {
  it('rejects a request still waiting after timeoutMs with TokenWaitTimeoutError', async () => {
    t.gate.hold();
    const waiting = watch(t.gate.wait(30_000));
    await t.clock.advance(29_999);
    expect(await waiting.state()).toBe('pending');
    await t.clock.advance(1);
    const error = await waiting.promise.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TokenWaitTimeoutError);
    expect((error as Error).message).toBe('No access token within 30000 ms');
    expect(t.reads).toBe(0);
    expect(t.clock.pendingTimers).toBe(0);
  });

  it('is re-armed while the session says a timeout must not fail the request (the user is at the prompt)', async () => {
    t.mayTimeOut = false;
    t.gate.hold();
    const waiting = watch(t.gate.wait(1000));
    await t.clock.advance(5000);
    expect(await waiting.state()).toBe('pending');
    expect(t.clock.pendingTimers).toBe(1);
    t.mayTimeOut = true;
    await t.clock.advance(999);
    expect(await waiting.state()).toBe('pending');
    await t.clock.advance(1);
    expect(await waiting.state()).toBe('rejected: TokenWaitTimeoutError');
  });

  it('is re-armed, and a release then still serves the request', async () => {
    t.mayTimeOut = false;
    t.gate.hold();
    const waiting = t.gate.wait(1000);
    await t.clock.advance(3500);
    t.gate.release();
    await expect(waiting).resolves.toBe('access-1');
    expect(t.clock.pendingTimers).toBe(0);
  });

  it('times out each request by its own timeout', async () => {
    t.gate.hold();
    const short = watch(t.gate.wait(1000));
    const long = watch(t.gate.wait(5000));
    await t.clock.advance(1000);
    expect(await short.state()).toBe('rejected: TokenWaitTimeoutError');
    expect(await long.state()).toBe('pending');
    expect(t.gate.size).toBe(1);
    t.gate.release();
    await expect(long.promise).resolves.toBe('access-1');
  });
});

describe("the caller's signal", () => {
  it('rejects a waiting request with its reason when it aborts', async () => {
    t.gate.hold();
    const caller = new AbortController();
    const waiting = t.gate.wait(30_000, caller.signal);
    await flushMicrotasks();
    const reason = new Error('request cancelled');
    caller.abort(reason);
    await expect(waiting).rejects.toBe(reason);
    expect(t.gate.size).toBe(0);
    expect(t.clock.pendingTimers).toBe(0);
  });

  it('rejects at once with the reason of a signal aborted before the wait', async () => {
    const reason = new Error('already gone');
    await expect(t.gate.wait(30_000, AbortSignal.abort(reason))).rejects.toBe(reason);
    expect(t.reads).toBe(0);
  });

  it('is no longer followed once the request read its outcome', async () => {
    const caller = new AbortController();
    await expect(t.gate.wait(30_000, caller.signal)).resolves.toBe('access-1');
    expect(getEventListeners(caller.signal, 'abort')).toHaveLength(0);
  });

  it('is no longer followed once the request timed out', async () => {
    t.gate.hold();
    const caller = new AbortController();
    const waiting = t.gate.wait(1000, caller.signal).catch((e: unknown) => e);
    await t.clock.advance(1000);
    expect(await waiting).toBeInstanceOf(TokenWaitTimeoutError);
    expect(getEventListeners(caller.signal, 'abort')).toHaveLength(0);
  });
});
