import type { Logger } from './logger.ts';

/**
 * Mutual exclusion for refreshes, across every context that shares a store: tabs and
 * windows (Web Locks), or the managers of one process (in-process). An iOS app extension
 * would bring its own (a file lock in the shared app group, say).
 */
export interface LockPort {
  /** Runs `task` while holding the lock `name`; resolves or rejects with its result. */
  run<T>(name: string, task: (context?: LockContext) => Promise<T>): Promise<T>;
  /**
   * Optional. Holds `name` in shared mode until `until` settles: never waits, never blocks
   * another holder. Other contexts learn from {@link LockPort.isHeld} that this one is alive
   * and busy (a context that dies lets go: Web Locks releases a closed tab's locks). Used to
   * tell a tab that is re-authenticating from one that was closed while it did.
   */
  holdShared?(name: string, until: Promise<unknown>): void;
  /** Optional. Whether some context holds `name`. */
  isHeld?(name: string): Promise<boolean>;
}

/** What a cross-context lock may tell the task it runs. */
export interface LockContext {
  /**
   * Another context held the lock when this one asked for it. What that context just wrote to
   * a shared store may not be readable here yet: Chromium delivers a localStorage write to other
   * tabs a few ms after the lock has changed hands.
   */
  waited: boolean;
}

/** A mutex per name, for one JavaScript realm. */
export function inProcessLock(): LockPort {
  const tails = new Map<string, Promise<unknown>>();
  const shared = new Map<string, number>();
  const count = (name: string, by: number) => {
    const holders = (shared.get(name) ?? 0) + by;
    if (holders > 0) shared.set(name, holders);
    else shared.delete(name);
  };
  return {
    holdShared(name, until) {
      count(name, 1);
      void until.then(
        () => count(name, -1),
        () => count(name, -1),
      );
    },
    isHeld: async (name) => shared.has(name) || tails.has(name),
    async run<T>(name: string, task: () => Promise<T>): Promise<T> {
      const previous = tails.get(name) ?? Promise.resolve();
      const result = previous.then(task, task);
      const tail = result.then(
        () => {},
        () => {},
      );
      tails.set(name, tail);
      try {
        return await result;
      } finally {
        if (tails.get(name) === tail) tails.delete(name);
      }
    },
  };
}

interface LockManagerLike {
  request<T>(
    name: string,
    options: { signal?: AbortSignal; ifAvailable?: boolean; mode?: 'shared' | 'exclusive' },
    task: (lock: unknown) => Promise<T> | T,
  ): Promise<T>;
  query(): Promise<{ held?: { name?: string }[] }>;
}

const TAKEN = Symbol('taken');

/**
 * The one in-process lock of this realm, for runtimes without Web Locks: managers of one
 * process that share a lock name must share one lock, or they race to present the same
 * refresh token.
 */
let processLock: LockPort | undefined;

/**
 * The Web Locks API (`navigator.locks`: browsers, WebViews, Node.js 22+), with a bounded wait.
 * A lock held by a frozen tab, or orphaned by a reload, must not stall refreshes forever: after
 * `maxWaitMs` the task runs without the lock (the server's rotation grace window makes a rare
 * duplicate refresh harmless). Falls back to one {@link inProcessLock} shared by every caller in
 * this realm where there is no Web Locks (Node.js before 24, some WebViews).
 */
export function webLock(options: { maxWaitMs?: number; logger?: Logger } = {}): LockPort {
  const locks = (globalThis as { navigator?: { locks?: LockManagerLike } }).navigator?.locks;
  if (!locks?.request) return (processLock ??= inProcessLock());
  const maxWaitMs = options.maxWaitMs ?? 10_000;
  const settled = (until: Promise<unknown>) =>
    until.then(
      () => {},
      () => {},
    );
  return {
    holdShared(name, until) {
      void locks.request(name, { mode: 'shared' }, () => settled(until)).catch(() => {});
    },
    async isHeld(name) {
      const { held = [] } = await locks.query();
      return held.some((lock) => lock.name === name);
    },
    async run<T>(name: string, task: (context?: LockContext) => Promise<T>): Promise<T> {
      const signal = AbortSignal.timeout(maxWaitMs);
      let started = false;
      const start = (waited: boolean) => {
        started = true;
        return task({ waited });
      };
      try {
        // Uncontended first: a task that got the lock without waiting has nothing in flight to wait for.
        const free = await locks.request<T | typeof TAKEN>(name, { ifAvailable: true }, (lock) =>
          lock ? start(false) : TAKEN,
        );
        if (free !== TAKEN) return free;
        return await locks.request(name, { signal }, () => start(true));
      } catch (error) {
        if (started || !signal.aborted) throw error;
        options.logger?.warn('lock wait timed out; refreshing without it', { lock: name, maxWaitMs });
        return task({ waited: true });
      }
    },
  };
}
