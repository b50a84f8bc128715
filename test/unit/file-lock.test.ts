/**
 * fileLock (session-keeper/node) in one process, on a real folder: where its files go, how it
 * tells a lock left by a dead process from a live one (and an unreadable file from one still
 * being written), that it never removes a lock it does not own, and the shared holds that
 * `isHeld` reports. The exclusion itself, and the lock across processes, are in
 * test/file-token-store.test.ts and test/e2e/file-token-store.test.ts.
 */
import { spawnSync } from 'node:child_process';
import {
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { fileLock } from '../../src/ports/file-lock.ts';
import type { Logger } from '../../src/ports/logger.ts';
import { flushMicrotasks, ManualClock } from '../../src/testing.ts';

let dir: string;
let path: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'sk-file-lock-'));
  path = join(dir, 'session.json');
});
afterEach(() => {
  vi.useRealTimers();
  rmSync(dir, { recursive: true, force: true });
});

/** A pid no process has now (one that just ran and exited). */
const deadPid = (): number =>
  Number(spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']).stdout.toString());
/** pid 1 is alive on every POSIX system. */
const LIVE_PID = 1;
const holderText = (pid: number, host = hostname(), token = 'theirs') => JSON.stringify({ pid, host, token });
const lockPath = (name = 'app') => join(dir, `session.json.${name}.lock`);
const files = () => readdirSync(dir).sort();
const mode = (file: string) => statSync(file).mode & 0o777;
/** The file descriptors this process has open (POSIX). */
const openFiles = () => readdirSync('/dev/fd').length;

/** Sets a file's modification time `ms` in the past. */
function age(file: string, ms: number) {
  const then = new Date(Date.now() - ms);
  utimesSync(file, then, then);
}

function recordingLogger() {
  const warnings: { message: string; fields: unknown }[] = [];
  const logger: Logger = {
    debug: () => {},
    info: () => {},
    warn: (message, fields) => void warnings.push({ message, fields }),
    error: () => {},
  };
  return { logger, warnings };
}

/** A clock that is never advanced: a lock that had to wait would hang the test. */
const frozen = () => new ManualClock();
/** Until the lock waits for its next look at the file (real I/O first, then a poll timer). */
const waiting = (clock: ManualClock) => expect.poll(() => clock.pendingTimers, { interval: 1 }).toBe(1);

describe('fileLock: its files', () => {
  it('names the lock file after the path and the lock name, any character outside [A-Za-z0-9._-] made _', async () => {
    const seen = await fileLock(path).run('app:reauth/x y', async () => files());
    expect(seen).toEqual(['session.json.app_reauth_x_y.lock']);
    expect(files()).toEqual([]);
  });

  it('writes its pid, host and a token into the lock file, readable by its owner only', async () => {
    const [content, fileMode] = await fileLock(path).run('app', async () => [
      JSON.parse(readFileSync(lockPath(), 'utf8')) as unknown,
      mode(lockPath()),
    ]);
    expect(content).toEqual({ pid: process.pid, host: hostname(), token: expect.stringMatching(/^[0-9a-f]{24}$/) });
    expect(fileMode).toBe(0o600);
  });

  it('creates a missing folder for its files, owner only', async () => {
    const nested = join(dir, 'a', 'b', 'session.json');
    expect(await fileLock(nested).run('app', async () => readdirSync(join(dir, 'a', 'b')))).toEqual([
      'session.json.app.lock',
    ]);
    expect(mode(join(dir, 'a'))).toBe(0o700);
    expect(mode(join(dir, 'a', 'b'))).toBe(0o700);
  });

  it('rejects with the file system error when the lock file cannot be made (its folder is a file)', async () => {
    writeFileSync(join(dir, 'plain'), '');
    let ran = false;
    const failed = fileLock(join(dir, 'plain', 'session.json')).run('app', async () => (ran = true));
    await expect(failed).rejects.toMatchObject({ code: 'ENOTDIR' });
    expect(ran).toBe(false);
  });

  it('rejects with the file system error when the lock file cannot be read (a folder in its place)', async () => {
    mkdirSync(lockPath());
    await expect(fileLock(path, { clock: frozen() }).run('app', async () => 'ran')).rejects.toMatchObject({
      code: 'EISDIR',
    });
  });

  it('closes every file it opens', async () => {
    const lock = fileLock(path);
    await lock.run('app', async () => {}); // the first use opens what stays open anyway
    const before = openFiles();
    for (let i = 0; i < 20; i++) await lock.run('app', async () => {});
    expect(openFiles() - before).toBeLessThan(10); // one left open per run would be 20
  });

  it('does not remove, at the end of a task, a lock file another process has written meanwhile', async () => {
    const theirs = holderText(LIVE_PID);
    await fileLock(path).run('app', async () => writeFileSync(lockPath(), theirs));
    expect(readFileSync(lockPath(), 'utf8')).toBe(theirs);
  });

  it('gives each lock name its own file: tasks of different names do not wait for each other', async () => {
    const lock = fileLock(path, { clock: frozen() });
    const inner = await lock.run('a', () => lock.run('b', async () => files()));
    expect(inner).toEqual(['session.json.a.lock', 'session.json.b.lock']);
  });
});

describe('fileLock: a lock another holder left', () => {
  it('takes over the lock of a dead process at once, says so, and leaves no file of its own behind', async () => {
    writeFileSync(lockPath(), holderText(deadPid()));
    const { logger, warnings } = recordingLogger();
    const lock = fileLock(path, { clock: frozen(), logger });
    expect(await lock.run('app', async (context) => context?.waited)).toBe(false);
    expect(warnings).toEqual([
      { message: 'taking over a lock left by a process that is gone', fields: { lock: 'session.json.app.lock' } },
    ]);
    expect(files()).toEqual([]);
  });

  it('waits for a dead pid on another host: only this host can tell whether that process is gone', async () => {
    writeFileSync(lockPath(), holderText(deadPid(), `not-${hostname()}`));
    const clock = new ManualClock();
    const lock = fileLock(path, { clock, maxWaitMs: 100, pollMs: 100 });
    let waited: boolean | undefined;
    const running = lock.run('app', async (context) => (waited = context?.waited));
    await waiting(clock);
    expect(waited).toBeUndefined();
    await clock.advance(100);
    await running;
    expect(waited).toBe(true);
  });

  it("waits for a holder whose process it may not signal (another user's live process)", async () => {
    writeFileSync(lockPath(), holderText(deadPid()));
    const kill = vi.spyOn(process, 'kill').mockImplementation(() => {
      throw Object.assign(new Error('kill EPERM'), { code: 'EPERM' });
    });
    try {
      const lock = fileLock(path, { clock: frozen(), maxWaitMs: 0 });
      expect(await lock.run('app', async (context) => context?.waited)).toBe(true);
    } finally {
      kill.mockRestore();
    }
    expect(files()).toEqual(['session.json.app.lock']);
  });

  it('waits for another live holder of this process (a second lock on the same file)', async () => {
    const clock = new ManualClock();
    const first = fileLock(path, { clock });
    const second = fileLock(path, { clock, pollMs: 10 });
    let release = () => {};
    const holding = first.run('app', () => new Promise<void>((resolve) => (release = resolve)));
    await expect.poll(() => files()).toEqual(['session.json.app.lock']);
    let waited: boolean | undefined;
    const next = second.run('app', async (context) => (waited = context?.waited));
    await waiting(clock);
    release();
    await holding;
    await clock.advance(10);
    await next;
    expect(waited).toBe(true);
  });

  it('takes over an unreadable lock file untouched for more than 5 s (its writer died before writing)', async () => {
    writeFileSync(lockPath(), '{"pid":');
    age(lockPath(), 6_000);
    expect(await fileLock(path, { clock: frozen() }).run('app', async (context) => context?.waited)).toBe(false);
  });

  it.each([
    ['empty', ''],
    ['half written', '{"pid":'],
    ['JSON null', 'null'],
    ['a pid that is a string', JSON.stringify({ pid: String(LIVE_PID), host: hostname(), token: 't' })],
    ['a host that is not a string', JSON.stringify({ pid: LIVE_PID, host: 7, token: 't' })],
    ['a token that is not a string', JSON.stringify({ pid: LIVE_PID, host: hostname(), token: 7 })],
    ['no token', JSON.stringify({ pid: LIVE_PID, host: hostname() })],
  ])('treats a lock file that is %s as unreadable: taken over once it is over 5 s old', async (_, text) => {
    writeFileSync(lockPath(), text);
    age(lockPath(), 6_000);
    expect(await fileLock(path, { clock: frozen() }).run('app', async (context) => context?.waited)).toBe(false);
  });

  it('takes over an unreadable lock file exactly 5 s old', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const now = Date.UTC(2026, 0, 1, 12);
    vi.setSystemTime(now);
    writeFileSync(lockPath(), '{"pid":');
    utimesSync(lockPath(), new Date(now - 5_000), new Date(now - 5_000));
    expect(await fileLock(path, { clock: frozen() }).run('app', async (context) => context?.waited)).toBe(false);
  });

  it('waits for an unreadable lock file written less than 5 s ago (its writer may still be writing)', async () => {
    writeFileSync(lockPath(), JSON.stringify({ pid: String(deadPid()), host: hostname(), token: 't' }));
    age(lockPath(), 3_000);
    const clock = new ManualClock();
    const lock = fileLock(path, { clock, maxWaitMs: 50, pollMs: 50 });
    let waited: boolean | undefined;
    const running = lock.run('app', async (context) => (waited = context?.waited));
    await waiting(clock);
    expect(waited).toBeUndefined();
    await clock.advance(50);
    await running;
    expect(waited).toBe(true);
  });

  it('looks again every 25 ms and gives up after 10 s by default, with a warning, leaving the live lock alone', async () => {
    const held = holderText(LIVE_PID);
    writeFileSync(lockPath(), held);
    const clock = new ManualClock();
    const { logger, warnings } = recordingLogger();
    const lock = fileLock(path, { clock, logger });
    let waited: boolean | undefined;
    const running = lock.run('app', async (context) => (waited = context?.waited));
    const start = clock.now();
    await waiting(clock);
    await clock.advance(24);
    expect(clock.pendingTimers).toBe(1); // the first poll has not fired yet
    await clock.advance(1);
    await waiting(clock); // the second look, 25 ms in
    clock.set(start + 10_000 - 25); // without firing the poll, due at once now
    await clock.advance(0);
    await waiting(clock); // a look 25 ms before the deadline: not yet
    expect(waited).toBeUndefined();
    await clock.advance(25); // the look at the deadline gives up
    await expect.poll(() => waited, { interval: 1 }).toBe(true);
    await running;
    expect(warnings).toEqual([
      { message: 'lock wait timed out; refreshing without it', fields: { lock: 'app', maxWaitMs: 10_000 } },
    ]);
    expect(readFileSync(lockPath(), 'utf8')).toBe(held);
  });

  it('gives up at once with maxWaitMs 0, after one look at the file', async () => {
    writeFileSync(lockPath(), holderText(LIVE_PID));
    const lock = fileLock(path, { clock: frozen(), maxWaitMs: 0 });
    expect(await lock.run('app', async (context) => context?.waited)).toBe(true);
  });
});

