/**
 * The token gate: where requests wait while a refresh or a re-authentication runs. Held, it
 * queues; released, every waiting request reads the outcome.
 */
import { describe, expect, it } from 'vitest';
import { createTokenGate } from '../../src/client/token-gate.ts';
import { flushMicrotasks } from '../../src/testing.ts';
import { useTokenGate, watch } from './token-gate-setup.ts';

const t = useTokenGate();

describe('an open gate', () => {
  it('reads the outcome at once', async () => {
    await expect(t.gate.wait(1000)).resolves.toBe('access-1');
    expect(t.reads).toBe(1);
  });

  it('passes on an undefined outcome (decide again) and what the read throws', async () => {
    t.token = undefined;
    await expect(t.gate.wait(1000)).resolves.toBeUndefined();
    const failure = new Error('signed out');
    const failing = createTokenGate(
      t.clock,
      () => {
        throw failure;
      },
      () => true,
    );
    await expect(failing.wait(1000)).rejects.toBe(failure);
  });

  it('leaves no timer behind once read', async () => {
    await t.gate.wait(1000);
    expect(t.clock.pendingTimers).toBe(0);
  });

  it('has nobody waiting', async () => {
    expect(t.gate.size).toBe(0);
    await t.gate.wait(1000);
    expect(t.gate.size).toBe(0);
  });

  it('held and released before anyone waited, is open', async () => {
    t.gate.hold();
    t.gate.release();
    await expect(t.gate.wait(1000)).resolves.toBe('access-1');
  });

  it('can be released, and held, before anyone ever waited', async () => {
    expect(() => t.gate.release()).not.toThrow();
    expect(() => t.gate.hold()).not.toThrow();
    expect(t.gate.size).toBe(0);
  });
});

describe('a held gate', () => {
  it('keeps a request waiting, without reading, until released', async () => {
    t.gate.hold();
    const waiting = watch(t.gate.wait(10_000));
    expect(await waiting.state()).toBe('pending');
    expect(t.reads).toBe(0);
    t.token = 'access-2';
    t.gate.release();
    await expect(waiting.promise).resolves.toBe('access-2');
    expect(t.reads).toBe(1);
  });

  it('holds again after it was open and used', async () => {
    await expect(t.gate.wait(1000)).resolves.toBe('access-1');
    t.gate.hold();
    const waiting = watch(t.gate.wait(10_000));
    expect(await waiting.state()).toBe('pending');
    t.gate.release();
    await expect(waiting.promise).resolves.toBe('access-1');
  });

  it('counts the requests waiting, and none once released', async () => {
    t.gate.hold();
    const waiting = [t.gate.wait(10_000), t.gate.wait(10_000), t.gate.wait(10_000)];
    await flushMicrotasks();
    expect(t.gate.size).toBe(3);
    t.gate.release();
    await expect(Promise.all(waiting)).resolves.toEqual(['access-1', 'access-1', 'access-1']);
    expect(t.gate.size).toBe(0);
  });

  it('lets every waiting request read the outcome on release', async () => {
    t.gate.hold();
    const waiting = Array.from({ length: 5 }, () => t.gate.wait(10_000));
    await flushMicrotasks();
    t.token = 'after-refresh';
    t.gate.release();
    await expect(Promise.all(waiting)).resolves.toEqual(Array(5).fill('after-refresh'));
    expect(t.reads).toBe(5);
    expect(t.clock.pendingTimers).toBe(0);
  });
});
