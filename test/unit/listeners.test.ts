/** The small subscription helpers: `whenAborted` and `combineCleanups`. */
import { describe, expect, it } from 'vitest';
import { combineCleanups, whenAborted } from '../../src/utils/listeners.ts';

describe('whenAborted', () => {
  it('does nothing without a signal, and its cleanup is safe to call', () => {
    let calls = 0;
    const stop = whenAborted(undefined, () => calls++);
    stop();
    expect(calls).toBe(0);
  });

  it('calls the listener at once for a signal that has already aborted', () => {
    let calls = 0;
    whenAborted(AbortSignal.abort(), () => calls++);
    expect(calls).toBe(1);
  });

  it('calls the listener once when the signal aborts', () => {
    const controller = new AbortController();
    let calls = 0;
    whenAborted(controller.signal, () => calls++);
    expect(calls).toBe(0);
    controller.abort();
    controller.signal.dispatchEvent(new Event('abort'));
    expect(calls).toBe(1);
  });

  it('does not call the listener once its cleanup ran', () => {
    const controller = new AbortController();
    let calls = 0;
    const stop = whenAborted(controller.signal, () => calls++);
    stop();
    controller.abort();
    expect(calls).toBe(0);
  });

  it('has a cleanup that is safe to call after the listener ran', () => {
    const controller = new AbortController();
    let calls = 0;
    const stop = whenAborted(controller.signal, () => calls++);
    controller.abort();
    stop();
    expect(calls).toBe(1);
  });
});

describe('combineCleanups', () => {
  it('runs every cleanup in order, skipping absent ones', () => {
    const ran: string[] = [];
    combineCleanups(
      () => ran.push('a'),
      undefined,
      () => ran.push('b'),
    )();
    expect(ran).toEqual(['a', 'b']);
  });
});
