/**
 * fileLock when another process acts between two of its steps: the moments are made exact by
 * letting that "other process" run inside the file system calls (`node:fs/promises` is wrapped
 * for this file; every call still reaches the real file system). Also what is left when the file
 * system refuses to remove one of its own files.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { fileLock } from '../../src/ports/file-lock.ts';
import type { Logger } from '../../src/ports/logger.ts';
import { ManualClock } from '../../src/testing.ts';

type Hook = (file: string, ...rest: unknown[]) => void | Promise<void>;
const hooks = vi.hoisted(() => ({}) as { rename?: Hook; open?: Hook; write?: Hook; stat?: Hook; unlink?: Hook });

vi.mock('node:fs/promises', async (importOriginal) => {
  const real = await importOriginal<typeof import('node:fs/promises')>();
  return {
    ...real,
    rename: async (from: string, to: string) => (await hooks.rename?.(from, to), real.rename(from, to)),
    open: async (file: string, flags?: string, mode?: number) => {
      await hooks.open?.(file, flags);
      const handle = await real.open(file, flags, mode);
      const writeFile = handle.writeFile.bind(handle);
      handle.writeFile = async (...args: Parameters<typeof writeFile>) => (
        await hooks.write?.(file),
        writeFile(...args)
      );
      return handle;
    },
    stat: async (file: string) => (await hooks.stat?.(file), real.stat(file)),
    unlink: async (file: string) => (await hooks.unlink?.(file), real.unlink(file)),
  };
});

let dir: string;
let path: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'sk-file-lock-races-'));
  path = join(dir, 'session.json');
});
afterEach(() => {
  delete hooks.rename;
  delete hooks.open;
  delete hooks.write;
  delete hooks.stat;
  delete hooks.unlink;
  rmSync(dir, { recursive: true, force: true });
});

const lockFile = () => join(dir, 'session.json.app.lock');
const deadPid = (): number =>
  Number(spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']).stdout.toString());
const holderText = (pid: number) => JSON.stringify({ pid, host: hostname(), token: 'theirs' });
const errno = (code: string) => Object.assign(new Error(code), { code });

/** Runs `hook` once, the first time it is called for `file`. */
function once(file: () => string, hook: Hook): Hook {
  let done = false;
  return async (called, ...rest) => {
    if (done || called !== file()) return;
    done = true;
    await hook(called, ...rest);
  };
}

function recordingLogger() {
  const warnings: string[] = [];
  const logger: Logger = { debug() {}, info() {}, warn: (message) => void warnings.push(message), error() {} };
  return { logger, warnings };
}

