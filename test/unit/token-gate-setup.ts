/**
 * The setup shared by the token gate's unit tests: a gate on a manual clock whose outcome read
 * returns `gate.token` and counts itself in `gate.reads`, and whose wait may time out while
 * `gate.mayTimeOut` holds. Call {@link useTokenGate} once at the top of a test file.
 */
import { beforeEach } from 'vitest';
import { createTokenGate, type TokenGate } from '../../src/client/token-gate.ts';
import { ManualClock, flushMicrotasks } from '../../src/testing.ts';
import { NOW } from './builders.ts';

export interface GateSetup {
  clock: ManualClock;
  token: string | undefined;
  reads: number;
  mayTimeOut: boolean;
  gate: TokenGate;
}

/** A fresh gate in every test (`access-1` as the outcome, timeouts allowed). */
export function useTokenGate(): GateSetup {
  const setup = {} as GateSetup;
  beforeEach(() => {
    setup.clock = new ManualClock(NOW);
    setup.token = 'access-1';
    setup.reads = 0;
    setup.mayTimeOut = true;
    setup.gate = createTokenGate(
      setup.clock,
      () => {
        setup.reads++;
        return setup.token;
      },
      () => setup.mayTimeOut,
    );
  });
  return setup;
}

/** Follows `promise` from now on: `state()` is 'pending', or how it settled (after pending callbacks ran). */
export function watch(promise: Promise<unknown>): { promise: Promise<unknown>; state(): Promise<string> } {
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