describe('fileLock: shared holds and isHeld', () => {
  const heldFiles = () => files().filter((name) => name.endsWith('.held'));

  it('a shared hold is a file named after the lock, the pid and a token, removed when the hold ends', async () => {
    const lock = fileLock(path);
    let end = () => {};
    lock.holdShared!('app:reauth', new Promise<void>((resolve) => (end = resolve)));
    await expect.poll(heldFiles).toHaveLength(1);
    expect(heldFiles()[0]).toMatch(new RegExp(`^session\\.json\\.app_reauth\\.${process.pid}-[0-9a-f]{24}\\.held$`));
    await expect
      .poll(() => readFileSync(join(dir, heldFiles()[0]!), 'utf8'))
      .toMatch(new RegExp(`^\\{"pid":${process.pid},"host":"${hostname()}","token":"[0-9a-f]{24}"\\}$`));
    end();
    await expect.poll(heldFiles).toEqual([]);
  });

  it('a shared hold also ends when its promise rejects', async () => {
    const lock = fileLock(path);
    let fail = (_: Error) => {};
    lock.holdShared!('app', new Promise<void>((_, reject) => (fail = reject)));
    await expect.poll(() => lock.isHeld!('app')).toBe(true);
    fail(new Error('prompt failed'));
    await expect.poll(heldFiles).toEqual([]);
    expect(await lock.isHeld!('app')).toBe(false);
  });

  it("sees another process's live shared hold, and a hold of another host (which it cannot check)", async () => {
    const lock = fileLock(path);
    writeFileSync(join(dir, 'session.json.app.1-aaaa.held'), holderText(LIVE_PID));
    expect(await lock.isHeld!('app')).toBe(true);
    rmSync(join(dir, 'session.json.app.1-aaaa.held'));
    writeFileSync(join(dir, 'session.json.app.2-bbbb.held'), holderText(deadPid(), `not-${hostname()}`));
    expect(await lock.isHeld!('app')).toBe(true);
  });

  it('removes the shared hold of a dead process and reports the lock free', async () => {
    const dead = deadPid();
    writeFileSync(join(dir, `session.json.app.${dead}-cccc.held`), holderText(dead));
    expect(await fileLock(path).isHeld!('app')).toBe(false);
    expect(heldFiles()).toEqual([]);
  });

  it('ignores files that are not shared holds of this lock, and leaves them alone', async () => {
    const others = [
      'session.json.other.1-a.held', // another lock name
      'session.json.app-more.1-a.held', // a name that only starts like it
      'elsewhere.json.app.1-a.held', // another path
      'session.json.app.1-a.held.bak', // not a hold file
      'session.json.app.1-b.held', // unreadable: kept for its writer
    ];
    for (const name of others.slice(0, 4)) writeFileSync(join(dir, name), holderText(LIVE_PID));
    writeFileSync(join(dir, others[4]!), 'garbage');
    expect(await fileLock(path).isHeld!('app')).toBe(false);
    expect(files()).toEqual([...others].sort());
  });

  it('reports a lock file of a live holder as held, and clears that of a dead one', async () => {
    const lock = fileLock(path);
    writeFileSync(lockPath(), holderText(LIVE_PID));
    expect(await lock.isHeld!('app')).toBe(true);
    writeFileSync(lockPath(), holderText(deadPid()));
    expect(await lock.isHeld!('app')).toBe(false);
    expect(files()).toEqual([]);
  });

  it('is false when the folder does not exist yet', async () => {
    expect(await fileLock(join(dir, 'missing', 'session.json')).isHeld!('app')).toBe(false);
  });

  it('a shared hold whose file cannot be made fails nobody: the hold and its end are quiet', async () => {
    writeFileSync(join(dir, 'plain'), '');
    const lock = fileLock(join(dir, 'plain', 'session.json'));
    let end = () => {};
    expect(() => lock.holdShared!('app', new Promise<void>((resolve) => (end = resolve)))).not.toThrow();
    end();
    await flushMicrotasks(); // an unhandled rejection here would fail the test file
    expect(files()).toEqual(['plain']);
  });
});