describe('fileLock: taking over a dead holder’s lock while others move', () => {
  it('puts back a lock another process took over first, and waits for that live holder instead', async () => {
    writeFileSync(lockFile(), holderText(deadPid()));
    const theirs = holderText(1); // pid 1: alive
    // Just before this process moves the dead lock aside, another one has replaced it with its own.
    hooks.rename = once(lockFile, () => writeFileSync(lockFile(), theirs));
    const lock = fileLock(path, { clock: new ManualClock(), maxWaitMs: 0 });
    expect(await lock.run('app', async (context) => context?.waited)).toBe(true);
    expect(readFileSync(lockFile(), 'utf8')).toBe(theirs);
    expect(readdirSync(dir)).toEqual(['session.json.app.lock']); // nothing left aside
  });

  it('takes the lock when the dead lock is gone before it could be moved aside (another process cleared it)', async () => {
    writeFileSync(lockFile(), holderText(deadPid()));
    hooks.rename = once(lockFile, () => rmSync(lockFile()));
    const lock = fileLock(path, { clock: new ManualClock() });
    expect(await lock.run('app', async (context) => context?.waited)).toBe(false);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('rejects with the error of a take-over the file system refuses', async () => {
    writeFileSync(lockFile(), holderText(deadPid()));
    hooks.rename = once(lockFile, () => {
      throw errno('EPERM');
    });
    const lock = fileLock(path, { clock: new ManualClock() });
    await expect(lock.run('app', async () => 'ran')).rejects.toMatchObject({ code: 'EPERM' });
  });

  it('takes the lock at once, without a warning, when its holder let go between the two looks', async () => {
    // The lock file existed when this process tried to create its own, and was gone when it read it.
    hooks.open = once(lockFile, () => {
      throw errno('EEXIST');
    });
    const { logger, warnings } = recordingLogger();
    const lock = fileLock(path, { clock: new ManualClock(), maxWaitMs: 0, logger });
    expect(await lock.run('app', async (context) => context?.waited)).toBe(false);
    expect(warnings).toEqual([]);
  });

  it('takes over an unreadable lock file that is gone before its age could be read', async () => {
    writeFileSync(lockFile(), 'half written');
    hooks.stat = once(lockFile, () => rmSync(lockFile()));
    const lock = fileLock(path, { clock: new ManualClock() });
    expect(await lock.run('app', async (context) => context?.waited)).toBe(false);
    expect(readdirSync(dir)).toEqual([]);
  });
});

describe('fileLock: a file of its own it could not remove', () => {
  const heldFiles = () => readdirSync(dir).filter((name) => name.endsWith('.held'));

  it('a lock file left behind by an ended task of this process is taken over by its next run at once', async () => {
    hooks.unlink = once(lockFile, () => {
      throw errno('EBUSY');
    });
    const lock = fileLock(path, { clock: new ManualClock(), maxWaitMs: 0 });
    await lock.run('app', async () => {});
    expect(readdirSync(dir)).toEqual(['session.json.app.lock']); // still naming this pid
    expect(await lock.run('app', async (context) => context?.waited)).toBe(false);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('a shared hold file left behind when its hold ended no longer counts: isHeld removes it', async () => {
    let unlinkRefused = () => {};
    const refused = new Promise<void>((resolve) => (unlinkRefused = resolve));
    hooks.unlink = once(
      () => join(dir, heldFiles()[0] ?? '-'),
      () => {
        unlinkRefused();
        throw errno('EBUSY');
      },
    );
    const lock = fileLock(path);
    let end = () => {};
    lock.holdShared!('app', new Promise<void>((resolve) => (end = resolve)));
    await expect.poll(heldFiles).toHaveLength(1);
    end();
    await refused;
    expect(heldFiles()).toHaveLength(1); // still naming this pid
    expect(await lock.isHeld!('app')).toBe(false);
    expect(heldFiles()).toEqual([]);
  });
});

describe('fileLock: a file of its own it could not write (a full disk)', () => {
  it('removes the lock file it made, and fails that run with the error', async () => {
    hooks.write = once(lockFile, () => {
      throw errno('ENOSPC');
    });
    const { logger, warnings } = recordingLogger();
    const lock = fileLock(path, { clock: new ManualClock(), maxWaitMs: 0, logger });
    await expect(lock.run('app', async () => 'ran')).rejects.toMatchObject({ code: 'ENOSPC' });
    expect(readdirSync(dir)).toEqual([]);
    // The next run takes the lock at once instead of waiting for an empty file to age.
    expect(await lock.run('app', async (context) => context?.waited)).toBe(false);
    expect(warnings).toEqual([]);
  });

  it('removes the shared hold file it made, so nothing is left for isHeld to skip', async () => {
    let writeRefused = () => {};
    const refused = new Promise<void>((resolve) => (writeRefused = resolve));
    hooks.write = async (file) => {
      if (!file.endsWith('.held')) return;
      writeRefused();
      throw errno('ENOSPC');
    };
    const lock = fileLock(path);
    lock.holdShared!('app', new Promise<void>(() => {}));
    await refused;
    await expect.poll(() => readdirSync(dir)).toEqual([]);
    expect(await lock.isHeld!('app')).toBe(false);
  });
});
