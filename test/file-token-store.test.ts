/**
 * FileTokenStore and fileLock in one process (the cross-process behaviour is in
 * test/e2e/file-token-store.test.ts): permissions, atomic replacement, unreadable files,
 * the change notice, and the lock's exclusion, take-over and bounded wait.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FileTokenStore, fileLock } from '../src/node.ts';
import { SessionManager } from '../src/index.ts';
import { ManualClock } from '../src/testing.ts';
import { STORED_SESSION, useTempDir } from './helpers/files.ts';

const tmp = useTempDir('sk-file-store-');

const mode = (path: string) => statSync(path).mode & 0o777;

describe('FileTokenStore', () => {
  it('saves and loads the session; nothing is stored before the first save', async () => {
    const store = new FileTokenStore(join(tmp.dir, 'session.json'));
    expect(await store.load()).toBeNull();
    await store.save(STORED_SESSION);
    expect(await store.load()).toEqual(STORED_SESSION);
  });

  it('creates the file readable by its owner only, and a missing folder likewise', async () => {
    const path = join(tmp.dir, 'nested', 'app', 'session.json');
    await new FileTokenStore(path).save(STORED_SESSION);
    expect(mode(path)).toBe(0o600);
    expect(mode(join(tmp.dir, 'nested'))).toBe(0o700);
    expect(mode(join(tmp.dir, 'nested', 'app'))).toBe(0o700);
  });

  it('replaces a file that others could read with an owner-only one', async () => {
    const path = join(tmp.dir, 'session.json');
    writeFileSync(path, '{}', { mode: 0o644 });
    await new FileTokenStore(path).save(STORED_SESSION);
    expect(mode(path)).toBe(0o600);
  });

  it('replaces the file by rename: no temporary file is left, and a reader never sees half a session', async () => {
    const path = join(tmp.dir, 'session.json');
    const store = new FileTokenStore(path);
    await store.save(STORED_SESSION);
    const inodeBefore = statSync(path).ino;
    const reads: unknown[] = [];
    const saves = Array.from({ length: 20 }, (_, i) =>
      store.save({ ...STORED_SESSION, refreshToken: `refresh-${i}`.padEnd(5000, 'x') }),
    );
    for (let i = 0; i < 20; i++) reads.push(await store.load());
    await Promise.all(saves);
    expect(reads.every((value) => typeof value === 'object' && value !== null && !('corrupt' in value))).toBe(true);
    expect(statSync(path).ino).not.toBe(inodeBefore);
    expect(readdirSync(tmp.dir)).toEqual(['session.json']);
  });

  it('hands an unreadable file to the manager, which signs out cleanly and clears it', async () => {
    const path = join(tmp.dir, 'session.json');
    writeFileSync(path, '{"version":1,"refreshTo', { mode: 0o600 });
    const store = new FileTokenStore(path);
    const session = new SessionManager({
      tokenEndpoint: 'https://auth.example/token',
      clientId: 'app',
      store,
      clock: new ManualClock(),
    });
    expect(await session.restore()).toBe('signedOut');
    expect(await store.load()).toBeNull();
    session.dispose();
  });

  it('lets a failing read reach the manager (a folder where the file should be)', async () => {
    const store = new FileTokenStore(tmp.dir);
    await expect(store.load()).rejects.toMatchObject({ code: 'EISDIR' });
  });

  it('clear removes the file and is a no-op when there is none', async () => {
    const path = join(tmp.dir, 'session.json');
    const store = new FileTokenStore(path);
    await store.save(STORED_SESSION);
    await store.clear();
    await store.clear();
    expect(readdirSync(tmp.dir)).toEqual([]);
  });

  it('tells subscribers when another store on the same file saves or clears it', async () => {
    const path = join(tmp.dir, 'session.json');
    const other = new FileTokenStore(path);
    let notices = 0;
    let noticed: () => void = () => {};
    const unsubscribe = new FileTokenStore(path).subscribe(() => {
      notices++;
      noticed();
    });
    const next = () => new Promise<void>((resolve) => (noticed = resolve));
    let change = next();
    await other.save(STORED_SESSION);
    await change;
    change = next();
    await other.clear();
    await change;
    unsubscribe();
    expect(notices).toBeGreaterThanOrEqual(2);
  });
});

describe('fileLock', () => {
  const lockFiles = () => readdirSync(tmp.dir).filter((name) => name.endsWith('.lock'));

  it('runs tasks on one name one at a time, and tells a task that had to wait', async () => {
    const clock = new ManualClock();
    const lock = fileLock(join(tmp.dir, 'session.json'), { clock, pollMs: 10 });
    const order: string[] = [];
    let releaseFirst: () => void = () => {};
    let firstStarted: () => void = () => {};
    const started = new Promise<void>((resolve) => (firstStarted = resolve));
    const first = lock.run('app', async (context) => {
      order.push(`first start waited=${context?.waited}`);
      firstStarted();
      await new Promise<void>((resolve) => (releaseFirst = resolve));
      order.push('first end');
    });
    await started;
    const second = lock.run('app', async (context) => {
      order.push(`second start waited=${context?.waited}`);
    });
    await expect.poll(() => clock.pendingTimers, { interval: 1 }).toBe(1); // the second is waiting
    expect(lockFiles()).toEqual(['session.json.app.lock']);
    releaseFirst();
    await first;
    await clock.advance(10);
    await second;
    expect(order).toEqual(['first start waited=false', 'first end', 'second start waited=true']);
    expect(lockFiles()).toEqual([]);
  });

  it('releases the lock when the task throws', async () => {
    const lock = fileLock(join(tmp.dir, 'session.json'));
    await expect(lock.run('app', async () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    expect(lockFiles()).toEqual([]);
    expect(await lock.run('app', async () => 'next')).toBe('next');
  });

  it('takes over at once a lock left by a process that is gone', async () => {
    const gone = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']);
    const deadPid = Number(gone.stdout.toString());
    writeFileSync(
      join(tmp.dir, 'session.json.app.lock'),
      JSON.stringify({ pid: deadPid, host: hostname(), token: 'old' }),
    );
    const clock = new ManualClock();
    const lock = fileLock(join(tmp.dir, 'session.json'), { clock });
    // A manual clock that is never advanced: any wait would hang this test.
    expect(await lock.run('app', async (context) => context?.waited)).toBe(false);
    expect(lockFiles()).toEqual([]);
  });

  it('takes over a lock this pid left in an earlier life (a restarted container)', async () => {
    writeFileSync(
      join(tmp.dir, 'session.json.app.lock'),
      JSON.stringify({ pid: process.pid, host: hostname(), token: 'earlier' }),
    );
    const lock = fileLock(join(tmp.dir, 'session.json'), { clock: new ManualClock() });
    expect(await lock.run('app', async () => 'ran')).toBe('ran');
  });

  it('waits for a live holder at most maxWaitMs, then runs the task without the lock', async () => {
    // pid 1 is alive on every POSIX system: a holder that never lets go.
    const held = JSON.stringify({ pid: 1, host: hostname(), token: 'live' });
    writeFileSync(join(tmp.dir, 'session.json.app.lock'), held);
    const clock = new ManualClock();
    const lock = fileLock(join(tmp.dir, 'session.json'), { clock, maxWaitMs: 1_000, pollMs: 100 });
    let ran: boolean | undefined;
    const running = lock.run('app', async (context) => (ran = context?.waited));
    // Each look at the lock file is real I/O, then a poll timer on the manual clock.
    const nextPoll = () => expect.poll(() => clock.pendingTimers, { interval: 1 }).toBe(1);
    for (let elapsed = 0; elapsed < 1_000; elapsed += 100) {
      await nextPoll();
      expect(ran).toBeUndefined();
      await clock.advance(100);
    }
    await running;
    expect(ran).toBe(true);
    expect(readFileSync(join(tmp.dir, 'session.json.app.lock'), 'utf8')).toBe(held); // not ours to remove
  });

  it('isHeld sees a shared hold and a running task, and forgets both when they end', async () => {
    const lock = fileLock(join(tmp.dir, 'session.json'));
    expect(await lock.isHeld!('app:reauth')).toBe(false);
    let endHold: () => void = () => {};
    lock.holdShared!('app:reauth', new Promise<void>((resolve) => (endHold = resolve)));
    await expect.poll(() => lock.isHeld!('app:reauth')).toBe(true);
    endHold();
    await expect.poll(() => lock.isHeld!('app:reauth')).toBe(false);
    let endTask: () => void = () => {};
    const task = lock.run('app', () => new Promise<void>((resolve) => (endTask = resolve)));
    await expect.poll(() => lock.isHeld!('app')).toBe(true);
    endTask();
    await task;
    expect(await lock.isHeld!('app')).toBe(false);
  });
});
