import { setupServer } from 'msw/node';
import { afterAll, afterEach, beforeAll, beforeEach } from 'vitest';
import { SessionManager } from '../../src/index.ts';
import type { SessionManagerOptions } from '../../src/options.ts';
import { MemoryTokenStore } from '../../src/ports/token-store.ts';
import { inProcessLock } from '../../src/ports/lock.ts';
import { ManualClock, ManualLifecycle, ManualNetwork } from '../../src/testing.ts';
import type { SessionEvents } from '../../src/types.ts';
import type { LogFields, Logger } from '../../src/ports/logger.ts';
import { FakeAuthServer, REVOKE_URL, TOKEN_URL } from './fake-auth-server.ts';

/** msw in Node for one test file; every test gets a fresh fake server and clock. */
export function useFakeAuth() {
  const mock = setupServer();
  const ctx = {} as {
    clock: ManualClock;
    server: FakeAuthServer;
    store: MemoryTokenStore;
    lifecycle: ManualLifecycle;
    network: ManualNetwork;
    managers: SessionManager[];
    /** A manager wired to the fake server, the manual clock and the manual ports. */
    manager(options?: Partial<SessionManagerOptions>): SessionManager;
  };
  beforeAll(() => mock.listen({ onUnhandledFrame: 'error' }));
  afterAll(() => mock.close());
  beforeEach(() => {
    ctx.clock = new ManualClock();
    ctx.server = new FakeAuthServer(ctx.clock);
    ctx.store = new MemoryTokenStore();
    ctx.lifecycle = new ManualLifecycle();
    ctx.network = new ManualNetwork();
    ctx.managers = [];
    const lock = inProcessLock();
    ctx.manager = (options = {}) => {
      const manager = new SessionManager({
        tokenEndpoint: TOKEN_URL,
        revocationEndpoint: REVOKE_URL,
        clientId: 'test-app',
        store: ctx.store,
        clock: ctx.clock,
        lifecycle: ctx.lifecycle,
        network: ctx.network,
        lock,
        ...options,
      });
      ctx.managers.push(manager);
      return manager;
    };
    mock.use(...ctx.server.handlers());
  });
  afterEach(() => {
    for (const manager of ctx.managers) manager.dispose();
    mock.resetHandlers();
  });
  return ctx;
}

/** Records every event a manager emits, in order. */
export function recordEvents(manager: SessionManager) {
  const log: { type: keyof SessionEvents; event: unknown }[] = [];
  const types: (keyof SessionEvents)[] = [
    'stateChange',
    'signedIn',
    'refreshed',
    'refreshFailed',
    'reauthRequired',
    'reauthenticated',
    'signedOut',
    'sessionExpiring',
  ];
  for (const type of types) manager.on(type, (event) => log.push({ type, event }));
  return {
    log,
    types: () => log.map((entry) => entry.type).filter((type) => type !== 'stateChange'),
    states: () => log.filter((e) => e.type === 'stateChange').map((e) => (e.event as { to: string }).to),
  };
}

/** Settles every promise, reporting each as fulfilled or rejected. */
export async function settle<T>(promises: Promise<T>[]) {
  const results = await Promise.allSettled(promises);
  return {
    fulfilled: results.filter((r) => r.status === 'fulfilled').length,
    rejected: results
      .filter((r): r is PromiseRejectedResult => r.status === 'rejected')
      .map((r) => r.reason as unknown),
  };
}

/** A logger that keeps every message and its fields, in order. */
export function captureLogs() {
  const lines: unknown[] = [];
  const keep = (message: string, fields?: LogFields) => void lines.push(message, fields);
  const logger: Logger = { debug: keep, info: keep, warn: keep, error: keep };
  return { lines, logger };
}
